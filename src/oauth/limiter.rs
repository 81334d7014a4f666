//! Limits failed client authentications (SPEC §7), per client id and per
//! source address, in fixed windows: past the limit, 429 with `Retry-After`
//! until the window ends, so nobody is locked out longer than a window.
//! Memory is bounded: the windows live in a fixed-size cache, so an attack
//! with random client ids evicts old windows instead of growing the map.

use quick_cache::sync::Cache;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures per client id per window.
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
    windows: Cache<String, Arc<Window>>,
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
        }
    }

    fn keys(source: Source<'_>) -> [(Option<String>, bool); 2] {
        [
            (source.client_id.map(|id| format!("c\u{0}{id}")), true),
            (source.address.map(|a| format!("a\u{0}{a}")), false),
        ]
    }

    /// `Err(seconds)` while `source` is over a limit: retry after that long.
    pub fn check(&self, source: Source<'_>, now: i64) -> Result<(), u64> {
        for (key, per_client) in Self::keys(source) {
            let Some(key) = key else { continue };
            let Some(window) = self.windows.get(&key) else {
                continue;
            };
            let start = window.start.load(Ordering::Acquire);
            let limit = if per_client {
                self.limits.per_client
            } else {
                self.limits.per_address
            };
            let ends = start + self.limits.window_secs;
            if now < ends && window.failures.load(Ordering::Acquire) >= limit {
                return Err((ends - now).max(1) as u64);
            }
        }
        Ok(())
    }

    /// Counts a failure; returns true when it made `source` reach a limit.
    pub fn record_failure(&self, source: Source<'_>, now: i64) -> bool {
        let mut tripped = false;
        for (key, per_client) in Self::keys(source) {
            let Some(key) = key else { continue };
            let window = match self.windows.get(&key) {
                Some(w) => w,
                None => {
                    let w = Arc::new(Window {
                        start: AtomicI64::new(now),
                        failures: AtomicU32::new(0),
                    });
                    self.windows.insert(key, w.clone());
                    w
                }
            };
            let start = window.start.load(Ordering::Acquire);
            if now >= start + self.limits.window_secs {
                window.start.store(now, Ordering::Release);
                window.failures.store(0, Ordering::Release);
            }
            let limit = if per_client {
                self.limits.per_client
            } else {
                self.limits.per_address
            };
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

    #[test]
    fn blocks_after_the_limit_and_recovers_after_the_window() {
        let l = limiter();
        let s = Source {
            client_id: Some("a"),
            address: None,
        };
        for _ in 0..3 {
            assert!(l.check(s, 100).is_ok());
            l.record_failure(s, 100);
        }
        assert_eq!(l.check(s, 110), Err(50));
        assert!(l.check(s, 160).is_ok(), "never longer than the window");
    }

    #[test]
    fn per_address_limit_spans_client_ids() {
        let l = limiter();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..5 {
            let id = format!("id{i}");
            l.record_failure(
                Source {
                    client_id: Some(&id),
                    address: Some(ip),
                },
                0,
            );
        }
        let fresh = Source {
            client_id: Some("new"),
            address: Some(ip),
        };
        assert!(l.check(fresh, 1).is_err());
        let elsewhere = Source {
            client_id: Some("new"),
            address: Some("10.0.0.2".parse().unwrap()),
        };
        assert!(l.check(elsewhere, 1).is_ok());
    }

    #[test]
    fn memory_stays_bounded_under_random_ids() {
        let l = FailureLimiter::new(Limits::default(), 1000);
        for i in 0..50_000 {
            let id = format!("random-{i}");
            l.record_failure(
                Source {
                    client_id: Some(&id),
                    address: None,
                },
                0,
            );
        }
        assert!(l.len() <= 1100, "{}", l.len());
    }
}
