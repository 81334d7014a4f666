//! A simulation of the key lifecycle over many random histories, checking
//! SPEC §5's invariant with the real plan functions: two replicas (one that
//! follows every change at once, one that only reloads every `refresh_every`
//! or after its own writes) sign a token every second and serve their JWKS;
//! operators rotate, rotate `--now`, revoke and restart replicas with another
//! `max_ttl`. At the end every token must have had its `kid` in every
//! replica's JWKS from `publish_ahead - refresh_every` before it was issued
//! (so a verifier caching for a fixed D with D + refresh_every ≤ publish_ahead
//! has it) until `exp + leeway`, except tokens of a revoked key and, for the
//! first half, tokens of the first key or of a key made to sign at once.
//!
//! Verifiers poll the replicas' JWKS at random phases: some honour the served
//! `max-age` (whose bound may be far above `publish_ahead`), some cache for a
//! fixed D with D + refresh_every = publish_ahead. None may ever lack the
//! `kid` of a valid token under the same exemptions.

use super::plan::{self, Action, RotationPolicy};
use crate::domain::{Algorithm, KeyRecord};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

const REFRESH: i64 = 5;
const PUBLISH_AHEAD: i64 = 30;
const ROTATE_EVERY: i64 = 120;
const LEEWAY: i64 = 5;
const MAX_TTLS: [i64; 3] = [10, 30, 90];
/// A fixed cache as long as the guarantee allows.
const FIXED_CACHE: i64 = PUBLISH_AHEAD - REFRESH;

