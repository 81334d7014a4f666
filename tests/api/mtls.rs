//! Mutual TLS (RFC 8705, SPEC §9): `tls_client_auth` by subject DN, SAN URI
//! (a SPIFFE ID) and SAN DNS of certificates chaining to `tls.client_ca_file`;
//! `self_signed_tls_client_auth` by the registered certificate; tokens bound
//! to the certificate (`cnf.x5t#S256`) whenever a request carries one — over
//! tokend's own TLS and from a trusted proxy's header (Envoy XFCC, nginx
//! URL-encoded PEM), which from any other address is ignored. Certificates
//! are made by openssl in the test.

use crate::certs::{TestCa, jwt_claims as claims, self_signed, thumbprint, url_encode};
use crate::process::Tokend;
use std::path::{Path, PathBuf};

/// A client trusting the test CA, presenting `identity` (cert, key) if any.
fn client(ca: &Path, identity: Option<&(PathBuf, PathBuf)>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let mut builder = reqwest::Client::builder().tls_certs_only([ca]);
    if let Some((cert, key)) = identity {
        let mut pem = std::fs::read(cert).unwrap();
        pem.extend(std::fs::read(key).unwrap());
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    builder.build().unwrap()
}

async fn token(
    http: &reqwest::Client,
    server: &Tokend,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let resp = http
        .post(server.url("/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

fn create(server: &Tokend, args: &[&str]) {
    let mut all = vec!["client", "create"];
    all.extend_from_slice(args);
    let (code, _, err) = server.cli(&all);
    assert_eq!(code, 0, "{args:?}: {err}");
}

#[tokio::test]
async fn mtls_clients_authenticate_over_tokends_own_tls_and_get_certificate_bound_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let (cert_file, key_file) = ca.server("tls");
    let orders = ca.client(
        "orders",
        "/CN=orders/O=Example",
        Some("URI:spiffe://test.example/ns/shop/sa/orders"),
    );
    let billing = ca.client("billing", "/C=US/O=Example, Inc./CN=billing", None);
    let dns = ca.client("dns", "/CN=whatever", Some("DNS:reports.svc.example"));
    // The same SPIFFE ID from a CA tokend does not trust.
    let rogue_dir = dir.path().join("rogue");
    std::fs::create_dir(&rogue_dir).unwrap();
    let rogue_ca = TestCa::new(&rogue_dir);
    let rogue = rogue_ca.client(
        "rogue",
        "/CN=orders/O=Example",
        Some("URI:spiffe://test.example/ns/shop/sa/orders"),
    );
    let edge = self_signed(dir.path(), "edge", "/CN=edge");
    let other_self_signed = self_signed(dir.path(), "other", "/CN=edge");

    let mut env = Tokend::sqlite_env(dir.path());
    for (k, v) in [
        ("TOKEND_TLS__CERT_FILE", cert_file.display().to_string()),
        ("TOKEND_TLS__KEY_FILE", key_file.display().to_string()),
        ("TOKEND_TLS__CLIENT_CA_FILE", ca.cert.display().to_string()),
        ("TOKEND_KEYS__ALGORITHM", "ES256".to_owned()),
    ] {
        env.push((k.into(), v));
    }
    let server = Tokend::start(&env, dir.path());
    let edge_cert = edge.0.display().to_string();
    create(
        &server,
        &[
            "--name",
            "orders",
            "--id",
            "orders",
            "--auth-method",
            "tls_client_auth",
            "--tls-san-uri",
            "spiffe://test.example/ns/shop/sa/orders",
            "--scope",
            "read",
        ],
    );
    create(
        &server,
        &[
            "--name",
            "billing",
            "--id",
            "billing",
            "--auth-method",
            "tls_client_auth",
            "--tls-subject-dn",
            "CN=billing, O=Example\\, Inc., C=US",
        ],
    );
    create(
        &server,
        &[
            "--name",
            "reports",
            "--id",
            "reports",
            "--auth-method",
            "tls_client_auth",
            "--tls-san-dns",
            "Reports.svc.example",
        ],
    );
    create(
        &server,
        &[
            "--name",
            "edge",
            "--id",
            "edge",
            "--auth-method",
            "self_signed_tls_client_auth",
            "--tls-cert-file",
            &edge_cert,
        ],
    );
    // Created last: once the server honours it, it knows every client above.
    let (code, created, err) = server.cli(&[
        "client",
        "create",
        "--name",
        "s",
        "--id",
        "secret-svc",
        "--introspect",
        "true",
    ]);
    assert_eq!(code, 0, "{err}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();

    // Each kind of subject authenticates its client; the token is bound.
    for (id, identity) in [
        ("orders", &orders),
        ("billing", &billing),
        ("reports", &dns),
        ("edge", &edge),
    ] {
        let http = client(&ca.cert, Some(identity));
        let (status, body) = token(
            &http,
            &server,
            &[("grant_type", "client_credentials"), ("client_id", id)],
        )
        .await;
        assert_eq!(status, 200, "{id}: {body}");
        assert_eq!(body["token_type"], "Bearer", "RFC 8705 tokens stay Bearer");
        let claims = claims(body["access_token"].as_str().unwrap());
        assert_eq!(claims["client_id"], id);
        assert_eq!(
            claims["cnf"]["x5t#S256"],
            thumbprint(&identity.0).as_str(),
            "{id}"
        );
    }

    // Introspection shows the binding.
    let http = client(&ca.cert, Some(&orders));
    let (_, body) = token(
        &http,
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "orders"),
        ],
    )
    .await;
    let access = body["access_token"].as_str().unwrap().to_owned();
    let plain = client(&ca.cert, None);
    let intro: serde_json::Value = plain
        .post(server.url("/introspect"))
        .basic_auth("secret-svc", Some(&secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(intro["active"], true, "{intro}");
    assert_eq!(intro["cnf"]["x5t#S256"], thumbprint(&orders.0).as_str());
    assert_eq!(intro["token_type"], "Bearer");
    // `token verify` names the binding.
    let (code, verified, err) = server.cli(&["token", "verify", &access]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(verified["binding"], "mtls");

    // Refusals: another client's certificate, an untrusted CA with the same
    // SPIFFE ID, another self-signed certificate, no certificate at all.
    for (id, identity, why) in [
        ("billing", Some(&orders), "a certificate of another client"),
        ("orders", Some(&rogue), "a certificate of an untrusted CA"),
        (
            "edge",
            Some(&other_self_signed),
            "another self-signed certificate",
        ),
        (
            "orders",
            Some(&edge),
            "a self-signed certificate for a CA client",
        ),
        ("orders", None, "no certificate"),
    ] {
        let http = client(&ca.cert, identity);
        let (status, body) = token(
            &http,
            &server,
            &[("grant_type", "client_credentials"), ("client_id", id)],
        )
        .await;
        assert_eq!(status, 401, "{why}: {body}");
        assert_eq!(body["error"], "invalid_client", "{why}");
    }
    // An mTLS client cannot fall back to a secret it does not have, and a
    // secret client is not authenticated by a certificate alone.
    let http = client(&ca.cert, Some(&orders));
    let (status, _) = token(
        &http,
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "secret-svc"),
        ],
    )
    .await;
    assert_eq!(status, 401);

    // A secret client calling with a certificate gets a bound token; without
    // one, an unbound token.
    let resp = http
        .post(server.url("/token"))
        .basic_auth("secret-svc", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["cnf"]["x5t#S256"],
        thumbprint(&orders.0).as_str()
    );
    let resp = plain
        .post(server.url("/token"))
        .basic_auth("secret-svc", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        claims(body["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );

    // Metadata offers the methods and bound tokens.
    let metadata: serde_json::Value = plain
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let methods = metadata["token_endpoint_auth_methods_supported"].to_string();
    assert!(
        methods.contains("\"tls_client_auth\"") && methods.contains("self_signed_tls_client_auth"),
        "{methods}"
    );
    assert_eq!(metadata["tls_client_certificate_bound_access_tokens"], true);

    // `client show` says what the certificate must show.
    let (_, shown, _) = server.cli(&["client", "show", "billing"]);
    assert_eq!(
        shown["tls_identity"]["subject_dn"],
        "CN=billing,O=Example\\, Inc.,C=US"
    );
    // Registration mistakes are refused with the reason.
    let (code, _, err) = server.cli(&[
        "client",
        "create",
        "--name",
        "x",
        "--auth-method",
        "tls_client_auth",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("tls_client_auth needs the certificate's subject"),
        "{err}"
    );
    let (code, _, err) = server.cli(&[
        "client",
        "create",
        "--name",
        "x",
        "--auth-method",
        "tls_client_auth",
        "--tls-subject-dn",
        "not a dn",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("RFC 4514"), "{err}");
}

/// A client whose connections come from `source` (the whole 127.0.0.0/8 is
/// loopback).
fn from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(source.parse().unwrap()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_certificate_forwarded_by_a_trusted_proxy_authenticates_and_binds_and_is_ignored_from_anyone_else()
 {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let spiffe = "spiffe://test.example/ns/shop/sa/orders";
    let orders = ca.client("orders", "/CN=orders", Some(&format!("URI:{spiffe}")));
    let pem = std::fs::read_to_string(&orders.0).unwrap();
    // Envoy's documented XFCC shape (set_current_client_cert_details: Cert,
    // Subject, URI), the certificate URL-encoded.
    let xfcc = format!(
        "By=spiffe://test.example/ns/edge/sa/envoy;Hash={};Cert=\"{}\";Subject=\"CN=orders\";URI={spiffe}",
        "0".repeat(64),
        url_encode(&pem)
    );

    for (header, value) in [
        ("x-forwarded-client-cert", xfcc.clone()),
        ("x-ssl-client-cert", url_encode(&pem)),
    ] {
        let sub = dir.path().join(header);
        std::fs::create_dir(&sub).unwrap();
        let mut env = Tokend::sqlite_env(&sub);
        for (k, v) in [
            ("TOKEND_TLS__CLIENT_CA_FILE", ca.cert.display().to_string()),
            ("TOKEND_TLS__CLIENT_CERT_HEADER", header.to_owned()),
            ("TOKEND_HTTP__TRUSTED_PROXIES", "127.0.0.2".to_owned()),
        ] {
            env.push((k.into(), v));
        }
        let server = Tokend::start(&env, &sub);
        create(
            &server,
            &[
                "--name",
                "orders",
                "--id",
                "orders",
                "--auth-method",
                "tls_client_auth",
                "--tls-san-uri",
                spiffe,
            ],
        );
        let (code, created, err) =
            server.cli(&["client", "create", "--name", "s", "--id", "secret-svc"]);
        assert_eq!(code, 0, "{err}");
        let secret = created["client_secret"].as_str().unwrap().to_owned();

        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", "orders"),
        ];
        // From the proxy: authenticated, bound to the forwarded certificate.
        let resp = from("127.0.0.2")
            .post(server.url("/token"))
            .header(header, &value)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{header}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(
            claims(body["access_token"].as_str().unwrap())["cnf"]["x5t#S256"],
            thumbprint(&orders.0).as_str()
        );

        // The same header from any other address is ignored: no client
        // authentication, and no binding for a secret client.
        let resp = from("127.0.0.3")
            .post(server.url("/token"))
            .header(header, &value)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{header} from an untrusted address");
        let resp = from("127.0.0.3")
            .post(server.url("/token"))
            .header(header, &value)
            .basic_auth("secret-svc", Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(
            claims(body["access_token"].as_str().unwrap())
                .get("cnf")
                .is_none(),
            "{header}: not bound"
        );

        // A malformed header from the proxy is no certificate.
        let resp = from("127.0.0.2")
            .post(server.url("/token"))
            .header(header, "Cert=\"%zz")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
}

#[test]
fn a_cert_header_without_trusted_proxies_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokend"))
        .arg("serve")
        .envs(Tokend::sqlite_env(dir.path()))
        .env("TOKEND_LISTEN", "127.0.0.1:0")
        .env("TOKEND_TLS__CLIENT_CERT_HEADER", "x-forwarded-client-cert")
        .env_remove("TOKEND_HTTP__TRUSTED_PROXIES")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tls.client_cert_header") && err.contains("trusted_proxies"),
        "{err}"
    );
}
