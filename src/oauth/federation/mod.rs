//! Workload identity federation (SPEC §8; RFC 7523 §2.1, §2.2, §3 and its
//! bis draft): a workload presents a JWT its platform issued (a Kubernetes
//! service-account token, a GitHub Actions OIDC token, a SPIFFE JWT-SVID,
//! another tokend's token) and becomes the client a binding names — no
//! client secret exists.
//!
//! The provider is found by the token's `iss` (for SPIFFE by the trust domain
//! of `sub`); its keys come only from what the operator configured
//! (discovery, a JWKS URL, an inline JWKS), through tokend-verify's JWKS
//! cache. Then: signature (asymmetric, `alg` equal to the key's), `iss`,
//! `aud` (always), `exp`, `nbf`/`iat` with leeway, the lifetime bound, `jti`
//! when single-use, and the bindings. Each failed check has its own words.

pub use super::trust_directory::TrustDirectory;
use super::trust_directory::Verified;
use crate::domain::{Binding, ProviderKind, TrustProvider};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use std::sync::Arc;
use tokend_verify::{Algorithm, JwksCache, KeySet, VerifyError, verify_jws};

mod bindings;

/// Largest workload token accepted (SPEC §8).
pub const MAX_ASSERTION_BYTES: usize = 16 * 1024;

/// A provider as the token path uses it: its settings, its keys, and the
/// bindings that name it.
pub struct Provider {
    pub config: TrustProvider,
    pub(super) keys: ProviderKeys,
    pub bindings: Vec<Binding>,
}

pub(super) enum ProviderKeys {
    Inline(Arc<KeySet>),
    Remote(JwksCache),
    /// The configuration could not be turned into a key source (an
    /// unreadable CA file, say): every token of this provider is refused.
    Broken(String),
}

/// The unverified `iss` and `sub` of a JWT, to find its provider.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Peek {
    pub iss: Option<String>,
    pub sub: Option<String>,
}

/// Reads the payload's `iss` and `sub` without verifying anything.
pub fn peek(jwt: &str) -> Option<Peek> {
    if jwt.len() > MAX_ASSERTION_BYTES {
        return None;
    }
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&B64.decode(payload).ok()?).ok()
}

/// Why a workload token was refused: the check that failed, in words an
/// operator can act on, never key material or the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FederationError {
    #[error("{0}")]
    Refused(String),
    /// The provider's keys cannot be had now: a retry may work.
    #[error("{0}")]
    Unavailable(String),
}

fn refused(s: impl Into<String>) -> FederationError {
    FederationError::Refused(s.into())
}

/// One check of `trust test` and its outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckResult {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// A token whose signature and claims held, and the bindings it matches.
#[derive(Debug, Clone)]
pub struct FederatedIdentity {
    pub provider: String,
    pub subject: String,
    pub jti: Option<String>,
    pub exp: i64,
    pub claims: serde_json::Value,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Aud {
    One(String),
    Many(Vec<String>),
}

/// The rules the claims are checked under.
pub struct ClaimRules<'a> {
    /// What `aud` must contain when the provider names no audience: this
    /// server's issuer and token endpoint URL.
    pub default_audiences: &'a [String],
    pub leeway: i64,
    pub now: i64,
}

/// Reports one check and passes its result on.
fn step(
    report: &mut dyn FnMut(CheckResult),
    check: &'static str,
    result: Result<(), String>,
) -> Result<(), FederationError> {
    report(CheckResult {
        check,
        ok: result.is_ok(),
        detail: result.as_ref().err().cloned().unwrap_or_default(),
    });
    result.map_err(FederationError::Refused)
}

impl Provider {
    /// Verifies the signature and the claims of `jwt`, reporting each check
    /// to `report` (a no-op on the token path).
    fn has_key(&self, kid: &str) -> bool {
        match &self.keys {
            ProviderKeys::Inline(keys) => keys.get(kid).is_some(),
            ProviderKeys::Remote(cache) => cache.has_cached_kid(kid),
            ProviderKeys::Broken(_) => false,
        }
    }

