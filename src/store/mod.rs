//! All SQL lives here: clients, signing keys, the change feed and metadata, on
//! SQLite (embedded default) or PostgreSQL (replicas). One code path through
//! sqlx's `Any` driver with portable SQL; the two databases differ only in
//! their migrations and in how the rotation lock is taken.

mod audit;
mod changes;
mod clients;
mod keys;
mod ports;
mod tokens;
mod trust;

pub use audit::AuditEvent;
pub use changes::{Change, ChangeKind};
pub use clients::ClientPage;
pub use keys::{KeyChanges, NewKey, StoredKey};
pub use ports::ReplayBatcher;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::sync::Once;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    #[error("the database holds a value tokend cannot read: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Other(String),
    #[error("migration failed: {0}")]
    Migrate(String),
    /// A read-only command found no store to read.
    #[error("{0}")]
    Missing(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict("already exists".into())
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Other(e.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// Single-use records (DPoP proof and client assertion `jti`s): a pool
    /// whose commits do not wait for the disk (see [`Store::open`]).
    replays: AnyPool,
    kind: DbKind,
}

static DRIVERS: Once = Once::new();

/// `sqlite://data/tokend.db` → the same URL with `mode=rw`, refusing a file
/// that does not exist.
fn existing_sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    if path != ":memory:" && !std::path::Path::new(path).exists() {
        return Err(StoreError::Missing(format!(
            "no tokend database at {path} yet: start `tokend serve` or run `tokend migrate` first"
        )));
    }
    Ok(format!("sqlite://{path}?mode=rw"))
}

/// `sqlite://data/tokend.db` → the same URL with `mode=rwc`, its folder made
/// and the file created, both readable by this user only.
fn prepare_sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let creates = !query.is_some_and(|q| q.contains("mode=ro") || q.contains("mode=memory"));
    if path != ":memory:" && creates {
        let file = std::path::Path::new(path);
        if let Some(dir) = file.parent()
            && !dir.as_os_str().is_empty()
        {
            crate::files::create_private_dirs(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create folder {}: {e}", dir.display()))
            })?;
        }
        crate::files::create_private_file(file).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", file.display()))
        })?;
    }
    let mut params: Vec<String> = query
        .map(|q| q.split('&').map(str::to_owned).collect())
        .unwrap_or_default();
    if !params.iter().any(|p| p.starts_with("mode=")) {
        params.push("mode=rwc".into());
    }
    Ok(format!("sqlite://{path}?{}", params.join("&")))
}

