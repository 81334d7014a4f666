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
