//! Verification throughput with a warm key set: one ES256 / EdDSA / RS256
//! token verified again and again on one core (signature check + claims).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tokend_verify::{Algorithm, KeySet, Rules, verify_token};

const NOW: i64 = 1_800_000_000;

fn token(alg: &str, kid: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let header = serde_json::json!({"alg": alg, "kid": kid, "typ": "at+jwt"});
    let claims = serde_json::json!({
        "iss": "https://issuer.example", "sub": "svc", "client_id": "svc",
        "aud": "https://api.example", "exp": NOW + 600, "iat": NOW, "nbf": NOW,
        "jti": "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "scope": "read write",
    });
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", B64.encode(signature))
}

fn bench(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let rules = Rules {
        issuer: "https://issuer.example".into(),
        audience: Some("https://api.example".into()),
        leeway: 0,
        algorithms: Algorithm::ALL.to_vec(),
    };

    let ec = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = ec.public_key().as_ref();
    let ed = Ed25519KeyPair::generate().unwrap();
    let rsa = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let rsa_public = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(rsa.public_key());
    let jwks = serde_json::json!({"keys": [
        {"kty": "EC", "kid": "ec", "alg": "ES256", "crv": "P-256",
         "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..])},
        {"kty": "OKP", "kid": "ed", "alg": "EdDSA", "crv": "Ed25519", "x": B64.encode(ed.public_key().as_ref())},
        {"kty": "RSA", "kid": "rsa", "alg": "RS256", "n": B64.encode(&rsa_public.n), "e": B64.encode(&rsa_public.e)},
    ]});
    let keys = KeySet::from_jwks(jwks.to_string().as_bytes(), &Algorithm::ALL).unwrap();
    assert_eq!(keys.len(), 3);

    let tokens = [
        (
            "ES256",
            token("ES256", "ec", |m| {
                ec.sign(&rng, m).unwrap().as_ref().to_vec()
            }),
        ),
        (
            "EdDSA",
            token("EdDSA", "ed", |m| ed.sign(m).as_ref().to_vec()),
        ),
        (
            "RS256",
            token("RS256", "rsa", |m| {
                let mut s = vec![0; rsa.public_modulus_len()];
                rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, m, &mut s)
                    .unwrap();
                s
            }),
        ),
    ];
    let mut group = c.benchmark_group("verify");
    for (name, token) in &tokens {
        verify_token(token, &keys, &rules, NOW).expect("the benchmark token verifies");
        group.bench_function(*name, |b| {
            b.iter(|| verify_token(black_box(token), &keys, &rules, NOW).unwrap())
        });
    }
    group.finish();

    // The same machine's floor, for ratios: the bare ES256 signature check
    // (what verify_token adds is the rest) and an ES256 signature.
    let mut reference = c.benchmark_group("reference");
    let (input, sig64) = tokens[0].1.rsplit_once('.').unwrap();
    let sig = B64.decode(sig64).unwrap();
    let parsed =
        signature::ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).unwrap();
    reference.bench_function("signature check ES256", |b| {
        b.iter(|| {
            parsed
                .verify_sig(black_box(input.as_bytes()), &sig)
                .unwrap()
        })
    });
    reference.bench_function("sign ES256", |b| {
        b.iter(|| ec.sign(&rng, black_box(input.as_bytes())).unwrap())
    });
    reference.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
