//! Plain types of the problem, parsed at the edge and valid by construction
//! (house rule 1). Nothing here does I/O or reads the clock.

mod algorithm;
mod audience;
mod client;
mod client_id;
mod key_record;
mod pattern;
mod policy;
mod quota;
mod scope;
mod tls_identity;
mod trust;

pub use algorithm::Algorithm;
pub use audience::Audience;
pub use client::{AuthMethod, Client, ClientSecrets, RESERVED_CLAIMS, SecretHash, validate_claims};
pub use client_id::ClientId;
pub use key_record::KeyRecord;
pub use pattern::Pattern;
pub use policy::{Grant, GrantRefusal, TokenPolicy};
pub use quota::{MAX_QUOTA, Quota, QuotaMode, QuotaSetting, QuotaWindow};
pub use scope::Scope;
pub use tls_identity::{TlsIdentity, canonical_dn, dn_attribute};
pub use trust::{
    Binding, DEFAULT_MAX_LIFETIME, GITHUB_ACTIONS_ISSUER, KeySource, ProviderKind, TrustProvider,
    validate_provider_name,
};
