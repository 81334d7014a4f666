//! Workload identity federation (SPEC §8): trust providers — the foreign
//! issuers whose JWTs tokend accepts in place of a client secret — and the
//! bindings that say which workload (subject and claims) becomes which
//! client. Plain types, parsed at the edge; no I/O.

use super::{ClientId, Pattern};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// GitHub's OIDC issuer, shared by every GitHub user (SPEC §8); the default
/// issuer of a `github-actions` provider (GitHub Enterprise Server has its
/// own, `https://HOST/_services/token`).
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// What kind of platform issues the tokens; the presets of SPEC §8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    #[default]
    Generic,
    /// Projected service-account tokens: `sub` is
    /// `system:serviceaccount:NAMESPACE:NAME`.
    Kubernetes,
    /// GitHub Actions OIDC tokens: every binding must name the owner or
    /// repository by id.
    GithubActions,
    /// SPIFFE JWT-SVIDs: the issuer is the trust domain `spiffe://TD`, the
    /// subject the SPIFFE ID, `iss` may be absent.
    Spiffe,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Generic => "generic",
            ProviderKind::Kubernetes => "kubernetes",
            ProviderKind::GithubActions => "github-actions",
            ProviderKind::Spiffe => "spiffe",
        }
    }
}

impl FromStr for ProviderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "generic" => Ok(ProviderKind::Generic),
            "kubernetes" => Ok(ProviderKind::Kubernetes),
            "github-actions" => Ok(ProviderKind::GithubActions),
            "spiffe" => Ok(ProviderKind::Spiffe),
            other => Err(format!(
                "unknown provider kind `{}`: use generic, kubernetes, github-actions or spiffe",
                other.escape_default()
            )),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a provider's keys come from: only what the operator configured,
/// never a URL taken from a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum KeySource {
    /// `ISSUER/.well-known/openid-configuration`, else RFC 8414 metadata.
    Discovery,
    /// A JWKS (or SPIFFE bundle) URL.
    JwksUri { url: String },
    /// A JWKS given inline (`--jwks-file`).
    Inline { jwks: serde_json::Value },
}

/// A foreign issuer tokend trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustProvider {
    /// The operator's name for it: 1–64 of `A-Z a-z 0-9 . _ -`.
    pub name: String,
    /// The exact `iss` of its tokens (for `spiffe`, `spiffe://TRUST-DOMAIN`).
    pub issuer: String,
    pub kind: ProviderKind,
    pub keys: KeySource,
    /// What the token's `aud` must contain (one of); empty = tokend's issuer
    /// and token endpoint URL.
    pub audiences: Vec<String>,
    /// Largest `exp − iat` accepted.
    #[serde(with = "secs")]
    pub max_lifetime: Duration,
    /// A `jti` is required and accepted once on every replica.
    pub single_use: bool,
    /// CA certificates (PEM file) for the key source's TLS.
    pub ca_file: Option<String>,
    /// A file whose content is sent as a bearer token with each fetch (an
    /// in-cluster Kubernetes API server).
    pub bearer_token_file: Option<String>,
    /// `http://` key sources allowed (loopback test issuers).
    pub allow_http: bool,
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

/// Default `--max-lifetime`.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(3600);
/// Upper bound of `--max-lifetime`: a day (GitHub tokens live minutes,
/// Kubernetes projected tokens an hour by default).
pub const MAX_MAX_LIFETIME: Duration = Duration::from_secs(86_400);

/// Validates a provider name.
pub fn validate_provider_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err("a provider name is 1–64 characters of A-Z a-z 0-9 . _ -".into())
    }
}

impl TrustProvider {
    /// Checks a provider as a whole: the issuer fits the kind, key source
    /// URLs are https (or http with `allow_http`), the bounds hold.
    pub fn validate(&self) -> Result<(), String> {
        validate_provider_name(&self.name)?;
        match self.kind {
            ProviderKind::Spiffe => {
                let td = self.issuer.strip_prefix("spiffe://").ok_or(
                    "a spiffe provider's issuer is its trust domain, spiffe://TRUST-DOMAIN",
                )?;
                if td.is_empty() || td.contains('/') {
                    return Err(
                        "a spiffe provider's issuer is spiffe://TRUST-DOMAIN, with no path".into(),
                    );
                }
                if self.keys == KeySource::Discovery {
                    return Err(
                        "a spiffe provider needs --jwks-uri (its bundle endpoint) or --jwks-file"
                            .into(),
                    );
                }
            }
            _ => {
                let url = url::Url::parse(&self.issuer)
                    .map_err(|_| format!("issuer {:?} is not a URL", self.issuer))?;
                if url.scheme() != "https" && !(self.allow_http && url.scheme() == "http") {
                    return Err(format!(
                        "issuer {:?} must be https (--allow-http for a loopback test issuer)",
                        self.issuer
                    ));
                }
            }
        }
        if let KeySource::JwksUri { url } = &self.keys {
            let parsed =
                url::Url::parse(url).map_err(|_| format!("jwks uri {url:?} is not a URL"))?;
            if parsed.scheme() != "https" && !(self.allow_http && parsed.scheme() == "http") {
                return Err(format!(
                    "jwks uri {url:?} must be https (--allow-http for a loopback test issuer)"
                ));
            }
        }
        if self.max_lifetime.is_zero() || self.max_lifetime > MAX_MAX_LIFETIME {
            return Err("max lifetime must be between 1s and 24h".into());
        }
        if self
            .audiences
            .iter()
            .any(|a| a.is_empty() || a.len() > 1024)
        {
            return Err("an audience is 1–1024 characters".into());
        }
        Ok(())
    }

