//! Client registrations. Every write appends to the change feed in the same
//! transaction, so every replica's cache hears of it.

use super::{DbKind, Store, StoreError, changes};
use crate::domain::{
    Audience, AuthMethod, Client, ClientId, ClientSecrets, QuotaSetting, Scope, SecretHash,
};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::time::Duration;

macro_rules! columns {
    () => {
        "client_id, name, secret_hash, previous_secret_hash, previous_secret_until, \
         scopes, default_scopes, audiences, token_ttl_secs, claims, auth_method, \
         grant_client_credentials, jwks, enabled, created_at, updated_at, \
         tokens_valid_since, may_introspect, require_dpop, tls_identity, \
         grant_token_exchange, quota, quota_mode"
    };
}

#[derive(Debug, Clone)]
pub struct ClientPage {
    pub clients: Vec<Client>,
    /// The cursor for the next page, when there is one.
    pub next: Option<String>,
}

fn corrupt(what: &str, id: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("client {id}: {what}: {e}"))
}

fn ts(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

fn hash(bytes: Option<Vec<u8>>) -> Option<SecretHash> {
    bytes.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok().map(SecretHash))
}

fn from_row(row: &AnyRow) -> Result<Client, StoreError> {
    let raw_id: String = row.try_get("client_id")?;
    let id = ClientId::parse(&raw_id).map_err(|e| corrupt("client_id", &raw_id, e))?;
    let scopes = Scope::parse(&row.try_get::<String, _>("scopes")?)
        .map_err(|e| corrupt("scopes", &raw_id, e))?;
    let default_scopes = row
        .try_get::<Option<String>, _>("default_scopes")?
        .map(|s| Scope::parse(&s))
        .transpose()
        .map_err(|e| corrupt("default_scopes", &raw_id, e))?;
    let audiences: Vec<String> = serde_json::from_str(&row.try_get::<String, _>("audiences")?)
        .map_err(|e| corrupt("audiences", &raw_id, e))?;
    let audiences = audiences
        .iter()
        .map(|a| Audience::parse(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| corrupt("audiences", &raw_id, e))?;
    let claims = serde_json::from_str(&row.try_get::<String, _>("claims")?)
        .map_err(|e| corrupt("claims", &raw_id, e))?;
    let auth_method: AuthMethod = row
        .try_get::<String, _>("auth_method")?
        .parse()
        .map_err(|e| corrupt("auth_method", &raw_id, e))?;
    let jwks = row
        .try_get::<Option<String>, _>("jwks")?
        .map(|j| serde_json::from_str(&j))
        .transpose()
        .map_err(|e| corrupt("jwks", &raw_id, e))?;
    let previous = match (
        hash(row.try_get("previous_secret_hash")?),
        row.try_get::<Option<i64>, _>("previous_secret_until")?,
    ) {
        (Some(h), Some(until)) => Some((h, ts(until))),
        _ => None,
    };
    Ok(Client {
        id,
        name: row.try_get("name")?,
        scopes,
        default_scopes,
        audiences,
        token_ttl: row
            .try_get::<Option<i64>, _>("token_ttl_secs")?
            .map(|s| Duration::from_secs(s.max(0) as u64)),
        claims,
        auth_method,
        grant_client_credentials: row.try_get::<i64, _>("grant_client_credentials")? != 0,
        jwks,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        secrets: ClientSecrets {
            current: hash(row.try_get("secret_hash")?),
            previous,
        },
        created_at: ts(row.try_get("created_at")?),
        updated_at: ts(row.try_get("updated_at")?),
        tokens_valid_since: row.try_get::<Option<i64>, _>("tokens_valid_since")?.map(ts),
        may_introspect: row.try_get::<i64, _>("may_introspect")? != 0,
        require_dpop: row.try_get::<i64, _>("require_dpop")? != 0,
        tls_identity: row
            .try_get::<Option<String>, _>("tls_identity")?
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| corrupt("tls_identity", &raw_id, e))?,
        grant_token_exchange: row.try_get::<i64, _>("grant_token_exchange")? != 0,
        quota: match row.try_get::<Option<String>, _>("quota")? {
            None => QuotaSetting::Default,
            Some(q) => QuotaSetting::parse(&q).map_err(|e| corrupt("quota", &raw_id, e))?,
        },
        quota_mode: row
            .try_get::<String, _>("quota_mode")?
            .parse()
            .map_err(|e| corrupt("quota_mode", &raw_id, e))?,
    })
}

struct Columns {
    audiences: String,
    claims: String,
    jwks: Option<String>,
    tls_identity: Option<String>,
}

fn columns(c: &Client) -> Columns {
    let audiences: Vec<&str> = c.audiences.iter().map(Audience::as_str).collect();
    Columns {
        audiences: serde_json::to_string(&audiences).expect("strings serialize"),
        claims: serde_json::to_string(&c.claims).expect("a JSON map serializes"),
        jwks: c.jwks.as_ref().map(|j| j.to_string()),
        tls_identity: c
            .tls_identity
            .as_ref()
            .map(|t| serde_json::to_string(t).expect("an identity serializes")),
    }
}

