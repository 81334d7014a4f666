//! What the protocol needs from the outside world, as narrow traits: the
//! store implements them (`store/ports.rs`), tests can implement them in
//! memory, and `oauth` never sees a database type. Each is on a cold path
//! (an assertion's first use, a revocation, an audit event), so a boxed
//! future costs nothing that matters.

use std::future::Future;
use std::pin::Pin;

/// A failure of the outside world, already logged-safe (no secret in it).
pub type PortError = Box<dyn std::error::Error + Send + Sync>;

pub type PortFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PortError>> + Send + 'a>>;

/// One use per id, on every replica (RFC 7523 §3 `jti`).
pub trait ReplayGuard: Send + Sync {
    /// `true` the first time `id` is seen; it is remembered until `expires_at`.
    fn first_use<'a>(&'a self, id: &'a str, expires_at: i64) -> PortFuture<'a, bool>;
}

/// The replicated deny list of revoked tokens (RFC 7009).
pub trait RevocationLog: Send + Sync {
    /// Records `jti` of `client_id`'s token until `expires_at`; `false` when
    /// the client already holds `per_client` unexpired revocations.
    fn revoke<'a>(
        &'a self,
        jti: &'a str,
        client_id: &'a str,
        expires_at: i64,
        now: i64,
        per_client: i64,
    ) -> PortFuture<'a, bool>;
}

/// The audit trail.
pub trait AuditSink: Send + Sync {
    fn record<'a>(
        &'a self,
        at: i64,
        actor: &'a str,
        action: &'a str,
        subject: &'a str,
        details: &'a serde_json::Value,
    ) -> PortFuture<'a, ()>;
}

/// Tokens one client got in one quota window: what a replica adds, or the
/// total of every replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaDelta {
    pub client_id: String,
    pub window_secs: i64,
    pub window_start: i64,
    pub count: i64,
}

/// Quota counts shared by every replica (SPEC §11).
pub trait QuotaLedger: Send + Sync {
    /// Adds each delta (zero is fine: it reads the total) and returns the
    /// totals.
    fn add<'a>(&'a self, deltas: &'a [QuotaDelta]) -> PortFuture<'a, Vec<QuotaDelta>>;
}