impl Store {
    /// Connects (lazily retrying is the pool's job) and returns the store; a
    /// SQLite database and its folder are created when missing.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open(url, true).await
    }

    /// Connects to a database that must exist already: for the commands that
    /// only read, which never create a store.
    pub async fn connect_existing(url: &str) -> Result<Self, StoreError> {
        Self::open(url, false).await
    }

    async fn open(url: &str, create: bool) -> Result<Self, StoreError> {
        DRIVERS.call_once(install_default_drivers);
        let (kind, url) = if url.starts_with("sqlite:") {
            let prepared = if create {
                prepare_sqlite_url(url)?
            } else {
                existing_sqlite_url(url)?
            };
            (DbKind::Sqlite, prepared)
        } else {
            (DbKind::Postgres, url.to_owned())
        };
        let options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(3))
            .max_connections(if kind == DbKind::Sqlite { 4 } else { 8 })
            .min_connections(0);
        let pool = options
            .connect(&url)
            .await
            .map_err(|e| StoreError::Unavailable(redact_url(&e.to_string(), &url)))?;
        if kind == DbKind::Sqlite {
            // WAL lets the CLI write while a server reads; the busy timeout
            // makes concurrent writers wait instead of failing.
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        // A proof's or assertion's first use is one insert per request: with
        // a disk flush per commit that is the whole cost of a DPoP token
        // (1.7k/s on SQLite). These connections commit without waiting for
        // the flush (SQLite WAL `synchronous = NORMAL`, PostgreSQL
        // `synchronous_commit = off`): nothing is corrupted and a crash of
        // tokend loses nothing; a power loss (or PostgreSQL crash) may forget
        // the last moment of records, re-opening a replay window only for
        // proofs still inside their few-minute lifetime. Every other write
        // keeps full durability (its own connections, whose flush covers
        // these frames too).
        let relax = match kind {
            DbKind::Sqlite => "PRAGMA synchronous = NORMAL",
            DbKind::Postgres => "SET synchronous_commit = off",
        };
        let replays = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(3))
            // SQLite has one writer at a time: a second connection would only
            // meet the lock and sleep in its busy handler.
            .max_connections(if kind == DbKind::Sqlite { 1 } else { 4 })
            .min_connections(0)
            // No ping round trip before each insert: a broken connection
            // fails the insert, which answers 503 and is retried.
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute(relax).await?;
                    Ok(())
                })
            })
            .connect_lazy(&url)
            .map_err(|e| StoreError::Unavailable(redact_url(&e.to_string(), &url)))?;
        Ok(Self {
            pool,
            replays,
            kind,
        })
    }

    /// Applies pending migrations of this database kind.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.kind {
            DbKind::Sqlite => sqlx::migrate!("migrations/sqlite"),
            DbKind::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))
    }

    /// A cheap round trip, for readiness.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn meta(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_meta(&self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = $2",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether anything in the database was sealed or keyed under a master key.
    pub async fn holds_secrets(&self) -> Result<bool, StoreError> {
        // EXISTS, not COUNT(*): start-up must not scan a million clients.
        let any: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM signing_keys) \
             OR EXISTS (SELECT 1 FROM clients) THEN 1 ELSE 0 END",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(any == 1)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction that holds the database-wide write lock used for
    /// key rotation: an advisory lock on PostgreSQL, SQLite's single writer
    /// (taken at once by a no-op write) on SQLite.
    async fn begin_locked(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let mut tx = self.pool.begin().await?;
        match self.kind {
            DbKind::Postgres => {
                sqlx::query("SELECT pg_advisory_xact_lock(7411120001)")
                    .execute(&mut *tx)
                    .await?;
            }
            DbKind::Sqlite => {
                sqlx::query(
                    "INSERT INTO meta (name, value) VALUES ('rotation_lock', '') ON CONFLICT (name) DO UPDATE SET value = ''",
                )
                .execute(&mut *tx)
                .await?;
            }
        }
        Ok(tx)
    }
}

/// Keeps a password in a connection URL out of error messages.
fn redact_url(message: &str, url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.password().is_some() => {
            let password = parsed.password().unwrap_or_default();
            message.replace(password, "****")
        }
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batched_single_use_lets_each_id_through_once_even_within_a_batch() {
        use crate::oauth::ports::ReplayGuard;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let guard = std::sync::Arc::new(ReplayBatcher::spawn(store.clone()));
        // 300 requests for 100 ids, all at once: several batches, duplicates
        // inside one batch and across batches.
        let mut tasks = Vec::new();
        for i in 0..300 {
            let guard = guard.clone();
            tasks.push(tokio::spawn(async move {
                guard
                    .first_use(&format!("id-{}", i % 100), 4_000_000_000)
                    .await
                    .unwrap()
            }));
        }
        let mut firsts = 0;
        for t in tasks {
            firsts += usize::from(t.await.unwrap());
        }
        assert_eq!(firsts, 100);
        assert!(!guard.first_use("id-7", 4_000_000_000).await.unwrap());
        assert!(guard.first_use("id-new", 4_000_000_000).await.unwrap());
    }

    #[tokio::test]
    async fn single_use_records_commit_without_a_flush_and_the_rest_with_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let level = |pool: &AnyPool| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>("PRAGMA synchronous")
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(level(&store.replays).await, 1, "NORMAL for jtis");
        assert_eq!(level(&store.pool).await, 2, "FULL for everything else");
    }

    #[test]
    fn sqlite_url_gets_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/t.db");
        let url = prepare_sqlite_url(&format!("sqlite://{}", path.display())).unwrap();
        assert!(url.ends_with("?mode=rwc"), "{url}");
        assert!(path.parent().unwrap().exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(path.parent().unwrap()), 0o700);
            assert_eq!(mode(&path), 0o600);
        }
        let url = prepare_sqlite_url("sqlite://:memory:?mode=memory").unwrap();
        assert_eq!(url, "sqlite://:memory:?mode=memory");
    }

    #[test]
    fn password_is_redacted() {
        let msg = redact_url(
            "failed for postgres://u:hunter2@h/db",
            "postgres://u:hunter2@h/db",
        );
        assert!(!msg.contains("hunter2"));
    }
}