/// Binds every column of [`columns!`], in its order.
fn bind_all<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    c: &'q Client,
    cols: &'q Columns,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(c.id.as_str())
        .bind(&c.name)
        .bind(c.secrets.current.as_ref().map(|h| h.0.to_vec()))
        .bind(c.secrets.previous.as_ref().map(|(h, _)| h.0.to_vec()))
        .bind(
            c.secrets
                .previous
                .as_ref()
                .map(|(_, until)| until.timestamp()),
        )
        .bind(c.scopes.to_string())
        .bind(c.default_scopes.as_ref().map(Scope::to_string))
        .bind(cols.audiences.as_str())
        .bind(c.token_ttl.map(|t| t.as_secs() as i64))
        .bind(cols.claims.as_str())
        .bind(c.auth_method.as_str())
        .bind(i64::from(c.grant_client_credentials))
        .bind(cols.jwks.as_deref())
        .bind(i64::from(c.enabled))
        .bind(c.created_at.timestamp())
        .bind(c.updated_at.timestamp())
        .bind(c.tokens_valid_since.map(|t| t.timestamp()))
        .bind(i64::from(c.may_introspect))
        .bind(i64::from(c.require_dpop))
        .bind(cols.tls_identity.as_deref())
        .bind(i64::from(c.grant_token_exchange))
        .bind(match c.quota {
            QuotaSetting::Default => None,
            other => Some(other.to_string()),
        })
        .bind(c.quota_mode.as_str())
}

impl Store {
    pub async fn insert_client(&self, c: &Client) -> Result<(), StoreError> {
        let cols = columns(c);
        let mut tx = self.pool.begin().await?;
        let result = bind_all(
            sqlx::query(concat!(
                "INSERT INTO clients (",
                columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
            )),
            c,
            &cols,
        )
        .execute(&mut *tx)
        .await;
        if let Err(e) = result {
            return Err(match StoreError::from(e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict(format!("a client with id `{}` already exists", c.id))
                }
                other => other,
            });
        }
        changes::record(
            self.kind,
            &mut tx,
            changes::CLIENT,
            c.id.as_str(),
            c.updated_at.timestamp(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces every field of an existing client but its id and creation time.
    pub async fn update_client(&self, c: &Client) -> Result<(), StoreError> {
        let cols = columns(c);
        let mut tx = self.pool.begin().await?;
        // Every column from the same binder as the insert; the creation time
        // is the stored one (callers load the client before changing it).
        let done = bind_all(
            sqlx::query(concat!(
                "UPDATE clients SET (",
                columns!(),
                ") = ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) \
                 WHERE client_id = $1"
            )),
            c,
            &cols,
        )
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        changes::record(
            self.kind,
            &mut tx,
            changes::CLIENT,
            c.id.as_str(),
            c.updated_at.timestamp(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_client(&self, id: &ClientId, now: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.delete_bindings_of(&mut tx, id.as_str(), now).await?;
        changes::record(self.kind, &mut tx, changes::CLIENT, id.as_str(), now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM clients WHERE client_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Clients ordered by id, `limit` at a time, after the cursor `after`.
    pub async fn list_clients(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ClientPage, StoreError> {
        let limit = limit.clamp(1, 1000);
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM clients WHERE client_id > $1 ORDER BY client_id LIMIT $2"
        ))
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut clients = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let next = if clients.len() > limit as usize {
            clients.truncate(limit as usize);
            clients.last().map(|c| c.id.to_string())
        } else {
            None
        };
        Ok(ClientPage { clients, next })
    }

    /// Clients whose id or name contains `text` (case-insensitive), a page
    /// at a time in id order.
    pub async fn search_clients(
        &self,
        text: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ClientPage, StoreError> {
        let limit = limit.clamp(1, 1000);
        let mut pattern = String::from("%");
        for c in text.to_lowercase().chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        // Case-insensitive: SQLite's LIKE already is (for ASCII, as its
        // LOWER is); PostgreSQL's ILIKE. The ids are found on the
        // `clients_search` index first, then the page's rows read.
        let like = match self.kind {
            DbKind::Sqlite => "LIKE",
            DbKind::Postgres => "ILIKE",
        };
        let sql = format!(
            "SELECT {} FROM clients WHERE client_id IN (SELECT client_id FROM clients \
             WHERE client_id > $1 AND (client_id {like} $2 ESCAPE '\\' OR name {like} $2 ESCAPE '\\') \
             ORDER BY client_id LIMIT $3) ORDER BY client_id",
            columns!()
        );
        // Only the operator is formatted in; the values are bound.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after.unwrap_or(""))
            .bind(pattern)
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let mut clients = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let next = if clients.len() > limit as usize {
            clients.truncate(limit as usize);
            clients.last().map(|c| c.id.to_string())
        } else {
            None
        };
        Ok(ClientPage { clients, next })
    }

    /// Every scope any enabled client may ask for, for the metadata document.
    pub async fn scopes_in_use(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT scopes FROM clients WHERE enabled = 1")
                .fetch_all(&self.pool)
                .await?;
        let mut scopes: Vec<String> = rows
            .iter()
            .flat_map(|s| s.split(' '))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        scopes.sort();
        scopes.dedup();
        Ok(scopes)
    }
}
