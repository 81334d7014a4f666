//! mTLS clients of other ecosystems (RFC 8705) against the real binary over
//! its own TLS: curl with `--cert/--key` and Python `requests` with
//! `cert=(…)`, with a CA-issued certificate (`tls_client_auth`, SPIFFE ID in
//! the SAN) and a self-signed one (`self_signed_tls_client_auth`). Both get
//! certificate-bound tokens; PyJWT checks the binding claim offline.

use crate::certs::{TestCa, jwt_claims as claims, self_signed, thumbprint};
use crate::process::Tokend;
use crate::python;
use std::process::Command;

#[test]
fn curl_and_python_requests_authenticate_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let (cert_file, key_file) = ca.server("tls");
    let spiffe = "spiffe://interop.example/ns/shop/sa/orders";
    let orders = ca.client("orders", "/CN=orders", Some(&format!("URI:{spiffe}")));
    let edge = self_signed(dir.path(), "edge", "/CN=edge");
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
    // The README's lines.
    let edge_pem = edge.0.display().to_string();
    for args in [
        vec![
            "--id",
            "orders",
            "--auth-method",
            "tls_client_auth",
            "--tls-san-uri",
            spiffe,
        ],
        vec![
            "--id",
            "edge",
            "--auth-method",
            "self_signed_tls_client_auth",
            "--tls-cert-file",
            &edge_pem,
        ],
    ] {
        let mut all = vec!["client", "create", "--name", "interop", "--scope", "read"];
        all.extend(args);
        let (code, _, err) = server.cli(&all);
        assert_eq!(code, 0, "{err}");
    }
    // A secret client created last: once honoured, the two above are too.
    let (code, _, err) = server.cli(&["client", "create", "--name", "last", "--id", "last"]);
    assert_eq!(code, 0, "{err}");

    let url = server.url("/token");
    for (id, (cert, key)) in [("orders", &orders), ("edge", &edge)] {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&ca.cert)
            .arg("--cert")
            .arg(cert)
            .arg("--key")
            .arg(key)
            .args([
                "-d",
                "grant_type=client_credentials",
                "-d",
                &format!("client_id={id}"),
                &url,
            ])
            .output()
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("curl: {}", String::from_utf8_lossy(&out.stderr)));
        let token = body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: {body}"));
        assert_eq!(
            claims(token)["cnf"]["x5t#S256"],
            thumbprint(cert).as_str(),
            "curl {id}"
        );

        // Python requests, and PyJWT reads the binding after verifying the
        // signature from the JWKS.
        let script = r#"
import json, sys, requests, jwt
url, issuer, ca, cert, key, client_id = sys.argv[1:]
r = requests.post(url, data={"grant_type": "client_credentials", "client_id": client_id}, cert=(cert, key), verify=ca)
r.raise_for_status()
token = r.json()["access_token"]
jwks = jwt.PyJWKClient(issuer + "/.well-known/jwks.json", ssl_context=__import__("ssl").create_default_context(cafile=ca))
key = jwks.get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["ES256"], options={"verify_aud": False})
refused = requests.post(url, data={"grant_type": "client_credentials", "client_id": client_id}, verify=ca)
print(json.dumps({"cnf": claims["cnf"], "token_type": r.json()["token_type"], "without_cert": refused.status_code, "error": refused.json()["error"]}))
"#;
        let out = Command::new(python())
            .arg("-c")
            .arg(script)
            .arg(&url)
            .arg(server.issuer())
            .arg(&ca.cert)
            .arg(cert)
            .arg(key)
            .arg(id)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            report["cnf"]["x5t#S256"],
            thumbprint(cert).as_str(),
            "requests {id}"
        );
        assert_eq!(report["token_type"], "Bearer");
        assert_eq!(report["without_cert"], 401);
        assert_eq!(report["error"], "invalid_client");
    }
}