fn policy(jwks_max_age: i64) -> RotationPolicy {
    RotationPolicy {
        algorithm: Algorithm::ES256,
        rotate_every: ROTATE_EVERY,
        publish_ahead: PUBLISH_AHEAD,
        refresh_every: REFRESH,
        leeway: LEEWAY,
        jwks_max_age,
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    Advance(i64),
    Rotate { immediate: bool },
    Revoke(usize),
    Restart { replica: usize, max_ttl: usize },
}

struct Replica {
    snapshot: Vec<KeyRecord>,
    /// The next publication as planned from `snapshot` when it was loaded.
    next_publication: i64,
    last_load: i64,
    max_ttl: i64,
    /// Reloads on every change (true) or only on schedule and own writes.
    follows_changes: bool,
}

struct Token {
    kid: String,
    iat: i64,
    exp: i64,
}

/// A resource server with a cached JWKS.
struct Verifier {
    source: usize,
    /// `None`: honours the served `max-age`; `Some(d)`: caches for d seconds.
    fixed: Option<i64>,
    starts_at: i64,
    cache: Vec<String>,
    expires: i64,
}

#[derive(Default, Clone, Copy)]
struct Served {
    first: i64,
    last: i64,
    seconds: i64,
}

pub struct World {
    policy: RotationPolicy,
    db: Vec<KeyRecord>,
    verifiers: Vec<Verifier>,
    /// Per kid: from when and until when verifiers must know it.
    must_know: HashMap<String, (i64, i64)>,
    verifier_violation: Option<String>,
    /// Serve a `max-age` that shrinks to the next planned publication.
    pub shrink_max_age: bool,
    kids: u32,
    now: i64,
    replicas: Vec<Replica>,
    served: HashMap<(usize, String), Served>,
    tokens: Vec<Token>,
    /// Tokens issued before this time are exempt from the "published ahead"
    /// half (right after the first key, `--now` or a revocation).
    exempt_until: i64,
    revoked: HashSet<String>,
    /// Record each replica's max_ttl on keys before signing (SPEC §5).
    pub record_max_ttl: bool,
}

impl World {
    pub fn new() -> Self {
        Self::with(300, &[0, 7, 13, 3])
    }

    /// A world whose JWKS `max-age` bound is `jwks_max_age`, with four
    /// verifiers (max-age and fixed cache, on each replica) starting at the
    /// given seconds.
    pub fn with(jwks_max_age: i64, phases: &[i64; 4]) -> Self {
        let verifiers = (0..4)
            .map(|i| Verifier {
                source: i % 2,
                fixed: (i >= 2).then_some(FIXED_CACHE),
                starts_at: phases[i],
                cache: Vec::new(),
                expires: i64::MIN,
            })
            .collect();
        let mut world = Self {
            policy: policy(jwks_max_age),
            verifiers,
            must_know: HashMap::new(),
            verifier_violation: None,
            shrink_max_age: true,
            db: Vec::new(),
            kids: 0,
            now: 0,
            replicas: vec![
                Replica {
                    snapshot: Vec::new(),
                    next_publication: 0,
                    last_load: 0,
                    max_ttl: 30,
                    follows_changes: true,
                },
                Replica {
                    snapshot: Vec::new(),
                    next_publication: 0,
                    last_load: 0,
                    max_ttl: 30,
                    follows_changes: false,
                },
            ],
            served: HashMap::new(),
            tokens: Vec::new(),
            exempt_until: i64::MIN,
            revoked: HashSet::new(),
            record_max_ttl: true,
        };
        world.start(0);
        world.start(1);
        world.observe();
        world
    }

    fn write(&mut self, actions: &[Action], by: usize) {
        if actions.is_empty() {
            return;
        }
        let now = self.now;
        let max_ttl = self.replicas[by].max_ttl;
        let kids = &mut self.kids;
        plan::apply_to(&mut self.db, actions, now, max_ttl, || {
            *kids += 1;
            format!("k{kids}")
        });
        for action in actions {
            if let Action::Revoke { kid, .. } = action {
                self.revoked.insert(kid.clone());
            }
        }
        // A key that signs at once was not published ahead.
        let unplanned = actions.iter().any(|a| match a {
            Action::Create { activates_at, .. } => *activates_at < now + PUBLISH_AHEAD,
            Action::Activate { .. } | Action::Revoke { .. } => true,
            Action::Remove { .. } => false,
        });
        // A key that signs at once, or a revocation, changes the schedule
        // verifiers were told about: until every cache made before has
        // expired, tokens of any key may be missed (SPEC §5 allows this right
        // after the first key, --now or a revocation).
        if unplanned {
            let settle = PUBLISH_AHEAD.max(self.policy.jwks_max_age + REFRESH);
            self.exempt_until = self.exempt_until.max(now + settle);
        }
        self.reload(by);
        for r in 0..self.replicas.len() {
            if self.replicas[r].follows_changes {
                self.reload(r);
            }
        }
    }

    fn reload(&mut self, r: usize) {
        let now = self.now;
        let max_ttl = self.replicas[r].max_ttl;
        if self.record_max_ttl {
            let kids: Vec<String> = plan::max_ttl_to_record(now, &self.db, max_ttl)
                .into_iter()
                .map(str::to_owned)
                .collect();
            for k in self.db.iter_mut().filter(|k| kids.contains(&k.kid)) {
                k.max_ttl_secs = k.max_ttl_secs.max(max_ttl);
            }
        }
        self.replicas[r].snapshot = self.db.clone();
        self.replicas[r].next_publication = plan::next_publication(now, &self.db, &self.policy);
        self.replicas[r].last_load = now;
    }

    /// What `Application::build` does: apply the plan, load the ring.
    fn start(&mut self, r: usize) {
        let actions = plan::plan(self.now, &self.db, &self.policy);
        self.write(&actions, r);
        self.reload(r);
    }

    /// One background tick of replica `r`, as `follow_changes` runs it.
    fn tick(&mut self, r: usize) {
        let now = self.now;
        if !plan::plan(now, &self.replicas[r].snapshot, &self.policy).is_empty() {
            let actions = plan::plan(now, &self.db, &self.policy);
            self.write(&actions, r);
            self.reload(r);
        }
        if now - self.replicas[r].last_load >= REFRESH {
            self.reload(r);
        }
    }

    /// Every replica serves its JWKS and signs one token at `now`.
    fn observe(&mut self) {
        let now = self.now;
        for r in 0..self.replicas.len() {
            let snapshot = &self.replicas[r].snapshot;
            for key in plan::published(snapshot) {
                let served = self.served.entry((r, key.kid.clone())).or_insert(Served {
                    first: now,
                    last: now,
                    seconds: 0,
                });
                served.last = now;
                served.seconds += 1;
            }
            if let Some(active) = plan::active(now, snapshot) {
                let token = Token {
                    kid: active.kid.clone(),
                    iat: now,
                    exp: now + self.replicas[r].max_ttl,
                };
                let exempt = now < self.exempt_until;
                let window = self
                    .must_know
                    .entry(token.kid.clone())
                    .or_insert((i64::MAX, i64::MIN));
                if !exempt {
                    window.0 = window.0.min(now);
                }
                window.1 = window.1.max(token.exp + LEEWAY);
                self.tokens.push(token);
            }
        }
        self.poll_verifiers();
    }

    /// Each verifier refreshes its cache when it expires, then must know
    /// every `kid` a valid token may carry.
    fn poll_verifiers(&mut self) {
        let now = self.now;
        for v in self.verifiers.iter_mut().filter(|v| now >= v.starts_at) {
            if now >= v.expires {
                let replica = &self.replicas[v.source];
                v.cache = plan::published(&replica.snapshot)
                    .map(|k| k.kid.clone())
                    .collect();
                let bound = self.policy.jwks_max_age as u64;
                let age = match v.fixed {
                    Some(d) => d,
                    None if self.shrink_max_age => {
                        plan::jwks_max_age(now, Some(replica.next_publication), bound) as i64
                    }
                    None => bound as i64,
                };
                v.expires = now + age.max(1);
            }
            if self.verifier_violation.is_some() {
                continue;
            }
            for (kid, (from, until)) in &self.must_know {
                if *from <= now
                    && now <= *until
                    && !self.revoked.contains(kid)
                    && !v.cache.contains(kid)
                {
                    self.verifier_violation = Some(format!(
                        "at {now} a verifier of replica {} ({}) lacks {kid}",
                        v.source,
                        v.fixed
                            .map_or("honours max-age".to_owned(), |d| format!("fixed {d}s")),
                    ));
                }
            }
        }
    }

    pub fn run(&mut self, event: &Event) {
        match event {
            Event::Advance(seconds) => {
                for _ in 0..*seconds {
                    self.now += 1;
                    for r in 0..self.replicas.len() {
                        self.tick(r);
                    }
                    self.observe();
                }
            }
            Event::Rotate { immediate } => {
                let actions = plan::rotate(self.now, &self.db, &self.policy, *immediate);
                self.write(&actions, 0);
            }
            Event::Revoke(index) => {
                let live: Vec<String> = plan::published(&self.db).map(|k| k.kid.clone()).collect();
                if live.is_empty() {
                    return;
                }
                let kid = &live[index % live.len()];
                let actions =
                    plan::revoke(self.now, &self.db, kid, &self.policy).expect("live key");
                self.write(&actions, 0);
            }
            Event::Restart { replica, max_ttl } => {
                let r = replica % self.replicas.len();
                self.replicas[r].max_ttl = MAX_TTLS[max_ttl % MAX_TTLS.len()];
                self.start(r);
            }
        }
        self.check_db();
    }

    /// At most one key waits to sign, and some key always can.
    fn check_db(&self) {
        let next = self
            .db
            .iter()
            .filter(|k| plan::state(k, &self.db, self.now) == plan::KeyState::Next)
            .count();
        assert!(next <= 1, "{next} next keys at {}: {:?}", self.now, self.db);
        assert!(plan::active(self.now, &self.db).is_some());
    }

    /// The invariant of SPEC §5, over everything observed. Returns the first
    /// violation.
    pub fn violation(&self) -> Option<String> {
        if let Some(v) = &self.verifier_violation {
            return Some(v.clone());
        }
        let end = self.now;
        for t in &self.tokens {
            if self.revoked.contains(&t.kid) {
                continue;
            }
            for r in 0..self.replicas.len() {
                let Some(s) = self.served.get(&(r, t.kid.clone())) else {
                    return Some(format!(
                        "replica {r} never published {} (token at {})",
                        t.kid, t.iat
                    ));
                };
                if s.seconds != s.last - s.first + 1 {
                    return Some(format!("replica {r} published {} with gaps", t.kid));
                }
                let exempt = t.iat < self.exempt_until;
                let needed_from = (t.iat - (PUBLISH_AHEAD - REFRESH)).max(0);
                if !exempt && s.first > needed_from {
                    return Some(format!(
                        "token {} at {} : replica {r} published it only from {} (needed {needed_from})",
                        t.kid, t.iat, s.first
                    ));
                }
                let needed_until = (t.exp + LEEWAY).min(end);
                if s.last < needed_until {
                    return Some(format!(
                        "token {} at {} exp {}: replica {r} unpublished it after {} (needed {needed_until})",
                        t.kid, t.iat, t.exp, s.last
                    ));
                }
            }
        }
        None
    }
}

mod tests;
