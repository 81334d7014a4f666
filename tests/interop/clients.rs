//! Token clients of other ecosystems, with their defaults, against the real
//! binary (SPEC §3): openid-client 6 (client_secret_post), Go's x/oauth2 with
//! AuthStyleAutoDetect run as a cron job would (a new process per run), and
//! Authlib's client_secret_basic with an id holding `+`, sent raw.

use crate::process::Tokend;
use crate::{interop_dir, python, run_verifier};
use std::path::{Path, PathBuf};
use std::process::Command;

fn create(server: &Tokend, args: &[&str]) -> String {
    let mut all = vec!["client", "create", "--name", "interop", "--scope", "read"];
    all.extend_from_slice(args);
    let (code, created, stderr) = server.cli(&all);
    assert_eq!(code, 0, "{stderr}");
    created["client_secret"].as_str().unwrap().to_owned()
}

fn es256_server(dir: &Path) -> Tokend {
    let mut env = Tokend::sqlite_env(dir);
    env.push(("TOKEND_KEYS__ALGORITHM".to_owned(), "ES256".to_owned()));
    Tokend::start(&env, dir)
}

#[test]
fn openid_client_with_its_defaults_gets_a_token_from_a_default_client() {
    assert!(
        interop_dir().join("node_modules/openid-client").exists(),
        "openid-client is not installed: run ./test.sh (npm ci in tests/interop)"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = es256_server(dir.path());
    // Registered with tokend's default (client_secret_basic); openid-client
    // sends client_secret_post.
    let secret = create(&server, &["--id", "node-svc"]);
    let report = run_verifier(
        Path::new("node"),
        "openid_client.mjs",
        &[&server.issuer(), "node-svc", &secret],
    );
    assert_eq!(report["token_type"], "bearer");
    assert_eq!(report["scope"], "read");
    // A wrong secret shows tokend's own error, not a generic challenge.
    assert_eq!(report["refusal"]["error"], "invalid_client", "{report}");
    assert_eq!(
        report["refusal"]["error_description"], "client authentication failed",
        "{report}"
    );
}

/// Builds the Go program in GOPATH mode against Debian's golang.org/x/oauth2
/// (no module proxy here).
fn build_go(out: &Path) -> PathBuf {
    let gopath = "/usr/share/gocode";
    assert!(
        Path::new(gopath).join("src/golang.org/x/oauth2").exists(),
        "Go's x/oauth2 is not installed: run ./test.sh (apt golang-go golang-golang-x-oauth2-dev)"
    );
    let binary = out.join("autodetect");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg("autodetect.go")
        .current_dir(interop_dir().join("go"))
        .env("GOPATH", gopath)
        .env("GO111MODULE", "off")
        .env("GOCACHE", out.join("gocache"))
        .env_remove("GOFLAGS")
        .status()
        .expect("go runs");
    assert!(status.success(), "the Go program builds");
    binary
}

#[test]
fn go_autodetect_run_25_times_in_a_minute_is_never_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let binary = build_go(dir.path());
    let server = es256_server(dir.path());
    // Registered for the body: Go's AutoDetect tries Basic first.
    let secret = create(
        &server,
        &["--id", "go-cron", "--auth-method", "client_secret_post"],
    );
    let token_url = server.url("/token");
    for run in 0..25 {
        let out = Command::new(&binary)
            .args([&token_url, "go-cron", &secret])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "run {run}: {stdout}");
        assert_eq!(stdout.trim(), "Bearer", "run {run}");
    }
}

#[test]
fn authlib_basic_sends_an_id_with_plus_raw_and_gets_a_token() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let server = es256_server(dir.path());
    let secret = create(&server, &["--id", "billing+eu"]);
    let report = run_verifier(
        &python,
        "authlib_client.py",
        &["--basic", &server.issuer(), "billing+eu", &secret],
    );
    assert_eq!(report["token"]["token_type"], "Bearer", "{report}");
    assert_eq!(report["token"]["scope"], "read");
}

/// openid-client's DPoP (RFC 9449) end to end: a bound token from tokend,
/// then `examples/resource_server.rs` (tokend-verify) serving it only with
/// openid-client's proofs, never as a bearer token.
/// A child process killed when dropped (also when a test fails).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `examples/resource_server.rs` (tokend-verify) for tokens of `server`,
/// serving `/data` at the returned base URL.
fn resource_server(server: &Tokend) -> (KillOnDrop, String) {
    let example = Path::new(env!("CARGO_BIN_EXE_tokend"))
        .parent()
        .unwrap()
        .join("examples/resource_server");
    assert!(
        example.exists(),
        "build the example first: cargo build --examples (./test.sh builds every target)"
    );
    let port = crate::process::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let rs = Command::new(example)
        .env("TOKEND_ISSUER", server.issuer())
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .env("RESOURCE_BASE_URL", &base)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(25));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let rs = KillOnDrop(rs);
    assert!(ready, "the resource server did not start");
    (rs, base)
}

