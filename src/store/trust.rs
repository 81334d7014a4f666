//! Trust providers and client bindings (SPEC §8). Every write appends a
//! `trust` change in the same transaction, so every replica reloads its
//! trust directory within a poll.

use super::{Store, StoreError, changes};
use crate::domain::{Binding, ClientId, Pattern, TrustProvider};
use sqlx::Row;

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

impl Store {
    pub async fn insert_trust_provider(
        &self,
        p: &TrustProvider,
        now: i64,
    ) -> Result<(), StoreError> {
        let config = serde_json::to_string(p).expect("a provider serializes");
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO trust_providers (name, issuer, config, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(&p.name)
        .bind(&p.issuer)
        .bind(config)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "a trust provider named `{}` or with issuer {} already exists",
                p.name, p.issuer
            )),
            other => other,
        })?;
        changes::record(self.kind, &mut tx, changes::TRUST, &p.name, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn update_trust_provider(
        &self,
        p: &TrustProvider,
        now: i64,
    ) -> Result<(), StoreError> {
        let config = serde_json::to_string(p).expect("a provider serializes");
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE trust_providers SET issuer = $2, config = $3, updated_at = $4 WHERE name = $1",
        )
        .bind(&p.name)
        .bind(&p.issuer)
        .bind(config)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("another trust provider has issuer {}", p.issuer))
            }
            other => other,
        })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        changes::record(self.kind, &mut tx, changes::TRUST, &p.name, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a provider and its bindings; returns how many bindings went.
    pub async fn delete_trust_provider(&self, name: &str, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM trust_providers WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let bindings = sqlx::query("DELETE FROM client_bindings WHERE provider = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        changes::record(self.kind, &mut tx, changes::TRUST, name, now).await?;
        tx.commit().await?;
        Ok(bindings)
    }

    pub async fn trust_providers(&self) -> Result<Vec<TrustProvider>, StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT config FROM trust_providers ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|c| serde_json::from_str(c).map_err(|e| corrupt("trust provider", e)))
            .collect()
    }

    pub async fn trust_provider(&self, name: &str) -> Result<Option<TrustProvider>, StoreError> {
        let row: Option<String> =
            sqlx::query_scalar("SELECT config FROM trust_providers WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|c| serde_json::from_str(&c).map_err(|e| corrupt("trust provider", e)))
            .transpose()
    }

    pub async fn insert_binding(&self, b: &Binding, now: i64) -> Result<(), StoreError> {
        let claims = serde_json::to_string(&b.claims).expect("claims serialize");
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO client_bindings (client_id, provider, subject, claims, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(b.client_id.as_str())
        .bind(&b.provider)
        .bind(b.subject.as_str())
        .bind(claims)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "client {} already has a binding to {} for subject {}",
                b.client_id, b.provider, b.subject
            )),
            other => other,
        })?;
        changes::record(
            self.kind,
            &mut tx,
            changes::TRUST,
            b.client_id.as_str(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_binding(
        &self,
        client_id: &str,
        provider: &str,
        subject: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "DELETE FROM client_bindings WHERE client_id = $1 AND provider = $2 AND subject = $3",
        )
        .bind(client_id)
        .bind(provider)
        .bind(subject)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        changes::record(self.kind, &mut tx, changes::TRUST, client_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Bindings, of one client or of all, ordered.
    pub async fn bindings(&self, client_id: Option<&str>) -> Result<Vec<Binding>, StoreError> {
        let rows = sqlx::query(
            "SELECT client_id, provider, subject, claims FROM client_bindings \
             WHERE ($1 = '' OR client_id = $1) ORDER BY client_id, provider, subject",
        )
        .bind(client_id.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let client_id: String = r.try_get("client_id")?;
                let claims: Vec<(String, Pattern)> =
                    serde_json::from_str(&r.try_get::<String, _>("claims")?)
                        .map_err(|e| corrupt("binding claims", e))?;
                Ok(Binding {
                    client_id: ClientId::parse(&client_id).map_err(|e| corrupt("binding", e))?,
                    provider: r.try_get("provider")?,
                    subject: Pattern::parse(&r.try_get::<String, _>("subject")?)
                        .map_err(|e| corrupt("binding subject", e))?,
                    claims,
                })
            })
            .collect()
    }

    /// Removes a deleted client's bindings, in the deleting transaction;
    /// replicas hear of it through a `trust` change.
    pub(super) async fn delete_bindings_of(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        client_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let gone = sqlx::query("DELETE FROM client_bindings WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if gone > 0 {
            changes::record(self.kind, tx, changes::TRUST, client_id, now).await?;
        }
        Ok(())
    }
}
