//! Key operations: list, plan, cache check, rotate, revoke, and building the
//! key ring a replica signs with.

use super::{Admin, AdminError};
use crate::domain::{Algorithm, KeyRecord};
use crate::keys::{self, KeyError, KeyRing, KeyState, RingKey, plan};
use crate::store::{KeyChanges, NewKey};
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use std::time::Duration;

/// A key as `keys list` and `/admin/keys` show it: public facts and times.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub alg: Algorithm,
    pub state: KeyState,
    pub published_at: DateTime<Utc>,
    pub active_from: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub removal_at: Option<DateTime<Utc>>,
    pub max_ttl_secs: i64,
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// `keys plan`: every key with its times, and what happens next.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyPlan {
    pub now: DateTime<Utc>,
    pub keys: Vec<KeyView>,
    pub next: PlannedEvents,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlannedEvents {
    /// The next key is created and published in the JWKS.
    pub key_published_at: DateTime<Utc>,
    /// A new key starts signing.
    pub rotation_at: DateTime<Utc>,
    /// A retired or revoked key is removed.
    pub removal_at: Option<DateTime<Utc>>,
}

/// `keys check --cache-age D`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CacheCheck {
    pub safe: bool,
    pub cache_age: String,
    /// The first moment a token may carry a `kid` the verifier lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_risk_from: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The setting that would make it safe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The outcome of `keys rotate`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rotation {
    pub key: KeyView,
    /// Set when verifiers with a cached JWKS may briefly meet the new `kid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Admin {
    fn key_views(&self, records: &[KeyRecord], now: i64) -> Vec<KeyView> {
        let policy = self.rotation_policy();
        let mut views: Vec<KeyView> = records
            .iter()
            .map(|r| {
                let state = plan::state(r, records, now);
                KeyView {
                    kid: r.kid.clone(),
                    alg: r.alg,
                    state,
                    published_at: at(r.created_at),
                    active_from: at(r.activates_at),
                    retired_at: plan::retired_at(r, records).filter(|t| *t <= now).map(at),
                    revoked_at: r.revoked_at.map(at),
                    removal_at: plan::removal_at(r, records, &policy).map(at),
                    max_ttl_secs: r.max_ttl_secs,
                }
            })
            .collect();
        views.sort_by_key(|k| std::cmp::Reverse(k.active_from));
        views
    }

    async fn records(&self) -> Result<Vec<KeyRecord>, AdminError> {
        Ok(self
            .store
            .keys()
            .await?
            .into_iter()
            .map(|k| k.record)
            .collect())
    }

    /// Every key with its state and times, and the next planned events, from
    /// the database and the configuration.
    pub async fn key_plan(&self) -> Result<KeyPlan, AdminError> {
        let records = self.records().await?;
        let now = self.now().timestamp();
        let next = plan::next_events(now, &records, &self.rotation_policy());
        Ok(KeyPlan {
            now: at(now),
            keys: self.key_views(&records, now),
            next: PlannedEvents {
                key_published_at: at(next.publication),
                rotation_at: at(next.rotation),
                removal_at: next.removal.map(at),
            },
        })
    }

    /// Whether a verifier that caches the JWKS for `cache_age` regardless of
    /// headers can meet an unknown `kid` under the current plan.
    pub async fn check_cache(&self, cache_age: Duration) -> Result<CacheCheck, AdminError> {
        let records = self.records().await?;
        let now = self.now().timestamp();
        let policy = self.rotation_policy();
        let age = cache_age.as_secs() as i64;
        let risk = plan::fixed_cache_risk(now, &records, &policy, age);
        let needed = Duration::from_secs((age + policy.refresh_every) as u64);
        Ok(CacheCheck {
            safe: risk.is_none(),
            cache_age: crate::config::fmt_duration(cache_age),
            at_risk_from: risk.as_ref().map(|(t, _)| at(*t)),
            kid: risk.as_ref().and_then(|(_, k)| k.clone()),
            fix: risk.map(|_| {
                format!(
                    "set keys.publish_ahead to at least {} (cache age + keys.refresh_every; now {}), or have the verifier honour Cache-Control max-age or refetch the JWKS on an unknown kid",
                    crate::config::fmt_duration(needed),
                    crate::config::fmt_duration(self.settings.keys.publish_ahead)
                )
            }),
        })
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyView>, AdminError> {
        let records = self.records().await?;
        Ok(self.key_views(&records, self.now().timestamp()))
    }

    fn new_key(&self, alg: Algorithm, now: i64, activates_at: i64) -> Result<NewKey, KeyError> {
        let generated = keys::generate(alg)?;
        let sealed_private = self.master.seal(&generated.kid, &generated.pkcs8);
        Ok(NewKey {
            public_jwk: serde_json::to_string(&generated.jwk).expect("a JWK serializes"),
            sealed_private,
            record: KeyRecord {
                kid: generated.kid,
                alg,
                created_at: now,
                activates_at,
                revoked_at: None,
                max_ttl_secs: self.max_ttl_secs(),
            },
        })
    }

    /// Decides key actions from the freshly read keys under the database
    /// lock and writes them in the same transaction; returns what was done.
    async fn apply_actions(
        &self,
        decide: impl FnOnce(i64, &[KeyRecord]) -> Result<Vec<plan::Action>, AdminError>,
    ) -> Result<Vec<plan::Action>, AdminError> {
        let now = self.now().timestamp();
        let mut applied = Vec::new();
        let changes = self
            .store
            .update_keys(now, |stored| -> Result<KeyChanges, AdminError> {
                let records: Vec<KeyRecord> = stored.iter().map(|k| k.record.clone()).collect();
                let actions = decide(now, &records)?;
                let mut changes = KeyChanges::default();
                for action in &actions {
                    match action {
                        plan::Action::Create { activates_at, alg } => {
                            changes.create.push(self.new_key(*alg, now, *activates_at)?);
                        }
                        plan::Action::Remove { kid } => changes.remove.push(kid.clone()),
                        plan::Action::Activate { kid, at } => {
                            changes.activate.push((kid.clone(), *at))
                        }
                        plan::Action::Revoke { kid, at } => changes.revoke.push((kid.clone(), *at)),
                    }
                }
                applied = actions;
                Ok(changes)
            })
            .await?;
        for key in &changes.create {
            let r = &key.record;
            self.audit(
                "key.created",
                &r.kid,
                serde_json::json!({"alg": r.alg, "active_from": at(r.activates_at)}),
            )
            .await;
        }
        for (kid, when) in &changes.activate {
            self.audit(
                "key.activated",
                kid,
                serde_json::json!({"active_from": at(*when)}),
            )
            .await;
        }
        for (kid, _) in &changes.revoke {
            self.audit("key.revoked", kid, serde_json::json!({})).await;
        }
        for kid in &changes.remove {
            self.audit("key.removed", kid, serde_json::json!({})).await;
        }
        Ok(applied)
    }

    /// Runs the rotation plan; any number of replicas may call this at once.
    pub async fn apply_plan(&self) -> Result<Vec<plan::Action>, AdminError> {
        let policy = self.rotation_policy();
        self.apply_actions(|now, records| Ok(plan::plan(now, records, &policy)))
            .await
    }

    /// `keys rotate [--now]`.
    pub async fn rotate_keys(&self, immediate: bool) -> Result<Rotation, AdminError> {
        let policy = self.rotation_policy();
        let actions = self
            .apply_actions(|now, records| Ok(plan::rotate(now, records, &policy, immediate)))
            .await?;
        let now = self.now().timestamp();
        let records = self.records().await?;
        let views = self.key_views(&records, now);
        // The key that signs next: with --now, within the second.
        let key = views
            .iter()
            .filter(|v| matches!(v.state, KeyState::Next | KeyState::Active))
            .filter(|v| !immediate || v.active_from.timestamp() <= now + 1)
            .max_by_key(|v| v.active_from)
            .cloned()
            .ok_or_else(|| AdminError::Conflict("the rotation left no key to sign".into()))?;
        let warning = immediate.then(|| {
            let published_for = now - key.published_at.timestamp();
            format!(
                "key {} signs now; it has been in the JWKS for {}s, so verifiers holding an older cached JWKS (up to keys.jwks_max_age, or longer for fixed caches) may briefly meet an unknown kid until they refetch",
                key.kid, published_for
            )
        });
        let note = (actions.is_empty() && !immediate).then(|| {
            format!(
                "a next key was already scheduled; it signs from {}",
                key.active_from.to_rfc3339()
            )
        });
        Ok(Rotation { key, warning, note })
    }

    /// `keys revoke KID`.
    pub async fn revoke_key(&self, kid: &str) -> Result<Vec<KeyView>, AdminError> {
        let policy = self.rotation_policy();
        self.apply_actions(|now, records| {
            plan::revoke(now, records, kid, &policy).map_err(|e| match e {
                plan::PlanError::UnknownKey(_) => AdminError::NotFound(e.to_string()),
                plan::PlanError::AlreadyRevoked(_) => AdminError::Conflict(e.to_string()),
            })
        })
        .await?;
        self.list_keys().await
    }

    /// Builds the key ring from the database, unsealing the keys that may sign,
    /// and records this replica's `max_ttl` on them first.
    /// The key ring a serving replica signs with: it records its `max_ttl`
    /// on the keys it may sign with (SPEC §5), which retention depends on.
    pub async fn load_ring(&self) -> Result<KeyRing, AdminError> {
        self.ring(true).await
    }

    /// The key ring for a command that only verifies: it writes nothing.
    pub async fn load_ring_read_only(&self) -> Result<KeyRing, AdminError> {
        self.ring(false).await
    }

    async fn ring(&self, signs: bool) -> Result<KeyRing, AdminError> {
        let now = self.now().timestamp();
        let stored = self.store.keys().await?;
        let records: Vec<KeyRecord> = stored.iter().map(|k| k.record.clone()).collect();
        let max_ttl = self.max_ttl_secs();
        let to_record: Vec<String> = if signs {
            plan::max_ttl_to_record(now, &records, max_ttl)
                .into_iter()
                .map(str::to_owned)
                .collect()
        } else {
            Vec::new()
        };
        for kid in &to_record {
            self.store.record_key_max_ttl(kid, max_ttl).await?;
        }
        let mut ring_keys = Vec::with_capacity(stored.len());
        for key in &stored {
            let mut record = key.record.clone();
            if to_record.contains(&record.kid) {
                record.max_ttl_secs = max_ttl;
            }
            ring_keys.push(RingKey::new(
                record,
                &key.public_jwk,
                key.sealed_private.as_deref(),
                &self.master,
                &records,
                now,
            )?);
        }
        let next = plan::next_publication(now, &records, &self.rotation_policy());
        Ok(KeyRing::new(ring_keys).with_next_publication(next))
    }
}
