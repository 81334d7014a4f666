//! The shapes the CLI, the API and the console exchange for clients: what a
//! request gives (`NewClient`, `ClientUpdate`) and what is shown
//! (`ClientView`, never a secret or its hash, but a new secret once).

use super::AdminError;
use crate::domain::{Audience, AuthMethod, Client, QuotaMode, Scope};
use crate::oauth::ClientSecret;
use crate::oauth::TOKEN_EXCHANGE_GRANT;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

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
    pub(super) fn parse(&self, field: &str) -> Result<Scope, AdminError> {
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
