//! The in-memory key ring: every published key with its parsed verifier, the
//! parsed signers of the keys that may sign, and the pre-rendered JWKS. A ring
//! is immutable; the process swaps in a new one atomically when keys change,
//! so the signer, the JWKS and verification always agree.

use super::plan;
use super::signer::{PublicJwk, Signer};
use super::{KeyError, MasterKey};
use crate::domain::KeyRecord;
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub struct RingKey {
    pub record: KeyRecord,
    pub jwk: PublicJwk,
    signer: Option<Signer>,
}

impl RingKey {
    /// Builds a ring entry from stored parts. The private part is unsealed only
    /// for keys that may still sign (`next` or `active` at `now`).
    pub fn new(
        record: KeyRecord,
        jwk_json: &str,
        sealed_private: Option<&[u8]>,
        master: &MasterKey,
        all: &[KeyRecord],
        now: i64,
    ) -> Result<Self, KeyError> {
        let jwk: PublicJwk = serde_json::from_str(jwk_json).map_err(|e| KeyError::Material {
            kid: record.kid.clone(),
            reason: format!("stored JWK is not valid: {e}"),
        })?;
        let may_sign = matches!(
            plan::state(&record, all, now),
            plan::KeyState::Next | plan::KeyState::Active
        );
        let signer = match (may_sign, sealed_private) {
            (true, Some(sealed)) => {
                let pkcs8 = master.open(&record.kid, sealed)?;
                Some(Signer::from_pkcs8(record.alg, &record.kid, &pkcs8)?)
            }
            _ => None,
        };
        Ok(Self {
            record,
            jwk,
            signer,
        })
    }
}

/// The claims of an RFC 9068 access token issued by tokend.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: serde_json::Value,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a JWT")]
    Malformed,
    #[error("typ is not at+jwt")]
    WrongType,
    #[error("signed by a key this issuer does not know")]
    UnknownKey,
    #[error("signed by a revoked key")]
    RevokedKey,
    #[error("alg does not match the key")]
    WrongAlgorithm,
    #[error("signature or claims are invalid: {0}")]
    Invalid(String),
    #[error("issued by another issuer")]
    WrongIssuer,
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
}

pub struct KeyRing {
    keys: Vec<RingKey>,
    /// The keys' records, in the same order, for the plan's functions.
    records: Vec<KeyRecord>,
    jwks: Bytes,
    etag: String,
    /// Every unrevoked key, parsed once for verification (introspection,
    /// `token verify`) through the same code resource servers use.
    verifying: tokend_verify::KeySet,
    /// When the rotation plan will next publish a key (unix seconds).
    next_publication: Option<i64>,
}

impl KeyRing {
    pub fn empty() -> Self {
        Self::new(Vec::new())
    }

    pub fn new(mut keys: Vec<RingKey>) -> Self {
        // Same order as `plan::active`: the first signer found is the active key.
        keys.sort_by(|a, b| {
            let key = |k: &RingKey| {
                (
                    k.record.activates_at,
                    k.record.created_at,
                    k.record.kid.clone(),
                )
            };
            key(b).cmp(&key(a))
        });
        let records: Vec<KeyRecord> = keys.iter().map(|k| k.record.clone()).collect();
        let published: Vec<&PublicJwk> = plan::published(&records)
            .filter_map(|r| keys.iter().find(|k| k.record.kid == r.kid))
            .map(|k| &k.jwk)
            .collect();
        let jwks = Bytes::from(
            serde_json::to_vec(&serde_json::json!({ "keys": published }))
                .expect("a JWKS always serializes"),
        );
        let etag = format!(
            "\"{}\"",
            B64.encode(&digest::digest(&digest::SHA256, &jwks).as_ref()[..16])
        );
        let unrevoked: Vec<&PublicJwk> = keys
            .iter()
            .filter(|k| k.record.revoked_at.is_none())
            .map(|k| &k.jwk)
            .collect();
        let verifying = tokend_verify::KeySet::from_jwks(
            &serde_json::to_vec(&serde_json::json!({ "keys": unrevoked }))
                .expect("a JWKS always serializes"),
            &tokend_verify::Algorithm::ALL,
        )
        .expect("a JWKS rendered here always parses");
        Self {
            keys,
            records,
            jwks,
            etag,
            verifying,
            next_publication: None,
        }
    }

    /// Notes when the plan next publishes a key, for the JWKS `max-age`.
    pub fn with_next_publication(mut self, at: i64) -> Self {
        self.next_publication = Some(at);
        self
    }

    pub fn next_publication(&self) -> Option<i64> {
        self.next_publication
    }

    /// Seconds a verifier may cache the JWKS at `now`: the bound, or less so
    /// that no cache outlives the next planned publication (0 once it is due).
    pub fn jwks_max_age(&self, now: i64, bound: u64) -> u64 {
        plan::jwks_max_age(now, self.next_publication, bound)
    }

    /// The signer at `now`: the key `plan::active` names, so the ring and the
    /// plan can never disagree about which key signs.
    pub fn signer(&self, now: i64) -> Option<&Signer> {
        let active = plan::active(now, &self.records)?;
        self.get(&active.kid).and_then(|k| k.signer.as_ref())
    }

    pub fn records(&self) -> &[KeyRecord] {
        &self.records
    }

    pub fn get(&self, kid: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.record.kid == kid)
    }

    /// The JWKS document, rendered once per ring.
    pub fn jwks(&self) -> Bytes {
        self.jwks.clone()
    }

    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Verifies an access token as a resource server would (RFC 9068 §4):
    /// `typ`, a known unrevoked `kid`, its algorithm, the signature, `iss`,
    /// and `exp`/`nbf` against `now` with `leeway`.
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        now: i64,
        leeway: i64,
    ) -> Result<AccessClaims, VerifyError> {
        self.verify_with_kid(token, issuer, now, leeway)
            .map(|(_, claims)| claims)
    }

    /// [`KeyRing::verify`], also naming the key that signed the token.
    pub fn verify_with_kid(
        &self,
        token: &str,
        issuer: &str,
        now: i64,
        leeway: i64,
    ) -> Result<(String, AccessClaims), VerifyError> {
        use tokend_verify::VerifyError as E;
        let rules = tokend_verify::Rules {
            issuer: issuer.to_owned(),
            audience: None,
            leeway: u64::try_from(leeway).unwrap_or(0),
            algorithms: tokend_verify::Algorithm::ALL.to_vec(),
        };
        let token = tokend_verify::verify_token(token, &self.verifying, &rules, now).map_err(
            |e| match e {
                E::Malformed | E::MissingKid | E::UnsupportedCritical => VerifyError::Malformed,
                E::WrongType => VerifyError::WrongType,
                E::UnknownKey(kid) if self.get(&kid).is_some() => VerifyError::RevokedKey,
                E::UnknownKey(_) | E::KeysUnavailable(_) => VerifyError::UnknownKey,
                E::AlgorithmNotAllowed(_) | E::AlgorithmMismatch { .. } => {
                    VerifyError::WrongAlgorithm
                }
                E::WrongIssuer(_) => VerifyError::WrongIssuer,
                E::Expired => VerifyError::Expired,
                E::NotYetValid => VerifyError::NotYetValid,
                // The binding errors come only from verify_request.
                e => VerifyError::Invalid(e.to_string()),
            },
        )?;
        let claims: AccessClaims = serde_json::from_value(token.claims())
            .map_err(|e| VerifyError::Invalid(e.to_string()))?;
        Ok((token.kid, claims))
    }
}
