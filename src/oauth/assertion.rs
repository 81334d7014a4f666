//! `private_key_jwt` (RFC 7523 §2.2, §3; RFC 7521 §4.2): the client signs a
//! short-lived JWT with a key whose public half it registered. Only
//! asymmetric algorithms the key's type allows are accepted, so `none`, HMAC
//! keyed with a public key, and any algorithm the key does not have are
//! refused before a signature is checked.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Assertion signing algorithms tokend accepts (RFC 8725 §3.1: asymmetric only).
pub const ASSERTION_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// At most this far ahead may an assertion's `exp` be (SPEC §3).
pub const MAX_ASSERTION_LIFETIME: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("client assertion is not a JWT")]
    Malformed,
    #[error("client assertion alg `{0}` is not accepted")]
    Algorithm(String),
    #[error("client assertion iss and sub must both be the client id")]
    Subject,
    #[error("no registered key of the client matches the assertion")]
    NoKey,
    #[error("client assertion signature is invalid")]
    Signature,
    #[error("client assertion needs {0}")]
    Missing(&'static str),
    #[error("client assertion has expired")]
    Expired,
    #[error("client assertion exp is more than 5 minutes ahead")]
    TooLong,
    #[error("client assertion is not valid yet")]
    NotYetValid,
    #[error("client assertion aud must name this server's token endpoint or issuer")]
    Audience,
    #[error("client assertion has a critical header parameter tokend does not understand (crit)")]
    Critical,
}

/// Checks what needs no client: the JWS shape, an accepted asymmetric
/// algorithm and no `crit` (RFC 7515 §4.1.11: a parameter tokend does not
/// understand must be refused). Its errors are the same for every client id,
/// known or not, so they reveal nothing about which clients exist.
pub fn precheck(assertion: &str) -> Result<jsonwebtoken::Header, AssertionError> {
    use base64::Engine;
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| AssertionError::Malformed)?;
    let alg_name = format!("{:?}", header.alg);
    if !ASSERTION_ALGORITHMS.contains(&alg_name.as_str()) {
        return Err(AssertionError::Algorithm(alg_name));
    }
    let raw = assertion.split('.').next().unwrap_or_default();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| AssertionError::Malformed)?;
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&json).map_err(|_| AssertionError::Malformed)?;
    if fields.contains_key("crit") {
        return Err(AssertionError::Critical);
    }
    Ok(header)
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<OneOrMany>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

/// What a verified assertion establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub jti: String,
    pub exp: i64,
}

/// The client id an assertion claims (`iss`), read before verification only
/// to find the client's registered keys.
pub fn claimed_client(assertion: &str) -> Result<String, AssertionError> {
    let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|_| AssertionError::Malformed)?;
    match (claims.iss, claims.sub) {
        (Some(iss), Some(sub)) if iss == sub => Ok(iss),
        _ => Err(AssertionError::Subject),
    }
}

fn key_allows(jwk: &Jwk, alg: Algorithm) -> bool {
    use Algorithm::*;
    let type_allows = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
        AlgorithmParameters::EllipticCurve(ec) => matches!(
            (&ec.curve, alg),
            (EllipticCurve::P256, ES256) | (EllipticCurve::P384, ES384)
        ),
        AlgorithmParameters::OctetKeyPair(okp) => {
            okp.curve == EllipticCurve::Ed25519 && alg == EdDSA
        }
        _ => false,
    };
    let declared_allows = jwk
        .common
        .key_algorithm
        .is_none_or(|declared| format!("{declared:?}") == format!("{alg:?}"));
    type_allows && declared_allows
}

/// Checks that a registered JWKS holds only public asymmetric keys.
pub fn validate_client_jwks(jwks: &serde_json::Value) -> Result<JwkSet, String> {
    let keys = jwks
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("jwks must be an object with a `keys` array")?;
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            if key.get(private).is_some() {
                return Err(format!(
                    "jwks must hold public keys only; found `{private}`"
                ));
            }
        }
    }
    let set: JwkSet =
        serde_json::from_value(jwks.clone()).map_err(|e| format!("jwks is not a JWK Set: {e}"))?;
    if set.keys.is_empty() {
        return Err("jwks has no keys".into());
    }
    for key in &set.keys {
        let usable = ASSERTION_ALGORITHMS
            .iter()
            .filter_map(|a| a.parse::<Algorithm>().ok())
            .any(|alg| key_allows(key, alg));
        if !usable {
            return Err("jwks keys must be RSA, EC P-256/P-384 or Ed25519 public keys".into());
        }
    }
    Ok(set)
}

/// Verifies an assertion for `client_id` against its registered keys.
pub fn verify(
    assertion: &str,
    client_id: &str,
    keys: &JwkSet,
    audiences: &[String],
    now: i64,
    leeway: i64,
) -> Result<VerifiedAssertion, AssertionError> {
    let header = precheck(assertion)?;
    let alg = header.alg;
    let candidates: Vec<&Jwk> = keys
        .keys
        .iter()
        .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        .filter(|k| key_allows(k, alg))
        .collect();
    if candidates.is_empty() {
        return Err(AssertionError::NoKey);
    }
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = candidates
        .iter()
        .filter_map(|jwk| DecodingKey::from_jwk(jwk).ok())
        .find_map(|key| jsonwebtoken::decode::<Claims>(assertion, &key, &validation).ok())
        .ok_or(AssertionError::Signature)?
        .claims;

    if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
        return Err(AssertionError::Subject);
    }
    let exp = claims.exp.ok_or(AssertionError::Missing("exp"))?;
    if now >= exp + leeway {
        return Err(AssertionError::Expired);
    }
    // The 5-minute cap is exact: leeway is for clock skew at expiry only.
    if exp > now + MAX_ASSERTION_LIFETIME {
        return Err(AssertionError::TooLong);
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + leeway) {
        return Err(AssertionError::NotYetValid);
    }
    let named = match claims.aud.ok_or(AssertionError::Audience)? {
        OneOrMany::One(a) => vec![a],
        OneOrMany::Many(a) => a,
    };
    if !named.iter().any(|a| audiences.contains(a)) {
        return Err(AssertionError::Audience);
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty())
        .ok_or(AssertionError::Missing("jti"))?;
    Ok(VerifiedAssertion { jti, exp })
}
