//! The JWKS cache: one issuer's verification keys, fetched over HTTP and kept
//! current the way key rotation expects. [`crate::Verifier`] verifies
//! tokend's access tokens with it; tokend's trust providers (workload
//! identity federation) verify other issuers' tokens with it.
//!
//! - The JWKS location is configured, or discovered from the issuer's
//!   metadata, fetched once (its `issuer` must equal the configured one,
//!   RFC 8414 §3.3; OpenID Connect Discovery §4.3).
//! - The set is kept for the response's `Cache-Control: max-age` (less any
//!   `Age`, within bounds), then revalidated with `If-None-Match`.
//! - A token with an unknown `kid` triggers at most one refetch per cooldown;
//!   concurrent callers wait for the one request in flight instead of each
//!   sending their own.
//! - When the issuer cannot be reached, the last set keeps serving (up to
//!   `max_stale`), and fetches are retried at most once per cooldown — with
//!   no set yet too: callers waiting on a failed fetch share its error.
//! - Fetches are bounded: a discovered `jwks_uri` on another origin than the
//!   issuer is refused unless allowed, redirects never leave the origin, a
//!   body over 1 MiB is refused, each request has a timeout.

use crate::jwk::{Algorithm, KeySet};
use crate::token::VerifyError;
use arc_swap::ArcSwapOption;
use reqwest::header::{self, HeaderMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
// tokio's clock: tests can pause and advance it (`tokio::time::pause`).
use tokio::time::Instant;

mod builder;
mod http;
pub use builder::{BuildError, JwksCacheBuilder, MAX_BODY_BYTES};
use builder::{Source, http_url};
use http::{rfc8414_metadata_url, same_origin_redirects};

/// One issuer's keys, cached. Cheap to clone (one shared cache).
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    origin: url::Origin,
    cross_origin_jwks: bool,
    jwks_uri: tokio::sync::OnceCell<String>,
    algorithms: Vec<Algorithm>,
    rsa_default: Option<Algorithm>,
    refetch_cooldown: Duration,
    default_max_age: Duration,
    min_max_age: Duration,
    max_max_age: Duration,
    max_stale: Duration,
    bearer_token_file: Option<PathBuf>,
    http: reqwest::Client,
    snapshot: ArcSwapOption<Snapshot>,
    refresh: tokio::sync::Mutex<RefreshState>,
    generation: AtomicU64,
    stats: Counters,
}

struct Snapshot {
    keys: Arc<KeySet>,
    etag: Option<String>,
    fetched_at: Instant,
    fresh_until: Instant,
    generation: u64,
}

#[derive(Default)]
struct RefreshState {
    /// Last refetch made because of an unknown kid.
    last_kid_refetch: Option<Instant>,
    /// Last failed fetch, while failing, and why.
    last_failure: Option<(Instant, String)>,
}

#[derive(Default)]
struct Counters {
    metadata_fetches: AtomicU64,
    jwks_fetches: AtomicU64,
    not_modified: AtomicU64,
    fetch_failures: AtomicU64,
    kid_miss_refetches: AtomicU64,
}

/// What the cache has done so far (for metrics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Requests for the issuer's metadata.
    pub metadata_fetches: u64,
    /// JWKS requests sent (including revalidations answered 304).
    pub jwks_fetches: u64,
    /// JWKS revalidations answered 304 Not Modified.
    pub not_modified: u64,
    /// Metadata or JWKS requests that failed.
    pub fetch_failures: u64,
    /// JWKS requests caused by an unknown kid.
    pub kid_miss_refetches: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Why {
    Expired,
    UnknownKid,
}

impl JwksCache {
    /// Keys found through the issuer's RFC 8414 metadata
    /// (`/.well-known/oauth-authorization-server`, inserted before the
    /// issuer's path, §3.1).
    pub fn rfc8414(issuer: impl Into<String>) -> JwksCacheBuilder {
        let issuer = issuer.into();
        let metadata_urls = http_url(&issuer)
            .map(|u| vec![rfc8414_metadata_url(&u)])
            .unwrap_or_default();
        JwksCacheBuilder::new(Source::Discovery {
            issuer,
            metadata_urls,
        })
    }

    /// Keys found through OpenID Connect Discovery (`ISSUER/.well-known/
    /// openid-configuration`), else RFC 8414 metadata: what Kubernetes,
    /// GitHub Actions and other OIDC issuers serve.
    pub fn openid(issuer: impl Into<String>) -> JwksCacheBuilder {
        let issuer = issuer.into();
        let metadata_urls = http_url(&issuer)
            .map(|u| {
                vec![
                    format!(
                        "{}/.well-known/openid-configuration",
                        issuer.trim_end_matches('/')
                    ),
                    rfc8414_metadata_url(&u),
                ]
            })
            .unwrap_or_default();
        JwksCacheBuilder::new(Source::Discovery {
            issuer,
            metadata_urls,
        })
    }

    /// Keys at a JWKS URL the operator configured (a SPIFFE bundle endpoint
    /// serves one too).
    pub fn jwks_uri(uri: impl Into<String>) -> JwksCacheBuilder {
        JwksCacheBuilder::new(Source::Jwks(uri.into()))
    }

