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

    /// Starts `tokend serve` with `env` on a free port; waits for /readyz.
    pub fn start(env: &[(String, String)], log_dir: &std::path::Path) -> Self {
        let port = free_port();
        let mut env = env.to_vec();
        env.push(("TOKEND_LISTEN".to_owned(), format!("127.0.0.1:{port}")));
        let log = log_dir.join(format!("tokend-{port}.log"));
        let mut server = Self {
            child: None,
            port,
            env,
            log,
        };
        server.spawn();
        server.wait_ready();
        server
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

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = raw_http::get_status();
        loop {
            if client(&self.url("/readyz")) == Some(200) {
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
        let json = serde_json::from_str(stdout.trim()).unwrap_or(serde_json::Value::Null);
        (
            out.status.code().unwrap_or(-1),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
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

/// A tiny blocking GET for readiness polls, without a runtime.
mod raw_http {
    use std::io::{Read, Write};

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
