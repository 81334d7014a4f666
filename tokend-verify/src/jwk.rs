//! JSON Web Keys (RFC 7517) parsed once into verification keys.
//!
//! A key's algorithm is fixed when the set is parsed: from its `alg`, or for
//! EC and OKP keys from the curve (each curve has one JWS algorithm). An RSA
//! key without `alg` is skipped: RS256 and PS256 would both fit, and a key
//! must never verify under an algorithm its issuer did not choose (RFC 8725
//! §3.1). Symmetric keys (`oct`) are never loaded, so no token signed with
//! HMAC can verify, whatever its header says.

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;

/// The JWS algorithms a verifier can accept. There is no `none` and no HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Algorithm {
    /// Every algorithm above: the default allow-list.
    pub const ALL: [Algorithm; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The JWS `alg` name (RFC 7518 §3.1, RFC 8037).
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Parses an `alg` name exactly (names are case-sensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    fn rsa_parameters(self) -> Option<&'static RsaParameters> {
        Some(match self {
            Self::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Self::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Self::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One public key, ready to verify signatures of one algorithm.
pub struct VerifyingKey {
    kid: String,
    alg: Algorithm,
    key: ParsedPublicKey,
}

impl VerifyingKey {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// A public key from a JWK that carries no `kid` (a DPoP proof's `jwk`),
    /// for `alg`, which the key's type must fit (an RSA key takes the alg
    /// the proof names).
    pub fn from_public_jwk(jwk: &serde_json::Value, alg: Algorithm) -> Option<Self> {
        let mut jwk = jwk.clone();
        let object = jwk.as_object_mut()?;
        object.insert("kid".into(), serde_json::Value::String(String::new()));
        object.insert("alg".into(), serde_json::Value::String(alg.name().into()));
        object.remove("use");
        object.remove("key_ops");
        parse_jwk(jwk, &[alg], None).ok()
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

/// A JWKS parsed into verification keys, looked up by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
}

/// Why a JWKS document could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the JWKS is not a JSON object with a \"keys\" array: {0}")]
    NotJwks(String),
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

impl KeySet {
    /// Parses a JWKS (RFC 7517 §5), keeping the signature keys with a `kid`
    /// whose algorithm is in `allowed`. Keys that are malformed, for
    /// encryption, symmetric, or of another algorithm are skipped (with a
    /// debug log): one odd key must not take the whole set down.
    pub fn from_jwks(json: &[u8], allowed: &[Algorithm]) -> Result<Self, JwksError> {
        Self::parse(json, allowed, None)
    }

    /// Like [`KeySet::from_jwks`], but an RSA key without `alg` verifies
    /// `rsa_default` (a SPIFFE trust bundle names no `alg`, and JWT-SVIDs
    /// signed with RSA use RS256). Only for a source that is known to sign
    /// with that algorithm.
    pub fn from_jwks_rsa_default(
        json: &[u8],
        allowed: &[Algorithm],
        rsa_default: Algorithm,
    ) -> Result<Self, JwksError> {
        Self::parse(json, allowed, Some(rsa_default))
    }

    fn parse(
        json: &[u8],
        allowed: &[Algorithm],
        rsa_default: Option<Algorithm>,
    ) -> Result<Self, JwksError> {
        let doc: JwksDocument =
            serde_json::from_slice(json).map_err(|e| JwksError::NotJwks(e.to_string()))?;
        let mut keys = Vec::with_capacity(doc.keys.len());
        for value in doc.keys {
            match parse_jwk(value, allowed, rsa_default) {
                Ok(key) => keys.push(key),
                Err(why) => tracing::debug!(why, "JWKS entry skipped"),
            }
        }
        Ok(Self { keys })
    }

    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn parse_jwk(
    value: serde_json::Value,
    allowed: &[Algorithm],
    rsa_default: Option<Algorithm>,
) -> Result<VerifyingKey, &'static str> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|_| "not a JWK")?;
    let kid = jwk.kid.clone().ok_or("no kid")?;
    // `jwt-svid`: the use of JWT signing keys in a SPIFFE trust bundle.
    if jwk
        .use_
        .as_deref()
        .is_some_and(|u| u != "sig" && u != "jwt-svid")
    {
        return Err("not a signature key (use)");
    }
    if jwk
        .key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|o| o == "verify"))
    {
        return Err("not a verification key (key_ops)");
    }
    let by_curve = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("EC", Some("P-256")) => Some(Algorithm::ES256),
        ("EC", Some("P-384")) => Some(Algorithm::ES384),
        ("OKP", Some("Ed25519")) => Some(Algorithm::EdDSA),
        ("RSA", _) => None,
        _ => return Err("unsupported key type or curve"),
    };
    let alg = match (jwk.alg.as_deref(), by_curve) {
        (Some(name), _) => Algorithm::from_name(name).ok_or("unsupported alg")?,
        (None, Some(alg)) => alg,
        (None, None) => rsa_default.ok_or("RSA key without alg")?,
    };
    if by_curve.is_some_and(|c| c != alg) || (by_curve.is_none() && alg.rsa_parameters().is_none())
    {
        return Err("alg does not fit the key type");
    }
    if !allowed.contains(&alg) {
        return Err("alg not allowed");
    }
    let b64 = |v: &Option<String>| -> Result<Vec<u8>, &'static str> {
        B64.decode(v.as_deref().ok_or("missing key member")?)
            .map_err(|_| "key member is not base64url")
    };
    let key = match alg {
        Algorithm::ES256 | Algorithm::ES384 => {
            let (x, y) = (b64(&jwk.x)?, b64(&jwk.y)?);
            let mut point = Vec::with_capacity(1 + x.len() + y.len());
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let verification = if alg == Algorithm::ES256 {
                &signature::ECDSA_P256_SHA256_FIXED
            } else {
                &signature::ECDSA_P384_SHA384_FIXED
            };
            ParsedPublicKey::new(verification, point).map_err(|_| "invalid EC point")?
        }
        Algorithm::EdDSA => ParsedPublicKey::new(&signature::ED25519, b64(&jwk.x)?)
            .map_err(|_| "invalid Ed25519 key")?,
        rsa => {
            let (n, e) = (b64(&jwk.n)?, b64(&jwk.e)?);
            let params = rsa
                .rsa_parameters()
                .ok_or("alg does not fit the key type")?;
            RsaPublicKeyComponents {
                n: &n[..],
                e: &e[..],
            }
            .to_parsed_public_key(params)
            .map_err(|_| "invalid RSA key")?
        }
    };
    Ok(VerifyingKey { kid, alg, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(keys: serde_json::Value) -> KeySet {
        KeySet::from_jwks(
            serde_json::json!({ "keys": keys }).to_string().as_bytes(),
            &Algorithm::ALL,
        )
        .unwrap()
    }

    #[test]
    fn symmetric_keys_rsa_without_alg_and_encryption_keys_are_skipped() {
        let set = parse(serde_json::json!([
            { "kty": "oct", "kid": "h", "alg": "HS256", "k": "c2VjcmV0" },
            { "kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB" },
            { "kty": "EC", "kid": "enc", "use": "enc", "crv": "P-256", "x": "", "y": "" },
            { "kty": "EC", "kid": "bad", "crv": "P-256", "x": "AAAA", "y": "AAAA" },
        ]));
        assert!(set.is_empty(), "{:?}", set);
    }

    #[test]
    fn a_spiffe_bundle_key_loads_and_an_x509_svid_key_does_not() {
        use aws_lc_rs::signature::KeyPair;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let public = pair.public_key();
        let n = B64.encode(public.modulus().big_endian_without_leading_zero());
        let e = B64.encode(public.exponent().big_endian_without_leading_zero());
        let bundle = serde_json::json!({"keys": [
            { "kty": "RSA", "kid": "r", "use": "jwt-svid", "n": n, "e": e },
            { "kty": "RSA", "kid": "x", "use": "x509-svid", "n": n, "e": e },
        ]})
        .to_string();
        let set =
            KeySet::from_jwks_rsa_default(bundle.as_bytes(), &Algorithm::ALL, Algorithm::RS256)
                .unwrap();
        assert_eq!(set.get("r").map(|k| k.algorithm()), Some(Algorithm::RS256));
        assert!(set.get("x").is_none());
        // Without the opt-in the alg-less RSA key stays out.
        let set = KeySet::from_jwks(bundle.as_bytes(), &Algorithm::ALL).unwrap();
        assert!(set.is_empty());
    }

    #[test]
    fn an_ec_key_cannot_claim_an_rsa_algorithm() {
        let set = parse(serde_json::json!([
            { "kty": "EC", "kid": "k", "alg": "RS256", "crv": "P-256", "x": "AAAA", "y": "AAAA" },
        ]));
        assert!(set.get("k").is_none());
    }

    #[test]
    fn not_a_jwks_is_an_error() {
        assert!(KeySet::from_jwks(b"[]", &Algorithm::ALL).is_err());
        assert!(KeySet::from_jwks(b"{\"keys\":1}", &Algorithm::ALL).is_err());
    }

    #[test]
    fn algorithm_names_are_exact() {
        assert_eq!(Algorithm::from_name("ES256"), Some(Algorithm::ES256));
        assert_eq!(Algorithm::from_name("es256"), None);
        assert_eq!(Algorithm::from_name("none"), None);
        assert_eq!(Algorithm::from_name("HS256"), None);
    }
}
