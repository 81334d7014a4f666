//! The rotation plan (SPEC §5), a pure function of `now`, the stored keys and
//! the policy. Key states are derived, never stored: a key is `next` before
//! its `activates_at`, `active` while it is the newest key whose time has come,
//! `retired` once a later key took over, and removed when its retention ends.
//! Replicas therefore switch signers at the same instant without talking to
//! each other, and a crash between two writes cannot strand a state.

use crate::domain::{Algorithm, KeyRecord};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationPolicy {
    pub algorithm: Algorithm,
    pub rotate_every: i64,
    pub publish_ahead: i64,
    pub refresh_every: i64,
    pub leeway: i64,
    /// The bound of the JWKS `max-age`.
    pub jwks_max_age: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Next,
    Active,
    Retired,
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create and publish a key that signs from `activates_at`.
    Create { activates_at: i64, alg: Algorithm },
    /// Unpublish the key and destroy its private part.
    Remove { kid: String },
    /// Move a published `next` key's activation to `at` (`rotate --now`).
    Activate { kid: String, at: i64 },
    /// Unpublish at once, destroy the private part, keep the record so its
    /// tokens are known to be revoked.
    Revoke { kid: String, at: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no key with kid `{0}`")]
    UnknownKey(String),
    #[error("key `{0}` is already revoked")]
    AlreadyRevoked(String),
}

fn is_revoked_at(key: &KeyRecord, now: i64) -> bool {
    key.revoked_at.is_some_and(|r| r <= now)
}

/// The key that signs at `now`: the newest unrevoked key whose time has come.
pub fn active(now: i64, keys: &[KeyRecord]) -> Option<&KeyRecord> {
    keys.iter()
        .filter(|k| !is_revoked_at(k, now) && k.activates_at <= now)
        .max_by(|a, b| {
            (a.activates_at, a.created_at, &a.kid).cmp(&(b.activates_at, b.created_at, &b.kid))
        })
}

pub fn state(key: &KeyRecord, keys: &[KeyRecord], now: i64) -> KeyState {
    if is_revoked_at(key, now) {
        KeyState::Revoked
    } else if key.activates_at > now {
        KeyState::Next
    } else if active(now, keys).is_some_and(|a| a.kid == key.kid) {
        KeyState::Active
    } else {
        KeyState::Retired
    }
}

/// When a later key took over from `key`: the first activation after its own
/// of a key that really signed (one revoked before its time never did).
pub fn retired_at(key: &KeyRecord, keys: &[KeyRecord]) -> Option<i64> {
    keys.iter()
        .filter(|k| k.kid != key.kid && k.activates_at > key.activates_at)
        .filter(|k| k.revoked_at.is_none_or(|r| r > k.activates_at))
        .map(|k| k.activates_at)
        .min()
}

/// When the key leaves the JWKS for good. A retired key stays until every
/// token it may have signed has expired: another replica may sign with it up
/// to `refresh_every` after it retired, for up to the largest `max_ttl`
/// recorded on it, plus the verifiers' leeway. A revoked key is unpublished at
/// once but its record stays as long, so introspection can name the reason.
pub fn removal_at(key: &KeyRecord, keys: &[KeyRecord], policy: &RotationPolicy) -> Option<i64> {
    if let Some(revoked) = key.revoked_at {
        return Some(revoked + key.max_ttl_secs + policy.leeway);
    }
    retired_at(key, keys).map(|r| r + policy.refresh_every + key.max_ttl_secs + policy.leeway)
}

/// The newest unrevoked key that has not started signing yet, after `after`.
fn successor<'a>(keys: &'a [KeyRecord], after: &KeyRecord, now: i64) -> Option<&'a KeyRecord> {
    keys.iter()
        .filter(|k| !is_revoked_at(k, now) && k.activates_at > after.activates_at)
        .max_by_key(|k| k.activates_at)
}

