//! Token state that must hold on every replica: the deny list of revoked
//! token ids (RFC 7009) and the client assertions already used (RFC 7523 §3,
//! one use per `jti`). Both are kept only until the token or assertion expires.

use super::{Store, StoreError, changes};
use crate::oauth::ports::QuotaDelta;

/// Rows per quota statement (SQLite binds at most 32,766 values).
const QUOTA_ROWS_PER_STATEMENT: usize = 1_000;

pub const REVOCATION: &str = "revocation";

impl Store {
    /// Puts `jti` of `client_id`'s token on the deny list until `expires_at`;
    /// every replica hears of it through the change feed. `false` (nothing
    /// written) when the client already has `per_client` unexpired entries.
    pub async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: i64,
        now: i64,
        per_client: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let held: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM revoked_tokens WHERE client_id = $1 AND expires_at >= $2",
        )
        .bind(client_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        if held >= per_client {
            return Ok(false);
        }
        sqlx::query("INSERT INTO revoked_tokens (jti, expires_at, client_id) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        changes::record(self.kind, &mut tx, REVOCATION, jti, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// When a revoked token expires, if `jti` is on the deny list.
    pub async fn revoked_token(&self, jti: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT expires_at FROM revoked_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Every entry of the deny list still needed at `now`.
    pub async fn revoked_tokens(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at >= $1")
                .bind(now)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Records the use of a client assertion; `false` if it was used before.
    pub async fn use_assertion(&self, id: &str, expires_at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO used_assertions (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(expires_at)
        .execute(&self.replays)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records many ids at once (one statement, one commit); returns those
    /// that were new. Ids must be distinct.
    pub async fn use_assertions(
        &self,
        items: &[(String, i64)],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        if items.is_empty() {
            return Ok(Default::default());
        }
        let mut sql = String::from("INSERT INTO used_assertions (id, expires_at) VALUES ");
        for i in 0..items.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("(${}, ${})", 2 * i + 1, 2 * i + 2));
        }
        sql.push_str(" ON CONFLICT (id) DO NOTHING RETURNING id");
        // Only placeholders are formatted in; the values are bound.
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for (id, expires_at) in items {
            query = query.bind(id).bind(*expires_at);
        }
        Ok(query.fetch_all(&self.replays).await?.into_iter().collect())
    }

    /// Adds what this replica issued to each client's quota window and
    /// returns the totals of every replica, on the connections that do not
    /// wait for the disk (a lost instant of counts only lets a client a
    /// little further). Windows this replica issued nothing in since its last
    /// sync are only read: adding zero would still write a new row version
    /// per client and second (table bloat for nothing).
    pub async fn add_quota_counts(
        &self,
        items: &[QuotaDelta],
    ) -> Result<Vec<QuotaDelta>, StoreError> {
        // Rows in key order: every replica then locks them in the same
        // order. In the order of each replica's own map, two replicas
        // sharing counts for the same clients at once deadlocked, and
        // PostgreSQL broke the deadlock after a second (deadlock_timeout),
        // so requests waiting for that sync near a limit waited too.
        let mut items: Vec<&QuotaDelta> = items.iter().collect();
        items.sort_by(|a, b| {
            (&a.client_id, a.window_secs, a.window_start).cmp(&(
                &b.client_id,
                b.window_secs,
                b.window_start,
            ))
        });
        let (added, unchanged): (Vec<&QuotaDelta>, Vec<&QuotaDelta>) =
            items.into_iter().partition(|d| d.count != 0);
        let mut totals = Vec::with_capacity(added.len() + unchanged.len());
        for chunk in added.chunks(QUOTA_ROWS_PER_STATEMENT) {
            totals.extend(self.upsert_quota_counts(chunk).await?);
        }
        for chunk in unchanged.chunks(QUOTA_ROWS_PER_STATEMENT) {
            totals.extend(self.read_quota_counts(chunk).await?);
        }
        Ok(totals)
    }

    async fn upsert_quota_counts(
        &self,
        items: &[&QuotaDelta],
    ) -> Result<Vec<QuotaDelta>, StoreError> {
        let mut sql = String::from(
            "INSERT INTO quota_counts (client_id, window_secs, window_start, expires_at, count) VALUES ",
        );
        for i in 0..items.len() {
            if i > 0 {
                sql.push(',');
            }
            let n = 5 * i;
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            ));
        }
        sql.push_str(
            " ON CONFLICT (client_id, window_secs, window_start) \
             DO UPDATE SET count = quota_counts.count + excluded.count \
             RETURNING client_id, window_secs, window_start, count",
        );
        // Only placeholders are formatted in; the values are bound.
        let mut query = sqlx::query_as::<_, (String, i64, i64, i64)>(sqlx::AssertSqlSafe(sql));
        for item in items {
            query = query
                .bind(item.client_id.as_str())
                .bind(item.window_secs)
                .bind(item.window_start)
                .bind(item.window_start + item.window_secs)
                .bind(item.count);
        }
        Ok(query
            .fetch_all(&self.replays)
            .await?
            .into_iter()
            .map(|(client_id, window_secs, window_start, count)| QuotaDelta {
                client_id,
                window_secs,
                window_start,
                count,
            })
            .collect())
    }

    /// Every replica's totals for these windows (0 where none has issued).
    async fn read_quota_counts(
        &self,
        items: &[&QuotaDelta],
    ) -> Result<Vec<QuotaDelta>, StoreError> {
        let mut ids: Vec<&str> = items.iter().map(|d| d.client_id.as_str()).collect();
        ids.dedup();
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT client_id, window_secs, window_start, count FROM quota_counts \
             WHERE client_id IN ({})",
            placeholders.join(", ")
        );
        // Only placeholders are formatted in; the values are bound.
        let mut query = sqlx::query_as::<_, (String, i64, i64, i64)>(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&self.replays).await?;
        let counts: std::collections::HashMap<(&str, i64, i64), i64> = rows
            .iter()
            .map(|(id, secs, start, count)| ((id.as_str(), *secs, *start), *count))
            .collect();
        Ok(items
            .iter()
            .map(|d| QuotaDelta {
                count: counts
                    .get(&(d.client_id.as_str(), d.window_secs, d.window_start))
                    .copied()
                    .unwrap_or(0),
                ..(*d).clone()
            })
            .collect())
    }

    /// Forgets revocations and assertions that can no longer matter.
    pub async fn sweep_expired(&self, now: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM used_assertions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM quota_counts WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