    /// Runs `check` with the current keys; when it fails for an unknown
    /// `kid`, once more with a newer set if one can be had (at most one
    /// refetch per cooldown, shared by concurrent callers).
    pub async fn verify_with<T>(
        &self,
        check: impl Fn(&KeySet) -> Result<T, VerifyError>,
    ) -> Result<T, VerifyError> {
        let snapshot = self.keys(Why::Expired, None).await?;
        match check(&snapshot.keys) {
            Err(VerifyError::UnknownKey(kid)) => {
                let newer = self
                    .keys(Why::UnknownKid, Some(snapshot.generation))
                    .await?;
                if newer.generation == snapshot.generation {
                    return Err(VerifyError::UnknownKey(kid));
                }
                check(&newer.keys)
            }
            result => result,
        }
    }

    /// Fetches the JWKS now (for a fail-fast start-up check), unless a fresh
    /// one is cached. Returns the number of usable keys.
    pub async fn refresh(&self) -> Result<usize, VerifyError> {
        Ok(self.keys(Why::Expired, None).await?.keys.len())
    }

    /// The `kid`s of the cached set, if any (nothing is fetched).
    pub fn cached_kids(&self) -> Option<Vec<String>> {
        self.inner
            .snapshot
            .load()
            .as_ref()
            .map(|s| s.keys.kids().map(str::to_owned).collect())
    }

    /// Whether the cached set (nothing is fetched) has a key with this `kid`.
    pub fn has_cached_kid(&self, kid: &str) -> bool {
        self.inner
            .snapshot
            .load()
            .as_ref()
            .is_some_and(|s| s.keys.get(kid).is_some())
    }

    pub fn stats(&self) -> Stats {
        let s = &self.inner.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            metadata_fetches: get(&s.metadata_fetches),
            jwks_fetches: get(&s.jwks_fetches),
            not_modified: get(&s.not_modified),
            fetch_failures: get(&s.fetch_failures),
            kid_miss_refetches: get(&s.kid_miss_refetches),
        }
    }

    fn describe(&self) -> &str {
        match &self.inner.source {
            Source::Discovery { issuer, .. } => issuer,
            Source::Jwks(uri) => uri,
        }
    }

    /// The key set to verify with: the cached one while fresh; otherwise one
    /// fetch for all concurrent callers. For an unknown kid (`seen` = the
    /// generation that missed), a newer set if one arrived meanwhile, else a
    /// refetch unless one was made within the cooldown.
    async fn keys(&self, why: Why, seen: Option<u64>) -> Result<Arc<Snapshot>, VerifyError> {
        let inner = &self.inner;
        if why == Why::Expired
            && let Some(s) = inner.snapshot.load_full()
            && Instant::now() < s.fresh_until
        {
            return Ok(s);
        }
        let mut state = inner.refresh.lock().await;
        let current = inner.snapshot.load_full();
        let now = Instant::now();
        let failed_recently = state
            .last_failure
            .as_ref()
            .filter(|(t, _)| now < *t + inner.refetch_cooldown);
        if current.is_none()
            && let Some((_, why)) = failed_recently
        {
            // No keys yet and the issuer just failed: every waiter shares
            // that failure instead of queueing a fetch of its own.
            return Err(VerifyError::KeysUnavailable(why.clone()));
        }
        if let Some(s) = &current {
            let done_meanwhile = match why {
                Why::Expired => now < s.fresh_until,
                Why::UnknownKid => Some(s.generation) != seen,
            };
            let cooling = |t: Option<Instant>| t.is_some_and(|t| now < t + inner.refetch_cooldown);
            let failing = failed_recently.is_some();
            let hold = match why {
                Why::Expired => failing,
                Why::UnknownKid => cooling(state.last_kid_refetch) || failing,
            };
            if done_meanwhile {
                return Ok(Arc::clone(s));
            }
            if hold {
                // Not retrying yet: the cached set, unless it is too stale.
                return if now < s.fresh_until + inner.max_stale {
                    Ok(Arc::clone(s))
                } else {
                    Err(VerifyError::KeysUnavailable(format!(
                        "the issuer's JWKS could not be refreshed for longer than max_stale ({:?})",
                        inner.max_stale
                    )))
                };
            }
        }
        if why == Why::UnknownKid {
            state.last_kid_refetch = Some(now);
            inner
                .stats
                .kid_miss_refetches
                .fetch_add(1, Ordering::Relaxed);
        }
        match self.fetch(current.as_deref()).await {
            Ok(fresh) => {
                state.last_failure = None;
                let fresh = Arc::new(fresh);
                inner.snapshot.store(Some(Arc::clone(&fresh)));
                Ok(fresh)
            }
            Err(e) => {
                inner.stats.fetch_failures.fetch_add(1, Ordering::Relaxed);
                state.last_failure = Some((Instant::now(), e.clone()));
                match current {
                    Some(s) if now < s.fresh_until + inner.max_stale => {
                        tracing::warn!(issuer = %self.describe(), error = %e,
                            "cannot refresh the issuer's JWKS; verifying with the cached keys");
                        Ok(s)
                    }
                    _ => Err(VerifyError::KeysUnavailable(e)),
                }
            }
        }
    }
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.inner.snapshot.load();
        f.debug_struct("JwksCache")
            .field("source", &self.describe())
            .field(
                "keys",
                &snapshot.as_ref().map(|s| s.keys.kids().collect::<Vec<_>>()),
            )
            .field(
                "fetched",
                &snapshot.as_ref().map(|s| s.fetched_at.elapsed()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests;
