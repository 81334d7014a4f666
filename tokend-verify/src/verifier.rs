//! The JWKS cache and the verifier built on it.
//!
//! - The JWKS location comes from the issuer's RFC 8414 metadata, fetched
//!   once (its `issuer` must equal the configured one, RFC 8414 §3.3).
//! - The set is kept for the response's `Cache-Control: max-age` (less any
//!   `Age`), then revalidated with `If-None-Match`. tokend shortens max-age
//!   ahead of each key publication, so honouring it is what makes a new key
//!   known before any token is signed with it.
//! - A token with an unknown `kid` triggers at most one refetch per cooldown;
//!   concurrent callers wait for the one request in flight instead of each
//!   sending their own.
//! - When the issuer cannot be reached, the last set keeps serving (up to
//!   `max_stale`), and fetches are retried at most once per cooldown — with
//!   no set yet too: callers waiting on a failed fetch share its error.
//! - Fetches are bounded: a `jwks_uri` on another origin than the issuer is
//!   refused unless allowed, redirects never leave the origin, and a body
//!   over 1 MiB is refused. The metadata URL inserts the well-known path
//!   before the issuer's path (RFC 8414 §3.1).

use crate::jwk::{Algorithm, KeySet};
use crate::token::{AccessToken, Rules, VerifyError, verify_token};
use arc_swap::ArcSwapOption;
use reqwest::header::{self, HeaderMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
// tokio's clock: tests can pause and advance it (`tokio::time::pause`).
use tokio::time::Instant;

/// Configures a [`Verifier`].
#[derive(Debug, Clone)]
pub struct VerifierBuilder {
    issuer: String,
    audience: Option<Option<String>>,
    jwks_uri: Option<String>,
    leeway: Duration,
    algorithms: Vec<Algorithm>,
    refetch_cooldown: Duration,
    default_max_age: Duration,
    min_max_age: Duration,
    max_max_age: Duration,
    max_stale: Duration,
    timeout: Duration,
    http: Option<reqwest::Client>,
    cross_origin_jwks: bool,
}

/// Largest metadata or JWKS body read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A configuration the verifier cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "no audience: call .audience(\"<this API's identifier>\") (RFC 9068 §4: a resource server must check aud), or .any_audience() for a tool that only inspects tokens"
    )]
    NoAudience,
    #[error("the issuer must be an http(s) URL, got {0:?}")]
    BadIssuer(String),
    #[error("no algorithm allowed")]
    NoAlgorithm,
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

impl VerifierBuilder {
    /// The token's `aud` must contain this value (the resource server's own
    /// identifier, as registered in tokend with `--audience`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(Some(audience.into()));
        self
    }

    /// Accept any audience. For tools that inspect tokens; a resource server
    /// that does this accepts tokens meant for every other API too.
    pub fn any_audience(mut self) -> Self {
        self.audience = Some(None);
        self
    }

    /// Use this JWKS URL instead of discovering it from the issuer's metadata.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat` (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The accepted algorithms (default: all asymmetric ones; never `none`
    /// or HMAC). Narrow it to the issuer's algorithm if you know it.
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// At most one JWKS refetch per this period for unknown `kid`s, and the
    /// retry interval while the issuer is unreachable (default 10 s).
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.refetch_cooldown = cooldown;
        self
    }

    /// Cache time when the JWKS response has no max-age (default 5 min).
    pub fn default_max_age(mut self, age: Duration) -> Self {
        self.default_max_age = age;
        self
    }

    /// Bounds applied to the issuer's max-age (default 1 s to 1 day): the
    /// floor keeps a max-age of 0 from turning into a fetch per request.
    pub fn max_age_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_max_age = min;
        self.max_max_age = max.max(min);
        self
    }

    /// How long an expired set keeps serving while the issuer is unreachable
    /// (default 1 day). Past it, verification fails with `KeysUnavailable`.
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// Timeout of each metadata or JWKS request (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Accept a metadata `jwks_uri` on another origin than the issuer (off by
    /// default: a metadata document could otherwise send the verifier to any
    /// address, an internal one included).
    pub fn allow_cross_origin_jwks(mut self) -> Self {
        self.cross_origin_jwks = true;
        self
    }

    /// Use this HTTP client (custom CA roots, proxy, …). Its redirect policy
    /// is its own: the default client never follows one to another origin.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the verifier. Nothing is fetched until the first verification
    /// or [`Verifier::refresh`].
    pub fn build(self) -> Result<Verifier, BuildError> {
        let audience = self.audience.ok_or(BuildError::NoAudience)?;
        let issuer = self.issuer;
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(BuildError::BadIssuer(issuer));
        }
        if self.algorithms.is_empty() {
            return Err(BuildError::NoAlgorithm);
        }
        let http = match self.http {
            Some(client) => client,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .user_agent(concat!("tokend-verify/", env!("CARGO_PKG_VERSION")))
                .redirect(same_origin_redirects())
                .build()
                .map_err(|e| BuildError::Http(e.to_string()))?,
        };
        let parsed =
            reqwest::Url::parse(&issuer).map_err(|_| BuildError::BadIssuer(issuer.clone()))?;
        Ok(Verifier {
            inner: Arc::new(Inner {
                rules: Rules {
                    issuer: issuer.clone(),
                    audience,
                    leeway: self.leeway.as_secs(),
                    algorithms: self.algorithms,
                },
                metadata_url: metadata_url(&parsed),
                origin: parsed.origin(),
                cross_origin_jwks: self.cross_origin_jwks,
                jwks_uri: tokio::sync::OnceCell::new_with(self.jwks_uri),
                refetch_cooldown: self.refetch_cooldown,
                default_max_age: self.default_max_age,
                min_max_age: self.min_max_age,
                max_max_age: self.max_max_age,
                max_stale: self.max_stale,
                http,
                snapshot: ArcSwapOption::empty(),
                refresh: tokio::sync::Mutex::new(RefreshState::default()),
                generation: AtomicU64::new(0),
                stats: Counters::default(),
            }),
        })
    }
}

