//! Signing keys per algorithm: generation, the public JWK (RFC 7517/7518/8037)
//! with an RFC 7638 thumbprint as `kid`, and a [`Signer`] whose key pair is
//! parsed once and then signs JWS inputs directly (no per-token key parsing).

use super::KeyError;
use crate::domain::Algorithm;
use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

/// The public half of a signing key, as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicJwk {
    pub kty: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub y: Option<String>,
}

impl PublicJwk {
    fn new(alg: Algorithm, kty: &str) -> Self {
        Self {
            kty: kty.into(),
            kid: String::new(),
            use_: "sig".into(),
            alg: alg.as_str().into(),
            crv: None,
            n: None,
            e: None,
            x: None,
            y: None,
        }
    }

    /// RFC 7638: SHA-256 over the required members in lexicographic order.
    pub fn thumbprint(&self) -> String {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let canonical = match self.kty.as_str() {
            "RSA" => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                s(&self.e),
                s(&self.n)
            ),
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                s(&self.crv),
                s(&self.x),
                s(&self.y)
            ),
            _ => format!(
                r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
                s(&self.crv),
                s(&self.x)
            ),
        };
        B64.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    }
}

/// A freshly generated key: its PKCS#8 private part (to be sealed at once) and
/// its public JWK.
pub struct GeneratedKey {
    pub kid: String,
    pub alg: Algorithm,
    pub pkcs8: Zeroizing<Vec<u8>>,
    pub jwk: PublicJwk,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn ecdsa_alg(alg: Algorithm) -> &'static EcdsaSigningAlgorithm {
    match alg {
        Algorithm::ES384 => &ECDSA_P384_SHA384_FIXED_SIGNING,
        _ => &ECDSA_P256_SHA256_FIXED_SIGNING,
    }
}

/// Generates a new signing key for `alg`: RSA-2048 for RS256/PS256, P-256,
/// P-384, or Ed25519.
pub fn generate(alg: Algorithm) -> Result<GeneratedKey, KeyError> {
    let fail = |_| KeyError::Generate(alg);
    let pkcs8: Zeroizing<Vec<u8>> = match alg {
        Algorithm::RS256 | Algorithm::PS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(fail)?;
            let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).map_err(fail)?;
            Zeroizing::new(der.as_ref().to_vec())
        }
        Algorithm::ES256 | Algorithm::ES384 => {
            let pair = EcdsaKeyPair::generate(ecdsa_alg(alg)).map_err(fail)?;
            Zeroizing::new(pair.to_pkcs8v1().map_err(fail)?.as_ref().to_vec())
        }
        Algorithm::EdDSA => {
            let pair = Ed25519KeyPair::generate().map_err(fail)?;
            Zeroizing::new(pair.to_pkcs8().map_err(fail)?.as_ref().to_vec())
        }
    };
    let signer = Signer::from_pkcs8(alg, "", &pkcs8)?;
    let mut jwk = signer.public_jwk();
    let kid = jwk.thumbprint();
    jwk.kid = kid.clone();
    Ok(GeneratedKey {
        kid,
        alg,
        pkcs8,
        jwk,
    })
}

/// Appends `input` base64url-encoded (no padding) to `out`.
fn encode_into(input: &[u8], out: &mut Vec<u8>) -> Result<(), KeyError> {
    let start = out.len();
    // Room for any input, padding included.
    out.resize(start + input.len().div_ceil(3) * 4, 0);
    let written = B64
        .encode_slice(input, &mut out[start..])
        .map_err(|_| KeyError::Sign)?;
    out.truncate(start + written);
    Ok(())
}

