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