    /// [`Provider::verify`], skipping the signature of a token whose
    /// signature this provider's key already verified.
    pub async fn verify_cached(
        &self,
        jwt: &str,
        rules: &ClaimRules<'_>,
        directory: &TrustDirectory,
    ) -> Result<FederatedIdentity, FederationError> {
        if self.config.single_use || jwt.len() > MAX_ASSERTION_BYTES {
            return self.verify(jwt, rules, &mut |_| {}).await;
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, jwt.as_bytes());
        let key: [u8; 32] = digest.as_ref().try_into().expect("SHA-256 is 32 bytes");
        if let Some(hit) = directory.verified.get(&key)
            && hit.provider == self.config.name
            && self.has_key(&hit.kid)
        {
            return self.check_claims(&hit.payload, rules, &mut |_| {});
        }
        let mut seen = None;
        let identity = self.verify_with(jwt, rules, &mut |_| {}, &mut seen).await?;
        if let Some((kid, payload)) = seen {
            directory.verified.insert(
                key,
                Arc::new(Verified {
                    provider: self.config.name.clone(),
                    kid,
                    payload,
                }),
            );
        }
        Ok(identity)
    }

    pub async fn verify(
        &self,
        jwt: &str,
        rules: &ClaimRules<'_>,
        report: &mut dyn FnMut(CheckResult),
    ) -> Result<FederatedIdentity, FederationError> {
        self.verify_with(jwt, rules, report, &mut None).await
    }

    /// Verifies the signature and the claims of `jwt`; `verified` receives
    /// the key id and payload once the signature holds.
    async fn verify_with(
        &self,
        jwt: &str,
        rules: &ClaimRules<'_>,
        report: &mut dyn FnMut(CheckResult),
        verified_out: &mut Option<(String, Vec<u8>)>,
    ) -> Result<FederatedIdentity, FederationError> {
        let name = &self.config.name;
        if jwt.len() > MAX_ASSERTION_BYTES {
            step(
                report,
                "size",
                Err(format!(
                    "the token is over {} KiB",
                    MAX_ASSERTION_BYTES / 1024
                )),
            )?;
        }
        let verified = match &self.keys {
            ProviderKeys::Inline(keys) => verify_jws(jwt, keys, &Algorithm::ALL),
            ProviderKeys::Remote(cache) => {
                cache
                    .verify_with(|keys| verify_jws(jwt, keys, &Algorithm::ALL))
                    .await
            }
            ProviderKeys::Broken(why) => {
                tracing::warn!(provider = %name, error = %why, "trust provider unusable");
                return Err(FederationError::Unavailable(format!(
                    "trust provider {name} is misconfigured; see tokend's log"
                )));
            }
        };
        let verified = match verified {
            Ok(v) => {
                step(report, "signature", Ok(()))?;
                v
            }
            Err(VerifyError::KeysUnavailable(why)) => {
                tracing::warn!(provider = %name, error = %why, "trust provider keys unavailable");
                let _ = step(report, "signature", Err(format!("keys unavailable: {why}")));
                return Err(FederationError::Unavailable(format!(
                    "the keys of trust provider {name} cannot be fetched now; retry"
                )));
            }
            Err(e) => {
                let why = match e {
                    VerifyError::UnknownKey(kid) => {
                        format!("no key of trust provider {name} has kid {kid:?}")
                    }
                    VerifyError::BadSignature => {
                        format!("the signature does not verify with trust provider {name}'s key")
                    }
                    VerifyError::AlgorithmMismatch { token, key } => format!(
                        "alg {token} is not the algorithm of trust provider {name}'s key ({key})"
                    ),
                    VerifyError::AlgorithmNotAllowed(alg) => format!(
                        "alg {alg:?} is not accepted (asymmetric algorithms only, never none or HMAC)"
                    ),
                    VerifyError::MissingKid => "the token's header has no kid".into(),
                    VerifyError::UnsupportedCritical => {
                        "the token's header has a crit member tokend does not understand".into()
                    }
                    _ => "the token is not a signed JWT (JWS compact serialization)".into(),
                };
                let _ = step(report, "signature", Err(why.clone()));
                return Err(FederationError::Refused(why));
            }
        };
        let identity = self.check_claims(&verified.payload, rules, report)?;
        *verified_out = Some((verified.kid, verified.payload));
        Ok(identity)
    }