enum Pair {
    Rsa(RsaKeyPair, &'static dyn RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A parsed private key ready to sign, with its pre-encoded JWS header.
pub struct Signer {
    kid: String,
    alg: Algorithm,
    pair: Pair,
    /// `base64url({"alg":…,"kid":…,"typ":"at+jwt"}) + "."`
    header_prefix: String,
    rng: SystemRandom,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn from_pkcs8(alg: Algorithm, kid: &str, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let reject = |e: aws_lc_rs::error::KeyRejected| KeyError::Material {
            kid: kid.to_owned(),
            reason: format!("private key rejected for {alg}: {e}"),
        };
        let pair = match alg {
            Algorithm::RS256 => Pair::Rsa(
                RsaKeyPair::from_pkcs8(pkcs8).map_err(reject)?,
                &RSA_PKCS1_SHA256,
            ),
            Algorithm::PS256 => Pair::Rsa(
                RsaKeyPair::from_pkcs8(pkcs8).map_err(reject)?,
                &RSA_PSS_SHA256,
            ),
            Algorithm::ES256 | Algorithm::ES384 => {
                Pair::Ecdsa(EcdsaKeyPair::from_pkcs8(ecdsa_alg(alg), pkcs8).map_err(reject)?)
            }
            Algorithm::EdDSA => Pair::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(reject)?),
        };
        let header = serde_json::json!({"alg": alg.as_str(), "kid": kid, "typ": "at+jwt"});
        let mut header_prefix = B64.encode(header.to_string());
        header_prefix.push('.');
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            pair,
            header_prefix,
            rng: SystemRandom::new(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK of this key pair (`kid` left as given at construction).
    pub fn public_jwk(&self) -> PublicJwk {
        match &self.pair {
            Pair::Rsa(pair, _) => {
                let parts = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                PublicJwk {
                    n: Some(B64.encode(&parts.n)),
                    e: Some(B64.encode(&parts.e)),
                    kid: self.kid.clone(),
                    ..PublicJwk::new(self.alg, "RSA")
                }
            }
            Pair::Ecdsa(pair) => {
                // Uncompressed point: 0x04 || x || y
                let point = pair.public_key().as_ref();
                let half = (point.len() - 1) / 2;
                PublicJwk {
                    crv: Some(
                        if self.alg == Algorithm::ES384 {
                            "P-384"
                        } else {
                            "P-256"
                        }
                        .into(),
                    ),
                    x: Some(B64.encode(&point[1..1 + half])),
                    y: Some(B64.encode(&point[1 + half..])),
                    kid: self.kid.clone(),
                    ..PublicJwk::new(self.alg, "EC")
                }
            }
            Pair::Ed25519(pair) => PublicJwk {
                crv: Some("Ed25519".into()),
                x: Some(B64.encode(pair.public_key().as_ref())),
                kid: self.kid.clone(),
                ..PublicJwk::new(self.alg, "OKP")
            },
        }
    }

    /// Signs `claims` (serialized JSON) into a compact JWS:
    /// `header.payload.signature`.
    pub fn sign_jwt(&self, claims: &[u8]) -> Result<String, KeyError> {
        let b64_claims_len = claims.len().div_ceil(3) * 4;
        let mut out = Vec::with_capacity(self.header_prefix.len() + b64_claims_len + 1 + 700);
        out.extend_from_slice(self.header_prefix.as_bytes());
        encode_into(claims, &mut out)?;
        let signature = self.sign(&out)?;
        out.push(b'.');
        encode_into(&signature, &mut out)?;
        // base64url and dots: checked as UTF-8 once, not per encoded part.
        String::from_utf8(out).map_err(|_| KeyError::Sign)
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Rsa(pair, encoding) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(*encoding, &self.rng, input, &mut sig)
                    .map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
            Pair::Ecdsa(pair) => Ok(pair
                .sign(&self.rng, input)
                .map_err(|_| KeyError::Sign)?
                .as_ref()
                .to_vec()),
            Pair::Ed25519(pair) => Ok(pair.sign(input).as_ref().to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_generates_signs_and_verifies_with_jsonwebtoken() {
        for alg in Algorithm::ALL {
            let key = generate(alg).unwrap();
            let signer = Signer::from_pkcs8(alg, &key.kid, &key.pkcs8).unwrap();
            let token = signer.sign_jwt(br#"{"sub":"x"}"#).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            let jalg: jsonwebtoken::Algorithm = alg.as_str().parse().unwrap();
            let mut validation = jsonwebtoken::Validation::new(jalg);
            validation.validate_exp = false;
            validation.required_spec_claims.clear();
            let data = jsonwebtoken::decode::<serde_json::Value>(
                &token,
                // jsonwebtoken parses the JWK as published.
                &jsonwebtoken::DecodingKey::from_jwk(
                    &serde_json::from_value(serde_json::to_value(&key.jwk).unwrap()).unwrap(),
                )
                .unwrap(),
                &validation,
            )
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(data.claims["sub"], "x");
            assert_eq!(key.jwk.thumbprint(), key.kid);
        }
    }

    #[test]
    fn jwk_has_no_private_member() {
        for alg in Algorithm::ALL {
            let jwk = serde_json::to_value(generate(alg).unwrap().jwk).unwrap();
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(jwk.get(private).is_none(), "{alg} has {private}");
            }
        }
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 §3.1
        let jwk = PublicJwk {
            n: Some("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into()),
            e: Some("AQAB".into()),
            ..PublicJwk::new(Algorithm::RS256, "RSA")
        };
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
