//! The change feed: an append-only log of what changed (a client, the keys),
//! which every replica polls to invalidate its caches within a second, with no
//! database work on the token path.

use super::{DbKind, Store, StoreError};
use sqlx::Row;

pub const CLIENT: &str = "client";
pub const KEYS: &str = "keys";
pub const TRUST: &str = "trust";

/// What a change is about. A kind this version does not know (written by a
/// newer replica) is `Other`: the reader reloads everything, to be safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A client was created, changed or deleted (`subject` is its id).
    Client,
    /// A key was created, activated, revoked or removed.
    Keys,
    /// A token was revoked (`subject` is its `jti`).
    Revocation,
    /// A trust provider or a client binding changed (SPEC §8).
    Trust,
    Other,
}

impl ChangeKind {
    fn parse(kind: &str) -> Self {
        match kind {
            CLIENT => ChangeKind::Client,
            KEYS => ChangeKind::Keys,
            TRUST => ChangeKind::Trust,
            super::tokens::REVOCATION => ChangeKind::Revocation,
            _ => ChangeKind::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub kind: ChangeKind,
    pub subject: String,
}

/// Appends a change inside the writing transaction. Readers take every row
/// after the last sequence number they saw, so rows must become visible in
/// sequence order: on PostgreSQL a transaction-scoped lock serializes the
/// writers from taking a number to committing (SQLite has one writer anyway).
pub(super) async fn record(
    db: DbKind,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    kind: &str,
    subject: &str,
    at: i64,
) -> Result<(), StoreError> {
    if db == DbKind::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(7411120002)")
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("INSERT INTO changes (kind, subject, at) VALUES ($1, $2, $3)")
        .bind(kind)
        .bind(subject)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// The newest sequence number, 0 for an empty feed.
    pub async fn latest_change(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM changes")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Changes after `seq`, oldest first, at most `limit`.
    pub async fn changes_since(&self, seq: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, kind, subject FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Change {
                    seq: r.try_get("seq")?,
                    kind: ChangeKind::parse(&r.try_get::<String, _>("kind")?),
                    subject: r.try_get("subject")?,
                })
            })
            .collect()
    }

    /// Forgets changes older than `before`; replicas that fell further behind
    /// than that drop their whole cache instead.
    pub async fn prune_changes(&self, before: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM changes WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The oldest sequence number still in the feed.
    pub async fn oldest_change(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT MIN(seq) FROM changes")
            .fetch_one(&self.pool)
            .await?)
    }
}