    /// The trust domain of a `spiffe` provider.
    pub fn trust_domain(&self) -> Option<&str> {
        (self.kind == ProviderKind::Spiffe)
            .then(|| self.issuer.strip_prefix("spiffe://"))
            .flatten()
    }
}

/// Which workloads of a provider become a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub client_id: ClientId,
    pub provider: String,
    pub subject: Pattern,
    /// Further claims that must match, by name (string, number or boolean
    /// claims, compared as text).
    pub claims: Vec<(String, Pattern)>,
}

/// The claims a `github-actions` binding must constrain: the issuer is
/// shared by every GitHub user, and names can be re-registered, ids not.
pub const GITHUB_OWNER_CLAIMS: &[&str] = &["repository_owner_id", "repository_id"];

impl Binding {
    /// Checks a binding against its provider's kind.
    pub fn validate(&self, kind: ProviderKind) -> Result<(), String> {
        for (name, _) in &self.claims {
            if name.is_empty() || name.len() > 128 {
                return Err("a claim name is 1–128 characters".into());
            }
        }
        let subject = self.subject.as_str();
        if kind == ProviderKind::Kubernetes && !subject.starts_with("system:serviceaccount:") {
            return Err(format!(
                "a kubernetes subject is system:serviceaccount:NAMESPACE:NAME, not {subject:?}"
            ));
        }
        if kind == ProviderKind::Spiffe && !subject.starts_with("spiffe://") {
            return Err(format!(
                "a spiffe subject is a SPIFFE ID (spiffe://…), not {subject:?}"
            ));
        }
        if kind == ProviderKind::GithubActions
            && !self.claims.iter().any(|(name, pattern)| {
                GITHUB_OWNER_CLAIMS.contains(&name.as_str()) && pattern.is_literal()
            })
        {
            return Err(
                "a github-actions binding must name the owner or repository by id: \
                 --claim repository_owner_id=ID or --claim repository_id=ID (the issuer is \
                 shared by every GitHub user)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Whether a token's subject and claims match; `Err` names what differs.
    pub fn check(&self, subject: &str, claims: &serde_json::Value) -> Result<(), String> {
        if !self.subject.matches(subject) {
            return Err(format!("subject does not match {}", self.subject));
        }
        for (name, pattern) in &self.claims {
            let value = match claims.get(name) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                    v.to_string()
                }
                Some(_) => return Err(format!("claim {name} is not a string or number")),
                None => return Err(format!("claim {name} is missing")),
            };
            if !pattern.matches(&value) {
                return Err(format!("claim {name} does not match {pattern}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_bindings_need_an_owner_id() {
        let b = |claims: Vec<(&str, &str)>| Binding {
            client_id: ClientId::parse("ci").unwrap(),
            provider: "gh".into(),
            subject: Pattern::parse("repo:acme/*").unwrap(),
            claims: claims
                .into_iter()
                .map(|(n, p)| (n.to_owned(), Pattern::parse(p).unwrap()))
                .collect(),
        };
        assert!(b(vec![]).validate(ProviderKind::GithubActions).is_err());
        assert!(
            b(vec![("repository_owner", "acme")])
                .validate(ProviderKind::GithubActions)
                .is_err()
        );
        assert!(
            b(vec![("repository_owner_id", "*")])
                .validate(ProviderKind::GithubActions)
                .is_err()
        );
        assert!(
            b(vec![("repository_owner_id", "1234")])
                .validate(ProviderKind::GithubActions)
                .is_ok()
        );
        assert!(b(vec![]).validate(ProviderKind::Kubernetes).is_err());
        assert!(b(vec![]).validate(ProviderKind::Generic).is_ok());
        let claims = serde_json::json!({"repository_owner_id": "1234", "run": 7});
        assert!(
            b(vec![("repository_owner_id", "1234")])
                .check("repo:acme/api", &claims)
                .is_ok()
        );
        assert!(
            b(vec![("run", "7")])
                .check("repo:acme/api", &claims)
                .is_ok()
        );
        assert!(b(vec![("x", "1")]).check("repo:acme/api", &claims).is_err());
        assert!(b(vec![]).check("repo:other/api", &claims).is_err());
    }
}
