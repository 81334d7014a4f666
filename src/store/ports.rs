//! The store as the protocol's ports (`oauth::ports`).

use super::Store;
use crate::oauth::ports::{AuditSink, PortFuture, ReplayGuard, RevocationLog};

impl ReplayGuard for Store {
    fn first_use<'a>(&'a self, id: &'a str, expires_at: i64) -> PortFuture<'a, bool> {
        Box::pin(async move { Ok(self.use_assertion(id, expires_at).await?) })
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
