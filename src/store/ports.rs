//! The store as the protocol's ports (`oauth::ports`).

use super::Store;
use crate::oauth::ports::{
    AuditSink, PortFuture, QuotaDelta, QuotaLedger, ReplayGuard, RevocationLog,
};

impl ReplayGuard for Store {
    fn first_use<'a>(&'a self, id: &'a str, expires_at: i64) -> PortFuture<'a, bool> {
        Box::pin(async move { Ok(self.use_assertion(id, expires_at).await?) })
    }
}

/// Single-use records written in batches: the ids that arrive while one
/// insert is in flight go together in the next (one statement, one commit),
/// so concurrent DPoP proofs and assertions share a database round trip
/// instead of queueing for one each.
pub struct ReplayBatcher {
    queue: tokio::sync::mpsc::Sender<Pending>,
}

type Pending = (
    String,
    i64,
    tokio::sync::oneshot::Sender<Result<bool, String>>,
);

/// The most ids in one insert.
const BATCH: usize = 256;

impl ReplayBatcher {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(store: Store) -> Self {
        let (queue, mut pending) = tokio::sync::mpsc::channel::<Pending>(4 * BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while pending.recv_many(&mut batch, BATCH).await > 0 {
                // An id twice in one batch: only its first request may win.
                let mut seen = std::collections::HashSet::new();
                let items: Vec<(String, i64)> = batch
                    .iter()
                    .filter(|(id, _, _)| seen.insert(id.clone()))
                    .map(|(id, exp, _)| (id.clone(), *exp))
                    .collect();
                let result = store.use_assertions(&items).await;
                let mut answered = std::collections::HashSet::new();
                for (id, _, reply) in batch.drain(..) {
                    let first = answered.insert(id.clone());
                    let _ = reply.send(match &result {
                        Ok(new) => Ok(first && new.contains(&id)),
                        Err(e) => Err(e.to_string()),
                    });
                }
            }
        });
        Self { queue }
    }
}

impl ReplayGuard for ReplayBatcher {
    fn first_use<'a>(&'a self, id: &'a str, expires_at: i64) -> PortFuture<'a, bool> {
        Box::pin(async move {
            let (reply, answer) = tokio::sync::oneshot::channel();
            self.queue
                .send((id.to_owned(), expires_at, reply))
                .await
                .map_err(|_| "the single-use writer stopped")?;
            let first = answer
                .await
                .map_err(|_| "the single-use writer stopped")??;
            Ok(first)
        })
    }
}

impl RevocationLog for Store {
    fn revoke<'a>(
        &'a self,
        jti: &'a str,
        client_id: &'a str,
        expires_at: i64,
        now: i64,
        per_client: i64,
    ) -> PortFuture<'a, bool> {
        Box::pin(async move {
            Ok(self
                .revoke_token(jti, client_id, expires_at, now, per_client)
                .await?)
        })
    }
}

impl AuditSink for Store {
    fn record<'a>(
        &'a self,
        at: i64,
        actor: &'a str,
        action: &'a str,
        subject: &'a str,
        details: &'a serde_json::Value,
    ) -> PortFuture<'a, ()> {
        Box::pin(async move {
            Ok(self
                .record_audit(at, actor, action, subject, details)
                .await?)
        })
    }
}

impl QuotaLedger for Store {
    fn add<'a>(&'a self, deltas: &'a [QuotaDelta]) -> PortFuture<'a, Vec<QuotaDelta>> {
        Box::pin(async move { Ok(self.add_quota_counts(deltas).await?) })
    }
}
