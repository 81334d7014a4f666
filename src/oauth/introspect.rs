//! Token introspection (RFC 7662) and revocation (RFC 7009). A token is
//! active when tokend signed it with a published, unrevoked key, it has not
//! expired, its `jti` is not on the deny list, and its client still exists,
//! is enabled and has not had its secret rotated without grace since (from
//! the in-memory directory: no database trip). A caller sees a token only
//! when it may (RFC 7662 §4): its own, one whose `aud` names it, or any with
//! the registered introspection permission; otherwise `active: false`.

use super::ports::RevocationLog;
use super::{ClientDirectory, DenyList, OAuthError};
use crate::clock::SharedClock;
use crate::domain::Client;
use crate::keys::{AccessClaims, KeyRing};
use arc_swap::ArcSwap;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActiveToken {
    pub scope: String,
    pub client_id: String,
    pub sub: String,
    pub aud: serde_json::Value,
    pub iss: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    /// `Bearer`, or `DPoP` for a token bound to a DPoP key (RFC 9449 §6.2).
    pub token_type: &'static str,
    /// The token's confirmation (`jkt`, `x5t#S256`), when it is bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<serde_json::Value>,
    /// Who acted for `sub` (a token exchange, RFC 8693 §4.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
}

/// `{"active": false}`, or `{"active": true, …claims}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Introspection {
    pub active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub token: Option<ActiveToken>,
}

impl Introspection {
    fn inactive() -> Self {
        Self {
            active: false,
            token: None,
        }
    }
}

/// Unexpired revoked tokens one client may have on the deny list: the deny
/// list is in every replica's memory, so no client may grow it without bound.
pub const MAX_REVOKED_PER_CLIENT: i64 = 10_000;

pub struct TokenInspector {
    pub issuer: String,
    pub ring: Arc<ArcSwap<KeyRing>>,
    pub deny: Arc<DenyList>,
    pub clients: Arc<ClientDirectory>,
    pub revocations: Arc<dyn RevocationLog>,
    pub clock: SharedClock,
    pub verified: VerifiedTokens,
}

fn audience_names(aud: &serde_json::Value, who: &str) -> bool {
    match aud {
        serde_json::Value::String(a) => a == who,
        serde_json::Value::Array(list) => list.iter().any(|a| a.as_str() == Some(who)),
        _ => false,
    }
}

/// Tokens whose signature was already checked, by SHA-256 of the token: a
/// resource server introspecting the same token on every request costs one
/// signature check, not one per call. A hit counts only while the signing
/// key is in the ring and unrevoked; expiry, `nbf` and the deny list are
/// checked on every call. Bounded: at most `capacity` entries.
pub struct VerifiedTokens(quick_cache::sync::Cache<[u8; 32], Arc<(String, AccessClaims)>>);

impl VerifiedTokens {
    pub fn new(capacity: usize) -> Self {
        Self(quick_cache::sync::Cache::new(capacity))
    }
}

fn digest(token: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    d.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

impl TokenInspector {
    /// The claims of a token that is active now.
    pub(super) fn active_claims(&self, token: &str) -> Option<AccessClaims> {
        // The issuer's own clock is authoritative: no leeway.
        let now = self.clock.now().timestamp();
        let ring = self.ring.load();
        let key = digest(token);
        let cached = self.verified.0.get(&key).filter(|entry| {
            let (kid, claims) = &**entry;
            ring.get(kid).is_some_and(|k| k.record.revoked_at.is_none())
                && now < claims.exp
                && now >= claims.nbf
        });
        let claims = match cached {
            Some(entry) => entry.1.clone(),
            None => {
                let (kid, claims) = ring.verify_with_kid(token, &self.issuer, now, 0).ok()?;
                self.verified.0.insert(key, Arc::new((kid, claims.clone())));
                claims
            }
        };
        let honoured = self
            .clients
            .get(&claims.client_id)
            .is_some_and(|c| c.client.honours_token_issued_at(claims.iat));
        (honoured && !self.deny.contains(&claims.jti)).then_some(claims)
    }

    /// Introspects `token` for `caller`.
    pub fn introspect(&self, caller: &Client, token: &str) -> Introspection {
        let visible = |c: &AccessClaims| {
            caller.may_introspect
                || c.client_id == caller.id.as_str()
                || audience_names(&c.aud, caller.id.as_str())
        };
        match self.active_claims(token).filter(visible) {
            Some(c) => Introspection {
                active: true,
                token: Some(ActiveToken {
                    scope: c.scope,
                    client_id: c.client_id,
                    sub: c.sub,
                    aud: c.aud,
                    iss: c.iss,
                    exp: c.exp,
                    iat: c.iat,
                    nbf: c.nbf,
                    token_type: if c.extra.get("cnf").and_then(|cnf| cnf.get("jkt")).is_some() {
                        "DPoP"
                    } else {
                        "Bearer"
                    },
                    cnf: c.extra.get("cnf").cloned(),
                    act: c.extra.get("act").cloned(),
                    jti: c.jti,
                }),
            },
            None => Introspection::inactive(),
        }
    }

    /// Revokes a token issued to `caller`. Unknown, invalid and expired
    /// tokens are fine (RFC 7009 §2.2); another client's token is refused.
    pub async fn revoke(&self, caller: &Client, token: &str) -> Result<(), OAuthError> {
        let Some(claims) = self.active_claims(token) else {
            return Ok(());
        };
        if claims.client_id != caller.id.as_str() {
            return Err(OAuthError::unauthorized_client(
                "the token was not issued to this client",
            ));
        }
        let now = self.clock.now().timestamp();
        let recorded = self
            .revocations
            .revoke(
                &claims.jti,
                &claims.client_id,
                claims.exp,
                now,
                MAX_REVOKED_PER_CLIENT,
            )
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "recording a revocation failed");
                OAuthError::unavailable("cannot record the revocation; retry")
            })?;
        if !recorded {
            return Err(OAuthError {
                retry_after: Some(60),
                ..OAuthError::new(
                    super::ErrorCode::TemporarilyUnavailable,
                    actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "this client already has {MAX_REVOKED_PER_CLIENT} revoked tokens that have not expired; let them expire or use shorter lifetimes"
                    ),
                )
            });
        }
        self.deny.insert(&claims.jti, claims.exp);
        Ok(())
    }

    /// Whether a token is active now, for the admin API's bearer check.
    pub fn verify_bearer(&self, token: &str) -> Option<AccessClaims> {
        self.active_claims(token)
    }
}
