#![allow(dead_code)] // each test binary uses a different part
//! A client's DPoP key (P-256) and the proofs it signs (RFC 9449 §4), for
//! the token endpoint and resource-server tests.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;

/// A client's DPoP key (P-256).
pub struct DpopKey {
    pair: EcdsaKeyPair,
}

impl DpopKey {
    pub fn new() -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Self {
            pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .unwrap(),
        }
    }

    pub fn jwk(&self) -> serde_json::Value {
        let point = self.pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])})
    }

    pub fn thumbprint(&self) -> String {
        tokend_verify::dpop::jwk_thumbprint(&self.jwk()).unwrap()
    }

    /// A proof with this header and these claims, signed by this key.
    pub fn sign(&self, header: serde_json::Value, claims: serde_json::Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = self.pair.sign(&rng, input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }

    pub fn header(&self) -> serde_json::Value {
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk()})
    }

    pub fn claims(&self, htu: &str) -> serde_json::Value {
        self.claims_for("POST", htu)
    }

    pub fn claims_for(&self, htm: &str, htu: &str) -> serde_json::Value {
        let mut jti = [0u8; 12];
        aws_lc_rs::rand::fill(&mut jti).unwrap();
        let iat = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        json!({"jti": B64.encode(jti), "htm": htm, "htu": htu, "iat": iat})
    }

    /// A proof for a resource request: `ath` is the token's hash.
    pub fn proof_for(&self, htm: &str, htu: &str, access_token: &str) -> String {
        let mut claims = self.claims_for(htm, htu);
        claims["ath"] = json!(tokend_verify::dpop::access_token_hash(access_token));
        self.sign(self.header(), claims)
    }

    pub fn proof(&self, htu: &str) -> String {
        self.sign(self.header(), self.claims(htu))
    }
}
