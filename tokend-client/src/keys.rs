//! The keys a client signs with: its `private_key_jwt` key (ES256, EdDSA or
//! RS256 from PKCS#8) and its DPoP key (P-256), and the JWTs they sign.

use crate::Error;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

enum Pair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

/// A private key and its `alg`; never printed.
pub struct SigningKey {
    pair: Pair,
    kid: Option<String>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, kid {:?})", self.alg(), self.kid)
    }
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    B64.encode(bytes)
}

impl SigningKey {
    /// A PKCS#8 key (DER): P-256 (ES256), Ed25519 (EdDSA) or RSA (RS256).
    /// `kid` names the key in the client's registered JWKS.
    pub fn from_pkcs8_der(der: &[u8], kid: Option<&str>) -> Result<Self, Error> {
        let pair = if let Ok(k) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            Pair::Es256(k)
        } else if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            Pair::EdDsa(k)
        } else if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
            Pair::Rs256(k)
        } else {
            return Err(Error::Config(
                "the private key is not a PKCS#8 P-256, Ed25519 or RSA key".into(),
            ));
        };
        Ok(Self {
            pair,
            kid: kid.map(str::to_owned),
        })
    }

    /// A PKCS#8 PEM key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &[u8], kid: Option<&str>) -> Result<Self, Error> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(|_| {
            Error::Config("the private key is not a PKCS#8 PEM (BEGIN PRIVATE KEY)".into())
        })?;
        Self::from_pkcs8_der(der.secret_pkcs8_der(), kid)
    }

    /// A new P-256 key, in memory only (a DPoP key).
    pub fn generate_p256() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("P-256 key generation works");
        Self::from_pkcs8_der(pkcs8.as_ref(), None).expect("a generated key parses")
    }

    pub fn alg(&self) -> &'static str {
        match self.pair {
            Pair::Es256(_) => "ES256",
            Pair::EdDsa(_) => "EdDSA",
            Pair::Rs256(_) => "RS256",
        }
    }

    /// The public key as a JWK.
    pub fn public_jwk(&self) -> Value {
        match &self.pair {
            Pair::Es256(k) => {
                let point = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256",
                    "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])})
            }
            Pair::EdDsa(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode(k.public_key().as_ref())})
            }
            Pair::Rs256(k) => {
                use aws_lc_rs::rsa::PublicKeyComponents;
                let c: PublicKeyComponents<Vec<u8>> = k.public_key().into();
                json!({"kty": "RSA", "n": B64.encode(&c.n), "e": B64.encode(&c.e)})
            }
        }
    }

    /// The RFC 7638 thumbprint of the public key (a DPoP token's `cnf.jkt`).
    pub fn thumbprint(&self) -> String {
        tokend_verify::dpop::jwk_thumbprint(&self.public_jwk()).expect("a complete public JWK")
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Es256(k) => k
                .sign(&rng, input)
                .expect("signing works")
                .as_ref()
                .to_vec(),
            Pair::EdDsa(k) => k.sign(input).as_ref().to_vec(),
            Pair::Rs256(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, input, &mut sig)
                    .expect("signing works");
                sig
            }
        }
    }

    /// A compact JWS of `claims` under `header` (alg, and kid when known,
    /// are added).
    pub(crate) fn jwt(&self, mut header: Value, claims: &Value) -> String {
        header["alg"] = json!(self.alg());
        if let Some(kid) = &self.kid
            && header.get("jwk").is_none()
        {
            header["kid"] = json!(kid);
        }
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = B64.encode(self.sign(input.as_bytes()));
        format!("{input}.{signature}")
    }

    /// An RFC 7523 client assertion for `client_id` at `audience` (the
    /// token endpoint URL), valid one minute.
    pub(crate) fn client_assertion(&self, client_id: &str, audience: &str) -> String {
        let now = unix_now();
        self.jwt(
            json!({"typ": "JWT"}),
            &json!({"iss": client_id, "sub": client_id, "aud": audience,
                "iat": now, "exp": now + 60, "jti": random_id()}),
        )
    }

    /// An RFC 9449 proof for `method` `url` (query and fragment dropped),
    /// with `ath` when it goes with an access token.
    pub fn dpop_proof(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        let htu = url.split(['?', '#']).next().unwrap_or(url);
        let mut claims = json!({"jti": random_id(), "htm": method, "htu": htu, "iat": unix_now()});
        if let Some(token) = access_token {
            claims["ath"] = json!(tokend_verify::dpop::access_token_hash(token));
        }
        self.jwt(
            json!({"typ": "dpop+jwt", "jwk": self.public_jwk()}),
            &claims,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_verifies_with_tokend_verify() {
        let key = SigningKey::generate_p256();
        let proof = key.dpop_proof("GET", "https://api.example/orders?x=1", Some("tok"));
        let checked = tokend_verify::dpop::verify_proof(
            &proof,
            &tokend_verify::dpop::ProofRequest {
                method: "GET",
                urls: &["https://api.example/orders".to_owned()],
                now: unix_now(),
                leeway: 60,
                access_token: Some("tok"),
            },
        )
        .unwrap();
        assert_eq!(checked.jkt, key.thumbprint());
    }

    #[test]
    fn keys_of_each_kind_parse_and_refuse_garbage() {
        let rng = SystemRandom::new();
        let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        assert_eq!(
            SigningKey::from_pkcs8_der(ed.as_ref(), None).unwrap().alg(),
            "EdDSA"
        );
        assert_eq!(SigningKey::generate_p256().alg(), "ES256");
        let err = SigningKey::from_pkcs8_der(b"nope", None).unwrap_err();
        assert!(err.to_string().contains("PKCS#8"));
        assert!(SigningKey::from_pkcs8_pem(b"-----BEGIN NOTHING-----", None).is_err());
    }
}
