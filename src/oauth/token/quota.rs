//! The token path's quota check (SPEC §11): count, answer with the
//! `RateLimit` headers' numbers, refuse past an enforced quota, and report
//! the first excess of a window once across every replica.

use super::TokenIssuer;
use crate::domain::QuotaMode;
use crate::oauth::OAuthError;

impl TokenIssuer {
    /// Counts the token against the client's quota (SPEC §11): `None` for
    /// a client without one, else what the `RateLimit` headers say; past an
    /// enforced quota, `429 temporarily_unavailable`.
    pub(super) async fn count_quota(
        &self,
        client: &crate::domain::Client,
        now: i64,
    ) -> Result<Option<crate::oauth::RateLimit>, OAuthError> {
        let Some(quota) = client.quota.effective(self.quotas.default) else {
            return Ok(None);
        };
        let mode = client.quota_mode;
        // Boxed: only clients with a quota wait here, and inline its future
        // would be carried by every token request's.
        let decision = Box::pin(self.quotas.count(client.id.as_str(), quota, mode, now)).await;
        let limit = crate::oauth::RateLimit {
            limit: quota.limit,
            window: quota.window.secs() as u32,
            remaining: decision.remaining,
            reset: decision.reset,
        };
        if !decision.over {
            return Ok(Some(limit));
        }
        self.metrics.quota_exceeded(mode == QuotaMode::Monitor);
        if decision.first_excess {
            self.report_excess(client, quota, mode, decision.window_start(now), now);
        }
        if mode == QuotaMode::Monitor {
            return Ok(Some(limit));
        }
        Err(OAuthError {
            retry_after: Some(decision.reset.max(1)),
            rate_limit: Some(limit),
            ..OAuthError::new(
                crate::oauth::ErrorCode::TemporarilyUnavailable,
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "client {} has had its quota of {quota} tokens; retry in {}s",
                    client.id,
                    decision.reset.max(1)
                ),
            )
        })
    }

    /// One log line and one audit event per client and window, whichever
    /// replica sees the excess first (the single-use ledger decides).
    fn report_excess(
        &self,
        client: &crate::domain::Client,
        quota: crate::domain::Quota,
        mode: QuotaMode,
        window_start: i64,
        now: i64,
    ) {
        let replays = self.auth.replays.clone();
        let audit = self.auth.audit.clone();
        let client_id = client.id.to_string();
        let window_end = window_start + quota.window.secs();
        tokio::spawn(async move {
            let key = format!("quota:{client_id}\n{}:{window_start}", quota.window.secs());
            match replays.first_use(&key, window_end).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "recording a quota excess failed");
                    return;
                }
            }
            tracing::warn!(client_id = %client_id, quota = %quota, mode = mode.as_str(),
                "client is past its token quota");
            let details = serde_json::json!({
                "quota": quota.to_string(),
                "mode": mode.as_str(),
                "window_start": window_start,
                "window_end": window_end,
            });
            if let Err(e) = audit
                .record(now, "tokend", "client.quota_exceeded", &client_id, &details)
                .await
            {
                tracing::warn!(error = %e, "could not store an audit event");
            }
        });
    }
}
