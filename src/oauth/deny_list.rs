//! The in-memory copy of the revocation deny list (RFC 7009): token ids and
//! when their tokens expire. Filled from the store at start and from the
//! change feed; swept when entries can no longer matter.

use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Debug, Default)]
pub struct DenyList {
    entries: RwLock<HashMap<String, i64>>,
}

impl DenyList {
    pub fn insert(&self, jti: &str, expires_at: i64) {
        self.entries
            .write()
            .expect("deny list lock is never poisoned")
            .insert(jti.to_owned(), expires_at);
    }

    pub fn contains(&self, jti: &str) -> bool {
        self.entries
            .read()
            .expect("deny list lock is never poisoned")
            .contains_key(jti)
    }

    pub fn replace(&self, entries: impl IntoIterator<Item = (String, i64)>) {
        *self
            .entries
            .write()
            .expect("deny list lock is never poisoned") = entries.into_iter().collect();
    }

    /// Drops entries whose tokens have expired.
    pub fn sweep(&self, now: i64) {
        self.entries
            .write()
            .expect("deny list lock is never poisoned")
            .retain(|_, exp| *exp >= now);
    }

    pub fn len(&self) -> usize {
        self.entries
            .read()
            .expect("deny list lock is never poisoned")
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_leave_once_their_token_expired() {
        let deny = DenyList::default();
        deny.insert("a", 100);
        deny.insert("b", 200);
        assert!(deny.contains("a") && deny.contains("b"));
        deny.sweep(150);
        assert!(!deny.contains("a"));
        assert!(deny.contains("b"));
        assert_eq!(deny.len(), 1);
    }
}
