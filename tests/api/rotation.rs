//! The key lifecycle through the running application: scheduled rotation over
//! a manual clock, `keys rotate [--now]` and `keys revoke`, an algorithm change
//! between restarts, three real rotations observed by a polling verifier, and
//! SIGKILL right after a rotation step.

use crate::helpers::*;
use crate::process::Tokend;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokend::app::Application;
use tokend::clock::ManualClock;
use tokend::domain::Algorithm;

async fn kids(app: &TestApp) -> BTreeSet<String> {
    app.jwks()
        .await
        .keys
        .into_iter()
        .filter_map(|k| k.common.key_id)
        .collect()
}

async fn signing_kid(app: &TestApp, client: &TestClient) -> String {
    let body: serde_json::Value = app
        .token_for(client, "grant_type=client_credentials")
        .await
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().expect("a token");
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn scheduled_rotation_walks_a_key_through_its_life_on_a_manual_clock() {
    let clock = ManualClock::starting_now();
    let app = spawn_app_on(|_| {}, Arc::new(clock.clone())).await;
    let c = app.simple_client("c", "read").await;
    let first = signing_kid(&app, &c).await;
    assert_eq!(kids(&app).await.len(), 1);

    // Just before the next key is due: nothing happens.
    clock.advance(
        chrono::Duration::days(30) - chrono::Duration::hours(2) - chrono::Duration::seconds(5),
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(kids(&app).await.len(), 1);

    // At active_since + rotate_every - publish_ahead: the next key is published.
    clock.advance(chrono::Duration::seconds(5));
    assert!(
        eventually(Duration::from_secs(2), || async {
            kids(&app).await.len() == 2
        })
        .await
    );
    assert_eq!(
        signing_kid(&app, &c).await,
        first,
        "the next key does not sign yet"
    );
    let jwks = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.address))
        .send()
        .await
        .unwrap();
    let max_age = jwks.headers()["cache-control"].to_str().unwrap().to_owned();
    assert_eq!(max_age, "public, max-age=300");

    // At active_since + rotate_every: the next key signs, the old one stays.
    clock.advance(chrono::Duration::hours(2) + chrono::Duration::seconds(1));
    let second = signing_kid(&app, &c).await;
    assert_ne!(second, first);
    assert!(
        kids(&app).await.contains(&first),
        "the retired key stays published"
    );

    // After refresh_every + max_ttl + leeway the retired key is removed.
    clock.advance(chrono::Duration::hours(24) + chrono::Duration::seconds(71));
    assert!(
        eventually(Duration::from_secs(2), || async {
            kids(&app).await == BTreeSet::from([second.clone()])
        })
        .await,
        "the retired key is removed once no token it signed can be valid"
    );
}

#[tokio::test]
async fn rotate_rotate_now_and_revoke() {
    let app = spawn_app().await;
    let c = app.simple_client("c", "read").await;
    let k0 = signing_kid(&app, &c).await;

    let rotation = app.admin().rotate_keys(false).await.unwrap();
    let k1 = rotation.key.kid.clone();
    assert_eq!(serde_json::to_value(rotation.key.state).unwrap(), "next");
    assert!(rotation.warning.is_none());
    assert!(
        eventually(Duration::from_secs(2), || async {
            kids(&app).await.len() == 2
        })
        .await
    );
    assert_eq!(
        signing_kid(&app, &c).await,
        k0,
        "a scheduled rotation waits publish_ahead"
    );

    let again = app.admin().rotate_keys(false).await.unwrap();
    assert_eq!(again.key.kid, k1, "no second next key");
    assert!(again.note.is_some());

    let token_k0: serde_json::Value = app
        .token_for(&c, "grant_type=client_credentials")
        .await
        .json()
        .await
        .unwrap();
    let now = app.admin().rotate_keys(true).await.unwrap();
    assert_eq!(now.key.kid, k1, "--now activates the published next key");
    assert!(
        now.warning
            .as_deref()
            .is_some_and(|w| w.contains("unknown kid"))
    );
    assert!(
        eventually(Duration::from_secs(2), || async {
            signing_kid(&app, &c).await == k1
        })
        .await
    );
    assert!(
        kids(&app).await.contains(&k0),
        "the retired key stays published"
    );

    let token_k1: serde_json::Value = app
        .token_for(&c, "grant_type=client_credentials")
        .await
        .json()
        .await
        .unwrap();
    let token_k1 = token_k1["access_token"].as_str().unwrap().to_owned();
    app.admin().revoke_key(&k1).await.unwrap();
    assert!(
        eventually(Duration::from_secs(2), || async {
            !kids(&app).await.contains(&k1)
        })
        .await,
        "a revoked key leaves the JWKS at once"
    );
    let k2 = signing_kid(&app, &c).await;
    assert!(k2 != k1 && k2 != k0, "a new key signs at once");
    let ring = app.state.ring.load();
    let now_s = app.state.now();
    assert_eq!(
        ring.verify(&token_k1, &app.issuer, now_s, 60),
        Err(tokend::keys::VerifyError::RevokedKey)
    );
    assert!(
        ring.verify(
            token_k0["access_token"].as_str().unwrap(),
            &app.issuer,
            now_s,
            60
        )
        .is_ok()
    );

    let err = app.admin().revoke_key(&k1).await.unwrap_err();
    assert!(err.to_string().contains("already revoked"));
    let err = app.admin().revoke_key("no-such-kid").await.unwrap_err();
    assert!(matches!(err, tokend::admin::AdminError::NotFound(_)));
}

