//! The key lifecycle (SPEC §5): generating signing keys for each algorithm,
//! sealing their private parts under the master key, the rotation plan (a pure
//! function of time and the stored keys), and the in-memory [`KeyRing`] that
//! signs tokens and renders the JWKS. Nothing outside this module touches
//! private key bytes.

mod master;
pub mod plan;
mod ring;
mod signer;
#[cfg(test)]
mod simulation;

pub use master::{MasterKey, MasterKeySource};
pub use plan::{Action, KeyState, RotationPolicy};
pub use ring::{AccessClaims, KeyRing, RingKey, VerifyError};
pub use signer::{GeneratedKey, PublicJwk, Signer, generate};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the master key file {0} is missing, but the database holds keys or clients sealed under a master key; restore it (or set TOKEND_MASTER_KEY / TOKEND_MASTER_KEY_FILE)"
    )]
    MasterKeyMissing(String),
    #[error("the master key is not valid: {0}")]
    MasterKeyInvalid(String),
    #[error(
        "the master key does not match the one this database was sealed with; refusing to start (restore the right key, never create a new one over existing data)"
    )]
    MasterKeyMismatch,
    #[error("could not read or write the master key file {path}: {reason}")]
    MasterKeyIo { path: String, reason: String },
    #[error("the private part of key {0} could not be unsealed with this master key")]
    Unseal(String),
    #[error("key {kid}: {reason}")]
    Material { kid: String, reason: String },
    #[error("key generation failed for {0}")]
    Generate(crate::domain::Algorithm),
    #[error("signing failed")]
    Sign,
}
