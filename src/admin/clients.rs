//! Client operations and the shapes the CLI and the API exchange for them:
//! create, list, show, update, enable/disable, delete, rotate the secret.

use super::{Admin, AdminError};
use crate::config::parse_duration;
use crate::domain::{
    Audience, AuthMethod, Client, ClientId, ClientSecrets, QuotaMode, QuotaSetting, Scope,
    validate_claims,
};
use crate::oauth::{ClientSecret, generate_secret, hash_secret};
use crate::store::ClientPage;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
    /// `["client_credentials"]` (default), `[]` for a client that only
    /// introspects and revokes; `urn:ietf:params:oauth:grant-type:token-exchange`
    /// lets it exchange tokens it received (RFC 8693, deny by default).
    pub grant_types: Option<Vec<String>>,
    /// May introspect any token (RFC 7662 §4); without it a client sees only
    /// its own tokens and those whose `aud` names it. Default: true for a
    /// client without grants (a resource server), false otherwise.
    pub may_introspect: Option<bool>,
    /// Every token request must carry a DPoP proof (RFC 9449).
    pub require_dpop: Option<bool>,
    /// `tls_client_auth` (RFC 8705 §2.1.2): the certificate's subject DN
    /// (RFC 4514), or one of its SAN URIs (a SPIFFE ID) or DNS names. One of
    /// the three.
    pub tls_client_auth_subject_dn: Option<String>,
    pub tls_client_auth_san_uri: Option<String>,
    pub tls_client_auth_san_dns: Option<String>,
    /// `self_signed_tls_client_auth` (RFC 8705 §2.2): the client's
    /// certificate (PEM), matched by its SHA-256 thumbprint.
    pub tls_client_certificate: Option<String>,
    /// Token quota `N/m`, `N/h` or `N/d`; `none` for no quota; `default`
    /// (or absent) for `tokens.default_quota`.
    pub quota: Option<String>,
    /// `enforce` (429 past the quota, the default) or `monitor` (count only).
    pub quota_mode: Option<String>,
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
    pub require_dpop: Option<bool>,
    /// `tls_client_auth` (RFC 8705 §2.1.2): the certificate's subject DN
    /// (RFC 4514), or one of its SAN URIs (a SPIFFE ID) or DNS names. One of
    /// the three.
    pub tls_client_auth_subject_dn: Option<String>,
    pub tls_client_auth_san_uri: Option<String>,
    pub tls_client_auth_san_dns: Option<String>,
    /// `self_signed_tls_client_auth` (RFC 8705 §2.2): the client's
    /// certificate (PEM), matched by its SHA-256 thumbprint.
    pub tls_client_certificate: Option<String>,
    /// Token quota `N/m`, `N/h` or `N/d`; `none` for no quota; `default`
    /// (or absent) for `tokens.default_quota`.
    pub quota: Option<String>,
    /// `enforce` (429 past the quota, the default) or `monitor` (count only).
    pub quota_mode: Option<String>,
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
    pub require_dpop: bool,
    /// `N/m`, `N/h`, `N/d`, `none`, or `default` (`tokens.default_quota`).
    pub quota: String,
    pub quota_mode: QuotaMode,
    /// What the client's certificate must show (mTLS clients):
    /// `{"subject_dn"|"san_uri"|"san_dns"|"certificate_sha256": "…"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub tls_identity: Option<crate::domain::TlsIdentity>,
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
            grant_types: [
                (c.grant_client_credentials, "client_credentials"),
                (c.grant_token_exchange, TOKEN_EXCHANGE_GRANT),
            ]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect(),
            enabled: c.enabled,
            may_introspect: c.may_introspect,
            require_dpop: c.require_dpop,
            quota: c.quota.to_string(),
            quota_mode: c.quota_mode,
            tls_identity: c.tls_identity.clone(),
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

/// The grant type a client needs to exchange tokens (RFC 8693 §2.1).
pub use crate::oauth::TOKEN_EXCHANGE_GRANT;

/// `(client_credentials, token_exchange)` from an RFC 7591 grant type list.
fn parse_grant_types(list: &[String]) -> Result<(bool, bool), AdminError> {
    let mut grants = (false, false);
    for grant in list {
        match grant.as_str() {
            "client_credentials" => grants.0 = true,
            TOKEN_EXCHANGE_GRANT => grants.1 = true,
            other => {
                return Err(AdminError::Invalid(format!(
                    "grant_types: `{}` is not supported; use client_credentials and {TOKEN_EXCHANGE_GRANT}",
                    other.escape_default()
                )));
            }
        }
    }
    Ok(grants)
}

fn parse_quota(text: &str) -> Result<QuotaSetting, AdminError> {
    QuotaSetting::parse(text).map_err(|e| AdminError::Invalid(format!("quota: {e}")))
}

fn parse_quota_mode(text: &str) -> Result<QuotaMode, AdminError> {
    text.parse()
        .map_err(|e| AdminError::Invalid(format!("quota_mode: {e}")))
}