#[test]
fn openid_client_gets_a_dpop_token_and_calls_a_tokend_verify_resource_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = es256_server(dir.path());
    let secret = create(&server, &["--id", "node-dpop", "--require-dpop"]);
    let (rs, base) = resource_server(&server);
    let report = run_verifier(
        Path::new("node"),
        "openid_client_dpop.mjs",
        &[
            &server.issuer(),
            "node-dpop",
            &secret,
            &format!("{base}/data"),
        ],
    );
    drop(rs);
    assert_eq!(report["token_type"], "dpop", "{report}");
    for call in report["calls"].as_array().unwrap() {
        assert_eq!(call["status"], 200, "{report}");
        assert_eq!(call["body"]["client_id"], "node-dpop");
    }
    assert_eq!(report["bearer_status"], 401, "{report}");
    assert!(
        report["bearer_challenge"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid_token"),
        "{report}"
    );
}

/// panva's `dpop` package: proofs for every algorithm tokend offers, then
/// the resource server with the refusals a thief meets.
#[test]
fn the_dpop_package_binds_tokens_and_a_thief_is_refused_at_the_resource_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = es256_server(dir.path());
    let secret = create(&server, &["--id", "dpop-pkg"]);
    let (rs, base) = resource_server(&server);
    let report = run_verifier(
        Path::new("node"),
        "dpop_package.mjs",
        &[
            &server.issuer(),
            "dpop-pkg",
            &secret,
            &format!("{base}/data"),
        ],
    );
    drop(rs);
    for (alg, result) in report["algorithms"].as_object().unwrap() {
        assert_eq!(result["status"], 200, "{alg}: {report}");
        assert_eq!(result["token_type"], "DPoP", "{alg}");
        assert_eq!(result["jkt_matches"], true, "{alg}");
    }
    assert_eq!(report["ok"]["status"], 200, "{report}");
    for (case, words) in [
        ("replayed", "invalid_dpop_proof"),
        ("other_url", "invalid_dpop_proof"),
        ("other_key", "invalid_dpop_proof"),
        ("as_bearer", "invalid_token"),
    ] {
        assert_eq!(report[case]["status"], 401, "{case}: {report}");
        assert!(
            report[case]["challenge"]
                .as_str()
                .unwrap_or_default()
                .contains(words),
            "{case}: {report}"
        );
    }
    assert_eq!(report["token_first"], 200, "{report}");
    assert_eq!(report["token_replay"]["status"], 400, "{report}");
    assert_eq!(
        report["token_replay"]["body"]["error"],
        "invalid_dpop_proof"
    );
}

/// `examples/calling_service.rs`: a service calling another with
/// tokend-client (DPoP-bound token, a proof per call) and
/// `examples/resource_server.rs` accepting it.
#[test]
fn the_calling_service_example_reaches_the_resource_server_with_a_dpop_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = es256_server(dir.path());
    let secret = create(&server, &["--id", "caller", "--require-dpop"]);
    let (rs, base) = resource_server(&server);
    let example = Path::new(env!("CARGO_BIN_EXE_tokend"))
        .parent()
        .unwrap()
        .join("examples/calling_service");
    let port = crate::process::free_port();
    let caller = Command::new(example)
        .env("TOKEND_URL", server.issuer())
        .env("CLIENT_ID", "caller")
        .env("CLIENT_SECRET", &secret)
        .env("DPOP", "1")
        .env("TARGET_URL", format!("{base}/data"))
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let caller = KillOnDrop(caller);
    let report = |_: ()| -> Option<serde_json::Value> {
        let out = Command::new("curl")
            .args(["-sf", &format!("http://127.0.0.1:{port}/report")])
            .output()
            .ok()?;
        serde_json::from_slice(&out.stdout).ok()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let first = loop {
        if let Some(r) = report(()) {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the calling service did not answer"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let second = report(()).expect("a second call");
    drop(caller);
    drop(rs);
    for r in [&first, &second] {
        assert_eq!(r["target_status"], 200, "{r}");
        let said: serde_json::Value =
            serde_json::from_str(r["target_said"].as_str().unwrap()).unwrap();
        assert_eq!(said["client_id"], "caller", "{r}");
    }
}