/// When a key created at `now` may start signing.
///
/// Times are whole seconds and `now` is rounded down, so a key created "at
/// `now`" may really be published up to a second later: hence the `+ 1`, and
/// the next key is planned a second early so a rotation on schedule is not
/// delayed. A key published on schedule (at or after the planned publication,
/// which every served `max-age` counted down to) needs `publish_ahead`. One
/// published earlier than planned (a manual `keys rotate`, an algorithm
/// change) must also outlast every JWKS cached under the old plan:
/// `jwks_max_age + refresh_every`.
fn activation_of_key_created(now: i64, active: Option<&KeyRecord>, policy: &RotationPolicy) -> i64 {
    let planned = active.filter(|a| now >= scheduled_publication(a, policy));
    let lead = match planned {
        Some(_) => policy.publish_ahead,
        None => policy
            .publish_ahead
            .max(policy.jwks_max_age + policy.refresh_every),
    };
    let earliest = now + lead + 1;
    match planned {
        Some(a) => (a.activates_at + policy.rotate_every).max(earliest),
        None => earliest,
    }
}

/// When the successor of `key` is due to be published.
fn scheduled_publication(key: &KeyRecord, policy: &RotationPolicy) -> i64 {
    key.activates_at + policy.rotate_every - policy.publish_ahead - 1
}

/// When the plan will next create (and publish) a key; `now` when overdue.
pub fn next_publication(now: i64, keys: &[KeyRecord], policy: &RotationPolicy) -> i64 {
    let Some(active) = active(now, keys) else {
        return now;
    };
    match successor(keys, active, now) {
        Some(next) if next.alg != policy.algorithm => next.activates_at,
        Some(next) => scheduled_publication(next, policy),
        None if active.alg != policy.algorithm => now,
        None => scheduled_publication(active, policy).max(now),
    }
}

/// The next planned events, for `keys plan` and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextEvents {
    /// A new key is created and published.
    pub publication: i64,
    /// A new key starts signing.
    pub rotation: i64,
    /// A retired or revoked key leaves for good.
    pub removal: Option<i64>,
}

pub fn next_events(now: i64, keys: &[KeyRecord], policy: &RotationPolicy) -> NextEvents {
    let publication = next_publication(now, keys, policy);
    let rotation = match active(now, keys) {
        Some(a) => match successor(keys, a, now) {
            Some(next) => next.activates_at,
            None => activation_of_key_created(publication, Some(a), policy),
        },
        None => now,
    };
    let removal = keys
        .iter()
        .filter_map(|k| removal_at(k, keys, policy))
        .filter(|at| *at > now)
        .min();
    NextEvents {
        publication,
        rotation,
        removal,
    }
}

/// For a verifier that caches the JWKS for `cache_age` seconds regardless of
/// headers and never refetches on an unknown `kid`: the first moment it may
/// meet a token whose key it lacks under the current plan, and the key
/// (`None` for a key the plan has yet to create). A key published `lead`
/// seconds before it signs is missed when `cache_age + refresh_every > lead`
/// (a replica may serve the JWKS up to `refresh_every` late).
pub fn fixed_cache_risk(
    now: i64,
    keys: &[KeyRecord],
    policy: &RotationPolicy,
    cache_age: i64,
) -> Option<(i64, Option<String>)> {
    let needed = cache_age + policy.refresh_every;
    let existing = keys
        .iter()
        .filter(|k| k.revoked_at.is_none() && k.activates_at > now)
        .filter(|k| k.activates_at - k.created_at < needed)
        .min_by_key(|k| k.activates_at)
        .map(|k| (k.activates_at, Some(k.kid.clone())));
    if existing.is_some() {
        return existing;
    }
    (policy.publish_ahead < needed).then(|| (next_events(now, keys, policy).rotation, None))
}

/// The JWKS `max-age` at `now` for a replica whose key state (loaded earlier)
/// plans the next publication at `next_publication`: the configured bound,
/// or the whole seconds until that publication when sooner, and 0 once it is
/// due but not yet seen. No verifier that honours it can hold a JWKS without
/// the next key past the moment that key is published here.
pub fn jwks_max_age(now: i64, next_publication: Option<i64>, bound: u64) -> u64 {
    match next_publication {
        Some(at) => bound.min(at.saturating_sub(now).max(0) as u64),
        None => bound,
    }
}

/// What must happen at `now` to keep the lifecycle on schedule.
pub fn plan(now: i64, keys: &[KeyRecord], policy: &RotationPolicy) -> Vec<Action> {
    let mut actions: Vec<Action> = keys
        .iter()
        .filter(|k| removal_at(k, keys, policy).is_some_and(|at| at <= now))
        .map(|k| Action::Remove { kid: k.kid.clone() })
        .collect();

    match active(now, keys) {
        None => actions.push(Action::Create {
            activates_at: now,
            alg: policy.algorithm,
        }),
        Some(active) if successor(keys, active, now).is_none() => {
            let algorithm_changed = active.alg != policy.algorithm;
            let due = if algorithm_changed {
                now
            } else {
                scheduled_publication(active, policy)
            };
            if now >= due {
                let activates_at = activation_of_key_created(now, Some(active), policy);
                actions.push(Action::Create {
                    activates_at,
                    alg: policy.algorithm,
                });
            }
        }
        Some(_) => {}
    }
    actions
}

