//! The physical limit for RS256: RSA-2048 PKCS#1 v1.5 SHA-256 signatures per
//! second with a key pair parsed once (aws-lc-rs), one signing thread per core.
//! benches/load.sh prints tokend's RS256 throughput as a share of this.
//!
//! SECS (default 5), THREADS (default: the number of cores)

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

fn main() {
    let secs: u64 = std::env::var("SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let key = Arc::new(RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA-2048 key generation"));
    // A token-sized message: header and claims of a typical access token.
    let message = vec![b'a'; 520];
    let deadline = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (key, message) = (Arc::clone(&key), message.clone());
            std::thread::spawn(move || {
                let rng = SystemRandom::new();
                let mut signature = vec![0; key.public_modulus_len()];
                let mut count = 0u64;
                while Instant::now() < deadline {
                    key.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut signature)
                        .expect("sign");
                    count += 1;
                }
                count
            })
        })
        .collect();
    let total: u64 = workers
        .into_iter()
        .map(|w| w.join().expect("signing thread"))
        .sum();
    println!(
        "RESULT sigs_per_s={:.0} threads={threads}",
        total as f64 / secs as f64
    );
}
