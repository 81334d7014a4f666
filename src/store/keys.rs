//! Signing keys: public JWK and sealed private part, with the times the
//! rotation plan derives states from. Rotation writes run under one lock so
//! that any number of replicas create exactly one key per rotation.

use super::{Store, StoreError, changes};
use crate::domain::{Algorithm, KeyRecord};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct StoredKey {
    pub record: KeyRecord,
    pub public_jwk: String,
    /// AES-256-GCM sealed PKCS#8; `None` once revoked.
    pub sealed_private: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct NewKey {
    pub record: KeyRecord,
    pub public_jwk: String,
    pub sealed_private: Vec<u8>,
}

/// What a locked key update writes, decided from the freshly read keys.
#[derive(Debug, Default)]
pub struct KeyChanges {
    pub create: Vec<NewKey>,
    pub remove: Vec<String>,
    /// `(kid, revoked_at)`: unpublish now and destroy the private part.
    pub revoke: Vec<(String, i64)>,
    /// `(kid, activates_at)`: move a key's activation.
    pub activate: Vec<(String, i64)>,
}

impl KeyChanges {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty()
            && self.remove.is_empty()
            && self.revoke.is_empty()
            && self.activate.is_empty()
    }
}

fn from_row(row: &AnyRow) -> Result<StoredKey, StoreError> {
    let kid: String = row.try_get("kid")?;
    let alg: Algorithm = row
        .try_get::<String, _>("alg")?
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("key {kid}: {e}")))?;
    Ok(StoredKey {
        record: KeyRecord {
            alg,
            created_at: row.try_get("created_at")?,
            activates_at: row.try_get("activates_at")?,
            revoked_at: row.try_get("revoked_at")?,
            max_ttl_secs: row.try_get("max_ttl_secs")?,
            kid,
        },
        public_jwk: row.try_get("public_jwk")?,
        sealed_private: row.try_get("sealed_private")?,
    })
}

const SELECT: &str = "SELECT kid, alg, public_jwk, sealed_private, created_at, activates_at, \
    revoked_at, max_ttl_secs FROM signing_keys";

impl Store {
    pub async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(SELECT).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Reads the keys under the rotation lock, lets `decide` choose what to
    /// write, and writes it in the same transaction. Returns what was written.
    pub async fn update_keys<E>(
        &self,
        now: i64,
        decide: impl FnOnce(&[StoredKey]) -> Result<KeyChanges, E>,
    ) -> Result<KeyChanges, E>
    where
        E: From<StoreError>,
    {
        let mut tx = self.begin_locked().await?;
        let rows = sqlx::query(SELECT)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let current = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let changes = decide(&current)?;
        if changes.is_empty() {
            return Ok(changes);
        }
        for key in &changes.create {
            let r = &key.record;
            sqlx::query(
                "INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private, created_at, \
                 activates_at, revoked_at, max_ttl_secs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&r.kid)
            .bind(r.alg.as_str())
            .bind(&key.public_jwk)
            .bind(&key.sealed_private)
            .bind(r.created_at)
            .bind(r.activates_at)
            .bind(r.revoked_at)
            .bind(r.max_ttl_secs)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        }
        for kid in &changes.remove {
            sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        }
        for (kid, at) in &changes.revoke {
            sqlx::query(
                "UPDATE signing_keys SET revoked_at = $2, sealed_private = NULL WHERE kid = $1",
            )
            .bind(kid)
            .bind(*at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        }
        for (kid, at) in &changes.activate {
            sqlx::query("UPDATE signing_keys SET activates_at = $2 WHERE kid = $1")
                .bind(kid)
                .bind(*at)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        }
        changes::record(self.kind, &mut tx, changes::KEYS, "", now).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(changes)
    }

    /// Records that a replica with `max_ttl_secs` may sign with `kid`; only
    /// ever raises the stored value. Returns whether it changed.
    pub async fn record_key_max_ttl(
        &self,
        kid: &str,
        max_ttl_secs: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE signing_keys SET max_ttl_secs = $2 WHERE kid = $1 AND max_ttl_secs < $2",
        )
        .bind(kid)
        .bind(max_ttl_secs)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
