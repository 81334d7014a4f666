//! Per-client token quotas (SPEC §11). Each replica decides from memory: the
//! total every replica had reached at its last sync plus what it issued
//! since. A background task adds its new counts to the shared ledger about
//! once a second and reads the totals back (one statement per thousand
//! active clients); it syncs sooner when a client nears its limit (whenever the
//! unsynced count reaches a thirty-second of what was left at the last sync), so
//! replicas overshoot a quota by little and never write once per token.

use super::ports::{QuotaDelta, QuotaLedger};
use crate::domain::{Quota, QuotaMode};
use dashmap::DashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How often the counts are shared when no client is near its limit.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);
/// A replica shares its counts (and waits for the answer) once its unshared
/// tokens reach 1/SHARE_FRACTION of what the client had left: the most it
/// can overshoot on stale counts, per replica.
const SHARE_FRACTION: i64 = 32;
/// The longest a request waits for syncs near its client's limit, before it
/// is decided on this replica's count alone.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// One client's window on this replica.
#[derive(Debug, Default)]
struct Entry {
    window_secs: i64,
    window_start: i64,
    /// Every replica's total at the last sync (this one's included).
    shared: i64,
    /// Sent in the sync under way.
    in_flight: i64,
    /// Issued here since.
    pending: i64,
    /// The window's first excess has been reported by this replica.
    excess_noted: bool,
    /// A sync has told this replica the other replicas' count for the
    /// window; until then it issues one token at most.
    heard: bool,
}

impl Entry {
    fn used(&self) -> i64 {
        self.shared + self.in_flight + self.pending
    }

    fn ended(&self, now: i64) -> bool {
        self.window_start + self.window_secs <= now
    }
}

/// What the quota says about one token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaDecision {
    pub quota: Quota,
    /// Tokens left in the window after this one (0 when refused).
    pub remaining: u64,
    /// Seconds until the window ends.
    pub reset: u64,
    /// The request is past the quota.
    pub over: bool,
    /// The first request past the quota in this window on this replica.
    pub first_excess: bool,
}

impl QuotaDecision {
    /// The window this decision counted in (for the once-per-window audit).
    pub fn window_start(&self, now: i64) -> i64 {
        self.quota.window.start(now)
    }
}

pub struct QuotaCounter {
    entries: DashMap<Box<str>, Mutex<Entry>>,
    ledger: Arc<dyn QuotaLedger>,
    wake: tokio::sync::Notify,
    /// Told after every sync.
    synced: tokio::sync::Notify,
    /// The last sync reached the ledger.
    ledger_answers: AtomicBool,
    /// `tokens.default_quota`, for clients that name none.
    pub default: Option<Quota>,
    /// When the last failed sync was logged (at most one line a minute).
    last_failure_log: Mutex<Option<std::time::Instant>>,
}

impl QuotaCounter {
    pub fn new(ledger: Arc<dyn QuotaLedger>, default: Option<Quota>) -> Self {
        Self {
            entries: DashMap::new(),
            ledger,
            wake: tokio::sync::Notify::new(),
            synced: tokio::sync::Notify::new(),
            ledger_answers: AtomicBool::new(true),
            default,
            last_failure_log: Mutex::new(None),
        }
    }