#[tokio::test]
async fn cli_rotate_now_warns_and_revoked_tokens_fail_token_verify() {
    let dir = tempfile::tempdir().unwrap();
    let server = Tokend::start(&Tokend::sqlite_env(dir.path()), dir.path());
    let (code, created, err) = server.cli(&["client", "create", "--name", "c", "--id", "c"]);
    assert_eq!(code, 0, "{err}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let token = async || -> String {
        let (_, body) = server.token("c", &secret).await;
        body["access_token"].as_str().unwrap().to_owned()
    };
    let old = token().await;
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();

    // Human output says that cached verifiers may briefly miss the new key.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokend"))
        .args(["keys", "rotate", "--now"])
        .envs(server.env.iter().cloned())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning") && text.contains("unknown kid"),
        "{text}"
    );

    let (code, verified, _) = server.cli(&["token", "verify", &old]);
    assert_eq!(code, 0, "a retired key's tokens still verify: {verified}");
    let (code, _, err) = server.cli(&["keys", "revoke", &old_kid]);
    assert_eq!(code, 0, "{err}");
    let (code, verified, _) = server.cli(&["token", "verify", &old]);
    assert_eq!(code, 1);
    assert!(
        verified["reason"].as_str().unwrap().contains("revoked"),
        "{verified}"
    );
    assert!(
        eventually(Duration::from_secs(2), || async {
            let jwks: serde_json::Value = http
                .get(server.url("/.well-known/jwks.json"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            !jwks.to_string().contains(&old_kid)
        })
        .await
    );
}

#[tokio::test]
async fn changing_the_algorithm_prepublishes_a_key_of_the_new_one() {
    let app = spawn_app_with(|s| s.keys.algorithm = Algorithm::RS256).await;
    let mut settings = app.settings.clone();
    settings.keys.algorithm = Algorithm::EdDSA;
    settings.listen = "127.0.0.1:0".into();
    let restarted = Application::build(settings, Arc::new(tokend::clock::SystemClock))
        .await
        .unwrap();
    let keys = restarted.state().admin.list_keys().await.unwrap();
    let by_state: HashMap<String, Algorithm> = keys
        .iter()
        .map(|k| {
            (
                serde_json::to_value(k.state)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned(),
                k.alg,
            )
        })
        .collect();
    assert_eq!(
        by_state["active"],
        Algorithm::RS256,
        "the old key keeps signing"
    );
    assert_eq!(
        by_state["next"],
        Algorithm::EdDSA,
        "the new algorithm is published ahead"
    );
    let next = keys.iter().find(|k| k.alg == Algorithm::EdDSA).unwrap();
    assert!(next.active_from.timestamp() - next.published_at.timestamp() >= 3600);
}

/// Short settings: a rotation every 6 s, published 3 s ahead.
fn fast_rotation(s: &mut tokend::config::Settings) {
    s.keys.rotate_every = Duration::from_secs(6);
    s.keys.publish_ahead = Duration::from_secs(3);
    s.keys.refresh_every = Duration::from_secs(1);
    s.keys.jwks_max_age = Duration::from_secs(2);
    s.tokens.ttl = Duration::from_secs(4);
    s.tokens.max_ttl = Duration::from_secs(4);
    s.tokens.leeway = Duration::from_secs(1);
}

#[tokio::test]
async fn three_real_rotations_observed_by_a_polling_verifier() {
    let app = spawn_app_with(fast_rotation).await;
    let c = app.simple_client("c", "read").await;
    let start = Instant::now();
    // (when, kids in the JWKS) and (when, kid, exp as seconds from start)
    let mut seen: Vec<(Duration, BTreeSet<String>)> = Vec::new();
    let mut tokens: Vec<(Duration, String, f64)> = Vec::new();
    let epoch = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let mut tick = 0u32;
    while start.elapsed() < Duration::from_secs(21) {
        seen.push((start.elapsed(), kids(&app).await));
        if tick.is_multiple_of(2) {
            let body: serde_json::Value = app
                .token_for(&c, "grant_type=client_credentials")
                .await
                .json()
                .await
                .unwrap();
            let token = body["access_token"].as_str().unwrap();
            let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
            let claims = app.verify(token, &app.issuer).await;
            let exp = claims["exp"].as_f64().unwrap() - epoch;
            tokens.push((start.elapsed(), kid, exp));
        }
        tick += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let signing: BTreeSet<&String> = tokens.iter().map(|(_, k, _)| k).collect();
    assert!(
        signing.len() >= 4,
        "at least three rotations: {} signing keys",
        signing.len()
    );
    let first_kid = &tokens[0].1;
    for (issued, kid, exp) in &tokens {
        // Published at least publish_ahead - refresh_every before it signed.
        if kid != first_kid {
            let first_seen = seen
                .iter()
                .find(|(_, k)| k.contains(kid))
                .map(|(t, _)| *t)
                .unwrap();
            assert!(
                *issued >= first_seen + Duration::from_secs(2),
                "{kid} signed at {issued:?} but was published only at {first_seen:?}"
            );
        }
        // Never missing from the JWKS until exp + leeway.
        let until = Duration::from_secs_f64((exp + 1.0 - 0.2).max(0.0));
        for (t, k) in &seen {
            if *t >= *issued && *t <= until {
                assert!(
                    k.contains(kid),
                    "{kid} (exp {exp:.1}s) missing from the JWKS at {t:?}"
                );
            }
        }
    }
}

/// A real SIGKILL at both steps of a rotation — right after the next key is
/// created (published, not yet signing) and right after it starts signing —
/// loses no key: every token issued before either kill still verifies after
/// the restart, its kid is still published, and the key that signed last
/// before the second kill is the one that signs after it.
#[tokio::test]
async fn sigkill_at_each_rotation_step_loses_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = Tokend::sqlite_env(dir.path());
    for (k, v) in [
        ("TOKEND_KEYS__ROTATE_EVERY", "6s"),
        ("TOKEND_KEYS__PUBLISH_AHEAD", "3s"),
        ("TOKEND_KEYS__REFRESH_EVERY", "1s"),
        ("TOKEND_TOKENS__TTL", "30s"),
        ("TOKEND_TOKENS__MAX_TTL", "30s"),
        ("TOKEND_KEYS__ALGORITHM", "ES256"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    let mut server = Tokend::start(&env, dir.path());
    let (code, created, err) = server.cli(&["client", "create", "--name", "c", "--id", "c"]);
    assert_eq!(code, 0, "{err}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let kid_of = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    let published = async |server: &Tokend| -> BTreeSet<String> {
        let jwks: serde_json::Value = reqwest::get(server.url("/.well-known/jwks.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut tokens: Vec<String> = Vec::new();
    let (_, body) = server.token("c", &secret).await;
    let first = body["access_token"].as_str().unwrap().to_owned();
    let first_kid = kid_of(&first);
    tokens.push(first);

    // Step 1: the next key is created and published.
    let deadline = Instant::now() + Duration::from_secs(15);
    while published(&server).await.len() < 2 {
        assert!(Instant::now() < deadline, "no next key published");
        let (_, body) = server.token("c", &secret).await;
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill_hard();
    server.restart();

    // Step 2: the next key starts signing.
    let deadline = Instant::now() + Duration::from_secs(15);
    let last = loop {
        assert!(Instant::now() < deadline, "the next key never signed");
        let (status, body) = server.token("c", &secret).await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap().to_owned();
        tokens.push(token.clone());
        if kid_of(&token) != first_kid {
            break token;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    server.kill_hard();
    server.restart();

    let (_, body) = server.token("c", &secret).await;
    let after = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        kid_of(&after),
        kid_of(&last),
        "the same key signs after the restart"
    );
    let kids = published(&server).await;
    for token in &tokens {
        let (code, out, _) = server.cli(&["token", "verify", token]);
        assert_eq!(code, 0, "a token from before a kill still verifies: {out}");
        assert!(kids.contains(&kid_of(token)), "its kid is still published");
    }
}

#[tokio::test]
async fn sigkill_and_restart_resume_with_the_same_active_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Tokend::start(&Tokend::sqlite_env(dir.path()), dir.path());
    let (_, before, _) = server.cli(&["keys", "list"]);
    server.kill_hard();
    server.restart();
    let (_, after, _) = server.cli(&["keys", "list"]);
    assert_eq!(
        before, after,
        "same keys, same active key, nothing new after a crash"
    );
}
