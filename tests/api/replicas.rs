//! Production mode on PostgreSQL: several `tokend serve` processes on one
//! database, and a database outage while tokend runs. They are ignored
//! unless asked for: `./test.sh` runs them with `--include-ignored` against
//! the PostgreSQL of `TOKEND_TEST_DATABASE_URL` (CI sets it), and they fail,
//! never pass silently, when it is missing.

use crate::helpers::*;
use crate::process::{Tokend, free_port};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

fn require_postgres() {
    assert!(
        std::env::var("TOKEND_TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()),
        "this test needs PostgreSQL: set TOKEND_TEST_DATABASE_URL=postgres://…"
    );
}

async fn jwks_kids(http: &reqwest::Client, server: &Tokend) -> Option<BTreeSet<String>> {
    let jwks: serde_json::Value = http
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        jwks["keys"]
            .as_array()?
            .iter()
            .filter_map(|k| k["kid"].as_str().map(str::to_owned))
            .collect(),
    )
}

async fn token_from(server: &Tokend, id: &str, secret: &str) -> (u16, serde_json::Value) {
    server.token(id, secret).await
}

async fn verify_with(
    http: &reqwest::Client,
    server: &Tokend,
    token: &str,
    issuer: &str,
) -> Result<(), String> {
    let jwks: jsonwebtoken::jwk::JwkSet = http
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks
        .find(&kid)
        .ok_or(format!("kid {kid} not in replica {}'s JWKS", server.port))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
#[ignore = "needs PostgreSQL: ./test.sh runs it with TOKEND_TEST_DATABASE_URL"]
async fn three_replicas_rotate_together_on_postgres() {
    require_postgres();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::new(dir.path()).await;
    let issuer = "https://auth.test";
    let mut env = vec![
        ("TOKEND_DATABASE_URL".to_owned(), db.url.clone()),
        (
            "TOKEND_MASTER_KEY_FILE".to_owned(),
            dir.path().join("master.key").display().to_string(),
        ),
        ("TOKEND_ISSUER".to_owned(), issuer.to_owned()),
    ];
    for (k, v) in [
        ("TOKEND_KEYS__ROTATE_EVERY", "6s"),
        ("TOKEND_KEYS__PUBLISH_AHEAD", "3s"),
        ("TOKEND_KEYS__REFRESH_EVERY", "1s"),
        ("TOKEND_KEYS__ALGORITHM", "ES256"),
        ("TOKEND_TOKENS__TTL", "4s"),
        ("TOKEND_TOKENS__MAX_TTL", "4s"),
        ("TOKEND_TOKENS__LEEWAY", "1s"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    let replicas: Vec<Tokend> = (0..3).map(|_| Tokend::start(&env, dir.path())).collect();
    let (code, created, err) = replicas[0].cli(&["client", "create", "--name", "c", "--id", "c"]);
    assert_eq!(code, 0, "{err}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();

    // A client created through the CLI is honoured by every replica within 2 s.
    for server in &replicas {
        let honoured = eventually(Duration::from_secs(2), || async {
            token_from(server, "c", &secret).await.0 == 200
        })
        .await;
        assert!(
            honoured,
            "replica {} did not honour the new client",
            server.port
        );
    }

    let start = Instant::now();
    let mut first_seen: BTreeMap<(String, usize), Duration> = BTreeMap::new();
    let mut signing: BTreeSet<String> = BTreeSet::new();
    let mut observed: BTreeSet<String> = BTreeSet::new();
    let mut round = 0usize;
    while start.elapsed() < Duration::from_secs(21) {
        for (i, server) in replicas.iter().enumerate() {
            if let Some(kids) = jwks_kids(&http, server).await {
                for kid in kids {
                    first_seen
                        .entry((kid.clone(), i))
                        .or_insert(start.elapsed());
                    observed.insert(kid);
                }
            }
        }
        let from = &replicas[round % 3];
        let other = &replicas[(round + 1) % 3];
        let (status, body) = token_from(from, "c", &secret).await;
        assert_eq!(status, 200);
        let token = body["access_token"].as_str().unwrap();
        signing.insert(jsonwebtoken::decode_header(token).unwrap().kid.unwrap());
        verify_with(&http, other, token, issuer)
            .await
            .unwrap_or_else(|e| panic!("a token from {} fails on {}: {e}", from.port, other.port));
        round += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(signing.len() >= 4, "at least three rotations: {signing:?}");
    // Exactly one key per rotation: every key observed signed, but perhaps
    // the newest, still waiting.
    let unused: Vec<&String> = observed.difference(&signing).collect();
    assert!(unused.len() <= 1, "keys that never signed: {unused:?}");
    // Every replica's JWKS shows a key within refresh_every + 1 s of the first.
    for kid in &observed {
        let times: Vec<Duration> = (0..3)
            .filter_map(|i| first_seen.get(&(kid.clone(), i)).copied())
            .collect();
        assert_eq!(times.len(), 3, "{kid} not seen on every replica");
        let spread = *times.iter().max().unwrap() - *times.iter().min().unwrap();
        assert!(
            spread <= Duration::from_millis(2300),
            "{kid}: replicas converged only after {spread:?}"
        );
    }
}

/// A PostgreSQL server of our own, so the test can stop and start it.
struct PrivatePostgres {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePostgres {
    fn bin_dir() -> std::path::PathBuf {
        let out = Command::new("pg_config").arg("--bindir").output();
        if let Ok(out) = out
            && out.status.success()
        {
            let dir = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if dir.join("initdb").exists() {
                return dir;
            }
        }
        let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .collect();
        found.sort();
        found.pop().expect("initdb")
    }

    /// Runs a server binary as the `postgres` user when we are root.
    fn run(&self, program: &str, args: &[&str]) {
        let exe = self.bin.join(program);
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        let status = if is_root {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        } else {
            Command::new(&exe)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        }
        .unwrap();
        assert!(status.success(), "{program} {args:?} failed");
    }

    fn start_new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        #[cfg(unix)]
        {
            let is_root = Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| o.stdout.starts_with(b"0"));
            if is_root {
                Command::new("chown")
                    .args(["-R", "postgres"])
                    .arg(dir.path())
                    .status()
                    .unwrap();
            }
        }
        let pg = Self {
            bin: Self::bin_dir(),
            port: free_port(),
            dir,
        };
        let data = pg.dir.path().join("data");
        pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        pg.start();
        pg
    }

    fn start(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("pg.log");
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "start",
            ],
        );
    }

    fn stop(&self) {
        let data = self.dir.path().join("data");
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: ./test.sh runs it with TOKEND_TEST_DATABASE_URL"]
async fn database_outage_keeps_known_clients_served_and_recovers_without_restart() {
    require_postgres();
    let pg = PrivatePostgres::start_new();
    let dir = tempfile::tempdir().unwrap();
    let mut env = vec![
        ("TOKEND_DATABASE_URL".to_owned(), pg.url()),
        (
            "TOKEND_MASTER_KEY_FILE".to_owned(),
            dir.path().join("master.key").display().to_string(),
        ),
        ("TOKEND_KEYS__ALGORITHM".to_owned(), "ES256".to_owned()),
    ];
    env.push(("TOKEND_KEYS__REFRESH_EVERY".to_owned(), "1s".to_owned()));
    let server = Tokend::start(&env, dir.path());
    let (code, created, err) =
        server.cli(&["client", "create", "--name", "known", "--id", "known"]);
    assert_eq!(code, 0, "{err}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    assert!(
        eventually(Duration::from_secs(2), || async {
            token_from(&server, "known", &secret).await.0 == 200
        })
        .await
    );

    pg.stop();
    // A known client keeps getting tokens: signing needs no database.
    for _ in 0..5 {
        assert_eq!(token_from(&server, "known", &secret).await.0, 200);
    }
    let not_ready = eventually(Duration::from_secs(8), || async {
        http.get(server.url("/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 503)
    })
    .await;
    assert!(not_ready, "/readyz says 503 while the database is down");
    let resp = http.get(server.url("/readyz")).send().await.unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // No /token request with a secret touches the database (SPEC §7): with
    // it gone, a mixed load of known, unknown and wrong-secret requests gets
    // exactly the answers it gets with the database up.
    // (10 wrong secrets: under the per-(client, address) limit of 20.)
    for i in 0..30 {
        let (status, body) = match i % 3 {
            0 => token_from(&server, "known", &secret).await,
            1 => token_from(&server, &format!("stranger-{i}"), "x").await,
            _ => token_from(&server, "known", "wrong").await,
        };
        let expected = if i % 3 == 0 { 200 } else { 401 };
        assert_eq!(status, expected, "request {i}: {body}");
    }
    // Writes fail with a clear error.
    let (code, out, _) = server.cli(&["client", "create", "--name", "late"]);
    assert_ne!(code, 0);
    assert!(
        out["error"]
            .as_str()
            .is_some_and(|e| e.contains("database")),
        "{out}"
    );

    pg.start();
    let ready = eventually(Duration::from_secs(15), || async {
        http.get(server.url("/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 200)
    })
    .await;
    assert!(ready, "/readyz recovers without a restart");
    let (code, created, err) =
        server.cli(&["client", "create", "--name", "after", "--id", "after"]);
    assert_eq!(code, 0, "{err}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(
        eventually(Duration::from_secs(3), || async {
            token_from(&server, "after", &secret).await.0 == 200
        })
        .await,
        "changes flow again after the outage"
    );
}

/// Two replicas on PostgreSQL with their own clocks. While the next key is
/// due and no replica can have it (the rotation lock is held elsewhere), both
/// serve `max-age=0`; once it is created, exactly once, both serve it with the
/// bound again.
#[tokio::test]
#[ignore = "needs PostgreSQL: ./test.sh runs it with TOKEND_TEST_DATABASE_URL"]
async fn replicas_serve_max_age_zero_while_a_due_key_is_unseen() {
    require_postgres();
    use std::sync::Arc;
    use tokend::app::Application;
    use tokend::clock::ManualClock;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::new(dir.path()).await;
    let bound = Duration::from_secs(6 * 3600);
    let settings = {
        let mut s = test_settings(dir.path(), &db.url);
        s.keys.jwks_max_age = bound;
        s.issuer = Some("https://auth.test".into());
        s
    };
    let mut replicas = Vec::new();
    let start = chrono::Utc::now();
    for _ in 0..2 {
        let clock = ManualClock::new(start);
        let app = Application::build(settings.clone(), Arc::new(clock.clone()))
            .await
            .unwrap();
        let url = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        tokio::spawn(app.run_until_stopped());
        replicas.push((clock, url, state));
    }
    let publication = replicas[0]
        .2
        .admin
        .key_plan()
        .await
        .unwrap()
        .next
        .key_published_at;
    let http = reqwest::Client::new();
    let served = |url: String| {
        let http = http.clone();
        async move {
            let resp = http
                .get(format!("{url}/.well-known/jwks.json"))
                .send()
                .await
                .unwrap();
            let cc = resp.headers()["cache-control"].to_str().unwrap().to_owned();
            let age: u64 = cc.trim_start_matches("public, max-age=").parse().unwrap();
            let jwks: serde_json::Value = resp.json().await.unwrap();
            (age, jwks["keys"].as_array().unwrap().len())
        }
    };

    // Hold the rotation lock: no replica can create the due key.
    let mut holder = {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&db.url).await.unwrap()
    };
    sqlx::query("SELECT pg_advisory_lock(7411120001)")
        .execute(&mut holder)
        .await
        .unwrap();
    for (clock, _, _) in &replicas {
        clock.set(publication + chrono::Duration::seconds(2));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    for (_, url, _) in &replicas {
        assert_eq!(
            served(url.clone()).await,
            (0, 1),
            "due and unseen: max-age 0"
        );
    }

    sqlx::query("SELECT pg_advisory_unlock(7411120001)")
        .execute(&mut holder)
        .await
        .unwrap();
    for (_, url, _) in &replicas {
        let converged = eventually(Duration::from_secs(3), || async {
            served(url.clone()).await == (bound.as_secs(), 2)
        })
        .await;
        assert!(
            converged,
            "{url} serves the new key with the bound: {:?}",
            served(url.clone()).await
        );
    }
    let keys = replicas[1].2.admin.list_keys().await.unwrap();
    assert_eq!(keys.len(), 2, "exactly one next key for the rotation");
}
