//! `spawn_app()`: the real application on port 0 against a fresh database (a
//! temporary SQLite file, or a new PostgreSQL database with a random name when
//! `TOKEND_TEST_DATABASE_URL` is set), and a client for it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;
use std::sync::Arc;
use tokend::admin::{Admin, NewClient, ScopesInput};
use tokend::app::Application;
use tokend::clock::{SharedClock, SystemClock};
use tokend::config::Settings;
use tokend::state::AppState;

pub struct TestApp {
    pub address: String,
    pub issuer: String,
    pub http: reqwest::Client,
    pub state: Arc<AppState>,
    pub settings: Settings,
    pub dir: tempfile::TempDir,
    _db: TestDatabase,
}

/// A database for one test, dropped with it.
pub struct TestDatabase {
    pub url: String,
    admin_url: Option<String>,
    name: String,
}

impl TestDatabase {
    pub async fn new(dir: &std::path::Path) -> Self {
        match std::env::var("TOKEND_TEST_DATABASE_URL") {
            Ok(base) if !base.is_empty() => {
                let name = format!("tokend_test_{}", random_hex(8));
                let admin_url = base.clone();
                let mut conn = connect_pg(&admin_url).await;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let mut url = url::Url::parse(&base).expect("TOKEND_TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    admin_url: Some(admin_url),
                    name,
                }
            }
            _ => Self {
                url: format!("sqlite://{}", dir.join("tokend.db").display()),
                admin_url: None,
                name: String::new(),
            },
        }
    }
}

async fn connect_pg(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url)
        .await
        .expect("connect to PostgreSQL")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(admin_url) = self.admin_url.take() else {
            return;
        };
        let name = self.name.clone();
        // Drop needs its own runtime: the test's may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut conn = connect_pg(&admin_url).await;
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await;
            });
        })
        .join();
    }
}

pub fn random_hex(bytes: usize) -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Settings for a test: port 0, files in `dir`, short refresh.
pub fn test_settings(dir: &std::path::Path, database_url: &str) -> Settings {
    let mut s = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: database_url.into(),
        master_key_file: dir.join("master.key"),
        ..Settings::default()
    };
    s.keys.algorithm = tokend::domain::Algorithm::ES256;
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(configure, Arc::new(SystemClock)).await
}

pub async fn spawn_app_on(configure: impl FnOnce(&mut Settings), clock: SharedClock) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDatabase::new(dir.path()).await;
    let mut settings = test_settings(dir.path(), &db.url);
    configure(&mut settings);
    let app = Application::build(settings.clone(), clock)
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let issuer = app.issuer().to_owned();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        issuer,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        state,
        settings,
        dir,
        _db: db,
    }
}

/// `Authorization: Basic` as RFC 6749 §2.3.1 says: form-url-encode, then base64.
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

pub struct TestClient {
    pub id: String,
    pub secret: String,
}

impl TestApp {
    pub fn admin(&self) -> &Admin {
        &self.state.admin
    }

    pub async fn create_client(&self, new: NewClient) -> TestClient {
        let created = self
            .admin()
            .create_client(new)
            .await
            .expect("client created");
        TestClient {
            id: created.client.client_id,
            secret: created
                .client_secret
                .map(|s| s.expose_secret().to_owned())
                .unwrap_or_default(),
        }
    }

    pub async fn simple_client(&self, id: &str, scopes: &str) -> TestClient {
        self.create_client(NewClient {
            name: "test".into(),
            client_id: Some(id.into()),
            scopes: ScopesInput::Text(scopes.into()),
            ..NewClient::default()
        })
        .await
    }

    pub async fn post_token(&self, authorization: Option<&str>, body: &str) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/token", self.address))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(auth) = authorization {
            req = req.header("Authorization", auth);
        }
        req.send().await.expect("request sent")
    }

    pub async fn token_for(&self, client: &TestClient, body: &str) -> reqwest::Response {
        self.post_token(Some(&basic(&client.id, &client.secret)), body)
            .await
    }

    pub async fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        self.http
            .get(format!("{}/.well-known/jwks.json", self.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Verifies a token as an offline resource server would, from the JWKS.
    pub async fn verify(&self, token: &str, audience: &str) -> serde_json::Value {
        let header = jsonwebtoken::decode_header(token).expect("header");
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let jwks = self.jwks().await;
        let kid = header.kid.expect("kid");
        let jwk = jwks
            .find(&kid)
            .unwrap_or_else(|| panic!("kid {kid} not in JWKS"));
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("decoding key");
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[&self.issuer]);
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .expect("token verifies")
            .claims
    }
}

/// Polls `check` until it returns true or `deadline` passes.
pub async fn eventually<F, Fut>(deadline: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = std::time::Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
