//! The shapes trust providers and bindings take in the admin functions, the
//! API and the console: what is given to add or change one, and what is
//! shown.

use crate::config::fmt_duration;
use crate::domain::{Binding, KeySource, ProviderKind, TrustProvider};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A new trust provider. Exactly one key source: `discovery`, `jwks_uri` or
/// `jwks` (default: discovery, except for `spiffe`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrustProvider {
    /// 1–64 of `A-Z a-z 0-9 . _ -`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    /// The exact `iss` of the tokens (`spiffe://TRUST-DOMAIN` for spiffe);
    /// defaults to GitHub's issuer for `github-actions`.
    pub issuer: Option<String>,
    /// `generic` (default), `kubernetes`, `github-actions` or `spiffe`.
    pub kind: Option<String>,
    pub discovery: Option<bool>,
    pub jwks_uri: Option<String>,
    /// An inline JWK Set (or SPIFFE bundle).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// What `aud` must contain (one of); default tokend's issuer and token
    /// endpoint URL.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Largest `exp − iat`, such as `1h` (default), at most `24h`.
    #[schema(pattern = r"^[1-9][0-9]{0,5}[smhd]?$")]
    pub max_lifetime: Option<String>,
    /// A `jti` is required and accepted once.
    pub single_use: Option<bool>,
    /// A PEM CA file on tokend's host (CLI only).
    pub ca_file: Option<String>,
    /// A token file on tokend's host sent as a bearer token (CLI only).
    pub bearer_token_file: Option<String>,
    /// Allow `http://` URLs (loopback test issuers).
    pub allow_http: Option<bool>,
}

/// A partial update; absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustProviderUpdate {
    pub issuer: Option<String>,
    pub kind: Option<String>,
    pub discovery: Option<bool>,
    pub jwks_uri: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    pub audiences: Option<Vec<String>>,
    #[schema(pattern = r"^[1-9][0-9]{0,5}[smhd]?$")]
    pub max_lifetime: Option<String>,
    pub single_use: Option<bool>,
    pub ca_file: Option<String>,
    pub bearer_token_file: Option<String>,
    pub allow_http: Option<bool>,
}

/// A binding as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BindingView {
    pub client_id: String,
    pub provider: String,
    pub subject: String,
    pub claims: BTreeMap<String, String>,
}

impl From<&Binding> for BindingView {
    fn from(b: &Binding) -> Self {
        Self {
            client_id: b.client_id.to_string(),
            provider: b.provider.clone(),
            subject: b.subject.to_string(),
            claims: b
                .claims
                .iter()
                .map(|(n, p)| (n.clone(), p.to_string()))
                .collect(),
        }
    }
}

/// A trust provider as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrustProviderView {
    pub name: String,
    pub issuer: String,
    pub kind: ProviderKind,
    /// `discovery`, `jwks_uri` or `inline`.
    pub key_source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The configured audiences; empty means tokend's issuer and token
    /// endpoint URL.
    pub audiences: Vec<String>,
    pub max_lifetime: String,
    pub single_use: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<String>,
    pub allow_http: bool,
    pub bindings: Vec<BindingView>,
}

pub(super) fn view(p: &TrustProvider, bindings: &[Binding]) -> TrustProviderView {
    TrustProviderView {
        name: p.name.clone(),
        issuer: p.issuer.clone(),
        kind: p.kind,
        key_source: match p.keys {
            KeySource::Discovery => "discovery",
            KeySource::JwksUri { .. } => "jwks_uri",
            KeySource::Inline { .. } => "inline",
        },
        jwks_uri: match &p.keys {
            KeySource::JwksUri { url } => Some(url.clone()),
            _ => None,
        },
        audiences: p.audiences.clone(),
        max_lifetime: fmt_duration(p.max_lifetime),
        single_use: p.single_use,
        ca_file: p.ca_file.clone(),
        bearer_token_file: p.bearer_token_file.clone(),
        allow_http: p.allow_http,
        bindings: bindings
            .iter()
            .filter(|b| b.provider == p.name)
            .map(BindingView::from)
            .collect(),
    }
}

/// A new binding of a client to a provider's workloads.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBinding {
    pub provider: String,
    /// `*` matches any run of characters but `/` and `:`, `**` anything.
    #[schema(min_length = 1, max_length = 1024)]
    pub subject: String,
    /// Further claims that must match, name → pattern.
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
}