/// Keys a verifier finds in the JWKS: every key not revoked.
pub fn published(keys: &[KeyRecord]) -> impl Iterator<Item = &KeyRecord> {
    keys.iter().filter(|k| k.revoked_at.is_none())
}

/// The keys on which a replica that may sign with `max_ttl_secs` must record
/// it before signing: those `next` or `active` whose record is lower.
pub fn max_ttl_to_record(now: i64, keys: &[KeyRecord], max_ttl_secs: i64) -> Vec<&str> {
    keys.iter()
        .filter(|k| k.max_ttl_secs < max_ttl_secs)
        .filter(|k| matches!(state(k, keys, now), KeyState::Next | KeyState::Active))
        .map(|k| k.kid.as_str())
        .collect()
}

/// `keys rotate`: publish the next key now, active after `publish_ahead` (no
/// verifier can miss it). With `immediate` (`--now`), sign with a new key at
/// once: the published `next` key if there is one, else a fresh key that
/// cached verifiers have not seen yet.
pub fn rotate(
    now: i64,
    keys: &[KeyRecord],
    policy: &RotationPolicy,
    immediate: bool,
) -> Vec<Action> {
    let next = keys
        .iter()
        .filter(|k| state(k, keys, now) == KeyState::Next)
        .min_by_key(|k| k.activates_at);
    // Times are whole seconds: a key that takes over "now" must activate
    // strictly after the current one, or the two would tie.
    let at_once = active(now, keys).map_or(now, |a| now.max(a.activates_at + 1));
    match (next, immediate) {
        (Some(next), true) => vec![Action::Activate {
            kid: next.kid.clone(),
            at: at_once,
        }],
        (Some(_), false) => Vec::new(),
        (None, true) => vec![Action::Create {
            activates_at: at_once,
            alg: policy.algorithm,
        }],
        (None, false) => vec![Action::Create {
            activates_at: activation_of_key_created(now, active(now, keys), policy),
            alg: policy.algorithm,
        }],
    }
}

/// `keys revoke KID`: gone from the JWKS at once; if it was signing, another
/// key signs at once (the published `next` key if any, else a new one).
pub fn revoke(
    now: i64,
    keys: &[KeyRecord],
    kid: &str,
    policy: &RotationPolicy,
) -> Result<Vec<Action>, PlanError> {
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| PlanError::UnknownKey(kid.to_owned()))?;
    if key.revoked_at.is_some() {
        return Err(PlanError::AlreadyRevoked(kid.to_owned()));
    }
    let was_active = state(key, keys, now) == KeyState::Active;
    let mut actions = vec![Action::Revoke {
        kid: kid.to_owned(),
        at: now,
    }];
    if was_active {
        let remaining: Vec<KeyRecord> = keys.iter().filter(|k| k.kid != kid).cloned().collect();
        actions.extend(rotate(now, &remaining, policy, true));
    }
    Ok(actions)
}

/// Applies actions to a list of records the way the store does; the created
/// keys get their kid from `new_kid`. For tests and simulations.
pub fn apply_to(
    keys: &mut Vec<KeyRecord>,
    actions: &[Action],
    now: i64,
    max_ttl_secs: i64,
    mut new_kid: impl FnMut() -> String,
) {
    for action in actions {
        match action {
            Action::Create { activates_at, alg } => keys.push(KeyRecord {
                kid: new_kid(),
                alg: *alg,
                created_at: now,
                activates_at: *activates_at,
                revoked_at: None,
                max_ttl_secs,
            }),
            Action::Remove { kid } => keys.retain(|k| &k.kid != kid),
            Action::Activate { kid, at } => {
                if let Some(k) = keys.iter_mut().find(|k| &k.kid == kid) {
                    k.activates_at = *at;
                }
            }
            Action::Revoke { kid, at } => {
                if let Some(k) = keys.iter_mut().find(|k| &k.kid == kid) {
                    k.revoked_at = Some(*at);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
