//! The fetching side of tokend (SPEC §11): a [`TokenSource`] gets an access
//! token for a service, keeps it, and hands it to every caller.
//!
//! - It caches the token and refreshes it ahead of expiry (at 80% of its
//!   life, in the background, callers keep the cached token meanwhile).
//! - However many callers wait, one token request is in flight; if it fails,
//!   they all get its error rather than each trying again.
//! - It retries 5xx, 429 and connection failures with exponential backoff,
//!   honouring `Retry-After`; a 4xx refusal is an error at once.
//! - Credentials: a client secret (`client_secret_basic` or `_post`),
//!   `private_key_jwt`, or a workload identity token read from a file (a
//!   Kubernetes projected service-account token: re-read on every fetch, so
//!   the platform's rotation is followed) — and DPoP, which binds the token
//!   to a key only this process holds.
//! - [`TokenSource::send`] authorises a `reqwest` request: `Bearer`, or
//!   `DPoP` with a fresh proof for that request.
//!
//! ```no_run
//! # async fn run() -> Result<(), tokend_client::Error> {
//! use tokend_client::{Credentials, TokenSource};
//! let tokens = TokenSource::builder("https://auth.example.com/token")
//!     .client_id("orders")
//!     .credentials(Credentials::secret(std::env::var("CLIENT_SECRET").unwrap()))
//!     .audience("https://inventory.example.com")
//!     .scope("inventory:read")
//!     .build()?;
//! let http = reqwest::Client::new();
//! let answer = tokens
//!     .send(http.get("https://inventory.example.com/items"))
//!     .await?;
//! # Ok(()) }
//! ```

mod keys;
mod source;

pub use keys::SigningKey;
pub use source::{
    AccessToken, Clock, Credentials, ManualClock, RetryPolicy, SystemClock, TokenSource,
    TokenSourceBuilder, TokenType,
};

/// Why there is no token. Never carries a secret, an assertion or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// tokend answered with an OAuth error that retrying will not change.
    #[error("the token request was refused ({status} {error}): {description}")]
    Refused {
        status: u16,
        error: String,
        description: String,
    },
    /// tokend could not be reached or kept failing.
    #[error(
        "no token from {url} after {attempts} attempt(s): {last}{}",
        if *.cached_expired { "; the cached token has expired" } else { "" }
    )]
    Unavailable {
        url: String,
        attempts: u32,
        last: String,
        cached_expired: bool,
    },
    /// The workload identity token file could not be read.
    #[error("cannot read the workload token file {path}: {reason}")]
    TokenFile { path: String, reason: String },
    /// An answer that is not what RFC 6749 §5.1 says.
    #[error("unexpected answer from {url}: {reason}")]
    Protocol { url: String, reason: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The authorised request itself failed.
    #[error("the request failed: {0}")]
    Send(String),
}