/// Verifies access tokens of one issuer for one audience. Cheap to clone
/// (one shared cache); share one per process.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    rules: Rules,
    metadata_url: String,
    origin: url::Origin,
    cross_origin_jwks: bool,
    jwks_uri: tokio::sync::OnceCell<String>,
    refetch_cooldown: Duration,
    default_max_age: Duration,
    min_max_age: Duration,
    max_max_age: Duration,
    max_stale: Duration,
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

impl Verifier {
    /// Starts configuring a verifier for tokens of `issuer` (the exact `iss`).
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder {
            issuer: issuer.into(),
            audience: None,
            jwks_uri: None,
            leeway: Duration::from_secs(30),
            algorithms: Algorithm::ALL.to_vec(),
            refetch_cooldown: Duration::from_secs(10),
            default_max_age: Duration::from_secs(300),
            min_max_age: Duration::from_secs(1),
            max_max_age: Duration::from_secs(86_400),
            max_stale: Duration::from_secs(86_400),
            timeout: Duration::from_secs(5),
            http: None,
            cross_origin_jwks: false,
        }
    }

    /// Verifies a token (the bearer value, without `Bearer `) now.
    pub async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.verify_at(token, now).await
    }

    /// Verifies a token at unix time `now`.
    pub async fn verify_at(&self, token: &str, now: i64) -> Result<AccessToken, VerifyError> {
        let snapshot = self.keys(Why::Expired, None).await?;
        match verify_token(token, &snapshot.keys, &self.inner.rules, now) {
            Err(VerifyError::UnknownKey(kid)) => {
                let newer = self
                    .keys(Why::UnknownKid, Some(snapshot.generation))
                    .await?;
                if newer.generation == snapshot.generation {
                    return Err(VerifyError::UnknownKey(kid));
                }
                verify_token(token, &newer.keys, &self.inner.rules, now)
            }
            result => result,
        }
    }

    /// Fetches the JWKS now (for a fail-fast start-up check), unless a fresh
    /// one is cached. Returns the number of usable keys.
    pub async fn refresh(&self) -> Result<usize, VerifyError> {
        Ok(self.keys(Why::Expired, None).await?.keys.len())
    }

    pub fn issuer(&self) -> &str {
        &self.inner.rules.issuer
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
                        tracing::warn!(issuer = %inner.rules.issuer, error = %e,
                            "cannot refresh the issuer's JWKS; verifying with the cached keys");
                        Ok(s)
                    }
                    _ => Err(VerifyError::KeysUnavailable(e)),
                }
            }
        }
    }

    async fn fetch(&self, current: Option<&Snapshot>) -> Result<Snapshot, String> {
        let inner = &self.inner;
        let uri = inner
            .jwks_uri
            .get_or_try_init(|| self.discover())
            .await?
            .clone();
        let mut request = inner
            .http
            .get(&uri)
            .header(header::ACCEPT, "application/json");
        if let Some(etag) = current.and_then(|c| c.etag.as_deref()) {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        inner.stats.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        let response = request
            .send()
            .await
            .map_err(|e| format!("GET {uri}: {e}"))?;
        let fetched_at = Instant::now();
        let fresh_until = fetched_at + self.freshness(response.headers());
        let generation = inner.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if response.status() == reqwest::StatusCode::NOT_MODIFIED
            && let Some(current) = current
        {
            inner.stats.not_modified.fetch_add(1, Ordering::Relaxed);
            // Same keys: re-parse nothing, only the times move.
            return Ok(Snapshot {
                keys: Arc::clone(&current.keys),
                etag: etag.or_else(|| current.etag.clone()),
                fetched_at,
                fresh_until,
                generation,
            });
        }
        if !response.status().is_success() {
            return Err(format!("GET {uri}: HTTP {}", response.status()));
        }
        let body = read_bounded(response)
            .await
            .map_err(|e| format!("GET {uri}: {e}"))?;
        let keys =
            KeySet::from_jwks(&body, &inner.rules.algorithms).map_err(|e| format!("{uri}: {e}"))?;
        Ok(Snapshot {
            keys: Arc::new(keys),
            etag,
            fetched_at,
            fresh_until,
            generation,
        })
    }

    /// RFC 8414: the metadata's `jwks_uri`, after checking its `issuer`.
    async fn discover(&self) -> Result<String, String> {
        #[derive(serde::Deserialize)]
        struct Metadata {
            issuer: String,
            jwks_uri: String,
        }
        let inner = &self.inner;
        let url = &inner.metadata_url;
        inner.stats.metadata_fetches.fetch_add(1, Ordering::Relaxed);
        let fail = |e: String| {
            inner.stats.fetch_failures.fetch_add(1, Ordering::Relaxed);
            e
        };
        let response = inner
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| fail(format!("GET {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(fail(format!("GET {url}: HTTP {}", response.status())));
        }
        let body = read_bounded(response)
            .await
            .map_err(|e| fail(format!("GET {url}: {e}")))?;
        let metadata: Metadata = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("{url}: not authorization server metadata: {e}")))?;
        if metadata.issuer != inner.rules.issuer {
            return Err(fail(format!(
                "{url} names issuer {:?}, not {:?} (RFC 8414 §3.3)",
                metadata.issuer, inner.rules.issuer
            )));
        }
        let jwks = reqwest::Url::parse(&metadata.jwks_uri)
            .map_err(|_| fail(format!("{url}: jwks_uri is not a URL")))?;
        if !inner.cross_origin_jwks && jwks.origin() != inner.origin {
            return Err(fail(format!(
                "{url}: jwks_uri {} is not on the issuer's origin (allow_cross_origin_jwks to accept it)",
                jwks.as_str()
            )));
        }
        Ok(metadata.jwks_uri)
    }

    /// How long a response stays fresh: max-age less Age, within bounds.
    fn freshness(&self, headers: &HeaderMap) -> Duration {
        let inner = &self.inner;
        let directives: Vec<String> = headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|d| d.trim().to_ascii_lowercase())
            .collect();
        let max_age = if directives
            .iter()
            .any(|d| d == "no-store" || d == "no-cache")
        {
            Some(0)
        } else {
            directives
                .iter()
                .find_map(|d| d.strip_prefix("max-age="))
                .and_then(|v| v.trim_matches('"').parse::<u64>().ok())
        };
        let age = headers
            .get(header::AGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        max_age
            .map_or(inner.default_max_age, |m| {
                Duration::from_secs(m.saturating_sub(age))
            })
            .clamp(inner.min_max_age, inner.max_max_age)
    }
}

/// The RFC 8414 §3.1 metadata URL: the well-known path goes between the
/// host and the issuer's own path (`https://a/t1` →
/// `https://a/.well-known/oauth-authorization-server/t1`).
fn metadata_url(issuer: &reqwest::Url) -> String {
    let path = issuer.path().trim_end_matches('/');
    let mut url = issuer.clone();
    url.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    url.set_query(None);
    url.to_string()
}

/// Redirects are followed (up to 5) only within the origin they started on.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if !same {
            attempt.error("redirect to another origin refused")
        } else if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

/// The body, refusing more than [`MAX_BODY_BYTES`] without reading them.
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let too_large = || format!("the body is larger than {} KiB", MAX_BODY_BYTES / 1024);
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.inner.snapshot.load();
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.rules.issuer)
            .field("audience", &self.inner.rules.audience)
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
