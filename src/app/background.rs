//! What runs beside the server: the loop that follows the change feed,
//! applies the rotation plan and reloads the key ring, and the TLS
//! certificate reload on SIGHUP.

use crate::keys::plan;
use crate::state::AppState;
use crate::store::ChangeKind;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the change feed is polled: client changes reach every replica
/// well within the 2 seconds SPEC §4 allows.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// How long the change feed keeps rows.
const FEED_RETENTION_SECS: i64 = 3600;

/// Reloads the TLS certificate on every SIGHUP; connections stay up and new
/// handshakes get the new certificate.
pub(super) async fn reload_on_sighup(cert: Arc<crate::tls::ReloadableCert>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; the TLS certificate is not reloadable");
            return;
        };
        while hangups.recv().await.is_some() {
            match cert.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: TLS certificate not reloaded; serving the previous one")
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = cert;
}

/// The background loop: change feed, rotation plan, key ring reload.
pub(super) async fn follow_changes(state: Arc<AppState>, mut last_seq: i64) {
    let store = &state.admin.store;
    let refresh_every = state.settings().keys.refresh_every;
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ring_load = Instant::now();
    let mut last_prune = Instant::now();
    let mut database_down = false;
    loop {
        tick.tick().await;
        let mut keys_changed = false;
        let mut clients_changed = false;
        match store.changes_since(last_seq, 1000).await {
            Ok(changes) => {
                if database_down {
                    tracing::info!("database reachable again");
                    database_down = false;
                    // Changes may have been pruned while we were away.
                    if store
                        .oldest_change()
                        .await
                        .ok()
                        .flatten()
                        .is_some_and(|o| o > last_seq + 1)
                    {
                        let reloaded = match state.reload_clients().await {
                            Ok(()) => state.admin.refresh_local_trust().await,
                            Err(e) => Err(e),
                        };
                        match reloaded {
                            Ok(()) => clients_changed = true,
                            Err(e) => {
                                tracing::warn!(error = %e, "reloading the clients failed");
                                database_down = true;
                                continue;
                            }
                        }
                        keys_changed = true;
                        if let Ok(entries) = store.revoked_tokens(state.now()).await {
                            state.deny.replace(entries);
                        }
                    }
                }
                for change in &changes {
                    match change.kind {
                        ChangeKind::Client => match store.client(&change.subject).await {
                            Ok(Some(client)) => {
                                state.clients.upsert(client);
                                clients_changed = true;
                            }
                            Ok(None) => {
                                state.clients.remove(&change.subject);
                                clients_changed = true;
                            }
                            // Retry this change on the next tick.
                            Err(_) => break,
                        },
                        ChangeKind::Revocation => {
                            match store.revoked_token(&change.subject).await {
                                Ok(Some(exp)) => state.deny.insert(&change.subject, exp),
                                Ok(None) => {}
                                // Retry this change on the next tick.
                                Err(_) => break,
                            }
                        }
                        ChangeKind::Keys => keys_changed = true,
                        ChangeKind::Trust => {
                            if let Err(e) = state.admin.refresh_local_trust().await {
                                tracing::warn!(error = %e, "reloading the trust providers failed");
                                // Retry this change on the next tick.
                                break;
                            }
                        }
                        ChangeKind::Other => {
                            // Written by a newer version: reload everything.
                            if state.reload_clients().await.is_err()
                                || state.admin.refresh_local_trust().await.is_err()
                            {
                                break;
                            }
                            keys_changed = true;
                            clients_changed = true;
                        }
                    }
                    last_seq = change.seq;
                }
            }
            Err(e) => {
                state.metrics.database_errors.inc();
                if !database_down {
                    tracing::warn!(error = %e, "database unreachable; serving from memory");
                    database_down = true;
                }
                continue;
            }
        }

        let now = state.now();
        let due = !plan::plan(
            now,
            state.ring.load().records(),
            &state.admin.rotation_policy(),
        )
        .is_empty();
        if due {
            match state.admin.as_actor("scheduler").apply_plan().await {
                Ok(actions) => {
                    for action in actions {
                        if matches!(action, plan::Action::Create { .. }) {
                            state.metrics.rotations.inc();
                        }
                        tracing::info!(?action, "key rotation plan applied");
                    }
                    keys_changed = true;
                }
                Err(e) => {
                    state.metrics.database_errors.inc();
                    tracing::warn!(error = %e, "applying the rotation plan failed");
                }
            }
        }

        if keys_changed || last_ring_load.elapsed() >= refresh_every {
            match state.reload_ring().await {
                Ok(()) => last_ring_load = Instant::now(),
                Err(e) => {
                    state.metrics.database_errors.inc();
                    tracing::warn!(error = %e, "reloading the key ring failed");
                }
            }
        }
        if clients_changed && let Err(e) = state.refresh_metadata().await {
            tracing::warn!(error = %e, "refreshing the metadata document failed");
        }
        if last_prune.elapsed() >= Duration::from_secs(60) {
            last_prune = Instant::now();
            if let Err(e) = store.prune_changes(now - FEED_RETENTION_SECS).await {
                tracing::warn!(error = %e, "pruning the change feed failed");
            }
            state.deny.sweep(now);
            if let Err(e) = store.sweep_expired(now).await {
                tracing::warn!(error = %e, "sweeping expired revocations failed");
            }
        }
    }
}
