//! Interop: verifiers from other ecosystems check tokend's tokens offline from
//! its JWKS, for every algorithm — Python PyJWT (`PyJWKClient`) and Node
//! `jose` (`createRemoteJWKSet` + `jwtVerify` with `typ: at+jwt`). The real
//! binary is started on a free port. `./test.sh` installs both verifiers
//! (tests/interop/.venv and tests/interop/node_modules).

#[path = "../common/process.rs"]
mod process;

use process::Tokend;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

fn python() -> PathBuf {
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

fn run_verifier(program: &Path, script: &str, args: &[&str]) -> serde_json::Value {
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
