//! tokend-client's TokenSource against the real binary (SPEC §11): one
//! request for a thousand callers, the refresh at 80%, an outage, a rotated
//! workload token file, DPoP and private_key_jwt.

use crate::federation::Issuer;
use crate::process::Tokend;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokend::domain::Algorithm;
use tokend_client::{Credentials, ManualClock, RetryPolicy, SigningKey, TokenSource, TokenType};

/// Tokens tokend has issued, from its own metrics.
async fn issued(server: &Tokend) -> u64 {
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("tokend_token_requests_total{") && l.contains("outcome=\"issued\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 2,
        base: Duration::from_millis(20),
        max_wait: Duration::from_millis(200),
    }
}

/// A tokend and a secret client `svc` whose tokens live `ttl`.
async fn server_with_client(dir: &std::path::Path, ttl: &str) -> (Tokend, String) {
    let server = Tokend::start(&Tokend::sqlite_env(dir), dir);
    let (code, created, err) = server.cli(&[
        "client",
        "create",
        "--name",
        "svc",
        "--id",
        "svc",
        "--scope",
        "read write",
        "--ttl",
        ttl,
    ]);
    assert_eq!(code, 0, "{err}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    server.wait_for_client("svc", &secret);
    (server, secret)
}

fn source(server: &Tokend, secret: &str, clock: &ManualClock) -> TokenSource {
    TokenSource::builder(server.url("/token"))
        .client_id("svc")
        .credentials(Credentials::secret(secret))
        .scope("read")
        .retry(quick_retries())
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Polls `source` until it hands out a token other than `old`.
async fn next_token(source: &TokenSource, old: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let token = source.token().await.unwrap();
        if token.secret() != old {
            return token.secret().to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the token was never refreshed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_callers_make_one_token_request() {
    let dir = tempfile::tempdir().unwrap();
    let (server, secret) = server_with_client(dir.path(), "1h").await;
    let source = source(&server, &secret, &ManualClock::default());
    let before = issued(&server).await;
    let start = Arc::new(tokio::sync::Barrier::new(1000));
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let source = source.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                source.token().await.unwrap().secret().to_owned()
            })
        })
        .collect();
    let mut tokens = std::collections::HashSet::new();
    for caller in callers {
        tokens.insert(caller.await.unwrap());
    }
    assert_eq!(tokens.len(), 1, "every caller has the same token");
    assert_eq!(issued(&server).await - before, 1, "one token request");
}

#[tokio::test]
async fn the_token_is_replaced_at_80_percent_of_its_life() {
    let dir = tempfile::tempdir().unwrap();
    let (server, secret) = server_with_client(dir.path(), "100s").await;
    let clock = ManualClock::default();
    let source = source(&server, &secret, &clock);
    let first = source.token().await.unwrap();
    assert_eq!(first.token_type, TokenType::Bearer);
    assert_eq!(first.scope.as_deref(), Some("read"));
    let before = issued(&server).await;

    clock.advance(Duration::from_secs(79));
    assert_eq!(source.token().await.unwrap().secret(), first.secret());
    assert_eq!(issued(&server).await, before, "no request before 80%");

    clock.advance(Duration::from_secs(2));
    // Callers keep the cached token while the new one is fetched.
    assert_eq!(source.token().await.unwrap().secret(), first.secret());
    let second = next_token(&source, first.secret()).await;
    assert_eq!(issued(&server).await, before + 1);
    // The new token lives its own 100 s.
    clock.advance(Duration::from_secs(70));
    assert_eq!(source.token().await.unwrap().secret(), second);
}

#[tokio::test]
async fn while_tokend_is_down_the_cached_token_serves_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, secret) = server_with_client(dir.path(), "100s").await;
    let clock = ManualClock::default();
    let source = source(&server, &secret, &clock);
    let first = source.token().await.unwrap().secret().to_owned();

    server.kill_hard();
    clock.advance(Duration::from_secs(85));
    for _ in 0..5 {
        assert_eq!(source.token().await.unwrap().secret(), first);
    }
    clock.advance(Duration::from_secs(20));
    let err = source.token().await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&server.url("/token"))
            && text.contains("2 attempt(s)")
            && text.contains("the cached token has expired"),
        "{text}"
    );
    assert!(!text.contains(&secret));

    server.restart();
    let back = source.token().await.unwrap();
    assert_ne!(back.secret(), first);
}

