//! Load for sender-constrained tokens (benches/bound.sh): CONNS keep-alive
//! connections asking for tokens for SECS seconds, one way per run, so the
//! ways compare in one run with one load generator:
//!
//! - `MODE=bearer`: client_secret_basic over HTTP(S);
//! - `MODE=dpop`: the same with a DPoP proof per request, taken from a pool
//!   signed before the clock starts (so the generator's own signing does not
//!   compete with tokend for the cores; every proof has its own `jti`);
//! - `MODE=mtls`: tls_client_auth, the client certificate CERT/KEY on every
//!   connection and `client_id` in the body.
//!
//! URL (the token endpoint), CLIENT_ID, CLIENT_SECRET, CA (PEM, for https),
//! CERT and KEY (PEM), SECS (default 10), CONNS (default 32). Prints
//! `RESULT rps=… errors=…` as the wrk scripts do.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `count` proofs for POST `url` by one P-256 key, each with its own `jti`.
fn proofs(url: &str, count: usize) -> Vec<String> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref();
    let header = serde_json::json!({
        "typ": "dpop+jwt", "alg": "ES256",
        "jwk": {"kty": "EC", "crv": "P-256", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])},
    });
    let header = B64.encode(header.to_string());
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (0..count)
        .map(|i| {
            let claims = serde_json::json!({"jti": format!("{iat}-{i}"), "htm": "POST", "htu": url, "iat": iat});
            let input = format!("{header}.{}", B64.encode(claims.to_string()));
            let sig = pair.sign(&rng, input.as_bytes()).unwrap();
            format!("{input}.{}", B64.encode(sig.as_ref()))
        })
        .collect()
}

fn main() {
    let url = var("URL").expect("URL: the token endpoint");
    let mode = var("MODE").unwrap_or_else(|| "bearer".into());
    let secs: u64 = var("SECS").map_or(10, |s| s.parse().unwrap());
    let conns: usize = var("CONNS").map_or(32, |s| s.parse().unwrap());
    let client_id = var("CLIENT_ID").unwrap_or_else(|| "bench".into());
    let secret = var("CLIENT_SECRET").unwrap_or_default();

    let mut builder = reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .timeout(Duration::from_secs(10));
    if let Some(ca) = var("CA") {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
        builder = builder.tls_certs_only([ca]);
    }
    if mode == "mtls" {
        let mut pem = std::fs::read(var("CERT").expect("CERT")).unwrap();
        pem.extend(std::fs::read(var("KEY").expect("KEY")).unwrap());
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    let http = builder.build().unwrap();
    // Enough proofs for 40,000 tokens/s.
    let pool = Arc::new(if mode == "dpop" {
        proofs(&url, secs as usize * 40_000)
    } else {
        Vec::new()
    });
    let body = if mode == "mtls" {
        format!("grant_type=client_credentials&client_id={client_id}")
    } else {
        "grant_type=client_credentials".to_owned()
    };
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"))
    );

    // One generator thread, as wrk -t1: the server gets the other core.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let elapsed = runtime.block_on(async {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let (http, url, body, basic, mode) = (
                http.clone(),
                url.clone(),
                body.clone(),
                basic.clone(),
                mode.clone(),
            );
            let (done, errors, next, pool) =
                (done.clone(), errors.clone(), next.clone(), pool.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let mut req = http
                        .post(&url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body.clone());
                    if mode != "mtls" {
                        req = req.header("authorization", &basic);
                    }
                    if mode == "dpop" {
                        let Some(proof) = pool.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            return;
                        };
                        req = req.header("dpop", proof);
                    }
                    match req.send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        start.elapsed()
    });
    println!(
        "RESULT rps={:.0} errors={}",
        done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        errors.load(Ordering::Relaxed)
    );
}
