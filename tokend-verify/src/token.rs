//! Validation of one JWT access token against a key set, without I/O:
//! RFC 9068 §4 and the JWT best current practices of RFC 8725.

use crate::jwk::{Algorithm, KeySet};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Longest token accepted; tokend's are under 1 KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The exact `iss` (RFC 9068 §4 step 3).
    pub issuer: String,
    /// An `aud` value the token must contain; `None` accepts any audience
    /// (for tools that only inspect tokens, never for a resource server).
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: u64,
    /// The accepted `alg` values (RFC 8725 §3.1).
    pub algorithms: Vec<Algorithm>,
}

/// Why a token was refused. The messages name the failed check, never the
/// token or its signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a JWS compact serialization")]
    Malformed,
    #[error("typ is not at+jwt: not an access token (RFC 9068 §4)")]
    WrongType,
    #[error("alg {0:?} is not accepted")]
    AlgorithmNotAllowed(String),
    #[error("the header has no kid")]
    MissingKid,
    #[error("no key with kid {0:?} in the issuer's JWKS")]
    UnknownKey(String),
    #[error("alg {token} does not match the key's algorithm {key}")]
    AlgorithmMismatch { token: String, key: Algorithm },
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the claims are not a JSON object of the expected types")]
    MalformedClaims,
    #[error("required claim {0} is missing (RFC 9068 §2.2)")]
    MissingClaim(&'static str),
    #[error("issued by {0:?}, not by the expected issuer")]
    WrongIssuer(String),
    #[error("not issued for this audience")]
    WrongAudience,
    #[error("expired")]
    Expired,
    #[error("not valid yet")]
    NotYetValid,
    #[error("the header has a crit member this verifier does not understand")]
    UnsupportedCritical,
    #[error("the issuer's keys are unavailable: {0}")]
    KeysUnavailable(String),
    #[error(
        "the token is bound to a DPoP key: send it as `Authorization: DPoP` with a proof (RFC 9449)"
    )]
    BoundTokenAsBearer,
    #[error("the token is bound to a client certificate this request did not present (RFC 8705)")]
    CertificateMismatch,
    #[error("a DPoP token needs a DPoP proof header")]
    MissingProof,
    #[error("{0}")]
    Proof(crate::dpop::DpopError),
    #[error("the DPoP proof is signed by another key than the token is bound to")]
    ProofKeyMismatch,
    #[error("the DPoP proof was already used (jti replay)")]
    ProofReplay,
    #[error("the token is not bound to a DPoP key: send it as a bearer token")]
    NotDpopBound,
}

/// A verified access token: the RFC 9068 claims, and any other claim on demand.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub issuer: String,
    pub subject: String,
    pub client_id: String,
    pub audience: Vec<String>,
    pub expires_at: i64,
    pub issued_at: i64,
    pub not_before: Option<i64>,
    pub jti: String,
    /// The granted scopes (the space-separated `scope` claim).
    pub scopes: Vec<String>,
    pub kid: String,
    pub algorithm: Algorithm,
    /// The token's binding, if any (`cnf`).
    pub confirmation: Confirmation,
    payload: Payload,
}

/// The decoded claims JSON, kept for [`AccessToken::claim`]; not printed by `Debug`.
#[derive(Clone)]
struct Payload(Box<[u8]>);

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes of claims>", self.0.len())
    }
}

impl AccessToken {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Any claim of the token (a custom claim, say), deserialized on demand.
    pub fn claim<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let mut all: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&self.payload.0).ok()?;
        serde_json::from_value(all.remove(name)?).ok()
    }

    /// All claims as a JSON object.
    pub fn claims(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload.0).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    typ: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    kid: Option<std::borrow::Cow<'a, str>>,
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    client_id: Option<String>,
    aud: Option<OneOrMany>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
    scope: Option<String>,
    cnf: Option<Confirmation>,
}

