//! Limits failed client authentications (SPEC §7), per source address and
//! per (client id, source address), in fixed windows: past the limit, 429 with
//! `Retry-After` until the window ends, so nobody is locked out longer than a
//! window. Client ids are public, so failures from one address never lock the
//! client out at another. Memory is bounded: the windows live in a fixed-size
//! cache keyed by a 64-bit keyed hash, so an attack with random ids and
//! addresses evicts old windows instead of growing the map, and checking a
//! request allocates nothing.

use quick_cache::sync::Cache;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures per (client id, source address) per window.
    pub per_client: u32,
    /// Failures per source address per window.
    pub per_address: u32,
    pub window_secs: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_client: 20,
            per_address: 100,
            window_secs: 60,
        }
    }
}

#[derive(Debug)]
struct Window {
    start: AtomicI64,
    failures: AtomicU32,
}

pub struct FailureLimiter {
    limits: Limits,
    /// Keyed by a hash of (kind, address, client id): a collision only makes
    /// two sources share a window.
    windows: Cache<u64, Arc<Window>>,
    hasher: std::collections::hash_map::RandomState,
    /// When the last failure was counted (seconds). No window can be over
    /// its limit a whole window after it, so a server without recent
    /// failures checks requests without hashing or a lookup (and without
    /// writing memory the other workers read).
    last_failure: AtomicI64,
}

/// Whose failures count.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub client_id: Option<&'a str>,
    pub address: Option<IpAddr>,
}

impl FailureLimiter {
    pub fn new(limits: Limits, capacity: usize) -> Self {
        Self {
            limits,
            windows: Cache::new(capacity),
            hasher: std::collections::hash_map::RandomState::new(),
            last_failure: AtomicI64::new(i64::MIN),
        }
    }

    /// The windows a source counts in, with their limits.
    fn keys(&self, source: Source<'_>) -> [Option<(u64, u32)>; 2] {
        let address = source.address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let per_address = Some((
            self.hasher.hash_one((0u8, address)),
            self.limits.per_address,
        ));
        let per_pair = source.client_id.map(|id| {
            (
                self.hasher.hash_one((1u8, address, id)),
                self.limits.per_client,
            )
        });
        [per_pair, per_address]
    }

    /// `Err(seconds)` while `source` is over a limit: retry after that long.
    pub fn check(&self, source: Source<'_>, now: i64) -> Result<(), u64> {
        // A window starts at its first failure, so every failure in it is at
        // or before the last one: it has ended a window after that.
        let last = self.last_failure.load(Ordering::Acquire);
        if now >= last.saturating_add(self.limits.window_secs) {
            return Ok(());
        }
        for (key, limit) in self.keys(source).into_iter().flatten() {
            let Some(window) = self.windows.get(&key) else {
                continue;
            };
            let start = window.start.load(Ordering::Acquire);
            let ends = start.saturating_add(self.limits.window_secs);
            if now < ends && window.failures.load(Ordering::Acquire) >= limit {
                return Err((ends - now).max(1) as u64);
            }
        }
        Ok(())
    }

    /// Counts a failure; returns true when it made `source` reach a limit.
    pub fn record_failure(&self, source: Source<'_>, now: i64) -> bool {
        self.last_failure.fetch_max(now, Ordering::AcqRel);
        let mut tripped = false;
        for (key, limit) in self.keys(source).into_iter().flatten() {
            let window = self
                .windows
                .get_or_insert_with(&key, || {
                    Ok::<_, std::convert::Infallible>(Arc::new(Window {
                        start: AtomicI64::new(now),
                        failures: AtomicU32::new(0),
                    }))
                })
                .unwrap_or_else(|never| match never {});
            let start = window.start.load(Ordering::Acquire);
            if now >= start.saturating_add(self.limits.window_secs) {
                window.start.store(now, Ordering::Release);
                window.failures.store(0, Ordering::Release);
            }
            if window.failures.fetch_add(1, Ordering::AcqRel) + 1 == limit {
                tripped = true;
            }
        }
        tripped
    }

    pub fn len(&self) -> usize {
        self.windows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> FailureLimiter {
        FailureLimiter::new(
            Limits {
                per_client: 3,
                per_address: 5,
                window_secs: 60,
            },
            1000,
        )
    }

    fn at(id: &str, address: &str) -> Source<'static> {
        Source {
            client_id: Some(Box::leak(id.to_owned().into_boxed_str())),
            address: Some(address.parse().unwrap()),
        }
    }

    #[test]
    fn blocks_after_the_limit_and_recovers_after_the_window() {
        let l = limiter();
        let s = at("a", "10.0.0.1");
        for _ in 0..3 {
            assert!(l.check(s, 100).is_ok());
            l.record_failure(s, 100);
        }
        assert_eq!(l.check(s, 110), Err(50));
        assert!(l.check(s, 160).is_ok(), "never longer than the window");
    }

    #[test]
    fn a_failure_long_ago_does_not_hide_a_window_still_over_its_limit() {
        let l = limiter();
        let s = at("a", "10.0.0.1");
        for t in [100, 101, 102] {
            l.record_failure(s, t);
        }
        // The window began at 100 and ends at 160, a window after the
        // first failure, not after the last.
        assert_eq!(l.check(s, 159), Err(1));
        assert!(l.check(s, 160).is_ok());
        // A failure elsewhere much later does not reopen an ended window.
        l.record_failure(at("b", "10.0.0.9"), 1000);
        assert!(l.check(s, 1001).is_ok());
        // Time going backwards (a stepped test clock) still checks.
        assert_eq!(l.check(s, 120), Err(40));
    }

    #[test]
    fn failures_from_one_address_never_lock_the_client_out_elsewhere() {
        let l = limiter();
        let attacker = at("victim", "10.0.0.66");
        for _ in 0..1000 {
            l.record_failure(attacker, 0);
        }
        assert!(l.check(attacker, 1).is_err());
        assert!(l.check(at("victim", "10.0.0.2"), 1).is_ok());
    }

    #[test]
    fn per_address_limit_spans_client_ids() {
        let l = limiter();
        for i in 0..5 {
            l.record_failure(at(&format!("id{i}"), "10.0.0.1"), 0);
        }
        assert!(l.check(at("new", "10.0.0.1"), 1).is_err());
        assert!(l.check(at("new", "10.0.0.2"), 1).is_ok());
    }

    #[test]
    fn memory_stays_bounded_under_random_ids_and_addresses() {
        let l = FailureLimiter::new(Limits::default(), 1000);
        for i in 0..100_000u32 {
            let id = format!("random-{i}");
            let address = IpAddr::from(i.to_be_bytes());
            l.record_failure(
                Source {
                    client_id: Some(&id),
                    address: Some(address),
                },
                0,
            );
        }
        assert!(l.len() <= 1100, "{}", l.len());
    }
}
