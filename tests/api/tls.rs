//! HTTPS served by tokend itself (SPEC §2 `tls.*`): the real binary with a
//! certificate made by openssl in the test; the issuer and every metadata URL
//! are https; SIGHUP swaps in a renewed certificate for new handshakes while
//! an open connection keeps working.

use crate::certs::{TestCa, pem_to_der};
use crate::process::Tokend;
use std::process::Command;

fn client(ca: &std::path::Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .tls_info(true)
        .build()
        .unwrap()
}

fn peer_certificate(resp: &reqwest::Response) -> Vec<u8> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("a TLS peer certificate")
        .to_vec()
}

#[tokio::test]
async fn tokend_serves_https_and_reloads_its_certificate_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let (first, key) = ca.server("first");
    let cert_file = dir.path().join("tls.pem");
    let key_file = dir.path().join("tls.key");
    std::fs::copy(&first, &cert_file).unwrap();
    std::fs::copy(&key, &key_file).unwrap();
    let mut env = Tokend::sqlite_env(dir.path());
    env.push((
        "TOKEND_TLS__CERT_FILE".into(),
        cert_file.display().to_string(),
    ));
    env.push((
        "TOKEND_TLS__KEY_FILE".into(),
        key_file.display().to_string(),
    ));
    env.push(("TOKEND_KEYS__ALGORITHM".into(), "ES256".into()));
    let server = Tokend::start(&env, dir.path());
    let (code, created, err) = server.cli(&["client", "create", "--name", "svc", "--id", "svc"]);
    assert_eq!(code, 0, "{err}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();

    let http = client(&ca.cert);
    let resp = http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(peer_certificate(&resp), pem_to_der(&first));
    let metadata: serde_json::Value = resp.json().await.unwrap();
    let issuer = server.issuer();
    assert!(issuer.starts_with("https://"));
    assert_eq!(metadata["issuer"], issuer.as_str());
    assert_eq!(metadata["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(
        metadata["jwks_uri"],
        format!("{issuer}/.well-known/jwks.json")
    );
    let resp = http
        .post(server.url("/token"))
        .basic_auth("svc", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Plain HTTP on the TLS port gets no token.
    let plain = reqwest::Client::new()
        .post(server.url("/token").replacen("https", "http", 1))
        .basic_auth("svc", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    // Renew: new files in place, then SIGHUP.
    let (second, key2) = ca.server("second");
    std::fs::copy(&second, &cert_file).unwrap();
    std::fs::copy(&key2, &key_file).unwrap();
    let pid = server.pid().expect("running");
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        // A new client, so a new connection and handshake, each try.
        let resp = client(&ca.cert)
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap();
        if peer_certificate(&resp) == pem_to_der(&second) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate is not served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The connection opened before the reload is still the same one: it
    // still shows the first certificate, and it still works.
    let resp = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        peer_certificate(&resp),
        pem_to_der(&first),
        "the open connection was kept"
    );

    // A broken file on reload keeps the certificate in use.
    std::fs::write(&cert_file, "not a certificate").unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let log = server.log.clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("not reloaded")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the failed reload is logged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let resp = client(&ca.cert)
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(peer_certificate(&resp), pem_to_der(&second));
}

#[test]
fn a_missing_or_mismatched_tls_file_is_refused_at_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let (cert, _) = ca.server("a");
    let (_, other_key) = ca.server("b");
    for (cert, key, setting) in [
        (cert.clone(), dir.path().join("missing.key"), "tls.key_file"),
        (
            dir.path().join("missing.pem"),
            other_key.clone(),
            "tls.cert_file",
        ),
        (cert.clone(), other_key.clone(), "tls.key_file"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tokend"))
            .arg("serve")
            .envs(Tokend::sqlite_env(dir.path()))
            .env("TOKEND_LISTEN", "127.0.0.1:0")
            .env("TOKEND_TLS__CERT_FILE", &cert)
            .env("TOKEND_TLS__KEY_FILE", &key)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(setting), "{setting}: {stderr}");
        assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    }
}
