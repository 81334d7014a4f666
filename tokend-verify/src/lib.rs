//! Verify tokend's access tokens offline, the way its key rotation expects.
//!
//! ```no_run
//! # async fn handler(bearer: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use tokend_verify::Verifier;
//!
//! let verifier = Verifier::builder("https://tokend.example")
//!     .audience("https://orders.example")
//!     .build()?;
//! let token = verifier.verify(bearer).await?;
//! if token.has_scope("orders:read") {
//!     println!("request from {}", token.client_id);
//! }
//! # Ok(()) }
//! ```
//!
//! The [`Verifier`] discovers the JWKS from the issuer's RFC 8414 metadata,
//! caches it for the `max-age` the issuer sends (revalidating with the
//! `ETag`), refetches at most once per cooldown when a token names an
//! unknown `kid` (concurrent requests share that one fetch), keeps serving
//! the last keys while the issuer is unreachable, and validates every token
//! per RFC 9068 §4 and RFC 8725: `typ` `at+jwt`, `alg` from an allow-list and
//! equal to the key's own algorithm (never `none`, never HMAC), signature,
//! `iss`, `aud`, `exp`/`nbf`/`iat` with leeway, and the required claims.
//!
//! With the `actix` feature, [`actix::RequireScope`] protects actix-web
//! routes and [`AccessToken`] is an extractor.

mod cache;
pub mod dpop;
mod jwk;
pub mod mtls;
mod token;
mod verifier;

#[cfg(feature = "actix")]
pub mod actix;

pub use cache::{BuildError, JwksCache, JwksCacheBuilder, MAX_BODY_BYTES, Stats};
pub use jwk::{Algorithm, JwksError, KeySet, VerifyingKey};
pub use token::{
    AccessToken, Confirmation, MAX_TOKEN_LEN, Rules, VerifiedJws, VerifyError, peek_kid,
    verify_jws, verify_token,
};
pub use verifier::{Presented, Scheme, Verifier, VerifierBuilder};