    /// Every check after the signature, on the token's payload.
    fn check_claims(
        &self,
        payload: &[u8],
        rules: &ClaimRules<'_>,
        report: &mut dyn FnMut(CheckResult),
    ) -> Result<FederatedIdentity, FederationError> {
        let name = &self.config.name;
        let claims: serde_json::Value = serde_json::from_slice(payload)
            .ok()
            .filter(serde_json::Value::is_object)
            .ok_or_else(|| refused("the token's claims are not a JSON object"))?;
        let str_claim = |n: &str| claims.get(n).and_then(|v| v.as_str());
        let int_claim = |n: &str| -> Result<Option<i64>, String> {
            match claims.get(n) {
                None => Ok(None),
                Some(v) => v
                    .as_i64()
                    .or_else(|| v.as_f64().map(|f| f as i64))
                    .map(Some)
                    .ok_or_else(|| format!("claim {n} is not a number")),
            }
        };
        let spiffe = self.config.kind == ProviderKind::Spiffe;
        step(
            report,
            "iss",
            match str_claim("iss") {
                Some(iss) if iss == self.config.issuer => Ok(()),
                None if spiffe => Ok(()),
                Some(iss) => Err(format!("iss {iss:?} is not trust provider {name}'s issuer")),
                None => Err("the token has no iss".into()),
            },
        )?;
        let subject = str_claim("sub").map(str::to_owned);
        step(
            report,
            "sub",
            match &subject {
                None => Err("the token has no sub".into()),
                Some(s) if spiffe => match self.config.trust_domain() {
                    Some(td)
                        if s.strip_prefix("spiffe://")
                            .and_then(|r| r.strip_prefix(td))
                            .is_some_and(|r| r.starts_with('/')) =>
                    {
                        Ok(())
                    }
                    _ => Err(format!(
                        "sub {s:?} is not a SPIFFE ID of {}",
                        self.config.issuer
                    )),
                },
                Some(_) => Ok(()),
            },
        )?;
        let subject = subject.unwrap_or_default();
        let expected: &[String] = if self.config.audiences.is_empty() {
            rules.default_audiences
        } else {
            &self.config.audiences
        };
        let aud: Vec<String> = match claims
            .get("aud")
            .cloned()
            .map(serde_json::from_value::<Aud>)
        {
            Some(Ok(Aud::One(a))) => vec![a],
            Some(Ok(Aud::Many(a))) => a,
            _ => Vec::new(),
        };
        step(
            report,
            "aud",
            if aud.iter().any(|a| expected.contains(a)) {
                Ok(())
            } else {
                Err(format!(
                    "audience does not name this server (aud must contain one of {})",
                    expected.join(", ")
                ))
            },
        )?;
        let (now, leeway) = (rules.now, rules.leeway);
        let exp = int_claim("exp").map_err(refused)?;
        step(
            report,
            "exp",
            match exp {
                None => Err("the token has no exp".into()),
                Some(exp) if now >= exp.saturating_add(leeway) => {
                    Err(format!("the token expired {} s ago", now - exp))
                }
                Some(_) => Ok(()),
            },
        )?;
        let exp = exp.unwrap_or_default();
        let iat = int_claim("iat").map_err(refused)?;
        let nbf = int_claim("nbf").map_err(refused)?;
        step(
            report,
            "nbf/iat",
            if [iat, nbf]
                .into_iter()
                .flatten()
                .any(|t| now.saturating_add(leeway) < t)
            {
                Err("the token is not valid yet (nbf or iat in the future)".into())
            } else {
                Ok(())
            },
        )?;
        let lifetime = exp.saturating_sub(iat.unwrap_or(now));
        let bound = self.config.max_lifetime.as_secs() as i64;
        step(
            report,
            "lifetime",
            if lifetime > bound {
                Err(format!(
                    "the token's lifetime ({lifetime} s) exceeds trust provider {name}'s max lifetime ({bound} s)"
                ))
            } else {
                Ok(())
            },
        )?;
        let jti = str_claim("jti").map(str::to_owned);
        if self.config.single_use {
            step(
                report,
                "jti",
                match &jti {
                    Some(j) if !j.is_empty() && j.len() <= 256 => Ok(()),
                    _ => Err(format!(
                        "trust provider {name} is single-use: the token needs a jti (1–256 characters)"
                    )),
                },
            )?;
        }
        Ok(FederatedIdentity {
            provider: name.clone(),
            subject,
            jti,
            exp,
            claims,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_reads_iss_and_sub_only_from_a_jwt_shape() {
        let payload = B64.encode(br#"{"iss":"https://k8s","sub":"system:serviceaccount:a:b"}"#);
        let p = peek(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(p.iss.as_deref(), Some("https://k8s"));
        assert!(peek("not a jwt").is_none());
        assert!(peek(&"a.".repeat(MAX_ASSERTION_BYTES)).is_none());
    }
}
