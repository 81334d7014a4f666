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

/// Largest metadata or JWKS body read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Where the keys come from.
#[derive(Debug, Clone)]
enum Source {
    /// The metadata documents to try in order (the next one only when a
    /// document answers 404), each of which must name `issuer`.
    Discovery {
        issuer: String,
        metadata_urls: Vec<String>,
    },
    /// A JWKS URL configured by the operator.
    Jwks(String),
}

/// Configures a [`JwksCache`].
#[derive(Debug, Clone)]
pub struct JwksCacheBuilder {
    source: Source,
    pub(crate) algorithms: Vec<Algorithm>,
    rsa_default: Option<Algorithm>,
    refetch_cooldown: Duration,
    default_max_age: Duration,
    min_max_age: Duration,
    max_max_age: Duration,
    max_stale: Duration,
    timeout: Duration,
    http: Option<reqwest::Client>,
    cross_origin_jwks: bool,
    root_certificates_pem: Option<Vec<u8>>,
    bearer_token_file: Option<PathBuf>,
}

/// A configuration the cache cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "no audience: call .audience(\"<this API's identifier>\") (RFC 9068 §4: a resource server must check aud), or .any_audience() for a tool that only inspects tokens"
    )]
    NoAudience,
    #[error("the issuer must be an http(s) URL, got {0:?}")]
    BadIssuer(String),
    #[error("the JWKS location must be an http(s) URL, got {0:?}")]
    BadJwksUri(String),
    #[error("no algorithm allowed")]
    NoAlgorithm,
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

impl JwksCacheBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            algorithms: Algorithm::ALL.to_vec(),
            rsa_default: None,
            refetch_cooldown: Duration::from_secs(10),
            default_max_age: Duration::from_secs(300),
            min_max_age: Duration::from_secs(1),
            max_max_age: Duration::from_secs(86_400),
            max_stale: Duration::from_secs(86_400),
            timeout: Duration::from_secs(5),
            http: None,
            cross_origin_jwks: false,
            root_certificates_pem: None,
            bearer_token_file: None,
        }
    }

    /// The accepted algorithms (default: all asymmetric ones; never `none`
    /// or HMAC).
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// An RSA key without `alg` verifies this algorithm (a SPIFFE bundle
    /// names none); without this such keys are skipped.
    pub fn rsa_without_alg(mut self, alg: Algorithm) -> Self {
        self.rsa_default = Some(alg);
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
    /// default: a metadata document could otherwise send the cache to any
    /// address, an internal one included).
    pub fn allow_cross_origin_jwks(mut self) -> Self {
        self.cross_origin_jwks = true;
        self
    }

    /// Trust only these PEM CA certificates for the issuer's TLS (an
    /// in-cluster Kubernetes API server's CA, say).
    pub fn root_certificates_pem(mut self, pem: Vec<u8>) -> Self {
        self.root_certificates_pem = Some(pem);
        self
    }

    /// Send `Authorization: Bearer <the file's content>` with every fetch,
    /// read anew each time (a projected token the platform rotates).
    pub fn bearer_token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.bearer_token_file = Some(path.into());
        self
    }

    /// Use this HTTP client (custom CA roots, proxy, …). Its redirect policy
    /// is its own: the default client never follows one to another origin.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The same settings for keys at `uri` instead.
    pub(crate) fn with_jwks_uri(mut self, uri: String) -> Self {
        self.source = Source::Jwks(uri);
        self
    }

    /// Builds the cache. Nothing is fetched until the first use or
    /// [`JwksCache::refresh`].
    pub fn build(self) -> Result<JwksCache, BuildError> {
        if self.algorithms.is_empty() {
            return Err(BuildError::NoAlgorithm);
        }
        let (origin, jwks_uri) = match &self.source {
            Source::Discovery { issuer, .. } => {
                let parsed =
                    http_url(issuer).ok_or_else(|| BuildError::BadIssuer(issuer.clone()))?;
                (parsed.origin(), None)
            }
            Source::Jwks(uri) => {
                let parsed = http_url(uri).ok_or_else(|| BuildError::BadJwksUri(uri.clone()))?;
                (parsed.origin(), Some(uri.clone()))
            }
        };
        let http = match self.http {
            Some(client) => client,
            None => {
                let mut builder = reqwest::Client::builder()
                    .timeout(self.timeout)
                    .user_agent(concat!("tokend-verify/", env!("CARGO_PKG_VERSION")))
                    .redirect(same_origin_redirects());
                if let Some(pem) = &self.root_certificates_pem {
                    let certs = reqwest::Certificate::from_pem_bundle(pem)
                        .map_err(|e| BuildError::Http(format!("CA certificates: {e}")))?;
                    if certs.is_empty() {
                        return Err(BuildError::Http("no CA certificate in the PEM".into()));
                    }
                    builder = builder.tls_certs_only(certs);
                }
                builder
                    .build()
                    .map_err(|e| BuildError::Http(e.to_string()))?
            }
        };
        Ok(JwksCache {
            inner: Arc::new(Inner {
                source: self.source,
                origin,
                cross_origin_jwks: self.cross_origin_jwks,
                jwks_uri: tokio::sync::OnceCell::new_with(jwks_uri),
                algorithms: self.algorithms,
                rsa_default: self.rsa_default,
                refetch_cooldown: self.refetch_cooldown,
                default_max_age: self.default_max_age,
                min_max_age: self.min_max_age,
                max_max_age: self.max_max_age,
                max_stale: self.max_stale,
                bearer_token_file: self.bearer_token_file,
                http,
                snapshot: ArcSwapOption::empty(),
                refresh: tokio::sync::Mutex::new(RefreshState::default()),
                generation: AtomicU64::new(0),
                stats: Counters::default(),
            }),
        })
    }
}

