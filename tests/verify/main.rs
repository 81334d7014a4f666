//! tokend-verify against the real tokend binary: rotation, JWKS caching and
//! refetching as counted by the verifier and by tokend's own metrics, key
//! revocation, and forged tokens.

#[path = "../common/certs.rs"]
mod certs;
#[path = "../common/dpop.rs"]
mod dpop_key;
mod hostile;
#[path = "../common/process.rs"]
mod process;

use aws_lc_rs::signature::{self, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use process::Tokend;
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokend_verify::{Verifier, VerifyError};

const API: &str = "https://api.example";

struct Issuer {
    server: Tokend,
    secret: String,
    _dir: tempfile::TempDir,
}

impl Issuer {
    /// A tokend with one client `svc` (scope read, audience API) and `extra` settings.
    fn start(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut env = Tokend::sqlite_env(dir.path());
        env.push(("TOKEND_KEYS__ALGORITHM".into(), "ES256".into()));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let server = Tokend::start(&env, dir.path());
        let (code, created, err) = server.cli(&[
            "client",
            "create",
            "--name",
            "svc",
            "--id",
            "svc",
            "--scope",
            "read",
            "--audience",
            API,
        ]);
        assert_eq!(code, 0, "{err}");
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        Self {
            server,
            secret,
            _dir: dir,
        }
    }

    async fn token(&self) -> String {
        let (status, body) = self.server.token("svc", &self.secret).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    fn verifier(&self) -> tokend_verify::VerifierBuilder {
        Verifier::builder(self.server.issuer()).audience(API)
    }

    /// JWKS requests tokend has answered, from its own /metrics.
    async fn jwks_requests_served(&self) -> u64 {
        let text = reqwest::get(self.server.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with("tokend_http_request_duration_seconds_count")
                    && l.contains("jwks.json")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// The private key that signed `token`, unsealed from tokend's database
    /// with its master key: to sign tokens whose claims tokend never would.
    async fn signing_key_of(&self, token: &str) -> (String, EcdsaKeyPair) {
        let kid = header_of(token)["kid"].as_str().unwrap().to_owned();
        let get = |k: &str| {
            self.server
                .env
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let store = tokend::store::Store::connect(&get("TOKEND_DATABASE_URL"))
            .await
            .unwrap();
        let (master, _) = tokend::keys::MasterKey::load(
            None,
            std::path::Path::new(&get("TOKEND_MASTER_KEY_FILE")),
            false,
        )
        .unwrap();
        let stored = store.keys().await.unwrap();
        let key = stored.iter().find(|k| k.record.kid == kid).unwrap();
        let pkcs8 = master
            .open(&kid, key.sealed_private.as_ref().unwrap())
            .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
        (kid, pair)
    }
}

fn header_of(token: &str) -> serde_json::Value {
    serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

fn claims_of(token: &str) -> serde_json::Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn compact(
    header: &serde_json::Value,
    claims: &serde_json::Value,
    sign: impl Fn(&[u8]) -> Vec<u8>,
) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", B64.encode(signature))
}

fn es256(pair: &EcdsaKeyPair) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    move |m| pair.sign(&rng, m).unwrap().as_ref().to_vec()
}

/// Verifies `token` from `n` concurrent tasks.
async fn concurrently(
    verifier: &Verifier,
    token: &str,
    n: usize,
) -> Vec<Result<tokend_verify::AccessToken, VerifyError>> {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (v, t) = (verifier.clone(), token.to_owned());
            tokio::spawn(async move { v.verify(&t).await })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for h in handles {
        results.push(h.await.unwrap());
    }
    results
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn a_verifier_started_before_three_rotations_never_fails() {
    let issuer = Issuer::start(&[
        ("TOKEND_KEYS__ROTATE_EVERY", "5s"),
        ("TOKEND_KEYS__PUBLISH_AHEAD", "3s"),
        ("TOKEND_KEYS__REFRESH_EVERY", "1s"),
        ("TOKEND_TOKENS__TTL", "30s"),
        ("TOKEND_TOKENS__MAX_TTL", "30s"),
    ]);
    let verifier = issuer.verifier().build().unwrap();
    let first = issuer.token().await;
    verifier
        .verify(&first)
        .await
        .expect("the first token verifies");

    let mut kids = HashSet::new();
    let (mut verified, mut failures) = (0, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(45);
    while kids.len() < 4 {
        assert!(
            Instant::now() < deadline,
            "three rotations did not happen in time: {} kids seen",
            kids.len()
        );
        let token = issuer.token().await;
        kids.insert(header_of(&token)["kid"].as_str().unwrap().to_owned());
        match verifier.verify(&token).await {
            Ok(t) => {
                assert_eq!(t.client_id, "svc");
                assert!(t.has_scope("read"));
                verified += 1;
            }
            Err(e) => failures.push(e),
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(
        failures.is_empty(),
        "{failures:?} (after {verified} verified)"
    );
    let stats = verifier.stats();
    // Each new key was known from a scheduled refresh (tokend shortens
    // max-age ahead of each publication), never learned from a kid miss.
    assert_eq!(stats.kid_miss_refetches, 0, "{stats:?}");
    assert_eq!(stats.metadata_fetches, 1, "{stats:?}");
    assert!(stats.jwks_fetches >= 3, "{stats:?}");
}

#[tokio::test]
async fn one_jwks_fetch_per_cache_period_under_100_concurrent_requests() {
    let issuer = Issuer::start(&[("TOKEND_KEYS__JWKS_MAX_AGE", "2s")]);
    let token = issuer.token().await;
    let verifier = issuer.verifier().build().unwrap();
    let served_before = issuer.jwks_requests_served().await;

    let burst = || async {
        for r in concurrently(&verifier, &token, 100).await {
            r.expect("every concurrent request verifies");
        }
    };
    let cold = Instant::now();
    burst().await;
    let stats = verifier.stats();
    assert_eq!(
        (stats.metadata_fetches, stats.jwks_fetches),
        (1, 1),
        "{stats:?}"
    );
    assert_eq!(issuer.jwks_requests_served().await - served_before, 1);

    // Within the period: no request at all.
    burst().await;
    assert_eq!(verifier.stats().jwks_fetches, 1);

    // Once max-age (2 s) has passed, one revalidation for the next burst.
    let expiry = cold + Duration::from_millis(2100);
    tokio::time::sleep_until(expiry.into()).await;
    burst().await;
    let stats = verifier.stats();
    assert_eq!(stats.jwks_fetches, 2, "{stats:?}");
    assert_eq!(stats.not_modified, 1, "the ETag made it a 304: {stats:?}");
    assert_eq!(issuer.jwks_requests_served().await - served_before, 2);
}

#[tokio::test]
async fn an_unknown_kid_refetches_once_then_not_within_the_cooldown() {
    let issuer = Issuer::start(&[]);
    let verifier = issuer
        .verifier()
        .refetch_cooldown(Duration::from_secs(3))
        .build()
        .unwrap();
    let old = issuer.token().await;
    verifier.verify(&old).await.unwrap();
    assert_eq!(verifier.stats().jwks_fetches, 1);

    // A new key signs at once; the verifier's cached JWKS (max-age 5 min)
    // does not have it.
    let (code, _, err) = issuer.server.cli(&["keys", "rotate", "--now"]);
    assert_eq!(code, 0, "{err}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let new = loop {
        let t = issuer.token().await;
        if header_of(&t)["kid"] != header_of(&old)["kid"] {
            break t;
        }
        assert!(Instant::now() < deadline, "the new key never signed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let refetch_at = Instant::now();
    for r in concurrently(&verifier, &new, 100).await {
        r.expect("the new key's tokens verify after one refetch");
    }
    let stats = verifier.stats();
    assert_eq!(
        (stats.kid_miss_refetches, stats.jwks_fetches),
        (1, 2),
        "{stats:?}"
    );

    // Tokens naming a kid nobody published: refused, and no fetch within the cooldown.
    let (_, pair) = issuer.signing_key_of(&new).await;
    let mut header = header_of(&new);
    header["kid"] = json!("not-a-published-kid");
    let stranger = compact(&header, &claims_of(&new), es256(&pair));
    for _ in 0..20 {
        assert!(matches!(
            verifier.verify(&stranger).await,
            Err(VerifyError::UnknownKey(_))
        ));
    }
    assert!(
        refetch_at.elapsed() < Duration::from_secs(3),
        "test too slow for its cooldown"
    );
    assert_eq!(verifier.stats().jwks_fetches, 2);

    // After the cooldown, one more refetch for the next miss.
    tokio::time::sleep_until((refetch_at + Duration::from_millis(3100)).into()).await;
    for _ in 0..5 {
        assert!(verifier.verify(&stranger).await.is_err());
    }
    let stats = verifier.stats();
    assert_eq!(
        (stats.kid_miss_refetches, stats.jwks_fetches),
        (2, 3),
        "{stats:?}"
    );
}

#[tokio::test]
async fn a_revoked_key_is_rejected_once_the_cache_expires() {
    let issuer = Issuer::start(&[("TOKEND_KEYS__JWKS_MAX_AGE", "2s")]);
    let verifier = issuer
        .verifier()
        .refetch_cooldown(Duration::from_secs(1))
        .build()
        .unwrap();
    let token = issuer.token().await;
    verifier.verify(&token).await.unwrap();
    let kid = header_of(&token)["kid"].as_str().unwrap().to_owned();
    let (code, _, err) = issuer.server.cli(&["keys", "revoke", &kid]);
    assert_eq!(code, 0, "{err}");
    let revoked = Instant::now();

    // max-age 2 s, plus up to a second for tokend to load the change.
    let deadline = revoked + Duration::from_secs(8);
    loop {
        match verifier.verify(&token).await {
            Err(VerifyError::UnknownKey(k)) => {
                assert_eq!(k, kid);
                break;
            }
            Ok(_) => assert!(
                Instant::now() < deadline,
                "a token of the revoked key still verifies after {:?}",
                revoked.elapsed()
            ),
            Err(e) => panic!("unexpected: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It stays rejected, and the replacement key's tokens verify.
    assert!(verifier.verify(&token).await.is_err());
    let replacement = issuer.token().await;
    assert_ne!(header_of(&replacement)["kid"].as_str().unwrap(), kid);
    verifier.verify(&replacement).await.unwrap();
}

#[tokio::test]
async fn forged_and_misdirected_tokens_are_rejected() {
    let issuer = Issuer::start(&[]);
    let other = Issuer::start(&[]);
    let verifier = issuer.verifier().leeway(Duration::ZERO).build().unwrap();
    let genuine = issuer.token().await;
    let accepted = verifier
        .verify(&genuine)
        .await
        .expect("the genuine token verifies");
    assert_eq!(accepted.audience, vec![API.to_owned()]);
    let (kid, pair) = issuer.signing_key_of(&genuine).await;
    let header = header_of(&genuine);
    let claims = claims_of(&genuine);
    let sign = es256(&pair);
    let with = |h: serde_json::Value, c: serde_json::Value| compact(&h, &c, &sign);
    let patch = |v: &serde_json::Value, k: &str, x: serde_json::Value| {
        let mut v = v.clone();
        v[k] = x;
        v
    };

    // alg none, with and without a signature.
    let none_header = json!({"alg": "none", "typ": "at+jwt", "kid": kid});
    let unsigned = format!(
        "{}.{}.",
        B64.encode(none_header.to_string()),
        B64.encode(claims.to_string())
    );
    assert_eq!(
        verifier.verify(&unsigned).await.unwrap_err(),
        VerifyError::AlgorithmNotAllowed("none".into())
    );
    // HS256 keyed with the issuer's public key (the JWKS entry, as published).
    let jwks = reqwest::get(issuer.server.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &jwks);
    let hs256 = compact(&patch(&header, "alg", json!("HS256")), &claims, |m| {
        aws_lc_rs::hmac::sign(&hmac_key, m).as_ref().to_vec()
    });
    assert_eq!(
        verifier.verify(&hs256).await.unwrap_err(),
        VerifyError::AlgorithmNotAllowed("HS256".into())
    );
    // Another asymmetric alg named for this ES256 key.
    let as_eddsa = with(patch(&header, "alg", json!("EdDSA")), claims.clone());
    assert!(matches!(
        verifier.verify(&as_eddsa).await.unwrap_err(),
        VerifyError::AlgorithmMismatch { .. }
    ));
    // The issuer's real key, but not an access token (an ID token's typ, or none).
    for typ in [json!("JWT"), serde_json::Value::Null] {
        let t = with(patch(&header, "typ", typ), claims.clone());
        assert_eq!(
            verifier.verify(&t).await.unwrap_err(),
            VerifyError::WrongType
        );
    }
    // Signed right, claims wrong.
    let cases = [
        ("iss", json!("https://evil.example"), "issuer"),
        ("aud", json!("https://other-api.example"), "audience"),
        (
            "aud",
            json!(["https://a.example", "https://b.example"]),
            "audience",
        ),
        ("exp", json!(now() - 1), "expired"),
        ("nbf", json!(now() + 120), "nbf"),
        ("iat", json!(now() + 120), "iat"),
    ];
    for (claim, value, what) in cases {
        let t = with(header.clone(), patch(&claims, claim, value));
        let e = verifier.verify(&t).await.expect_err(what);
        let expected = match claim {
            "iss" => matches!(e, VerifyError::WrongIssuer(_)),
            "aud" => e == VerifyError::WrongAudience,
            "exp" => e == VerifyError::Expired,
            _ => e == VerifyError::NotYetValid,
        };
        assert!(expected, "{what}: {e:?}");
    }
    for required in ["sub", "client_id", "jti", "exp", "iat", "aud", "iss"] {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(required);
        let e = verifier.verify(&with(header.clone(), c)).await.unwrap_err();
        assert_eq!(e, VerifyError::MissingClaim(required));
    }
    // A changed claim under the original signature.
    let (h64, _) = genuine.split_once('.').unwrap();
    let s64 = genuine.rsplit('.').next().unwrap();
    let tampered = format!(
        "{h64}.{}.{s64}",
        B64.encode(patch(&claims, "scope", json!("read admin")).to_string())
    );
    assert_eq!(
        verifier.verify(&tampered).await.unwrap_err(),
        VerifyError::BadSignature
    );
    // A genuine token of another tokend: its kid is not this issuer's.
    let foreign = other.token().await;
    assert!(matches!(
        verifier.verify(&foreign).await.unwrap_err(),
        VerifyError::UnknownKey(_)
    ));
    // The genuine token, but for a verifier of another API.
    let elsewhere = Verifier::builder(issuer.server.issuer())
        .audience("https://billing.example")
        .build()
        .unwrap();
    assert_eq!(
        elsewhere.verify(&genuine).await.unwrap_err(),
        VerifyError::WrongAudience
    );
    // The verifier's clock an hour behind: not valid yet.
    assert_eq!(
        verifier
            .verify_at(&genuine, now() - 3600)
            .await
            .unwrap_err(),
        VerifyError::NotYetValid
    );
    // And still accepted as it came.
    verifier.verify(&genuine).await.unwrap();
}

#[tokio::test]
async fn discovery_refuses_metadata_naming_another_issuer() {
    let issuer = Issuer::start(&[]);
    let token = issuer.token().await;
    // tokend announces http://127.0.0.1:PORT; "localhost" is another issuer string.
    let verifier = Verifier::builder(format!("http://localhost:{}", issuer.server.port))
        .audience(API)
        .build()
        .unwrap();
    let e = verifier.verify(&token).await.unwrap_err();
    assert!(
        matches!(&e, VerifyError::KeysUnavailable(m) if m.contains("RFC 8414")),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_cached_keys_keep_serving_while_the_issuer_is_down() {
    let mut issuer = Issuer::start(&[("TOKEND_KEYS__JWKS_MAX_AGE", "1s")]);
    let verifier = issuer
        .verifier()
        .refetch_cooldown(Duration::from_secs(1))
        .build()
        .unwrap();
    // Another verifier that tolerates only half a second of staleness.
    let strict = issuer
        .verifier()
        .refetch_cooldown(Duration::from_secs(30))
        .max_stale(Duration::from_millis(500))
        .build()
        .unwrap();
    let token = issuer.token().await;
    verifier.verify(&token).await.unwrap();
    strict.verify(&token).await.unwrap();
    issuer.server.kill_hard();
    let down = Instant::now();
    // Past max-age the refresh fails; the stale set still verifies, and
    // failed refreshes are retried at most once per cooldown.
    tokio::time::sleep_until((down + Duration::from_millis(1500)).into()).await;
    for _ in 0..50 {
        verifier
            .verify(&token)
            .await
            .expect("stale keys keep serving");
    }
    let stats = verifier.stats();
    assert_eq!(stats.fetch_failures, 1, "{stats:?}");
    // Past max_stale: refused, also while the next retry is cooling down.
    for _ in 0..3 {
        assert!(matches!(
            strict.verify(&token).await.unwrap_err(),
            VerifyError::KeysUnavailable(_)
        ));
    }
    assert_eq!(strict.stats().fetch_failures, 1);

    // A verifier that never got the keys cannot verify: a clear error.
    let cold = issuer.verifier().build().unwrap();
    assert!(matches!(
        cold.verify(&token).await.unwrap_err(),
        VerifyError::KeysUnavailable(_)
    ));
    // The issuer back (same keys, same ETag): a later refresh revalidates.
    issuer.server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while verifier.stats().not_modified == 0 {
        assert!(
            Instant::now() < deadline,
            "no refresh after the restart: {:?}",
            verifier.stats()
        );
        verifier.verify(&token).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn token_verify_remote_uses_the_same_checks() {
    let issuer = Issuer::start(&[]);
    let token = issuer.token().await;
    let issuer_url = issuer.server.issuer();
    let (code, out, err) = issuer.server.cli(&[
        "token",
        "verify",
        "--remote",
        &issuer_url,
        "--audience",
        API,
        &token,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["valid"], true);
    assert_eq!(out["claims"]["client_id"], "svc");
    assert_eq!(out["alg"], "ES256");
    let (code, out, _) = issuer.server.cli(&[
        "token",
        "verify",
        "--remote",
        &issuer_url,
        "--audience",
        "https://billing.example",
        &token,
    ]);
    assert_eq!(code, 1);
    assert_eq!(out["valid"], false);
    assert!(
        out["reason"].as_str().unwrap().contains("audience"),
        "{out}"
    );
    // An issuer that is not there: an error naming it, not a verdict.
    let nowhere = format!("http://127.0.0.1:{}", process::free_port());
    let (code, _, err) = issuer
        .server
        .cli(&["token", "verify", "--remote", &nowhere, &token]);
    assert_ne!(code, 0);
    assert!(err.contains(&nowhere), "{err}");
}

#[actix_web::test]
async fn require_scope_answers_rfc_6750_errors() {
    use actix_web::{App, HttpResponse, test, web};
    use tokend_verify::AccessToken;
    use tokend_verify::actix::RequireScope;

    let issuer = Issuer::start(&[]);
    let read_token = issuer.token().await;
    let verifier = issuer.verifier().build().unwrap();
    let app =
        test::init_service(
            App::new()
                .app_data(verifier)
                .service(
                    web::resource("/orders")
                        .wrap(RequireScope::new("orders:write"))
                        .route(web::post().to(HttpResponse::Ok)),
                )
                .service(
                    web::resource("/data")
                        .wrap(RequireScope::new("read"))
                        .route(web::get().to(|t: AccessToken| async move {
                            HttpResponse::Ok().body(t.client_id)
                        })),
                ),
        )
        .await;
    let call = |path: &'static str, auth: Option<String>, post: bool| {
        let mut req = if post {
            test::TestRequest::post()
        } else {
            test::TestRequest::get()
        }
        .uri(path);
        if let Some(a) = auth {
            req = req.insert_header(("Authorization", a));
        }
        req.to_request()
    };
    let challenge = |r: &actix_web::dev::ServiceResponse| {
        r.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };

    let r = test::call_service(&app, call("/data", None, false)).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        challenge(&r),
        "Bearer",
        "no error code without credentials (RFC 6750 §3.1)"
    );

    let r = test::call_service(&app, call("/data", Some("Bearer not.a.jwt".into()), false)).await;
    assert_eq!(r.status(), 401);
    assert!(
        challenge(&r).starts_with("Bearer error=\"invalid_token\""),
        "{}",
        challenge(&r)
    );

    let r = test::call_service(
        &app,
        call("/data", Some(format!("bearer {read_token}")), false),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(test::read_body(r).await, "svc");

    let r = test::call_service(
        &app,
        call("/orders", Some(format!("Bearer {read_token}")), true),
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        challenge(&r),
        "Bearer error=\"insufficient_scope\", scope=\"orders:write\""
    );
    let body: serde_json::Value = test::read_body_json(r).await;
    assert_eq!(body["error"], "insufficient_scope");
}

/// A DPoP-bound token at a resource server (RFC 9449 §7): accepted only as
/// `DPoP` with a fresh proof by the bound key for this request; refused as
/// `Bearer`, with a proof for another URL or method, a replayed proof, a
/// proof by another key, or without a proof.
#[actix_web::test]
async fn a_dpop_bound_token_needs_its_proof_at_the_resource_server() {
    use actix_web::{App, HttpResponse, test, web};
    use tokend_verify::AccessToken;
    use tokend_verify::actix::RequireScope;

    let issuer = Issuer::start(&[]);
    let key = dpop_key::DpopKey::new();
    let thief = dpop_key::DpopKey::new();
    let proof = key.proof(&issuer.server.url("/token"));
    let resp = reqwest::Client::new()
        .post(issuer.server.url("/token"))
        .basic_auth("svc", Some(&issuer.secret))
        .header("DPoP", proof)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let plain = issuer.token().await;

    let base = "https://api.example";
    let verifier = issuer.verifier().resource_base_url(base).build().unwrap();
    let app = test::init_service(
        App::new().app_data(verifier).service(
            web::resource("/data")
                .wrap(RequireScope::new("read"))
                .route(web::get().to(|t: AccessToken| async move {
                    HttpResponse::Ok().body(t.confirmation.jkt.unwrap_or_default())
                })),
        ),
    )
    .await;
    let url = format!("{base}/data");
    let call = |auth: String, proof: Option<String>| {
        let mut req = test::TestRequest::get()
            .uri("/data")
            .insert_header(("Authorization", auth));
        if let Some(p) = proof {
            req = req.insert_header(("DPoP", p));
        }
        req.to_request()
    };
    let refused = |r: &actix_web::dev::ServiceResponse| {
        (
            r.status().as_u16(),
            r.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
        )
    };

    // The bound token with its proof.
    let good = key.proof_for("GET", &url, &token);
    let r = test::call_service(&app, call(format!("DPoP {token}"), Some(good.clone()))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(test::read_body(r).await, key.thumbprint());
    // The same proof again.
    let r = test::call_service(&app, call(format!("DPoP {token}"), Some(good))).await;
    let (status, challenge) = refused(&r);
    assert_eq!(status, 401);
    assert!(
        challenge.starts_with("DPoP error=\"invalid_dpop_proof\""),
        "{challenge}"
    );
    assert!(challenge.contains("replay"), "{challenge}");
    let cases = [
        (
            "as Bearer",
            format!("Bearer {token}"),
            None,
            "Bearer error=\"invalid_token\"",
        ),
        (
            "without a proof",
            format!("DPoP {token}"),
            None,
            "DPoP error=\"invalid_dpop_proof\"",
        ),
        (
            "proof for another URL",
            format!("DPoP {token}"),
            Some(key.proof_for("GET", "https://other.example/data", &token)),
            "htu",
        ),
        (
            "proof for another method",
            format!("DPoP {token}"),
            Some(key.proof_for("POST", &url, &token)),
            "htm",
        ),
        (
            "proof by another key",
            format!("DPoP {token}"),
            Some(thief.proof_for("GET", &url, &token)),
            "another key",
        ),
        (
            "proof for another token (ath)",
            format!("DPoP {token}"),
            Some(key.proof_for("GET", &url, &plain)),
            "ath",
        ),
        (
            "an unbound token as DPoP",
            format!("DPoP {plain}"),
            Some(key.proof_for("GET", &url, &plain)),
            "not bound",
        ),
        (
            "a forged token as DPoP",
            "DPoP not.a.token".to_owned(),
            Some(key.proof_for("GET", &url, "not.a.token")),
            "DPoP error=\"invalid_token\"",
        ),
    ];
    for (name, auth, proof, expected) in cases {
        let r = test::call_service(&app, call(auth, proof)).await;
        let (status, challenge) = refused(&r);
        assert_eq!(status, 401, "{name}");
        assert!(challenge.contains(expected), "{name}: {challenge}");
    }
    // The unbound token stays a bearer token.
    let r = test::call_service(&app, call(format!("Bearer {plain}"), None)).await;
    assert_eq!(r.status(), 200);
}

#[actix_web::test]
async fn a_certificate_bound_token_needs_its_certificate_at_the_resource_server() {
    use actix_web::{App, HttpResponse, test, web};
    use tokend_verify::AccessToken;
    use tokend_verify::actix::RequireScope;
    use tokend_verify::mtls::{CertHeader, TrustedProxies};

    // tokend behind a proxy (127.0.0.2) that forwards client certificates
    // as nginx does.
    let issuer = Issuer::start(&[
        ("TOKEND_TLS__CLIENT_CERT_HEADER", "x-ssl-client-cert"),
        ("TOKEND_HTTP__TRUSTED_PROXIES", "127.0.0.2"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let ca = certs::TestCa::new(dir.path());
    let (mine, _) = ca.client("svc", "/CN=svc", None);
    let (other, _) = ca.client("other", "/CN=svc", None);
    let header = |pem: &std::path::Path| certs::url_encode(&std::fs::read_to_string(pem).unwrap());
    let resp = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap()
        .post(issuer.server.url("/token"))
        .basic_auth("svc", Some(&issuer.secret))
        .header("x-ssl-client-cert", header(&mine))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        claims_of(&token)["cnf"]["x5t#S256"],
        certs::thumbprint(&mine).as_str()
    );
    let plain = issuer.token().await;

    // The resource server sits behind its own proxy (10.0.0.1).
    let verifier = issuer
        .verifier()
        .client_cert_header(
            CertHeader::UrlEncodedPem,
            TrustedProxies::parse("10.0.0.1").unwrap(),
        )
        .build()
        .unwrap();
    let app = test::init_service(
        App::new().app_data(verifier).service(
            web::resource("/data")
                .wrap(RequireScope::new("read"))
                .route(web::get().to(|t: AccessToken| async move {
                    HttpResponse::Ok().body(t.confirmation.x5t_s256.unwrap_or_default())
                })),
        ),
    )
    .await;
    let call = |token: &str, peer: &str, cert: Option<String>| {
        let mut req = test::TestRequest::get()
            .uri("/data")
            .peer_addr(peer.parse().unwrap())
            .insert_header(("Authorization", format!("Bearer {token}")));
        if let Some(cert) = cert {
            req = req.insert_header(("x-ssl-client-cert", cert));
        }
        req.to_request()
    };
    let r = test::call_service(&app, call(&token, "10.0.0.1:4000", Some(header(&mine)))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(test::read_body(r).await, certs::thumbprint(&mine));
    for (why, peer, cert) in [
        ("another certificate", "10.0.0.1:4000", Some(header(&other))),
        ("no certificate", "10.0.0.1:4000", None),
        (
            "the right certificate from an untrusted peer",
            "10.0.0.9:4000",
            Some(header(&mine)),
        ),
    ] {
        let r = test::call_service(&app, call(&token, peer, cert)).await;
        assert_eq!(r.status(), 401, "{why}");
        let challenge = r
            .headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{why}: {challenge}"
        );
    }
    // An unbound token needs no certificate.
    let r = test::call_service(&app, call(&plain, "10.0.0.9:4000", None)).await;
    assert_eq!(r.status(), 200);
}
