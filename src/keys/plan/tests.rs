use super::*;

const DAY: i64 = 86_400;

fn key(kid: &str, created_at: i64, activates_at: i64, max_ttl_secs: i64) -> KeyRecord {
    KeyRecord {
        kid: kid.into(),
        alg: Algorithm::ES256,
        created_at,
        activates_at,
        revoked_at: None,
        max_ttl_secs,
    }
}

fn policy() -> RotationPolicy {
    RotationPolicy {
        algorithm: Algorithm::ES256,
        rotate_every: 30 * DAY,
        publish_ahead: 3600,
        refresh_every: 10,
        leeway: 60,
        jwks_max_age: 300,
    }
}

/// Applies the plan as the background task would, with kids k0, k1, …
fn apply(now: i64, keys: &mut Vec<KeyRecord>, counter: &mut u32, max_ttl: i64) {
    let actions = plan(now, keys, &policy());
    apply_to(keys, &actions, now, max_ttl, || {
        *counter += 1;
        format!("k{}", *counter - 1)
    });
}

#[test]
fn fixed_cache_check() {
    let p = policy();
    let keys = vec![key("a", 0, 0, 3600)];
    // D + refresh_every ≤ publish_ahead is safe; a minute more is not.
    assert_eq!(fixed_cache_risk(100, &keys, &p, 3590), None);
    let (at, kid) = fixed_cache_risk(100, &keys, &p, 3600).unwrap();
    assert_eq!(kid, None);
    assert_eq!(at, 30 * DAY);
    // A next key published only 60 s ahead is at risk for a 10 min cache.
    let mut short = keys.clone();
    short.push(key("b", 100, 160, 3600));
    assert_eq!(
        fixed_cache_risk(120, &short, &p, 600),
        Some((160, Some("b".into())))
    );
}

#[test]
fn first_key_activates_at_once() {
    let actions = plan(1000, &[], &policy());
    assert_eq!(
        actions,
        vec![Action::Create {
            activates_at: 1000,
            alg: Algorithm::ES256
        }]
    );
}

#[test]
fn walks_through_many_lifecycles_on_schedule() {
    let p = policy();
    let mut keys = Vec::new();
    let mut n = 0;
    let start = 1_000_000;
    let mut now = start;
    while now < start + 200 * DAY {
        apply(now, &mut keys, &mut n, DAY);
        // Exactly one active key, and at most one next key at any time.
        assert!(active(now, &keys).is_some());
        let next = keys
            .iter()
            .filter(|k| state(k, &keys, now) == KeyState::Next)
            .count();
        assert!(next <= 1);
        // A next key is published at least publish_ahead before it signs.
        for k in &keys {
            assert!(k.activates_at - k.created_at >= p.publish_ahead || k.kid == "k0");
        }
        now += 600;
    }
    // 200 days / 30 days per key: 7 keys created.
    assert_eq!(n, 7);
    // Retired keys are removed after refresh + max_ttl + leeway: at most
    // the active, the retired one within a day, and perhaps a next key.
    assert!(keys.len() <= 3, "{keys:?}");
}

#[test]
fn rotation_after_downtime_still_publishes_ahead() {
    let p = policy();
    let keys = vec![key("a", 0, 0, 3600)];
    let now = 40 * DAY; // the server was down past the rotation time
    let actions = plan(now, &keys, &p);
    assert_eq!(
        actions,
        vec![Action::Create {
            activates_at: now + p.publish_ahead + 1,
            alg: Algorithm::ES256
        }]
    );
}

#[test]
fn algorithm_change_prepublishes_a_key_of_the_new_algorithm() {
    let p = policy();
    let keys = vec![KeyRecord {
        kid: "a".into(),
        alg: Algorithm::RS256,
        created_at: 0,
        activates_at: 0,
        revoked_at: None,
        max_ttl_secs: 3600,
    }];
    assert_eq!(
        plan(100, &keys, &p),
        vec![Action::Create {
            activates_at: 100 + p.publish_ahead + 1,
            alg: Algorithm::ES256
        }]
    );
}

#[test]
fn retired_key_is_kept_for_its_largest_recorded_max_ttl() {
    let p = policy();
    let keys = vec![key("old", 0, 0, 7200), key("new", 100, 5000, 60)];
    let removal = 5000 + p.refresh_every + 7200 + p.leeway;
    assert_eq!(removal_at(&keys[0], &keys, &p), Some(removal));
    assert!(plan(removal - 1, &keys, &p).is_empty());
    assert_eq!(
        plan(removal, &keys, &p),
        vec![Action::Remove { kid: "old".into() }]
    );
}

#[test]
fn revoking_the_active_key_makes_the_plan_create_one_now() {
    let keys = vec![KeyRecord {
        kid: "a".into(),
        alg: Algorithm::ES256,
        created_at: 0,
        activates_at: 0,
        revoked_at: Some(50),
        max_ttl_secs: 3600,
    }];
    assert_eq!(state(&keys[0], &keys, 60), KeyState::Revoked);
    assert!(plan(60, &keys, &policy()).contains(&Action::Create {
        activates_at: 60,
        alg: Algorithm::ES256
    }));
}
