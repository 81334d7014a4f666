//! Rotation that operators can see and trust (SPEC §2, §3, §4, §5): JWKS
//! max-age from the plan, retention from the largest max_ttl signed under,
//! `keys plan` and `keys check`.

use crate::helpers::*;
use crate::process::Tokend;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokend::clock::ManualClock;

async fn max_age(app_url: &str, http: &reqwest::Client) -> (u64, usize) {
    let resp = http
        .get(format!("{app_url}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let cc = resp.headers()["cache-control"].to_str().unwrap().to_owned();
    let age = cc.trim_start_matches("public, max-age=").parse().unwrap();
    let jwks: serde_json::Value = resp.json().await.unwrap();
    (age, jwks["keys"].as_array().unwrap().len())
}

#[tokio::test]
async fn served_max_age_shrinks_to_the_next_publication_and_returns_to_the_bound() {
    let clock = ManualClock::starting_now();
    let app = spawn_app_on(
        |s| s.keys.jwks_max_age = Duration::from_secs(3600 * 6),
        Arc::new(clock.clone()),
    )
    .await;
    let plan = app.admin().key_plan().await.unwrap();
    let publication = plan.next.key_published_at.timestamp();
    // Far from the publication: the bound.
    let (age, keys) = max_age(&app.address, &app.http).await;
    assert_eq!((age, keys), (6 * 3600, 1));
    // 100 s before it: 100 s, whatever the bound.
    clock.set(chrono::DateTime::from_timestamp(publication - 100, 0).unwrap());
    let (age, _) = max_age(&app.address, &app.http).await;
    assert_eq!(age, 100);
    // Due: 0 until this replica has the key, then the bound again.
    clock.set(chrono::DateTime::from_timestamp(publication, 0).unwrap());
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut last = max_age(&app.address, &app.http).await;
    while last.1 == 1 && Instant::now() < deadline {
        assert_eq!(last.0, 0, "due but not seen here: max-age 0");
        tokio::time::sleep(Duration::from_millis(50)).await;
        last = max_age(&app.address, &app.http).await;
    }
    assert_eq!(last.1, 2, "the next key is published");
    assert_eq!(
        last.0,
        6 * 3600,
        "back to the bound once the key is published"
    );
    // `keys plan` announced exactly this publication time.
    let keys = app.admin().list_keys().await.unwrap();
    let next = keys
        .iter()
        .find(|k| serde_json::to_value(k.state).unwrap() == "next")
        .unwrap();
    assert_eq!(next.published_at.timestamp(), publication);
    assert_eq!(
        next.active_from.timestamp(),
        plan.next.rotation_at.timestamp()
    );
}

/// Two replicas (processes) on one database — SQLite, or PostgreSQL when
/// `TOKEND_TEST_DATABASE_URL` is set: the publication `keys plan` announces
/// is what both JWKS then show, within a second and a half, and no served
/// max-age outlives it.
#[tokio::test]
async fn keys_plan_matches_what_the_jwks_then_shows_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::new(dir.path()).await;
    let mut env = vec![
        ("TOKEND_DATABASE_URL".to_owned(), db.url.clone()),
        (
            "TOKEND_MASTER_KEY_FILE".to_owned(),
            dir.path().join("master.key").display().to_string(),
        ),
        ("TOKEND_ISSUER".to_owned(), "https://auth.test".to_owned()),
    ];
    for (k, v) in [
        ("TOKEND_KEYS__ROTATE_EVERY", "8s"),
        ("TOKEND_KEYS__PUBLISH_AHEAD", "3s"),
        ("TOKEND_KEYS__REFRESH_EVERY", "1s"),
        ("TOKEND_KEYS__JWKS_MAX_AGE", "1h"),
        ("TOKEND_KEYS__ALGORITHM", "ES256"),
    ] {
        env.push((k.into(), v.into()));
    }
    let replicas = [
        Tokend::start(&env, dir.path()),
        Tokend::start(&env, dir.path()),
    ];
    let (code, plan, err) = replicas[0].cli(&["keys", "plan"]);
    assert_eq!(code, 0, "{err}");
    let announced =
        chrono::DateTime::parse_from_rfc3339(plan["next"]["key_published_at"].as_str().unwrap())
            .unwrap()
            .timestamp_millis() as f64
            / 1000.0;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(12);
    let mut seen: [Option<f64>; 2] = [None, None];
    while seen.iter().any(Option::is_none) {
        assert!(
            Instant::now() < deadline,
            "no publication observed: {seen:?}"
        );
        for (i, server) in replicas.iter().enumerate() {
            if seen[i].is_some() {
                continue;
            }
            let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
            let (age, keys) = max_age(&server.url(""), &http).await;
            if keys == 2 {
                seen[i] = Some(now);
            } else {
                // Never cached past the announced publication.
                assert!(
                    now + age as f64 <= announced + 1.0,
                    "max-age {age} at {now} outlives {announced}"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (i, at) in seen.iter().enumerate() {
        let difference = at.unwrap() - announced;
        eprintln!("replica {i}: JWKS showed the key {difference:+.2}s from the announced time");
        assert!(difference.abs() <= 1.5, "replica {i}: {difference:.2}s");
    }
}

#[tokio::test]
async fn a_token_signed_under_a_larger_max_ttl_survives_a_restart_with_a_smaller_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = Tokend::sqlite_env(dir.path());
    for (k, v) in [
        ("TOKEND_TOKENS__TTL", "30s"),
        ("TOKEND_TOKENS__MAX_TTL", "30s"),
        ("TOKEND_TOKENS__LEEWAY", "1s"),
        ("TOKEND_KEYS__REFRESH_EVERY", "1s"),
        ("TOKEND_KEYS__PUBLISH_AHEAD", "3s"),
        ("TOKEND_KEYS__ALGORITHM", "ES256"),
    ] {
        env.push((k.into(), v.into()));
    }
    let mut server = Tokend::start(&env, dir.path());
    let (_, created, _) = server.cli(&["client", "create", "--name", "c", "--id", "c"]);
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let (_, body) = server.token("c", &secret).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(body["expires_in"], 30);

    // Restart with max_ttl 5s and rotate at once: the old key retires now.
    server
        .env
        .retain(|(k, _)| !k.starts_with("TOKEND_TOKENS__"));
    server.env.push(("TOKEND_TOKENS__TTL".into(), "5s".into()));
    server
        .env
        .push(("TOKEND_TOKENS__MAX_TTL".into(), "5s".into()));
    server
        .env
        .push(("TOKEND_TOKENS__LEEWAY".into(), "1s".into()));
    server.restart();
    let (code, _, err) = server.cli(&["keys", "rotate", "--now"]);
    assert_eq!(code, 0, "{err}");
    // Well past 5 s + refresh + leeway, the key that signed a 30 s token stays.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (code, out, _) = server.cli(&["token", "verify", &token]);
    assert_eq!(code, 0, "still verifies until exp + leeway: {out}");
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let jwks = reqwest::get(server.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(jwks.contains(&kid), "the retired key is still published");
    let (_, plan, _) = server.cli(&["keys", "plan"]);
    let old = plan["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        old["max_ttl_secs"], 30,
        "the largest max_ttl it signed under is recorded"
    );
}

#[tokio::test]
async fn keys_check_says_safe_or_names_the_moment_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let server = Tokend::start(&Tokend::sqlite_env(dir.path()), dir.path());
    let (code, out, _) = server.cli(&["keys", "check", "--cache-age", "10m"]);
    assert_eq!(code, 0);
    assert_eq!(out["safe"], true);
    let (code, out, _) = server.cli(&["keys", "check", "--cache-age", "2h"]);
    assert_eq!(code, 1);
    assert_eq!(out["safe"], false);
    assert!(out["at_risk_from"].is_string());
    assert!(
        out["fix"].as_str().unwrap().contains("keys.publish_ahead"),
        "{out}"
    );
    // Human output too.
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_tokend"))
        .args(["keys", "check", "--cache-age", "10m"])
        .envs(server.env.iter().cloned())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&text.stdout).trim(), "safe");
}