fn tls_given(u: &ClientUpdate) -> bool {
    u.tls_client_auth_subject_dn.is_some()
        || u.tls_client_auth_san_uri.is_some()
        || u.tls_client_auth_san_dns.is_some()
        || u.tls_client_certificate.is_some()
}

/// The one certificate subject given (an empty value clears it).
fn tls_identity(
    subject_dn: Option<&str>,
    san_uri: Option<&str>,
    san_dns: Option<&str>,
    certificate: Option<&str>,
) -> Result<Option<crate::domain::TlsIdentity>, AdminError> {
    use crate::domain::TlsIdentity;
    let given: Vec<_> = [
        ("tls_client_auth_subject_dn", subject_dn),
        ("tls_client_auth_san_uri", san_uri),
        ("tls_client_auth_san_dns", san_dns),
        ("tls_client_certificate", certificate),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.filter(|v| !v.trim().is_empty()).map(|v| (name, v)))
    .collect();
    let (name, value) = match given.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        _ => {
            return Err(AdminError::Invalid(
                "give one of tls_client_auth_subject_dn, tls_client_auth_san_uri, tls_client_auth_san_dns, tls_client_certificate".into(),
            ));
        }
    };
    let invalid = |e: String| AdminError::Invalid(format!("{name}: {e}"));
    match name {
        "tls_client_auth_subject_dn" => TlsIdentity::subject_dn(value),
        "tls_client_auth_san_uri" => TlsIdentity::san_uri(value),
        "tls_client_auth_san_dns" => TlsIdentity::san_dns(value),
        _ => crate::oauth::mtls::registered_certificate(value),
    }
    .map(Some)
    .map_err(invalid)
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
    match (c.auth_method, &c.tls_identity) {
        (AuthMethod::TlsClientAuth, Some(id)) if id.is_ca_issued() => {}
        (AuthMethod::TlsClientAuth, _) => {
            return Err(AdminError::Invalid(
                "tls_client_auth needs the certificate's subject: tls_client_auth_subject_dn, tls_client_auth_san_uri or tls_client_auth_san_dns".into(),
            ));
        }
        (AuthMethod::SelfSignedTlsClientAuth, Some(id)) if !id.is_ca_issued() => {}
        (AuthMethod::SelfSignedTlsClientAuth, _) => {
            return Err(AdminError::Invalid(
                "self_signed_tls_client_auth needs the client's certificate: tls_client_certificate (PEM)".into(),
            ));
        }
        (_, Some(_)) => {
            return Err(AdminError::Invalid(format!(
                "a certificate subject is only for tls_client_auth or self_signed_tls_client_auth clients, not {}",
                c.auth_method
            )));
        }
        (_, None) => {}
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
        let grants = match &new.grant_types {
            Some(list) => parse_grant_types(list)?,
            None => (true, false),
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
            grant_client_credentials: grants.0,
            grant_token_exchange: grants.1,
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
            require_dpop: new.require_dpop.unwrap_or(false),
            quota: new
                .quota
                .as_deref()
                .map(parse_quota)
                .transpose()?
                .unwrap_or_default(),
            quota_mode: new
                .quota_mode
                .as_deref()
                .map(parse_quota_mode)
                .transpose()?
                .unwrap_or_default(),
            tls_identity: tls_identity(
                new.tls_client_auth_subject_dn.as_deref(),
                new.tls_client_auth_san_uri.as_deref(),
                new.tls_client_auth_san_dns.as_deref(),
                new.tls_client_certificate.as_deref(),
            )?,
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

    /// Clients whose id or name contains `text` (case-insensitive).
    pub async fn search_clients(
        &self,
        text: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ClientListPage, AdminError> {
        let ClientPage { clients, next } = self.store.search_clients(text, after, limit).await?;
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
            ("require_dpop", update.require_dpop.is_some()),
            ("quota", update.quota.is_some()),
            ("quota_mode", update.quota_mode.is_some()),
            ("tls_identity", tls_given(&update)),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        let tls_changed = tls_given(&update);
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
            (c.grant_client_credentials, c.grant_token_exchange) = parse_grant_types(grants)?;
        }
        if let Some(quota) = &update.quota {
            c.quota = parse_quota(quota)?;
        }
        if let Some(mode) = &update.quota_mode {
            c.quota_mode = parse_quota_mode(mode)?;
        }
        if let Some(enabled) = update.enabled {
            c.enabled = enabled;
        }
        if let Some(require) = update.require_dpop {
            c.require_dpop = require;
        }
        if let Some(may) = update.may_introspect {
            c.may_introspect = may;
        }
        if tls_changed {
            c.tls_identity = tls_identity(
                update.tls_client_auth_subject_dn.as_deref(),
                update.tls_client_auth_san_uri.as_deref(),
                update.tls_client_auth_san_dns.as_deref(),
                update.tls_client_certificate.as_deref(),
            )?;
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
        // Its bindings went with it.
        self.refresh_local_trust().await?;
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
