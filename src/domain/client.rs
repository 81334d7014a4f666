//! A registered client: what it may ask for and how it proves who it is.

use super::{Audience, ClientId, Scope};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Claims a client's registered extra claims may never set: those RFC 7519 and
/// RFC 9068 define for an access token.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "scope",
    "auth_time",
    "acr",
    "amr",
    "cnf",
    // Token exchange (RFC 8693 §4) and authorized party.
    "act",
    "may_act",
    "azp",
];

/// Largest serialized size of a client's extra claims: a token must stay a
/// header, and tokend's own introspection refuses oversized tokens.
pub const MAX_EXTRA_CLAIMS_BYTES: usize = 4096;

/// How a client authenticates at the token endpoint (RFC 7591 §2
/// `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    /// No secret and no keys: the client authenticates only with a workload
    /// identity token that one of its bindings matches (SPEC §8).
    Federated,
    /// A certificate chaining to `tls.client_ca_file` with the registered
    /// subject (RFC 8705 §2.1).
    TlsClientAuth,
    /// The registered self-signed certificate (RFC 8705 §2.2).
    SelfSignedTlsClientAuth,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::Federated => "federated",
            AuthMethod::TlsClientAuth => "tls_client_auth",
            AuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }

    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
        )
    }

    /// Whether the client authenticates with a TLS client certificate.
    pub fn uses_certificate(self) -> bool {
        matches!(
            self,
            AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth
        )
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "client_secret_basic" => Ok(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Ok(AuthMethod::ClientSecretPost),
            "private_key_jwt" => Ok(AuthMethod::PrivateKeyJwt),
            "federated" => Ok(AuthMethod::Federated),
            "tls_client_auth" => Ok(AuthMethod::TlsClientAuth),
            "self_signed_tls_client_auth" => Ok(AuthMethod::SelfSignedTlsClientAuth),
            other => Err(format!(
                "`{other}` is not one of client_secret_basic, client_secret_post, private_key_jwt, federated, tls_client_auth, self_signed_tls_client_auth"
            )),
        }
    }
}

/// The keyed hash of a client secret. Not the secret, but no reason to print it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(pub [u8; 32]);

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// The hashes a client's secret is checked against: the current one, and the
/// previous one while its grace period lasts.
#[derive(Debug, Clone, Default)]
pub struct ClientSecrets {
    pub current: Option<SecretHash>,
    pub previous: Option<(SecretHash, DateTime<Utc>)>,
}

impl ClientSecrets {
    /// The hashes that are valid at `now`.
    pub fn valid_at(&self, now: DateTime<Utc>) -> impl Iterator<Item = &SecretHash> {
        self.current.iter().chain(
            self.previous
                .iter()
                .filter(move |(_, until)| now < *until)
                .map(|(hash, _)| hash),
        )
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub scopes: Scope,
    pub default_scopes: Option<Scope>,
    pub audiences: Vec<Audience>,
    pub token_ttl: Option<Duration>,
    /// Extra claims added to every token; never one of [`RESERVED_CLAIMS`].
    pub claims: serde_json::Map<String, serde_json::Value>,
    pub auth_method: AuthMethod,
    /// Whether the client may use the client_credentials grant; a client
    /// without it may only introspect and revoke.
    pub grant_client_credentials: bool,
    /// May trade tokens it received for narrower ones (RFC 8693 token
    /// exchange; deny by default).
    pub grant_token_exchange: bool,
    pub jwks: Option<serde_json::Value>,
    pub enabled: bool,
    pub secrets: ClientSecrets,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Tokens issued before this are no longer honoured by tokend itself
    /// (set when the secret is rotated without a grace period).
    pub tokens_valid_since: Option<DateTime<Utc>>,
    /// May introspect tokens that do not name it (RFC 7662 §4).
    pub may_introspect: bool,
    /// Every token request must carry a DPoP proof (RFC 9449): its tokens
    /// are always bound to its key.
    pub require_dpop: bool,
    /// What the client's certificate must show (`tls_client_auth`,
    /// `self_signed_tls_client_auth`).
    pub tls_identity: Option<super::TlsIdentity>,
    /// How many tokens it may get per window (SPEC §11).
    pub quota: super::QuotaSetting,
    pub quota_mode: super::QuotaMode,
}

impl Client {
    /// Whether tokend still honours a token issued to this client at `iat`
    /// (for `/admin` and `/introspect`; resource servers decide offline).
    /// `iat` has whole seconds: a token from the second of a rotation without
    /// grace may be the old secret's, so it is not honoured either.
    pub fn honours_token_issued_at(&self, iat: i64) -> bool {
        self.enabled
            && self
                .tokens_valid_since
                .is_none_or(|since| iat > since.timestamp())
    }
}

/// Checks registered extra claims: a JSON object with no reserved name.
pub fn validate_claims(claims: &serde_json::Map<String, serde_json::Value>) -> Result<(), String> {
    if let Some(k) = claims
        .keys()
        .find(|k| RESERVED_CLAIMS.contains(&k.as_str()))
    {
        return Err(format!(
            "claim `{k}` is set by tokend and cannot be registered as an extra claim"
        ));
    }
    let size = serde_json::to_vec(claims).map_or(usize::MAX, |v| v.len());
    if size > MAX_EXTRA_CLAIMS_BYTES {
        return Err(format!(
            "the extra claims take {size} bytes; at most {MAX_EXTRA_CLAIMS_BYTES} are allowed"
        ));
    }
    Ok(())
}

impl Client {
    pub fn validate_claims(&self) -> Result<(), String> {
        validate_claims(&self.claims)
    }
}
