//! The audit trail: security events, newest first.

use super::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// `cli`, `api:<client id>`, `scheduler`, `tokend`.
    pub actor: String,
    pub action: String,
    pub subject: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl Store {
    pub async fn record_audit(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        subject: &str,
        details: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_events (at, actor, action, subject, details) VALUES ($1, $2, $3, $4, $5)")
            .bind(at)
            .bind(actor)
            .bind(action)
            .bind(subject)
            .bind(details.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Newest first, `limit` at most, before the event id `before`.
    pub async fn audit_events(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.audit_events_matching(limit, before, None, None).await
    }

    /// The newest events first, of one action and one subject when given.
    pub async fn audit_events_matching(
        &self,
        limit: u32,
        before: Option<i64>,
        action: Option<&str>,
        subject: Option<&str>,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, subject, details FROM audit_events WHERE id < $1 \
             AND ($3 = '' OR action = $3) AND ($4 = '' OR subject = $4) ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit.clamp(1, 10_000)))
        .bind(action.unwrap_or(""))
        .bind(subject.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let details: String = r.try_get("details")?;
                Ok(AuditEvent {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    subject: r.try_get("subject")?,
                    details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }
}
