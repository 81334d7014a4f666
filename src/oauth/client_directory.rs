//! The client directory: every registered client, in memory. The token path
//! looks clients up here and never in the database (SPEC §7), whatever the id
//! — known, unknown or just deleted — so an unknown id costs what a wrong
//! secret costs, and a database outage changes nothing for authentication.
//! The background task fills it at start and keeps it current from the
//! change feed; a sharded map keeps workers from contending on reads.

use crate::domain::{Client, RESERVED_CLAIMS};
use dashmap::DashMap;
use std::sync::Arc;

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

/// Every registered client by id.
#[derive(Default)]
pub struct ClientDirectory {
    entries: DashMap<Box<str>, Arc<CachedClient>>,
}

impl ClientDirectory {
    /// The client, `None` if no client has this id. Memory only.
    pub fn get(&self, id: &str) -> Option<Arc<CachedClient>> {
        self.entries.get(id).map(|e| e.value().clone())
    }

    /// Adds or replaces a client.
    pub fn upsert(&self, client: Client) {
        let id: Box<str> = client.id.as_str().into();
        self.entries.insert(id, Arc::new(CachedClient::new(client)));
    }

    pub fn remove(&self, id: &str) {
        self.entries.remove(id);
    }

    /// Replaces the whole directory (at start, and after the change feed
    /// lost rows while the database was away).
    pub fn replace_all(&self, clients: impl IntoIterator<Item = Client>) {
        let mut seen = std::collections::HashSet::new();
        for client in clients {
            seen.insert(client.id.as_str().to_owned());
            self.upsert(client);
        }
        self.entries.retain(|id, _| seen.contains(&**id));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
