//! Interop: verifiers from other ecosystems check tokend's tokens offline from
//! its JWKS, for every algorithm — Python PyJWT (`PyJWKClient`) and Node
//! `jose` (`createRemoteJWKSet` + `jwtVerify` with `typ: at+jwt`). The real
//! binary is started on a free port. `./test.sh` installs both verifiers
//! (tests/interop/.venv and tests/interop/node_modules).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `tokend serve` process on a free port with its own database.
struct Tokend {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    env: Vec<(String, String)>,
}

impl Tokend {
    fn start(alg: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let env = vec![
            ("TOKEND_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
            (
                "TOKEND_DATABASE_URL".to_owned(),
                format!("sqlite://{}/tokend.db", dir.path().display()),
            ),
            (
                "TOKEND_MASTER_KEY_FILE".to_owned(),
                dir.path().join("master.key").display().to_string(),
            ),
            ("TOKEND_KEYS__ALGORITHM".to_owned(), alg.to_owned()),
        ];
        let child = Command::new(env!("CARGO_BIN_EXE_tokend"))
            .arg("serve")
            .envs(env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tokend starts");
        let server = Self {
            child,
            dir,
            port,
            env,
        };
        server.wait_ready();
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        loop {
            let ready = rt.block_on(async {
                reqwest::get(self.url("/readyz"))
                    .await
                    .is_ok_and(|r| r.status().is_success())
            });
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "tokend did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn cli(&self, args: &[&str]) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_tokend"))
            .args(args)
            .arg("--json")
            .envs(self.env.iter().cloned())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// SIGTERM, and the exit code.
    fn stop(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().unwrap();
        let _ = &self.dir;
        status.code()
    }
}

impl Drop for Tokend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
        let server = Tokend::start(alg);
        let created = server.cli(&[
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
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        let token = fetch_token(&server, "interop", &secret);
        let issuer = format!("http://127.0.0.1:{}", server.port);
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

        assert_eq!(server.stop(), Some(0), "SIGTERM stops tokend cleanly");
    }
}
