//! Interop: verifiers from other ecosystems check tokend's tokens offline from
//! its JWKS, for every algorithm — Python PyJWT (`PyJWKClient`) and Node
//! `jose` (`createRemoteJWKSet` + `jwtVerify` with `typ: at+jwt`). The real
//! binary is started on a free port. Python Authlib does private_key_jwt and
//! introspection; schemathesis checks the server against /openapi.json.
//! `./test.sh` installs them (tests/interop/.venv and tests/interop/node_modules).

#[path = "../common/certs.rs"]
mod certs;
mod clients;
mod console;
mod federation;
mod mod_auth_openidc;
mod mtls;
#[path = "../common/process.rs"]
mod process;

use process::Tokend;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub(crate) fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

pub(crate) fn python() -> PathBuf {
    let venv = interop_dir().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "PyJWT is not installed for the interop tests: run ./test.sh (it creates tests/interop/.venv)"
    );
    venv
}

fn node_ready() {
    assert!(
        interop_dir().join("node_modules/jose").exists(),
        "jose is not installed for the interop tests: run ./test.sh (npm ci in tests/interop)"
    );
}

fn fetch_token(server: &Tokend, id: &str, secret: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let resp = rt.block_on(async {
            reqwest::Client::new()
                .post(server.url("/token"))
                .basic_auth(id, Some(secret))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials&scope=read")
                .send()
                .await
                .unwrap()
        });
        if resp.status().is_success() {
            let body: serde_json::Value = rt.block_on(resp.json()).unwrap();
            return body["access_token"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no token: {}", resp.status());
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn run_verifier(program: &Path, script: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(program)
        .arg(interop_dir().join(script))
        .args(args)
        .current_dir(interop_dir())
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{script}: not JSON ({e}): {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "{script} refused the token: {result}");
    result
}

fn check(result: &serde_json::Value, who: &str, alg: &str) {
    assert_eq!(result["claims"]["sub"], "interop", "{who} {alg}");
    assert_eq!(result["claims"]["scope"], "read", "{who} {alg}");
    for case in ["tampered", "wrong_audience", "wrong_issuer"] {
        assert_eq!(
            result["refused"][case], true,
            "{who} {alg} must refuse {case}"
        );
    }
}

#[test]
fn pyjwt_and_jose_verify_tokens_of_every_algorithm_offline() {
    let python = python();
    node_ready();
    for alg in ["RS256", "PS256", "ES256", "ES384", "EdDSA"] {
        let dir = tempfile::tempdir().unwrap();
        let mut env = Tokend::sqlite_env(dir.path());
        env.push(("TOKEND_KEYS__ALGORITHM".to_owned(), alg.to_owned()));
        let mut server = Tokend::start(&env, dir.path());
        let (code, created, stderr) = server.cli(&[
            "client",
            "create",
            "--name",
            "interop",
            "--id",
            "interop",
            "--scope",
            "read",
            "--audience",
            "https://api.example",
        ]);
        assert_eq!(code, 0, "{stderr}");
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        let token = fetch_token(&server, "interop", &secret);
        let issuer = server.issuer();
        let jwks = server.url("/.well-known/jwks.json");
        let args = [
            jwks.as_str(),
            issuer.as_str(),
            "https://api.example",
            alg,
            token.as_str(),
        ];

        let py = run_verifier(&python, "verify_pyjwt.py", &args);
        check(&py, "PyJWT", alg);
        let js = run_verifier(Path::new("node"), "verify_jose.mjs", &args);
        check(&js, "jose", alg);
        assert_eq!(js["header"]["typ"], "at+jwt");
        assert_eq!(js["header"]["alg"], alg);

        assert_eq!(server.terminate(), Some(0), "SIGTERM stops tokend cleanly");
    }
}

fn setup_admin_server(dir: &Path) -> Tokend {
    let mut env = Tokend::sqlite_env(dir);
    env.push(("TOKEND_KEYS__ALGORITHM".to_owned(), "ES256".to_owned()));
    Tokend::start(&env, dir)
}

fn pem(pkcs8: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[test]
fn authlib_does_private_key_jwt_and_introspects_with_client_secret_basic() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let server = setup_admin_server(dir.path());
    let key = tokend::keys::generate(tokend::domain::Algorithm::RS256).unwrap();
    let pem_path = dir.path().join("client.pem");
    std::fs::write(&pem_path, pem(&key.pkcs8)).unwrap();
    let jwks_path = dir.path().join("client-jwks.json");
    std::fs::write(
        &jwks_path,
        serde_json::json!({"keys": [key.jwk]}).to_string(),
    )
    .unwrap();
    let (code, _, stderr) = server.cli(&[
        "client",
        "create",
        "--name",
        "py",
        "--id",
        "py-service",
        "--scope",
        "read",
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        jwks_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, rs, stderr) = server.cli(&[
        "client",
        "create",
        "--name",
        "rs",
        "--id",
        "py-rs",
        "--no-grant",
    ]);
    assert_eq!(code, 0, "{stderr}");
    // `cli` waited until the server honours py-rs, created last: the change
    // feed is ordered, so py-service is there too.
    let issuer = server.issuer();
    let report = run_verifier(
        &python,
        "authlib_client.py",
        &[
            issuer.as_str(),
            "py-service",
            pem_path.to_str().unwrap(),
            "py-rs",
            rs["client_secret"].as_str().unwrap(),
        ],
    );
    assert_eq!(report["token"]["token_type"], "Bearer");
    assert_eq!(report["token"]["scope"], "read");
    assert_eq!(report["introspection"]["active"], true);
    assert_eq!(report["introspection"]["client_id"], "py-service");
    assert_eq!(report["bogus"], serde_json::json!({"active": false}));
    assert_eq!(
        report["default_lifetime_refused"], true,
        "assertions over 5 minutes are refused"
    );
}

#[test]
fn schemathesis_finds_no_server_error_and_no_contradiction_with_openapi() {
    let _ = python();
    let st = interop_dir().join(".venv/bin/st");
    assert!(st.exists(), "schemathesis is not installed: run ./test.sh");
    let dir = tempfile::tempdir().unwrap();
    let server = setup_admin_server(dir.path());
    let (code, created, stderr) = server.cli(&[
        "client",
        "create",
        "--name",
        "fuzz",
        "--id",
        "schemathesis-7f3a",
        "--scope",
        "read tokend:admin",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let token = fetch_token(&server, "schemathesis-7f3a", &secret);
    // Every check; tests/interop/schemathesis.toml lists where a 400 is the
    // protocol's answer to a schema-valid request, and why.
    let checks = "all";
    let schema = server.url("/openapi.json");
    let auth = format!("schemathesis-7f3a:{secret}");
    let bearer = format!("Authorization: Bearer {token}");
    for args in [
        vec!["-a", auth.as_str(), "--exclude-path-regex", "^/admin"],
        vec!["-H", bearer.as_str(), "--include-path-regex", "^/admin"],
    ] {
        let out = Command::new(&st)
            .current_dir(interop_dir())
            .args([
                "--config-file",
                "schemathesis.toml",
                "run",
                &schema,
                "-n",
                "40",
                "--checks",
                checks,
                "--no-color",
                "--seed",
                "20261125",
            ])
            .args(&args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "schemathesis found problems:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("passed"), "{stdout}");
    }
    // The server survived and still issues tokens.
    fetch_token(&server, "schemathesis-7f3a", &secret);
}
