//! Client and key management: one function per operation, called by both the
//! CLI and the `/admin` API (house rule 6), plus opening the environment both
//! share (database, migrations, master key) and building the key ring.

use crate::clock::SharedClock;
use crate::config::{Settings, parse_duration};
use crate::domain::{
    Algorithm, Audience, AuthMethod, Client, ClientId, ClientSecrets, KeyRecord, Scope,
    validate_claims,
};
use crate::keys::{self, KeyError, KeyRing, KeyState, MasterKey, MasterKeySource, RingKey, plan};
use crate::oauth::{ClientDirectory, ClientSecret, generate_secret, hash_secret};
use crate::store::{ClientPage, KeyChanges, NewKey, Store, StoreError};
use aws_lc_rs::hmac;
use chrono::{DateTime, TimeZone, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

const FINGERPRINT: &str = "master_key_fingerprint";

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Key(#[from] KeyError),
}

impl AdminError {
    fn from_store(e: StoreError, what: impl FnOnce() -> String) -> Self {
        match e {
            StoreError::NotFound => AdminError::NotFound(what()),
            StoreError::Conflict(m) => AdminError::Conflict(m),
            other => AdminError::Store(other),
        }
    }
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
}

impl Admin {
    /// Connects, applies pending migrations, and loads the master key: created
    /// only when the database holds nothing sealed under one; a missing or
    /// wrong key with existing data is refused.
    pub async fn open(settings: Arc<Settings>, clock: SharedClock) -> Result<Self, AdminError> {
        let store = Store::connect(&settings.database_url).await?;
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
        let store = Store::connect_existing(&settings.database_url).await?;
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

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn rotation_policy(&self) -> keys::RotationPolicy {
        let k = &self.settings.keys;
        keys::RotationPolicy {
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

// ---------------------------------------------------------------- clients

/// Scopes as a space-delimited string or a list.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ScopesInput {
    Text(String),
    List(Vec<String>),
}

impl Default for ScopesInput {
    fn default() -> Self {
        ScopesInput::Text(String::new())
    }
}

impl ScopesInput {
    fn parse(&self, field: &str) -> Result<Scope, AdminError> {
        match self {
            ScopesInput::Text(t) => Scope::parse(t),
            ScopesInput::List(l) => Scope::from_tokens(l),
        }
        .map_err(|e| AdminError::Invalid(format!("{field}: {e}")))
    }
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// Human-readable name, 1–200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// 1–255 printable ASCII characters; generated when absent.
    pub client_id: Option<String>,
    /// Allowed scopes, space-delimited or a list.
    #[serde(default)]
    pub scopes: ScopesInput,
    /// Scopes granted when a request names none (default: all allowed).
    pub default_scopes: Option<ScopesInput>,
    /// Allowed audiences.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Token lifetime such as `15m`, capped by `tokens.max_ttl`.
    #[schema(pattern = r"^[1-9][0-9]{0,5}[smhd]?$")]
    pub token_ttl: Option<String>,
    /// Extra claims added to every token.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// `client_secret_basic` (default), `client_secret_post` or `private_key_jwt`.
    #[schema(value_type = Option<AuthMethod>)]
    pub auth_method: Option<String>,
    /// The client's public keys (a JWK Set) for `private_key_jwt`.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// `["client_credentials"]` (default) or `[]` for a client that only
    /// introspects and revokes.
    pub grant_types: Option<Vec<String>>,
    /// May introspect any token (RFC 7662 §4); without it a client sees only
    /// its own tokens and those whose `aud` names it. Default: true for a
    /// client without grants (a resource server), false otherwise.
    pub may_introspect: Option<bool>,
}

/// A partial update; absent fields keep their value. An empty string clears
/// `default_scopes` and `token_ttl`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientUpdate {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    pub scopes: Option<ScopesInput>,
    pub default_scopes: Option<ScopesInput>,
    pub audiences: Option<Vec<String>>,
    /// A lifetime such as `15m`; an empty string clears it.
    #[schema(pattern = r"^([1-9][0-9]{0,5}[smhd]?)?$")]
    pub token_ttl: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
    #[schema(value_type = Option<AuthMethod>)]
    pub auth_method: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    pub grant_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub may_introspect: Option<bool>,
}

/// A client as the CLI and the API show it: never a secret or its hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub scopes: String,
    pub default_scopes: Option<String>,
    pub audiences: Vec<String>,
    pub token_ttl: Option<String>,
    #[schema(value_type = Object)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    pub auth_method: AuthMethod,
    pub grant_types: Vec<&'static str>,
    pub enabled: bool,
    pub may_introspect: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        Self {
            client_id: c.id.to_string(),
            name: c.name.clone(),
            scopes: c.scopes.to_string(),
            default_scopes: c.default_scopes.as_ref().map(Scope::to_string),
            audiences: c.audiences.iter().map(Audience::to_string).collect(),
            token_ttl: c.token_ttl.map(crate::config::fmt_duration),
            claims: c.claims.clone(),
            auth_method: c.auth_method,
            grant_types: if c.grant_client_credentials {
                vec!["client_credentials"]
            } else {
                vec![]
            },
            enabled: c.enabled,
            may_introspect: c.may_introspect,
            jwks: c.jwks.clone(),
            previous_secret_valid_until: c.secrets.previous.as_ref().map(|(_, until)| *until),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A client with its new secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientWithSecret {
    #[serde(flatten)]
    pub client: ClientView,
    /// The secret, shown only in this response.
    #[serde(serialize_with = "expose", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<ClientSecret>,
}

fn expose<S: serde::Serializer>(secret: &Option<ClientSecret>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_str(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientListPage {
    pub clients: Vec<ClientView>,
    pub next: Option<String>,
}

fn parse_audiences(list: &[String]) -> Result<Vec<Audience>, AdminError> {
    let mut out: Vec<Audience> = Vec::new();
    for a in list {
        let a = Audience::parse(a).map_err(|e| AdminError::Invalid(format!("audiences: {e}")))?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

fn parse_ttl(text: &str) -> Result<Duration, AdminError> {
    let ttl = parse_duration(text).map_err(|e| AdminError::Invalid(format!("token_ttl: {e}")))?;
    if ttl.as_secs() == 0 {
        return Err(AdminError::Invalid("token_ttl: must be at least 1s".into()));
    }
    Ok(ttl)
}

fn parse_grant_types(list: &[String]) -> Result<bool, AdminError> {
    match list.iter().find(|g| g.as_str() != "client_credentials") {
        Some(other) => Err(AdminError::Invalid(format!(
            "grant_types: `{other}` is not supported; tokend issues only client_credentials"
        ))),
        None => Ok(!list.is_empty()),
    }
}

fn check_client(c: &Client) -> Result<(), AdminError> {
    if c.name.trim().is_empty() || c.name.len() > 200 {
        return Err(AdminError::Invalid("name: must be 1–200 characters".into()));
    }
    if let Some(defaults) = &c.default_scopes
        && let Some(extra) = defaults.missing_from(&c.scopes).next()
    {
        return Err(AdminError::Invalid(format!(
            "default_scopes: `{extra}` is not among the client's scopes"
        )));
    }
    validate_claims(&c.claims).map_err(|e| AdminError::Invalid(format!("claims: {e}")))?;
    if let Some(jwks) = &c.jwks {
        crate::oauth::assertion::validate_client_jwks(jwks)
            .map_err(|e| AdminError::Invalid(format!("jwks: {e}")))?;
    }
    if c.auth_method == AuthMethod::PrivateKeyJwt && c.jwks.is_none() {
        return Err(AdminError::Invalid(
            "jwks: private_key_jwt needs the client's public keys (a JWK Set)".into(),
        ));
    }
    Ok(())
}

impl Admin {
    pub async fn create_client(&self, new: NewClient) -> Result<ClientWithSecret, AdminError> {
        let id = match &new.client_id {
            Some(id) => {
                ClientId::parse(id).map_err(|e| AdminError::Invalid(format!("client_id: {e}")))?
            }
            None => ClientId::parse(&random_client_id()).expect("generated ids are valid"),
        };
        let auth_method: AuthMethod = match &new.auth_method {
            Some(m) => m
                .parse()
                .map_err(|e| AdminError::Invalid(format!("auth_method: {e}")))?,
            None => AuthMethod::default(),
        };
        let secret = auth_method.uses_secret().then(generate_secret);
        let now = self.now();
        let client = Client {
            id,
            name: new.name.clone(),
            scopes: new.scopes.parse("scopes")?,
            default_scopes: new
                .default_scopes
                .as_ref()
                .map(|s| s.parse("default_scopes"))
                .transpose()?,
            audiences: parse_audiences(&new.audiences)?,
            token_ttl: new.token_ttl.as_deref().map(parse_ttl).transpose()?,
            claims: new.claims.clone(),
            auth_method,
            grant_client_credentials: match &new.grant_types {
                Some(list) => parse_grant_types(list)?,
                None => true,
            },
            jwks: new.jwks.clone(),
            enabled: true,
            secrets: ClientSecrets {
                current: secret.as_ref().map(|s| hash_secret(&self.pepper, s)),
                previous: None,
            },
            created_at: now,
            updated_at: now,
            tokens_valid_since: None,
            // A client that cannot get tokens exists to introspect them.
            may_introspect: new
                .may_introspect
                .unwrap_or(new.grant_types.as_ref().is_some_and(|g| g.is_empty())),
        };
        check_client(&client)?;
        self.store
            .insert_client(&client)
            .await
            .map_err(|e| AdminError::from_store(e, String::new))?;
        self.publish_client(&client);
        self.audit(
            "client.created",
            client.id.as_str(),
            serde_json::json!({"name": client.name, "scopes": client.scopes.to_string(), "auth_method": client.auth_method}),
        )
        .await;
        Ok(ClientWithSecret {
            client: ClientView::from(&client),
            client_secret: secret,
        })
    }

    async fn load_client(&self, id: &str) -> Result<Client, AdminError> {
        self.store
            .client(id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no client with id `{id}`")))
    }

    pub async fn get_client(&self, id: &str) -> Result<ClientView, AdminError> {
        Ok(ClientView::from(&self.load_client(id).await?))
    }

    pub async fn list_clients(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ClientListPage, AdminError> {
        let ClientPage { clients, next } = self.store.list_clients(after, limit).await?;
        Ok(ClientListPage {
            clients: clients.iter().map(ClientView::from).collect(),
            next,
        })
    }

    pub async fn update_client(
        &self,
        id: &str,
        update: ClientUpdate,
    ) -> Result<ClientView, AdminError> {
        let mut c = self.load_client(id).await?;
        let changed: Vec<&str> = [
            ("name", update.name.is_some()),
            ("scopes", update.scopes.is_some()),
            ("default_scopes", update.default_scopes.is_some()),
            ("audiences", update.audiences.is_some()),
            ("token_ttl", update.token_ttl.is_some()),
            ("claims", update.claims.is_some()),
            ("auth_method", update.auth_method.is_some()),
            ("jwks", update.jwks.is_some()),
            ("grant_types", update.grant_types.is_some()),
            ("enabled", update.enabled.is_some()),
            ("may_introspect", update.may_introspect.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if let Some(name) = update.name {
            c.name = name;
        }
        if let Some(scopes) = &update.scopes {
            c.scopes = scopes.parse("scopes")?;
        }
        if let Some(defaults) = &update.default_scopes {
            let parsed = defaults.parse("default_scopes")?;
            c.default_scopes = (!parsed.is_empty()).then_some(parsed);
        }
        if let Some(audiences) = &update.audiences {
            c.audiences = parse_audiences(audiences)?;
        }
        if let Some(ttl) = &update.token_ttl {
            c.token_ttl = if ttl.trim().is_empty() {
                None
            } else {
                Some(parse_ttl(ttl)?)
            };
        }
        if let Some(claims) = update.claims {
            c.claims = claims;
        }
        if let Some(method) = &update.auth_method {
            c.auth_method = method
                .parse()
                .map_err(|e| AdminError::Invalid(format!("auth_method: {e}")))?;
        }
        if let Some(jwks) = update.jwks {
            c.jwks = Some(jwks);
        }
        if let Some(grants) = &update.grant_types {
            c.grant_client_credentials = parse_grant_types(grants)?;
        }
        if let Some(enabled) = update.enabled {
            c.enabled = enabled;
        }
        if let Some(may) = update.may_introspect {
            c.may_introspect = may;
        }
        if c.auth_method.uses_secret() && c.secrets.current.is_none() {
            return Err(AdminError::Invalid(
                "auth_method: the client has no secret; rotate-secret gives it one first".into(),
            ));
        }
        c.updated_at = self.now();
        check_client(&c)?;
        self.store
            .update_client(&c)
            .await
            .map_err(|e| AdminError::from_store(e, || format!("no client with id `{id}`")))?;
        self.publish_client(&c);
        self.audit(
            "client.updated",
            id,
            serde_json::json!({"fields": changed, "enabled": c.enabled}),
        )
        .await;
        Ok(ClientView::from(&c))
    }

    pub async fn set_client_enabled(
        &self,
        id: &str,
        enabled: bool,
    ) -> Result<ClientView, AdminError> {
        self.update_client(
            id,
            ClientUpdate {
                enabled: Some(enabled),
                ..ClientUpdate::default()
            },
        )
        .await
    }

    pub async fn delete_client(&self, id: &str) -> Result<(), AdminError> {
        let parsed = ClientId::parse(id)
            .map_err(|_| AdminError::NotFound(format!("no client with id `{id}`")))?;
        self.store
            .delete_client(&parsed, self.now().timestamp())
            .await
            .map_err(|e| AdminError::from_store(e, || format!("no client with id `{id}`")))?;
        if let Some(directory) = self.local_clients.get() {
            directory.remove(parsed.as_str());
        }
        self.audit("client.deleted", id, serde_json::json!({}))
            .await;
        Ok(())
    }

    /// Issues a new secret. With a grace period the old one keeps working
    /// until it ends; without, it stops at once.
    pub async fn rotate_secret(
        &self,
        id: &str,
        grace: Option<Duration>,
    ) -> Result<ClientWithSecret, AdminError> {
        let mut c = self.load_client(id).await?;
        if !c.auth_method.uses_secret() {
            return Err(AdminError::Invalid(format!(
                "client `{id}` authenticates with private_key_jwt and has no secret"
            )));
        }
        let now = self.now();
        let secret = generate_secret();
        let previous = c.secrets.current.take();
        c.secrets = ClientSecrets {
            current: Some(hash_secret(&self.pepper, &secret)),
            previous: match (previous, grace) {
                (Some(old), Some(grace)) if grace.as_secs() > 0 => {
                    Some((old, now + chrono::Duration::seconds(grace.as_secs() as i64)))
                }
                _ => None,
            },
        };
        // Without a grace period the old secret is dead, and so are the
        // tokens it got, as far as tokend itself is concerned.
        if c.secrets.previous.is_none() {
            c.tokens_valid_since = Some(now);
        }
        c.updated_at = now;
        self.store
            .update_client(&c)
            .await
            .map_err(|e| AdminError::from_store(e, || format!("no client with id `{id}`")))?;
        self.publish_client(&c);
        self.audit(
            "client.secret_rotated",
            id,
            serde_json::json!({"grace_secs": grace.map(|g| g.as_secs()).unwrap_or(0)}),
        )
        .await;
        Ok(ClientWithSecret {
            client: ClientView::from(&c),
            client_secret: Some(secret),
        })
    }
}

fn random_client_id() -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ------------------------------------------------------------------- keys

/// A key as `keys list` and `/admin/keys` show it: public facts and times.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub alg: Algorithm,
    pub state: KeyState,
    pub published_at: DateTime<Utc>,
    pub active_from: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub removal_at: Option<DateTime<Utc>>,
    pub max_ttl_secs: i64,
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// `keys plan`: every key with its times, and what happens next.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyPlan {
    pub now: DateTime<Utc>,
    pub keys: Vec<KeyView>,
    pub next: PlannedEvents,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlannedEvents {
    /// The next key is created and published in the JWKS.
    pub key_published_at: DateTime<Utc>,
    /// A new key starts signing.
    pub rotation_at: DateTime<Utc>,
    /// A retired or revoked key is removed.
    pub removal_at: Option<DateTime<Utc>>,
}

/// `keys check --cache-age D`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CacheCheck {
    pub safe: bool,
    pub cache_age: String,
    /// The first moment a token may carry a `kid` the verifier lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_risk_from: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The setting that would make it safe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The outcome of `keys rotate`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rotation {
    pub key: KeyView,
    /// Set when verifiers with a cached JWKS may briefly meet the new `kid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Admin {
    fn key_views(&self, records: &[KeyRecord], now: i64) -> Vec<KeyView> {
        let policy = self.rotation_policy();
        let mut views: Vec<KeyView> = records
            .iter()
            .map(|r| {
                let state = plan::state(r, records, now);
                KeyView {
                    kid: r.kid.clone(),
                    alg: r.alg,
                    state,
                    published_at: at(r.created_at),
                    active_from: at(r.activates_at),
                    retired_at: plan::retired_at(r, records).filter(|t| *t <= now).map(at),
                    revoked_at: r.revoked_at.map(at),
                    removal_at: plan::removal_at(r, records, &policy).map(at),
                    max_ttl_secs: r.max_ttl_secs,
                }
            })
            .collect();
        views.sort_by_key(|k| std::cmp::Reverse(k.active_from));
        views
    }

    async fn records(&self) -> Result<Vec<KeyRecord>, AdminError> {
        Ok(self
            .store
            .keys()
            .await?
            .into_iter()
            .map(|k| k.record)
            .collect())
    }

    /// Every key with its state and times, and the next planned events, from
    /// the database and the configuration.
    pub async fn key_plan(&self) -> Result<KeyPlan, AdminError> {
        let records = self.records().await?;
        let now = self.now().timestamp();
        let next = plan::next_events(now, &records, &self.rotation_policy());
        Ok(KeyPlan {
            now: at(now),
            keys: self.key_views(&records, now),
            next: PlannedEvents {
                key_published_at: at(next.publication),
                rotation_at: at(next.rotation),
                removal_at: next.removal.map(at),
            },
        })
    }

    /// Whether a verifier that caches the JWKS for `cache_age` regardless of
    /// headers can meet an unknown `kid` under the current plan.
    pub async fn check_cache(&self, cache_age: Duration) -> Result<CacheCheck, AdminError> {
        let records = self.records().await?;
        let now = self.now().timestamp();
        let policy = self.rotation_policy();
        let age = cache_age.as_secs() as i64;
        let risk = plan::fixed_cache_risk(now, &records, &policy, age);
        let needed = Duration::from_secs((age + policy.refresh_every) as u64);
        Ok(CacheCheck {
            safe: risk.is_none(),
            cache_age: crate::config::fmt_duration(cache_age),
            at_risk_from: risk.as_ref().map(|(t, _)| at(*t)),
            kid: risk.as_ref().and_then(|(_, k)| k.clone()),
            fix: risk.map(|_| {
                format!(
                    "set keys.publish_ahead to at least {} (cache age + keys.refresh_every; now {}), or have the verifier honour Cache-Control max-age or refetch the JWKS on an unknown kid",
                    crate::config::fmt_duration(needed),
                    crate::config::fmt_duration(self.settings.keys.publish_ahead)
                )
            }),
        })
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyView>, AdminError> {
        let records = self.records().await?;
        Ok(self.key_views(&records, self.now().timestamp()))
    }

    fn new_key(&self, alg: Algorithm, now: i64, activates_at: i64) -> Result<NewKey, KeyError> {
        let generated = keys::generate(alg)?;
        let sealed_private = self.master.seal(&generated.kid, &generated.pkcs8);
        Ok(NewKey {
            public_jwk: serde_json::to_string(&generated.jwk).expect("a JWK serializes"),
            sealed_private,
            record: KeyRecord {
                kid: generated.kid,
                alg,
                created_at: now,
                activates_at,
                revoked_at: None,
                max_ttl_secs: self.max_ttl_secs(),
            },
        })
    }

    /// Decides key actions from the freshly read keys under the database
    /// lock and writes them in the same transaction; returns what was done.
    async fn apply_actions(
        &self,
        decide: impl FnOnce(i64, &[KeyRecord]) -> Result<Vec<plan::Action>, AdminError>,
    ) -> Result<Vec<plan::Action>, AdminError> {
        let now = self.now().timestamp();
        let mut applied = Vec::new();
        let changes = self
            .store
            .update_keys(now, |stored| -> Result<KeyChanges, AdminError> {
                let records: Vec<KeyRecord> = stored.iter().map(|k| k.record.clone()).collect();
                let actions = decide(now, &records)?;
                let mut changes = KeyChanges::default();
                for action in &actions {
                    match action {
                        plan::Action::Create { activates_at, alg } => {
                            changes.create.push(self.new_key(*alg, now, *activates_at)?);
                        }
                        plan::Action::Remove { kid } => changes.remove.push(kid.clone()),
                        plan::Action::Activate { kid, at } => {
                            changes.activate.push((kid.clone(), *at))
                        }
                        plan::Action::Revoke { kid, at } => changes.revoke.push((kid.clone(), *at)),
                    }
                }
                applied = actions;
                Ok(changes)
            })
            .await?;
        for key in &changes.create {
            let r = &key.record;
            self.audit(
                "key.created",
                &r.kid,
                serde_json::json!({"alg": r.alg, "active_from": at(r.activates_at)}),
            )
            .await;
        }
        for (kid, when) in &changes.activate {
            self.audit(
                "key.activated",
                kid,
                serde_json::json!({"active_from": at(*when)}),
            )
            .await;
        }
        for (kid, _) in &changes.revoke {
            self.audit("key.revoked", kid, serde_json::json!({})).await;
        }
        for kid in &changes.remove {
            self.audit("key.removed", kid, serde_json::json!({})).await;
        }
        Ok(applied)
    }

    /// Runs the rotation plan; any number of replicas may call this at once.
    pub async fn apply_plan(&self) -> Result<Vec<plan::Action>, AdminError> {
        let policy = self.rotation_policy();
        self.apply_actions(|now, records| Ok(plan::plan(now, records, &policy)))
            .await
    }

    /// `keys rotate [--now]`.
    pub async fn rotate_keys(&self, immediate: bool) -> Result<Rotation, AdminError> {
        let policy = self.rotation_policy();
        let actions = self
            .apply_actions(|now, records| Ok(plan::rotate(now, records, &policy, immediate)))
            .await?;
        let now = self.now().timestamp();
        let records = self.records().await?;
        let views = self.key_views(&records, now);
        // The key that signs next: with --now, within the second.
        let key = views
            .iter()
            .filter(|v| matches!(v.state, KeyState::Next | KeyState::Active))
            .filter(|v| !immediate || v.active_from.timestamp() <= now + 1)
            .max_by_key(|v| v.active_from)
            .cloned()
            .ok_or_else(|| AdminError::Conflict("the rotation left no key to sign".into()))?;
        let warning = immediate.then(|| {
            let published_for = now - key.published_at.timestamp();
            format!(
                "key {} signs now; it has been in the JWKS for {}s, so verifiers holding an older cached JWKS (up to keys.jwks_max_age, or longer for fixed caches) may briefly meet an unknown kid until they refetch",
                key.kid, published_for
            )
        });
        let note = (actions.is_empty() && !immediate).then(|| {
            format!(
                "a next key was already scheduled; it signs from {}",
                key.active_from.to_rfc3339()
            )
        });
        Ok(Rotation { key, warning, note })
    }

    /// `keys revoke KID`.
    pub async fn revoke_key(&self, kid: &str) -> Result<Vec<KeyView>, AdminError> {
        let policy = self.rotation_policy();
        self.apply_actions(|now, records| {
            plan::revoke(now, records, kid, &policy).map_err(|e| match e {
                plan::PlanError::UnknownKey(_) => AdminError::NotFound(e.to_string()),
                plan::PlanError::AlreadyRevoked(_) => AdminError::Conflict(e.to_string()),
            })
        })
        .await?;
        self.list_keys().await
    }

    /// Builds the key ring from the database, unsealing the keys that may sign,
    /// and records this replica's `max_ttl` on them first.
    /// The key ring a serving replica signs with: it records its `max_ttl`
    /// on the keys it may sign with (SPEC §5), which retention depends on.
    pub async fn load_ring(&self) -> Result<KeyRing, AdminError> {
        self.ring(true).await
    }

    /// The key ring for a command that only verifies: it writes nothing.
    pub async fn load_ring_read_only(&self) -> Result<KeyRing, AdminError> {
        self.ring(false).await
    }

    async fn ring(&self, signs: bool) -> Result<KeyRing, AdminError> {
        let now = self.now().timestamp();
        let stored = self.store.keys().await?;
        let records: Vec<KeyRecord> = stored.iter().map(|k| k.record.clone()).collect();
        let max_ttl = self.max_ttl_secs();
        let to_record: Vec<String> = if signs {
            plan::max_ttl_to_record(now, &records, max_ttl)
                .into_iter()
                .map(str::to_owned)
                .collect()
        } else {
            Vec::new()
        };
        for kid in &to_record {
            self.store.record_key_max_ttl(kid, max_ttl).await?;
        }
        let mut ring_keys = Vec::with_capacity(stored.len());
        for key in &stored {
            let mut record = key.record.clone();
            if to_record.contains(&record.kid) {
                record.max_ttl_secs = max_ttl;
            }
            ring_keys.push(RingKey::new(
                record,
                &key.public_jwk,
                key.sealed_private.as_deref(),
                &self.master,
                &records,
                now,
            )?);
        }
        let next = plan::next_publication(now, &records, &self.rotation_policy());
        Ok(KeyRing::new(ring_keys).with_next_publication(next))
    }
}