#[tokio::test]
async fn a_rotated_workload_token_file_is_read_at_the_next_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let server = Tokend::start(&Tokend::sqlite_env(dir.path()), dir.path());
    let k8s = Issuer::new("https://k8s.test", Algorithm::ES256);
    let jwks = dir.path().join("k8s.jwks");
    std::fs::write(&jwks, k8s.jwks().to_string()).unwrap();
    for args in [
        vec![
            "trust",
            "add",
            "k8s",
            "--issuer",
            "https://k8s.test",
            "--kind",
            "kubernetes",
            "--jwks-file",
            jwks.to_str().unwrap(),
            "--single-use",
        ],
        vec![
            "client",
            "create",
            "--name",
            "orders",
            "--id",
            "orders",
            "--scope",
            "read",
            "--auth-method",
            "federated",
        ],
        vec![
            "client",
            "bind",
            "orders",
            "--provider",
            "k8s",
            "--subject",
            "system:serviceaccount:shop:orders",
        ],
    ] {
        let (code, _, err) = server.cli(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let projected = |n: u32| {
        let now = chrono::Utc::now().timestamp();
        k8s.sign(&json!({
            "iss": "https://k8s.test", "sub": "system:serviceaccount:shop:orders",
            "aud": [server.url("/token")], "iat": now, "exp": now + 600,
            "jti": format!("rotation-{n}"),
        }))
    };
    let file = dir.path().join("token");
    std::fs::write(&file, projected(1)).unwrap();
    let clock = ManualClock::default();
    let source = TokenSource::builder(server.url("/token"))
        .credentials(Credentials::token_file(&file))
        .retry(quick_retries())
        .clock(clock.clone())
        .build()
        .unwrap();
    // The binding reaches the server's directory within its change-feed poll.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let first = loop {
        match source.token().await {
            Ok(t) => break t.secret().to_owned(),
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let claims = crate::certs::jwt_claims(&first);
    assert_eq!(claims["sub"], "orders");

    // The platform rotates the file; the provider is single-use, so only
    // the new token can get the next access token.
    std::fs::write(&file, projected(2)).unwrap();
    clock.advance(Duration::from_secs(3000));
    let second = next_token(&source, &first).await;
    assert_eq!(crate::certs::jwt_claims(&second)["sub"], "orders");
}

#[tokio::test]
async fn dpop_binds_the_token_and_each_request_gets_its_proof() {
    let dir = tempfile::tempdir().unwrap();
    let (server, secret) = server_with_client(dir.path(), "1h").await;
    let source = TokenSource::builder(server.url("/token"))
        .client_id("svc")
        .credentials(Credentials::secret_post(&secret))
        .dpop()
        .build()
        .unwrap();
    let token = source.token().await.unwrap();
    assert_eq!(token.token_type, TokenType::DPoP);
    let claims = crate::certs::jwt_claims(token.secret());
    assert_eq!(
        claims["cnf"]["jkt"].as_str(),
        source.dpop_thumbprint().as_deref()
    );

    let http = reqwest::Client::new();
    let request = http
        .get("https://orders.example/items?page=2")
        .build()
        .unwrap();
    let request = source.authorize(request).await.unwrap();
    let authorization = request.headers()["authorization"].to_str().unwrap();
    assert_eq!(authorization, format!("DPoP {}", token.secret()));
    let proof = request.headers()["dpop"].to_str().unwrap();
    let checked = tokend_verify::dpop::verify_proof(
        proof,
        &tokend_verify::dpop::ProofRequest {
            method: "GET",
            urls: &["https://orders.example/items".to_owned()],
            now: chrono::Utc::now().timestamp(),
            leeway: 60,
            access_token: Some(token.secret()),
        },
    )
    .unwrap();
    assert_eq!(Some(checked.jkt), source.dpop_thumbprint());
}

#[tokio::test]
async fn private_key_jwt_with_a_pkcs8_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = Tokend::start(&Tokend::sqlite_env(dir.path()), dir.path());
    let pem = dir.path().join("client.key");
    let status = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&pem)
        .status()
        .unwrap();
    assert!(status.success());
    let key = SigningKey::from_pkcs8_pem(&std::fs::read(&pem).unwrap(), Some("k1")).unwrap();
    let mut jwk = key.public_jwk();
    jwk["kid"] = json!("k1");
    jwk["alg"] = json!("ES256");
    let jwks = dir.path().join("client.jwks");
    std::fs::write(&jwks, json!({"keys": [jwk]}).to_string()).unwrap();
    let (code, _, err) = server.cli(&[
        "client",
        "create",
        "--name",
        "signer",
        "--id",
        "signer",
        "--scope",
        "read",
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        jwks.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let source = TokenSource::builder(server.url("/token"))
        .client_id("signer")
        .credentials(Credentials::PrivateKeyJwt(key))
        .retry(quick_retries())
        .build()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let token = loop {
        match source.token().await {
            Ok(t) => break t,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(
        crate::certs::jwt_claims(token.secret())["client_id"],
        "signer"
    );

    // A wrong secret is a refusal at once, not a retry.
    let wrong = TokenSource::builder(server.url("/token"))
        .client_id("signer")
        .credentials(Credentials::secret("not-it"))
        .build()
        .unwrap();
    match wrong.token().await {
        Err(tokend_client::Error::Refused {
            status: 401, error, ..
        }) => assert_eq!(error, "invalid_client"),
        other => panic!("{other:?}"),
    }
}
