//! Client and key management: one function per operation, called by both the
//! CLI and the `/admin` API (house rule 6). This file opens the environment
//! both share (database, migrations, master key) and writes the audit trail;
//! `clients.rs` and `keys.rs` hold the operations.

mod client_input;
mod client_views;
mod clients;
mod keys;
mod trust;
mod trust_test;
mod trust_views;

pub use client_views::*;
pub use clients::*;
pub use keys::*;
pub use trust_test::*;
pub use trust_views::*;

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::Client;
use crate::keys::{KeyError, MasterKey, MasterKeySource};
use crate::oauth::ClientDirectory;
use crate::store::{Store, StoreError};
use aws_lc_rs::hmac;
use chrono::{DateTime, Utc};
use std::sync::Arc;

const FINGERPRINT: &str = "master_key_fingerprint";

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl AdminError {
    /// The database could not be reached (a 503 and a retry, not a bug).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, AdminError::Store(StoreError::Unavailable(_)))
    }

    fn from_store(e: StoreError, what: impl FnOnce() -> String) -> Self {
        match e {
            StoreError::NotFound => AdminError::NotFound(what()),
            StoreError::Conflict(m) => AdminError::Conflict(m),
            other => AdminError::Store(other),
        }
    }
}

/// Creates the database if needed and applies pending migrations
/// (`tokend migrate`).
pub async fn migrate(settings: &Settings) -> Result<(), AdminError> {
    let store = Store::connect(settings.database_url.as_str()).await?;
    store.migrate().await?;
    Ok(())
}

/// The environment every command and the server work in.
#[derive(Clone)]
pub struct Admin {
    pub settings: Arc<Settings>,
    pub store: Store,
    master: Arc<MasterKey>,
    pub pepper: Arc<hmac::Key>,
    pub clock: SharedClock,
    pub master_key_source: MasterKeySource,
    /// Who acts, for the audit trail: `cli`, `api:<client id>`, `scheduler`.
    pub actor: String,
    /// The serving replica's client directory, when this runs inside one: a
    /// change made here is honoured here at once, and elsewhere through the
    /// change feed.
    local_clients: Arc<std::sync::OnceLock<Arc<ClientDirectory>>>,
    /// The serving replica's trust directory, likewise.
    local_trust: Arc<std::sync::OnceLock<Arc<crate::oauth::TrustDirectory>>>,
}

impl Admin {
    /// Connects, applies pending migrations, and loads the master key: created
    /// only when the database holds nothing sealed under one; a missing or
    /// wrong key with existing data is refused.
    pub async fn open(settings: Arc<Settings>, clock: SharedClock) -> Result<Self, AdminError> {
        let store = Store::connect(settings.database_url.as_str()).await?;
        store.migrate().await?;
        Self::with_store(settings, clock, store, true).await
    }

    /// Opens an existing environment for commands that only read: no
    /// database, folder or master key is created, no migration runs and
    /// nothing is written.
    pub async fn open_read_only(
        settings: Arc<Settings>,
        clock: SharedClock,
    ) -> Result<Self, AdminError> {
        let store = Store::connect_existing(settings.database_url.as_str()).await?;
        Self::with_store(settings, clock, store, false).await
    }

    async fn with_store(
        settings: Arc<Settings>,
        clock: SharedClock,
        store: Store,
        writes: bool,
    ) -> Result<Self, AdminError> {
        let holds_secrets = store.holds_secrets().await?;
        let (master, source) = MasterKey::load(
            settings.master_key.as_ref(),
            &settings.master_key_file,
            writes && !holds_secrets,
        )?;
        if source == MasterKeySource::Created {
            tracing::info!(
                path = %settings.master_key_file.display(),
                "created a new master key (mode 0600); back it up with the database"
            );
        }
        match store.meta(FINGERPRINT).await? {
            Some(stored) if stored != master.fingerprint() && holds_secrets => {
                return Err(KeyError::MasterKeyMismatch.into());
            }
            Some(stored) if stored == master.fingerprint() => {}
            _ if writes => store.set_meta(FINGERPRINT, &master.fingerprint()).await?,
            _ => {}
        }
        Ok(Self {
            pepper: Arc::new(master.secret_pepper()),
            master: Arc::new(master),
            settings,
            store,
            clock,
            master_key_source: source,
            actor: "cli".into(),
            local_clients: Arc::default(),
            local_trust: Arc::default(),
        })
    }

    /// Makes client changes made through this `Admin` (and its `as_actor`
    /// copies) apply to `directory` at once.
    pub fn serve_clients_to(&self, directory: Arc<ClientDirectory>) {
        let _ = self.local_clients.set(directory);
    }

    fn publish_client(&self, client: &Client) {
        if let Some(directory) = self.local_clients.get() {
            directory.upsert(client.clone());
        }
    }

    /// The same environment acting as someone else, for the audit trail.
    pub fn as_actor(&self, actor: impl Into<String>) -> Admin {
        Admin {
            actor: actor.into(),
            ..self.clone()
        }
    }

    /// Writes a security event to the audit trail and the log. A failure to
    /// store it is logged, never hidden.
    async fn audit(&self, action: &str, subject: &str, details: serde_json::Value) {
        tracing::info!(target: "audit", actor = %self.actor, action, subject, %details, "audit");
        let at = self.now().timestamp();
        if let Err(e) = self
            .store
            .record_audit(at, &self.actor, action, subject, &details)
            .await
        {
            tracing::warn!(error = %e, action, subject, "could not store an audit event");
        }
    }

    pub async fn audit_events(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<crate::store::AuditEvent>, AdminError> {
        Ok(self.store.audit_events(limit, before).await?)
    }

    /// The audit trail, newest first, of one action and one subject when
    /// given.
    pub async fn audit_events_matching(
        &self,
        limit: u32,
        before: Option<i64>,
        action: Option<&str>,
        subject: Option<&str>,
    ) -> Result<Vec<crate::store::AuditEvent>, AdminError> {
        Ok(self
            .store
            .audit_events_matching(limit, before, action, subject)
            .await?)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn rotation_policy(&self) -> crate::keys::RotationPolicy {
        let k = &self.settings.keys;
        crate::keys::RotationPolicy {
            algorithm: k.algorithm,
            rotate_every: k.rotate_every.as_secs() as i64,
            publish_ahead: k.publish_ahead.as_secs() as i64,
            refresh_every: k.refresh_every.as_secs() as i64,
            leeway: self.settings.tokens.leeway.as_secs() as i64,
            jwks_max_age: k.jwks_max_age.as_secs() as i64,
        }
    }

    fn max_ttl_secs(&self) -> i64 {
        self.settings.tokens.max_ttl.as_secs() as i64
    }
}
