//! The in-memory client cache: the token path looks clients up here, never in
//! the database. Bounded; a miss loads from the store once and is cached, an
//! unknown id too. The change feed invalidates entries, and a generation
//! counter keeps a load that raced an invalidation from caching stale data.

use crate::domain::{Client, RESERVED_CLAIMS};
use crate::store::{Store, StoreError};
use quick_cache::sync::Cache;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A client as the token path needs it, with its extra claims pre-serialized.
#[derive(Debug)]
pub struct CachedClient {
    pub client: Client,
    /// `,"name":value` for each extra claim, ready to splice into the claims.
    pub extra_claims: String,
    /// The registered keys for `private_key_jwt`, parsed once.
    pub jwks: Option<jsonwebtoken::jwk::JwkSet>,
}

impl CachedClient {
    pub fn new(client: Client) -> Self {
        let mut extra_claims = String::new();
        for (name, value) in &client.claims {
            if RESERVED_CLAIMS.contains(&name.as_str()) {
                continue;
            }
            extra_claims.push(',');
            extra_claims.push_str(&serde_json::to_string(name).expect("a string serializes"));
            extra_claims.push(':');
            extra_claims.push_str(&value.to_string());
        }
        let jwks = client
            .jwks
            .as_ref()
            .and_then(|j| super::assertion::validate_client_jwks(j).ok());
        Self {
            client,
            extra_claims,
            jwks,
        }
    }
}

pub struct ClientCache {
    store: Store,
    entries: Cache<String, Option<Arc<CachedClient>>>,
    generation: AtomicU64,
}

impl ClientCache {
    pub fn new(store: Store, capacity: usize) -> Self {
        Self {
            store,
            entries: Cache::new(capacity),
            generation: AtomicU64::new(0),
        }
    }

    /// The client, `None` if unknown; the store is asked only on a miss.
    pub async fn get(&self, id: &str) -> Result<Option<Arc<CachedClient>>, StoreError> {
        if let Some(hit) = self.entries.get(id) {
            return Ok(hit);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let loaded = self
            .store
            .client(id)
            .await?
            .map(|c| Arc::new(CachedClient::new(c)));
        if self.generation.load(Ordering::Acquire) == generation {
            self.entries.insert(id.to_owned(), loaded.clone());
        }
        Ok(loaded)
    }

    pub fn invalidate(&self, id: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(id);
    }

    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
