//! DPoP proofs (RFC 9449 §4): the checks a token endpoint and a resource
//! server share. A proof is a JWT the client signs with its own key, whose
//! public half it carries in the header; binding a token to that key's
//! RFC 7638 thumbprint (`cnf.jkt`) makes a stolen token useless without the
//! key. Pure functions, no I/O: `jti` replay is the caller's (it needs
//! memory or a database shared by replicas).

use crate::jwk::{Algorithm, VerifyingKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;

/// The algorithms a proof may use (RFC 9449 §5.1 metadata
/// `dpop_signing_alg_values_supported`): asymmetric only.
pub const DPOP_ALGORITHMS: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::PS256,
];

/// Largest proof accepted.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// What the proof must match: the request it came with.
#[derive(Debug, Clone)]
pub struct ProofRequest<'a> {
    /// The HTTP method (`htm`).
    pub method: &'a str,
    /// The URLs the request may be addressed as (`htu`, compared without
    /// query and fragment, scheme and host case-insensitively).
    pub urls: &'a [String],
    /// Unix seconds.
    pub now: i64,
    /// How far `iat` may be from `now`, either way.
    pub leeway: i64,
    /// At a resource server: the access token, whose hash `ath` must be.
    pub access_token: Option<&'a str>,
}

/// A proof whose signature and claims held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopProof {
    /// RFC 7638 thumbprint of the proof's key (what `cnf.jkt` names).
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    pub nonce: Option<String>,
}

/// Why a proof was refused: the check, never the proof or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    #[error("the DPoP proof is not a JWT")]
    Malformed,
    #[error("the DPoP proof's typ must be dpop+jwt")]
    Type,
    #[error(
        "the DPoP proof's alg {0:?} is not accepted (asymmetric only: ES256, ES384, EdDSA, RS256, PS256)"
    )]
    Algorithm(String),
    #[error("the DPoP proof's jwk must be a public key fitting its alg")]
    Key,
    #[error("the DPoP proof's jwk holds private key material")]
    PrivateKey,
    #[error("the DPoP proof's signature does not verify with its jwk")]
    Signature,
    #[error("the DPoP proof needs {0}")]
    Missing(&'static str),
    #[error("the DPoP proof's htm is not this request's method")]
    Method,
    #[error("the DPoP proof's htu is not this request's URL")]
    Url,
    #[error("the DPoP proof's iat is not within the allowed window")]
    Time,
    #[error("the DPoP proof's ath is not the hash of the access token")]
    TokenHash,
}

#[derive(Deserialize)]
struct Header {
    typ: Option<String>,
    alg: String,
    jwk: Option<serde_json::Value>,
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<serde_json::Number>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// Members that only a private JWK has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The RFC 7638 thumbprint of a public JWK: SHA-256 of its required
/// members in lexicographic order, base64url.
pub fn jwk_thumbprint(jwk: &serde_json::Value) -> Option<String> {
    let s = |name: &str| jwk.get(name)?.as_str();
    let canonical = match s("kty")? {
        "EC" => serde_json::json!({"crv": s("crv")?, "kty": "EC", "x": s("x")?, "y": s("y")?}),
        "RSA" => serde_json::json!({"e": s("e")?, "kty": "RSA", "n": s("n")?}),
        "OKP" => serde_json::json!({"crv": s("crv")?, "kty": "OKP", "x": s("x")?}),
        _ => return None,
    };
    // serde_json writes object keys in order (BTreeMap) with no spaces.
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.to_string().as_bytes());
    Some(B64.encode(digest.as_ref()))
}

/// base64url SHA-256 of an access token: a proof's `ath` (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref())
}

/// `htu` normalized for comparison: scheme and host lower-case, the default
/// port dropped, no query or fragment.
fn normalize_url(url: &str) -> Option<String> {
    let mut parsed = url::Url::parse(url).ok()?;
    parsed.set_query(None);
    parsed.set_fragment(None);
    Some(parsed.to_string())
}

/// Verifies a DPoP proof against the request it came with.
pub fn verify_proof(proof: &str, request: &ProofRequest<'_>) -> Result<DpopProof, DpopError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(DpopError::Malformed);
    }
    let mut parts = proof.splitn(4, '.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DpopError::Malformed);
    };
    let header: Header = B64
        .decode(h64)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(DpopError::Malformed)?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err(DpopError::Type);
    }
    let alg = Algorithm::from_name(&header.alg)
        .filter(|a| DPOP_ALGORITHMS.contains(a))
        .ok_or_else(|| DpopError::Algorithm(header.alg.clone()))?;
    if header.crit.is_some() {
        return Err(DpopError::Malformed);
    }
    let jwk = header.jwk.ok_or(DpopError::Missing("a jwk header"))?;
    if !jwk.is_object() {
        return Err(DpopError::Key);
    }
    if PRIVATE_MEMBERS.iter().any(|m| jwk.get(m).is_some()) {
        return Err(DpopError::PrivateKey);
    }
    let key = VerifyingKey::from_public_jwk(&jwk, alg).ok_or(DpopError::Key)?;
    let signature = B64.decode(s64).map_err(|_| DpopError::Malformed)?;
    if !key.verifies(&proof.as_bytes()[..h64.len() + 1 + p64.len()], &signature) {
        return Err(DpopError::Signature);
    }
    let claims: Claims = B64
        .decode(p64)
        .ok()
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or(DpopError::Malformed)?;
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or(DpopError::Missing("a jti (1–256 characters)"))?;
    let htm = claims.htm.ok_or(DpopError::Missing("htm"))?;
    if htm != request.method {
        return Err(DpopError::Method);
    }
    let htu = claims.htu.ok_or(DpopError::Missing("htu"))?;
    let htu = normalize_url(&htu).ok_or(DpopError::Url)?;
    if !request
        .urls
        .iter()
        .filter_map(|u| normalize_url(u))
        .any(|u| u == htu)
    {
        return Err(DpopError::Url);
    }
    let iat = claims
        .iat
        .and_then(|n| n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)))
        .ok_or(DpopError::Missing("iat"))?;
    if (request.now - iat).abs() > request.leeway {
        return Err(DpopError::Time);
    }
    if let Some(token) = request.access_token {
        let ath = claims.ath.ok_or(DpopError::Missing("ath"))?;
        if ath != access_token_hash(token) {
            return Err(DpopError::TokenHash);
        }
    }
    Ok(DpopProof {
        jkt: jwk_thumbprint(&jwk).ok_or(DpopError::Key)?,
        jti,
        iat,
        nonce: claims.nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 §3.1.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn urls_compare_without_query_and_with_default_ports() {
        assert_eq!(
            normalize_url("HTTPS://Auth.Example:443/token?x=1#f"),
            normalize_url("https://auth.example/token")
        );
        assert_ne!(
            normalize_url("https://auth.example/token/"),
            normalize_url("https://auth.example/token")
        );
    }
}
