//! What the database knows about a signing key, without its key material.
//! A key's state is never stored: it follows from these times and `now`
//! (`keys::plan`), so a crash can never leave a half-made transition.

use super::Algorithm;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: Algorithm,
    /// When the key was created and published in the JWKS (unix seconds).
    pub created_at: i64,
    /// From when it signs, unless a later key has taken over.
    pub activates_at: i64,
    pub revoked_at: Option<i64>,
    /// The largest `tokens.max_ttl` (seconds) of any replica that may sign
    /// with it; the key is kept that long after it retires.
    pub max_ttl_secs: i64,
}
