//! The protocol: request parsing (RFC 6749 §4.4, §2.3), client authentication,
//! the RFC 6749 §5.2 errors, the scope and audience decision, and the RFC 9068
//! access token. Everything here can be tested without HTTP.

pub mod assertion;
mod authenticate;
mod authenticate_federated;
mod client_directory;
mod credentials;
mod deny_list;
mod error;
mod exchange;
pub mod federation;
mod form;
mod introspect;
pub mod limiter;
mod metadata;
pub mod mtls;
pub mod ports;
#[cfg(test)]
mod properties;
pub mod quota;
mod secret;
mod token;
mod trust_directory;

pub use authenticate::ClientAuthenticator;
pub use client_directory::{CachedClient, ClientDirectory};
pub use credentials::{Credentials, JWT_BEARER_ASSERTION, parse_basic};
pub use deny_list::DenyList;
pub use error::{ErrorCode, OAuthError, RateLimit};
pub use exchange::{ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT};
pub use federation::TrustDirectory;
pub use form::{Form, FormError, form_urlencoded_decode};
pub use introspect::{Introspection, MAX_REVOKED_PER_CLIENT, TokenInspector, VerifiedTokens};
pub use metadata::render_metadata;
pub use secret::{ClientSecret, generate_secret, hash_secret, verify_secret};
pub use token::{RequestContext, TokenIssuer, TokenResponse, parse_form};