/// What a token is bound to (RFC 7800 `cnf`): a DPoP key's RFC 7638
/// thumbprint (RFC 9449 §6), or a client certificate's SHA-256 thumbprint
/// (RFC 8705 §3.1). A bound token is accepted only with that proof.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Confirmation {
    pub jkt: Option<String>,
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: Option<String>,
}

impl Confirmation {
    pub fn is_bound(&self) -> bool {
        self.jkt.is_some() || self.x5t_s256.is_some()
    }
}

fn is_access_token_type(typ: &str) -> bool {
    // RFC 9068 §4: "at+jwt" or "application/at+jwt", compared case-insensitively.
    let typ = typ
        .get(..12)
        .filter(|p| p.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| &typ[12..]);
    typ.eq_ignore_ascii_case("at+jwt")
}

/// A JWS whose signature verified: its key, algorithm and decoded payload.
/// What the payload claims is not checked yet.
#[derive(Debug)]
pub struct VerifiedJws {
    pub kid: String,
    pub algorithm: Algorithm,
    /// The `typ` header, when present.
    pub typ: Option<String>,
    /// The decoded payload (the claims JSON).
    pub payload: Vec<u8>,
}

fn split_jws(token: &str) -> Result<(&str, &str, &str), VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::Malformed);
    }
    let mut parts = token.splitn(4, '.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => Ok((h, p, s)),
        _ => Err(VerifyError::Malformed),
    }
}

/// The `kid` a compact JWS names in its header, unverified (to pick a key).
pub fn peek_kid(token: &str) -> Result<Option<String>, VerifyError> {
    let (h64, _, _) = split_jws(token)?;
    let header_json = B64.decode(h64).map_err(|_| VerifyError::Malformed)?;
    let header: Header =
        serde_json::from_slice(&header_json).map_err(|_| VerifyError::Malformed)?;
    Ok(header.kid.map(|k| k.into_owned()))
}

/// Verifies the signature of a compact JWS (RFC 7515) with `keys`: the
/// header's `alg` must be in `algorithms` and equal to the algorithm of the
/// key its `kid` names (RFC 8725 §3.1: never `none`, never HMAC), no `crit`.
/// Any `typ`: for JWTs of other issuers (a workload identity token), whose
/// claims the caller then checks by its own rules.
pub fn verify_jws(
    token: &str,
    keys: &KeySet,
    algorithms: &[Algorithm],
) -> Result<VerifiedJws, VerifyError> {
    let (h64, p64, s64) = split_jws(token)?;
    let header_json = B64.decode(h64).map_err(|_| VerifyError::Malformed)?;
    let header: Header =
        serde_json::from_slice(&header_json).map_err(|_| VerifyError::Malformed)?;
    check_signature(token, (h64, p64, s64), &header, keys, algorithms)
}

fn check_signature(
    token: &str,
    (h64, p64, s64): (&str, &str, &str),
    header: &Header,
    keys: &KeySet,
    algorithms: &[Algorithm],
) -> Result<VerifiedJws, VerifyError> {
    let alg = Algorithm::from_name(&header.alg)
        .filter(|a| algorithms.contains(a))
        .ok_or_else(|| VerifyError::AlgorithmNotAllowed(header.alg.to_string()))?;
    if header.crit.is_some() {
        return Err(VerifyError::UnsupportedCritical);
    }
    let kid = header.kid.as_deref().ok_or(VerifyError::MissingKid)?;
    let key = keys
        .get(kid)
        .ok_or_else(|| VerifyError::UnknownKey(kid.to_owned()))?;
    if key.algorithm() != alg {
        return Err(VerifyError::AlgorithmMismatch {
            token: alg.to_string(),
            key: key.algorithm(),
        });
    }
    let signature = B64.decode(s64).map_err(|_| VerifyError::Malformed)?;
    let signing_input = &token[..h64.len() + 1 + p64.len()];
    if !key.verifies(signing_input.as_bytes(), &signature) {
        return Err(VerifyError::BadSignature);
    }
    Ok(VerifiedJws {
        kid: kid.to_owned(),
        algorithm: alg,
        typ: header.typ.as_deref().map(str::to_owned),
        payload: B64.decode(p64).map_err(|_| VerifyError::Malformed)?,
    })
}

