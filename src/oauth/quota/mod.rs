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
    /// One sync at a time: when `sync` returns, every count taken before
    /// it was called is in the ledger (a sync under way finishes first).
    syncing: tokio::sync::Mutex<()>,
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
            syncing: tokio::sync::Mutex::new(()),
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
        let _one_at_a_time = self.syncing.lock().await;
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
mod tests;