    /// Starts the sync task; it stops when the counter is dropped.
    pub fn spawn_sync(self: &Arc<Self>, clock: crate::clock::SharedClock) {
        let counter: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SYNC_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let Some(this) = counter.upgrade() else {
                    return;
                };
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = this.wake.notified() => {}
                }
                this.sync(clock.now().timestamp()).await;
            }
        });
    }

    /// Counts one token for `client_id` at `now` and says whether it is
    /// within `quota`. A refused request (over, enforce) is not counted.
    /// Once this replica's unshared tokens reach a thirty-second of what the
    /// client had left at the last sync, an enforced request waits for the
    /// next sync (for at most [`MAX_WAIT`] in all): so two
    /// replicas hit by one client at full speed overshoot its quota by a few
    /// tokens, not by what each issues in a database round trip. While the
    /// database does not answer, nothing waits (each replica counts alone).
    pub async fn count(
        &self,
        client_id: &str,
        quota: Quota,
        mode: QuotaMode,
        now: i64,
    ) -> QuotaDecision {
        let deadline = tokio::time::Instant::now() + MAX_WAIT;
        loop {
            if let Some(decision) = self.try_take(client_id, quota, mode, now, true) {
                return decision;
            }
            let synced = self.synced.notified();
            tokio::pin!(synced);
            synced.as_mut().enable();
            self.wake.notify_one();
            if tokio::time::timeout_at(deadline, synced).await.is_err() {
                break;
            }
        }
        self.take(client_id, quota, mode, now)
    }

    /// [`QuotaCounter::count`] without waiting for a sync.
    pub fn take(&self, client_id: &str, quota: Quota, mode: QuotaMode, now: i64) -> QuotaDecision {
        self.try_take(client_id, quota, mode, now, false)
            .expect("a take that may not wait decides")
    }

    /// `None`: the request should wait for a sync (nothing was counted).
    fn try_take(
        &self,
        client_id: &str,
        quota: Quota,
        mode: QuotaMode,
        now: i64,
        may_wait: bool,
    ) -> Option<QuotaDecision> {
        let secs = quota.window.secs();
        let start = quota.window.start(now);
        let limit = i64::from(quota.limit);
        let may_wait =
            may_wait && mode == QuotaMode::Enforce && self.ledger_answers.load(Ordering::Relaxed);
        let decide = |e: &mut Entry| {
            if e.window_secs != secs || e.window_start != start {
                *e = Entry {
                    window_secs: secs,
                    window_start: start,
                    ..Entry::default()
                };
            }
            let over = e.used() >= limit;
            let headroom = limit - e.shared;
            // Until the first sync of the window: one token, then wait.
            let threshold = if e.heard {
                (headroom / SHARE_FRACTION).max(1)
            } else {
                1
            };
            let unshared = e.pending + e.in_flight;
            if may_wait && !over && unshared >= threshold {
                return (None, true);
            }
            let mut first_excess = false;
            if over {
                first_excess = !e.excess_noted;
                e.excess_noted = true;
            }
            if !over || mode == QuotaMode::Monitor {
                e.pending += 1;
            }
            // Near the limit, share sooner (not past it: refusals add
            // nothing, and monitor mode only needs the periodic sync).
            let wake = !over && headroom > 0 && unshared + 1 >= threshold;
            let decision = QuotaDecision {
                quota,
                remaining: (limit - e.used()).max(0) as u64,
                reset: (start + secs - now).max(0) as u64,
                over,
                first_excess,
            };
            (Some(decision), wake)
        };
        let (decision, wake) = match self.entries.get(client_id) {
            Some(entry) => decide(&mut entry.lock().expect("quota entry lock")),
            // A client new to this replica: learn the other replicas'
            // count at once rather than at the next tick.
            None => {
                let (decision, _) = decide(
                    &mut self
                        .entries
                        .entry(client_id.into())
                        .or_default()
                        .lock()
                        .expect("quota entry lock"),
                );
                (decision, true)
            }
        };
        if wake {
            self.wake.notify_one();
        }
        decision
    }

    /// Shares this replica's new counts and reads every replica's totals.
    /// The background task calls it; tests call it to step the sync.
    pub async fn sync(&self, now: i64) {
        let mut sent: Vec<QuotaDelta> = Vec::new();
        for item in self.entries.iter() {
            let mut e = item.value().lock().expect("quota entry lock");
            if e.ended(now) && e.pending == 0 {
                continue;
            }
            e.in_flight += e.pending;
            sent.push(QuotaDelta {
                client_id: item.key().to_string(),
                window_secs: e.window_secs,
                window_start: e.window_start,
                count: e.pending,
            });
            e.pending = 0;
        }
        self.entries.retain(|_, e| {
            let e = e.get_mut().expect("quota entry lock");
            !(e.ended(now) && e.pending == 0 && e.in_flight == 0)
        });
        if sent.is_empty() {
            self.synced.notify_waiters();
            return;
        }
        let result = self.ledger.add(&sent).await;
        self.ledger_answers.store(result.is_ok(), Ordering::Relaxed);
        let totals = match &result {
            Ok(totals) => totals,
            Err(_) => &Vec::new(),
        };
        for delta in &sent {
            let Some(entry) = self.entries.get(delta.client_id.as_str()) else {
                continue;
            };
            let mut e = entry.lock().expect("quota entry lock");
            if e.window_secs != delta.window_secs || e.window_start != delta.window_start {
                continue;
            }
            e.in_flight -= delta.count;
            match totals.iter().find(|t| {
                t.client_id == delta.client_id
                    && t.window_secs == delta.window_secs
                    && t.window_start == delta.window_start
            }) {
                // The ledger's total has this replica's counts in it.
                Some(total) => {
                    e.shared = e.shared.max(total.count);
                    e.heard = true;
                }
                // Not shared: kept to send with the next sync.
                None => e.pending += delta.count,
            }
        }
        self.synced.notify_waiters();
        if let Err(e) = result {
            let mut last = self.last_failure_log.lock().expect("log lock");
            if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                *last = Some(std::time::Instant::now());
                tracing::warn!(error = %e, "sharing quota counts failed; each replica counts alone until the database answers");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::ports::PortFuture;
    use std::collections::HashMap;

    /// The shared ledger in memory.
    #[derive(Default)]
    struct Ledger {
        counts: Mutex<HashMap<(String, i64, i64), i64>>,
        down: std::sync::atomic::AtomicBool,
    }

    impl QuotaLedger for Ledger {
        fn add<'a>(&'a self, deltas: &'a [QuotaDelta]) -> PortFuture<'a, Vec<QuotaDelta>> {
            Box::pin(async move {
                if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                    return Err("database down".into());
                }
                let mut counts = self.counts.lock().unwrap();
                Ok(deltas
                    .iter()
                    .map(|d| {
                        let key = (d.client_id.clone(), d.window_secs, d.window_start);
                        let total = counts.entry(key).or_default();
                        *total += d.count;
                        QuotaDelta {
                            count: *total,
                            ..d.clone()
                        }
                    })
                    .collect())
            })
        }
    }

    fn quota(text: &str) -> Quota {
        text.parse().unwrap()
    }

    const T0: i64 = 1_800_000_000; // a minute boundary

    #[tokio::test]
    async fn enforce_refuses_past_the_limit_until_the_window_ends() {
        let counter = QuotaCounter::new(Arc::new(Ledger::default()), None);
        let q = quota("3/m");
        let remaining: Vec<u64> = (0..3)
            .map(|_| counter.take("a", q, QuotaMode::Enforce, T0 + 10).remaining)
            .collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        let refused = counter.take("a", q, QuotaMode::Enforce, T0 + 10);
        assert!(refused.over && refused.first_excess);
        assert_eq!(refused.reset, 50);
        let again = counter.take("a", q, QuotaMode::Enforce, T0 + 59);
        assert!(again.over && !again.first_excess);
        // Another client is not affected; the next window starts afresh.
        assert!(!counter.take("b", q, QuotaMode::Enforce, T0 + 10).over);
        let next = counter.take("a", q, QuotaMode::Enforce, T0 + 60);
        assert!(!next.over);
        assert_eq!((next.remaining, next.reset), (2, 60));
    }

    #[tokio::test]
    async fn monitor_counts_past_the_limit_and_issues() {
        let counter = QuotaCounter::new(Arc::new(Ledger::default()), None);
        let q = quota("2/m");
        let d: Vec<QuotaDecision> = (0..4)
            .map(|_| counter.take("a", q, QuotaMode::Monitor, T0))
            .collect();
        assert_eq!(d.iter().filter(|d| d.over).count(), 2);
        assert_eq!(d.iter().filter(|d| d.first_excess).count(), 1);
    }

    #[tokio::test]
    async fn replicas_share_counts_through_the_ledger() {
        let ledger = Arc::new(Ledger::default());
        let one = QuotaCounter::new(ledger.clone(), None);
        let two = QuotaCounter::new(ledger.clone(), None);
        let q = quota("10/m");
        for _ in 0..6 {
            assert!(!one.take("a", q, QuotaMode::Enforce, T0).over);
        }
        one.sync(T0).await;
        // Replica two learns of the six at its first sync.
        assert!(!two.take("a", q, QuotaMode::Enforce, T0).over);
        two.sync(T0).await;
        assert_eq!(two.take("a", q, QuotaMode::Enforce, T0).remaining, 2);
        assert_eq!(two.take("a", q, QuotaMode::Enforce, T0).remaining, 1);
        two.sync(T0).await;
        one.sync(T0).await;
        // 6 + 3 issued; one left for whichever replica asks first.
        assert!(!one.take("a", q, QuotaMode::Enforce, T0).over);
        one.sync(T0).await;
        two.sync(T0).await;
        assert!(two.take("a", q, QuotaMode::Enforce, T0).over);
        assert_eq!(ledger.counts.lock().unwrap()[&("a".into(), 60, T0)], 10);
    }

    #[tokio::test]
    async fn a_failed_sync_keeps_the_counts_for_the_next() {
        let ledger = Arc::new(Ledger::default());
        let counter = QuotaCounter::new(ledger.clone(), None);
        let q = quota("100/h");
        for _ in 0..5 {
            counter.take("a", q, QuotaMode::Enforce, T0);
        }
        ledger.down.store(true, std::sync::atomic::Ordering::SeqCst);
        counter.sync(T0).await;
        assert_eq!(counter.take("a", q, QuotaMode::Enforce, T0).remaining, 94);
        ledger
            .down
            .store(false, std::sync::atomic::Ordering::SeqCst);
        counter.sync(T0).await;
        let hour = quota("1/h").window.start(T0);
        assert_eq!(ledger.counts.lock().unwrap()[&("a".into(), 3600, hour)], 6);
    }

    #[tokio::test]
    async fn ended_windows_are_shared_then_forgotten() {
        let ledger = Arc::new(Ledger::default());
        let counter = QuotaCounter::new(ledger.clone(), None);
        counter.take("a", quota("5/m"), QuotaMode::Enforce, T0);
        counter.sync(T0 + 61).await;
        assert_eq!(ledger.counts.lock().unwrap()[&("a".into(), 60, T0)], 1);
        counter.sync(T0 + 62).await;
        assert!(counter.entries.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_replicas_flooded_at_once_overshoot_by_under_one_percent() {
        let ledger = Arc::new(Ledger::default());
        let clock: crate::clock::SharedClock = Arc::new(crate::clock::ManualClock::new(
            chrono::DateTime::from_timestamp(T0 + 1, 0).unwrap(),
        ));
        let replicas: Vec<Arc<QuotaCounter>> = (0..2)
            .map(|_| Arc::new(QuotaCounter::new(ledger.clone(), None)))
            .collect();
        for r in &replicas {
            r.spawn_sync(clock.clone());
        }
        let q = quota("1000/m");
        let mut callers = Vec::new();
        for r in &replicas {
            for _ in 0..8 {
                let r = r.clone();
                callers.push(tokio::spawn(async move {
                    let mut issued = 0;
                    while !r.count("a", q, QuotaMode::Enforce, T0 + 1).await.over {
                        issued += 1;
                    }
                    issued
                }));
            }
        }
        let mut issued = 0;
        for c in callers {
            issued += c.await.unwrap();
        }
        assert!(
            // The bound: a thirty-second of the quota per other replica.
            (1000..=1000 + 1000 / SHARE_FRACTION as u64).contains(&issued),
            "{issued} issued for a quota of 1000"
        );
    }

    #[tokio::test]
    async fn nearing_the_limit_wakes_the_sync() {
        let counter = QuotaCounter::new(Arc::new(Ledger::default()), None);
        let q = quota("320/m");
        // A client new to the replica wakes it (to learn the others' count)
        // until a sync has answered.
        counter.take("a", q, QuotaMode::Enforce, T0);
        let woken = tokio::time::timeout(Duration::from_secs(5), counter.wake.notified());
        assert!(woken.await.is_ok());
        counter.sync(T0).await;
        for _ in 1..9 {
            counter.take("a", q, QuotaMode::Enforce, T0);
        }
        // 320 / 32 = 10 unsynced tokens wake the task.
        let woken = tokio::time::timeout(Duration::from_millis(1), counter.wake.notified());
        assert!(woken.await.is_err(), "not yet");
        counter.take("a", q, QuotaMode::Enforce, T0);
        let woken = tokio::time::timeout(Duration::from_secs(5), counter.wake.notified());
        assert!(woken.await.is_ok());
    }
}