fn http_url(s: &str) -> Option<reqwest::Url> {
    reqwest::Url::parse(s)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

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

    /// A GET with the configured bearer token, if any.
    fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, String> {
        let mut request = self.inner.http.get(url);
        if let Some(path) = &self.inner.bearer_token_file {
            let token = std::fs::read_to_string(path).map_err(|e| {
                format!("cannot read the bearer token file {}: {e}", path.display())
            })?;
            request = request.bearer_auth(token.trim());
        }
        Ok(request)
    }

    async fn fetch(&self, current: Option<&Snapshot>) -> Result<Snapshot, String> {
        let inner = &self.inner;
        let uri = inner
            .jwks_uri
            .get_or_try_init(|| self.discover())
            .await?
            .clone();
        let mut request = self.get(&uri)?.header(header::ACCEPT, "application/json");
        if let Some(etag) = current.and_then(|c| c.etag.as_deref()) {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        inner.stats.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        let response = request
            .send()
            .await
            .map_err(|e| format!("GET {uri}: {}", describe_error(&e)))?;
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
        let keys = match inner.rsa_default {
            Some(alg) => KeySet::from_jwks_rsa_default(&body, &inner.algorithms, alg),
            None => KeySet::from_jwks(&body, &inner.algorithms),
        }
        .map_err(|e| format!("{uri}: {e}"))?;
        Ok(Snapshot {
            keys: Arc::new(keys),
            etag,
            fetched_at,
            fresh_until,
            generation,
        })
    }

    /// The metadata's `jwks_uri`, after checking its `issuer`.
    async fn discover(&self) -> Result<String, String> {
        #[derive(serde::Deserialize)]
        struct Metadata {
            issuer: String,
            jwks_uri: String,
        }
        let inner = &self.inner;
        let Source::Discovery {
            issuer,
            metadata_urls,
        } = &inner.source
        else {
            unreachable!("a configured JWKS URL needs no discovery");
        };
        let fail = |e: String| {
            inner.stats.fetch_failures.fetch_add(1, Ordering::Relaxed);
            e
        };
        let mut last = Err(format!("{issuer}: no metadata URL"));
        for (i, url) in metadata_urls.iter().enumerate() {
            inner.stats.metadata_fetches.fetch_add(1, Ordering::Relaxed);
            let response = self
                .get(url)?
                .send()
                .await
                .map_err(|e| fail(format!("GET {url}: {}", describe_error(&e))))?;
            if response.status() == reqwest::StatusCode::NOT_FOUND && i + 1 < metadata_urls.len() {
                last = Err(format!("GET {url}: HTTP 404"));
                continue;
            }
            if !response.status().is_success() {
                return Err(fail(format!("GET {url}: HTTP {}", response.status())));
            }
            let body = read_bounded(response)
                .await
                .map_err(|e| fail(format!("GET {url}: {e}")))?;
            let metadata: Metadata = serde_json::from_slice(&body).map_err(|_| {
                fail(format!(
                    "{url}: not a metadata document (a JSON object with issuer and jwks_uri)"
                ))
            })?;
            if metadata.issuer != *issuer {
                return Err(fail(format!(
                    "{url} names issuer {:?}, not {:?} (RFC 8414 §3.3)",
                    metadata.issuer, issuer
                )));
            }
            let jwks = http_url(&metadata.jwks_uri)
                .ok_or_else(|| fail(format!("{url}: jwks_uri is not an http(s) URL")))?;
            if !inner.cross_origin_jwks && jwks.origin() != inner.origin {
                return Err(fail(format!(
                    "{url}: jwks_uri {} is not on the issuer's origin",
                    jwks.as_str()
                )));
            }
            return Ok(metadata.jwks_uri);
        }
        last.map_err(fail)
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

/// reqwest's error with its causes (a refused redirect, a timeout), never a
/// body.
fn describe_error(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// The RFC 8414 §3.1 metadata URL: the well-known path goes between the
/// host and the issuer's own path (`https://a/t1` →
/// `https://a/.well-known/oauth-authorization-server/t1`).
fn rfc8414_metadata_url(issuer: &reqwest::Url) -> String {
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
mod tests {
    use super::*;

    #[test]
    fn discovery_urls() {
        let b = JwksCache::openid("https://token.actions.githubusercontent.com");
        let Source::Discovery { metadata_urls, .. } = b.source else {
            panic!()
        };
        assert_eq!(
            metadata_urls,
            [
                "https://token.actions.githubusercontent.com/.well-known/openid-configuration",
                "https://token.actions.githubusercontent.com/.well-known/oauth-authorization-server",
            ]
        );
        let b = JwksCache::rfc8414("https://a.example/t1");
        let Source::Discovery { metadata_urls, .. } = b.source else {
            panic!()
        };
        assert_eq!(
            metadata_urls,
            ["https://a.example/.well-known/oauth-authorization-server/t1"]
        );
    }

    #[test]
    fn only_http_urls_build() {
        assert!(JwksCache::jwks_uri("file:///etc/passwd").build().is_err());
        assert!(JwksCache::openid("spiffe://td").build().is_err());
        assert!(
            JwksCache::jwks_uri("https://b.example/keys")
                .build()
                .is_ok()
        );
    }
}
