#![allow(dead_code)] // each test binary uses a different part
//! The real `tokend` binary as a child process on a free port, with its own
//! database and master key, for tests that need a process (interop, SIGKILL,
//! SIGTERM, several replicas).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Tokend {
    child: Option<Child>,
    pub port: u16,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
}

impl Tokend {
    /// Environment for a fresh SQLite database and master key in `dir`.
    pub fn sqlite_env(dir: &std::path::Path) -> Vec<(String, String)> {
        vec![
            (
                "TOKEND_DATABASE_URL".to_owned(),
                format!("sqlite://{}/tokend.db", dir.display()),
            ),
            (
                "TOKEND_MASTER_KEY_FILE".to_owned(),
                dir.join("master.key").display().to_string(),
            ),
        ]
    }

    /// Starts `tokend serve` with `env` on port 0 (no probe-then-bind race:
    /// tokend binds and logs the address); waits for /readyz. A restart comes
    /// back on the same port.
    pub fn start(env: &[(String, String)], log_dir: &std::path::Path) -> Self {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut env = env.to_vec();
        env.retain(|(k, _)| k != "TOKEND_LISTEN");
        env.push(("TOKEND_LISTEN".to_owned(), "127.0.0.1:0".to_owned()));
        let log = log_dir.join(format!("tokend-{}-{n}.log", std::process::id()));
        let mut server = Self {
            child: None,
            port: 0,
            env,
            log,
        };
        server.spawn();
        server.port = server.bound_port();
        let listen = format!("127.0.0.1:{}", server.port);
        server.env.retain(|(k, _)| k != "TOKEND_LISTEN");
        server.env.push(("TOKEND_LISTEN".to_owned(), listen));
        server.wait_ready();
        server
    }

    /// The port tokend logged it bound ("tokend is listening address=…").
    fn bound_port(&mut self) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| l.contains("tokend is listening")) {
                let address = line
                    .split("address")
                    .nth(1)
                    .map(|rest| {
                        rest.trim_start_matches(['=', '"', ':'])
                            .split(|c: char| c.is_whitespace() || c == '"' || c == ',')
                            .next()
                            .unwrap_or_default()
                            .to_owned()
                    })
                    .unwrap_or_default();
                let port = address.rsplit(':').next().and_then(|p| p.parse().ok());
                return port.unwrap_or_else(|| panic!("no port in {line:?}"));
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("tokend exited ({status}) before listening: {log}");
            }
            assert!(
                Instant::now() < deadline,
                "tokend did not start listening: {log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(&self.log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tokend"))
            .arg("serve")
            .env_remove("RUST_LOG")
            .envs(self.env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("tokend starts");
        self.child = Some(child);
    }

    fn tls(&self) -> bool {
        self.env.iter().any(|(k, _)| k == "TOKEND_TLS__CERT_FILE")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer())
    }

    pub fn issuer(&self) -> String {
        let scheme = if self.tls() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    fn ready(&self) -> bool {
        if self.tls() {
            // Readiness only: the certificate is checked by the tests.
            return Command::new("curl")
                .args(["-skf", "-o", "/dev/null", &self.url("/readyz")])
                .status()
                .is_ok_and(|s| s.success());
        }
        raw_http::get_status()(&self.url("/readyz")) == Some(200)
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.ready() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tokend did not become ready: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a CLI command against the same database with `--json`.
    pub fn cli(&self, args: &[&str]) -> (i32, serde_json::Value, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_tokend"))
            .args(args)
            .arg("--json")
            .env_remove("RUST_LOG")
            .envs(self.env.iter().cloned())
            .env("TOKEND_ISSUER", self.issuer())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let json: serde_json::Value =
            serde_json::from_str(stdout.trim()).unwrap_or(serde_json::Value::Null);
        if out.status.success()
            && args.starts_with(&["client", "create"])
            && let (Some(id), Some(secret)) =
                (json["client_id"].as_str(), json["client_secret"].as_str())
        {
            self.wait_for_client(id, secret);
        }
        (
            out.status.code().unwrap_or(-1),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Waits until this server honours a client created elsewhere (SPEC §4:
    /// within 2 seconds, through the change feed).
    pub fn wait_for_client(&self, id: &str, secret: &str) {
        if self.tls() {
            return self.wait_for_client_over_tls(id, secret);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        let post = raw_http::post_token_status();
        loop {
            match post(&self.url("/token"), id, secret) {
                Some(401) | None if Instant::now() < deadline => {
                    // Each miss counts as a failed authentication: poll gently.
                    std::thread::sleep(Duration::from_millis(250))
                }
                Some(401) | None => panic!("client {id} not honoured within 3 s"),
                Some(_) => return,
            }
        }
    }

    fn wait_for_client_over_tls(&self, id: &str, secret: &str) {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let out = Command::new("curl")
                .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-u"])
                .arg(format!("{id}:{secret}"))
                .args(["-d", "grant_type=client_credentials", &self.url("/token")])
                .output()
                .unwrap();
            let code = String::from_utf8_lossy(&out.stdout).into_owned();
            if code != "401" && code != "000" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "client {id} not honoured within 3 s"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// POST /token with client_secret_basic; the JSON body and the status.
    pub async fn token(&self, id: &str, secret: &str) -> (u16, serde_json::Value) {
        use base64::Engine;
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(id),
            enc(secret)
        ));
        // A new client each time: a restarted server drops pooled connections.
        let resp = reqwest::Client::new()
            .post(self.url("/token"))
            .header("Authorization", format!("Basic {basic}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .expect("tokend answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// A variable of this server's environment.
    pub fn env_value(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts the same configuration again on the same port.
    pub fn restart(&mut self) {
        self.kill_hard();
        self.spawn();
        self.wait_ready();
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_term(&self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
        }
    }

    /// Waits for the process to exit; its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        self.child.take()?.wait().unwrap().code()
    }

    /// SIGTERM, and the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        child.wait().unwrap().code()
    }
}

impl Drop for Tokend {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// A tiny blocking HTTP client for polls, without a runtime.
mod raw_http {
    use std::io::{Read, Write};

    /// POST /token with client_secret_basic; the status.
    pub fn post_token_status() -> impl Fn(&str, &str, &str) -> Option<u16> {
        |url: &str, id: &str, secret: &str| {
            use base64::Engine;
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(id),
                enc(secret)
            ));
            let rest = url.strip_prefix("http://")?;
            let (host, path) = rest.split_once('/')?;
            let body = "grant_type=client_credentials";
            let mut stream = std::net::TcpStream::connect(host).ok()?;
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(2)))
                .ok()?;
            write!(
                stream,
                "POST /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAuthorization: Basic {basic}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .ok()?;
            let mut response = String::new();
            stream.read_to_string(&mut response).ok()?;
            response.split_whitespace().nth(1)?.parse().ok()
        }
    }

    pub fn get_status() -> impl Fn(&str) -> Option<u16> {
        |url: &str| {
            let rest = url.strip_prefix("http://")?;
            let (host, path) = rest.split_once('/')?;
            let mut stream = std::net::TcpStream::connect(host).ok()?;
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(2)))
                .ok()?;
            write!(
                stream,
                "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            )
            .ok()?;
            let mut response = String::new();
            stream.read_to_string(&mut response).ok()?;
            response.split_whitespace().nth(1)?.parse().ok()
        }
    }
}
