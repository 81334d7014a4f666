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

use super::plan::{self, Action, RotationPolicy};
use crate::domain::{Algorithm, KeyRecord};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

const REFRESH: i64 = 5;
const PUBLISH_AHEAD: i64 = 30;
const ROTATE_EVERY: i64 = 120;
const LEEWAY: i64 = 5;
const MAX_TTLS: [i64; 3] = [10, 30, 90];

fn policy() -> RotationPolicy {
    RotationPolicy {
        algorithm: Algorithm::ES256,
        rotate_every: ROTATE_EVERY,
        publish_ahead: PUBLISH_AHEAD,
        refresh_every: REFRESH,
        leeway: LEEWAY,
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

#[derive(Default, Clone, Copy)]
struct Served {
    first: i64,
    last: i64,
    seconds: i64,
}

pub struct World {
    db: Vec<KeyRecord>,
    kids: u32,
    now: i64,
    replicas: Vec<Replica>,
    served: HashMap<(usize, String), Served>,
    tokens: Vec<Token>,
    /// Tokens of this kid issued before this time are exempt from the
    /// "published ahead" half (first key, `--now`, revocation).
    exempt_until: HashMap<String, i64>,
    revoked: HashSet<String>,
    /// Record each replica's max_ttl on keys before signing (SPEC §5).
    pub record_max_ttl: bool,
}

impl World {
    pub fn new() -> Self {
        let mut world = Self {
            db: Vec::new(),
            kids: 0,
            now: 0,
            replicas: vec![
                Replica {
                    snapshot: Vec::new(),
                    last_load: 0,
                    max_ttl: 30,
                    follows_changes: true,
                },
                Replica {
                    snapshot: Vec::new(),
                    last_load: 0,
                    max_ttl: 30,
                    follows_changes: false,
                },
            ],
            served: HashMap::new(),
            tokens: Vec::new(),
            exempt_until: HashMap::new(),
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
        let signs_at_once = actions.iter().any(|a| match a {
            Action::Create { activates_at, .. } => *activates_at <= now,
            Action::Activate { .. } => true,
            _ => false,
        });
        if signs_at_once && let Some(active) = plan::active(now, &self.db) {
            self.exempt_until
                .insert(active.kid.clone(), now + PUBLISH_AHEAD);
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
        self.replicas[r].last_load = now;
    }

    /// What `Application::build` does: apply the plan, load the ring.
    fn start(&mut self, r: usize) {
        let actions = plan::plan(self.now, &self.db, &policy());
        self.write(&actions, r);
        self.reload(r);
    }

    /// One background tick of replica `r`, as `follow_changes` runs it.
    fn tick(&mut self, r: usize) {
        let now = self.now;
        if !plan::plan(now, &self.replicas[r].snapshot, &policy()).is_empty() {
            let actions = plan::plan(now, &self.db, &policy());
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
                self.tokens.push(Token {
                    kid: active.kid.clone(),
                    iat: now,
                    exp: now + self.replicas[r].max_ttl,
                });
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
                let actions = plan::rotate(self.now, &self.db, &policy(), *immediate);
                self.write(&actions, 0);
            }
            Event::Revoke(index) => {
                let live: Vec<String> = plan::published(&self.db).map(|k| k.kid.clone()).collect();
                if live.is_empty() {
                    return;
                }
                let kid = &live[index % live.len()];
                let actions = plan::revoke(self.now, &self.db, kid, &policy()).expect("live key");
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
                let exempt = self
                    .exempt_until
                    .get(&t.kid)
                    .is_some_and(|until| t.iat < *until);
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

pub fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => (1i64..=250).prop_map(Event::Advance),
        1 => Just(Event::Rotate { immediate: false }),
        1 => Just(Event::Rotate { immediate: true }),
        1 => (0usize..4).prop_map(Event::Revoke),
        2 => (0usize..2, 0usize..3).prop_map(|(replica, max_ttl)| Event::Restart { replica, max_ttl }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn no_verifier_meets_an_unknown_kid_and_no_key_goes_early(events in prop::collection::vec(event(), 1..40)) {
        let mut world = World::new();
        for e in &events {
            world.run(e);
        }
        world.run(&Event::Advance(400));
        prop_assert_eq!(world.violation(), None);
    }
}

#[test]
fn scheduled_rotations_alone_keep_the_invariant_for_a_long_time() {
    let mut world = World::new();
    world.run(&Event::Advance(20 * ROTATE_EVERY));
    assert_eq!(world.violation(), None);
    assert!(world.kids >= 20, "a key per rotation: {}", world.kids);
}

#[test]
fn without_recorded_max_ttl_lowering_it_on_restart_strands_tokens() {
    // Replica 0 signs with max_ttl 90, then restarts with 10 and rotates at
    // once: the retired key must outlive the 90 s tokens it signed.
    let scenario = [
        Event::Restart {
            replica: 0,
            max_ttl: 2,
        },
        Event::Restart {
            replica: 1,
            max_ttl: 2,
        },
        Event::Advance(40),
        Event::Restart {
            replica: 0,
            max_ttl: 0,
        },
        Event::Restart {
            replica: 1,
            max_ttl: 0,
        },
        Event::Rotate { immediate: true },
        Event::Advance(200),
    ];
    let mut with = World::new();
    let mut without = World::new();
    without.record_max_ttl = false;
    for e in &scenario {
        with.run(e);
        without.run(e);
    }
    assert_eq!(with.violation(), None);
    assert!(
        without.violation().is_some(),
        "the property must bite when recording is off"
    );
}