/// Verifies `token` with `keys` under `rules` at unix time `now`.
pub fn verify_token(
    token: &str,
    keys: &KeySet,
    rules: &Rules,
    now: i64,
) -> Result<AccessToken, VerifyError> {
    let parts = split_jws(token)?;
    let header_json = B64.decode(parts.0).map_err(|_| VerifyError::Malformed)?;
    let header: Header =
        serde_json::from_slice(&header_json).map_err(|_| VerifyError::Malformed)?;
    if !header.typ.as_deref().is_some_and(is_access_token_type) {
        return Err(VerifyError::WrongType);
    }
    let VerifiedJws {
        kid,
        algorithm: alg,
        payload,
        ..
    } = check_signature(token, parts, &header, keys, &rules.algorithms)?;
    let claims: Claims =
        serde_json::from_slice(&payload).map_err(|_| VerifyError::MalformedClaims)?;
    let iss = claims.iss.ok_or(VerifyError::MissingClaim("iss"))?;
    if iss != rules.issuer {
        return Err(VerifyError::WrongIssuer(iss));
    }
    let audience = match claims.aud.ok_or(VerifyError::MissingClaim("aud"))? {
        OneOrMany::One(a) => vec![a],
        OneOrMany::Many(a) => a,
    };
    if let Some(expected) = &rules.audience
        && !audience.iter().any(|a| a == expected)
    {
        return Err(VerifyError::WrongAudience);
    }
    let leeway = i64::try_from(rules.leeway).unwrap_or(i64::MAX);
    let exp = claims.exp.ok_or(VerifyError::MissingClaim("exp"))?;
    if now >= exp.saturating_add(leeway) {
        return Err(VerifyError::Expired);
    }
    let iat = claims.iat.ok_or(VerifyError::MissingClaim("iat"))?;
    let not_yet = |t: i64| now.saturating_add(leeway) < t;
    if not_yet(iat) || claims.nbf.is_some_and(not_yet) {
        return Err(VerifyError::NotYetValid);
    }
    Ok(AccessToken {
        issuer: iss,
        subject: claims.sub.ok_or(VerifyError::MissingClaim("sub"))?,
        client_id: claims
            .client_id
            .ok_or(VerifyError::MissingClaim("client_id"))?,
        audience,
        expires_at: exp,
        issued_at: iat,
        not_before: claims.nbf,
        jti: claims.jti.ok_or(VerifyError::MissingClaim("jti"))?,
        scopes: claims
            .scope
            .map(|s| {
                s.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        kid,
        algorithm: alg,
        confirmation: claims.cnf.unwrap_or_default(),
        payload: Payload(payload.into_boxed_slice()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_types() {
        for ok in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+Jwt",
        ] {
            assert!(is_access_token_type(ok), "{ok}");
        }
        for bad in [
            "JWT",
            "jwt",
            "application/jwt",
            "at+jwt ",
            "application/",
            "",
            "applicationXat+jwt",
        ] {
            assert!(!is_access_token_type(bad), "{bad}");
        }
    }

    #[test]
    fn shapes_that_are_not_a_jws_are_malformed() {
        let rules = Rules {
            issuer: "https://issuer".into(),
            audience: None,
            leeway: 0,
            algorithms: Algorithm::ALL.to_vec(),
        };
        let keys = KeySet::default();
        for token in ["", "a", "a.b", "a.b.c.d", "...", "!!.!!.!!"] {
            assert_eq!(
                verify_token(token, &keys, &rules, 0).unwrap_err(),
                VerifyError::Malformed,
                "{token}"
            );
        }
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            verify_token(&long, &keys, &rules, 0).unwrap_err(),
            VerifyError::Malformed
        );
    }
}
