//! [`TokenSource`]: the cache, the single flight, the refresh and the retries.

use crate::Error;
use crate::keys::SigningKey;
use base64::Engine;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

mod clock;
mod fetch;
pub use clock::{Clock, ManualClock, SystemClock};

/// How the client proves who it is.
pub enum Credentials {
    /// A client secret in `Authorization: Basic` (or, `post`, in the body).
    Secret { secret: String, post: bool },
    /// An RFC 7523 assertion signed with the client's key.
    PrivateKeyJwt(SigningKey),
    /// A workload identity token read from `path` at every fetch (RFC 7523
    /// §2.1 jwt-bearer grant, SPEC §8): no secret in the workload.
    TokenFile(PathBuf),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Secret { post, .. } => {
                write!(f, "Secret {{ secret: [redacted], post: {post} }}")
            }
            Credentials::PrivateKeyJwt(key) => write!(f, "PrivateKeyJwt({key:?})"),
            Credentials::TokenFile(path) => write!(f, "TokenFile({})", path.display()),
        }
    }
}

impl Credentials {
    /// `client_secret_basic`.
    pub fn secret(secret: impl Into<String>) -> Self {
        Credentials::Secret {
            secret: secret.into(),
            post: false,
        }
    }

    /// `client_secret_post`.
    pub fn secret_post(secret: impl Into<String>) -> Self {
        Credentials::Secret {
            secret: secret.into(),
            post: true,
        }
    }

    /// A Kubernetes projected service-account token, a SPIFFE JWT-SVID file…
    pub fn token_file(path: impl Into<PathBuf>) -> Self {
        Credentials::TokenFile(path.into())
    }
}

/// `Bearer`, or `DPoP` for a token bound to this source's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Bearer,
    DPoP,
}

/// An access token. Its `Debug` does not show it.
#[derive(Clone)]
pub struct AccessToken {
    value: Arc<str>,
    pub token_type: TokenType,
    pub scope: Option<String>,
    /// When the token expires, on this source's clock.
    pub expires_at: Instant,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    /// The token itself, to send.
    pub fn secret(&self) -> &str {
        &self.value
    }
}

/// How failed token requests are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per fetch, the first included.
    pub attempts: u32,
    /// The first backoff; it doubles each attempt (with jitter).
    pub base: Duration,
    /// The longest wait between attempts, `Retry-After` included.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base: Duration::from_millis(200),
            max_wait: Duration::from_secs(10),
        }
    }
}

pub struct TokenSourceBuilder {
    token_url: String,
    client_id: Option<String>,
    credentials: Option<Credentials>,
    params: Vec<(&'static str, String)>,
    dpop: Option<SigningKey>,
    refresh_at: f64,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    http: Option<reqwest::Client>,
}

impl TokenSourceBuilder {
    /// The client id (optional only with a token file bound to one client).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Space-delimited scopes to ask for (default: the client's).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.params.push(("scope", scope.into()));
        self
    }

    /// An audience to ask for (repeatable; default: the client's).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.params.push(("audience", audience.into()));
        self
    }

    /// An RFC 8707 resource indicator (repeatable).
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.params.push(("resource", resource.into()));
        self
    }

    /// Binds tokens to a new P-256 key held only in this process (RFC 9449).
    pub fn dpop(self) -> Self {
        self.dpop_key(SigningKey::generate_p256())
    }

    /// Binds tokens to this key (RFC 9449).
    pub fn dpop_key(mut self, key: SigningKey) -> Self {
        self.dpop = Some(key);
        self
    }

    /// When to refresh, as a fraction of the token's life (default 0.8).
    pub fn refresh_at(mut self, fraction: f64) -> Self {
        self.refresh_at = fraction;
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The HTTP client for token requests (default: a new one with a 10 s
    /// timeout).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    pub fn build(self) -> Result<TokenSource, Error> {
        let url = reqwest::Url::parse(&self.token_url)
            .map_err(|e| Error::Config(format!("token URL {:?}: {e}", self.token_url)))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(Error::Config(format!(
                "token URL {:?} is not http(s)",
                self.token_url
            )));
        }
        let credentials = self
            .credentials
            .ok_or_else(|| Error::Config("no credentials given".into()))?;
        if self.client_id.is_none() && !matches!(credentials, Credentials::TokenFile(_)) {
            return Err(Error::Config(
                "a client id is needed with a secret or a private key".into(),
            ));
        }
        if !(self.refresh_at > 0.0 && self.refresh_at <= 1.0) {
            return Err(Error::Config("refresh_at must be in (0, 1]".into()));
        }
        if self.retry.attempts == 0 {
            return Err(Error::Config("at least one attempt is needed".into()));
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| Error::Config(format!("HTTP client: {e}")))?,
        };
        Ok(TokenSource {
            inner: Arc::new(Inner {
                http,
                token_url: self.token_url,
                client_id: self.client_id,
                credentials,
                params: self.params,
                dpop: self.dpop,
                refresh_at: self.refresh_at,
                retry: self.retry,
                clock: self.clock,
                current: RwLock::new(None),
                flight: tokio::sync::Mutex::new(None),
                fetches: Default::default(),
                refreshing: AtomicBool::new(false),
                quiet_until: Mutex::new(None),
            }),
        })
    }
}

/// The token held, and when to refresh it.
struct Cached {
    token: AccessToken,
    refresh_at: Instant,
}

/// The outcome of the last fetch, for the callers that waited for it.
struct LastFetch {
    /// Fetches done before and including this one.
    number: u64,
    result: Result<(), Error>,
}

struct Inner {
    http: reqwest::Client,
    token_url: String,
    client_id: Option<String>,
    credentials: Credentials,
    params: Vec<(&'static str, String)>,
    dpop: Option<SigningKey>,
    refresh_at: f64,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    current: RwLock<Option<Arc<Cached>>>,
    /// Held while a fetch is in flight; remembers how the last one ended.
    flight: tokio::sync::Mutex<Option<LastFetch>>,
    /// Fetches completed.
    fetches: std::sync::atomic::AtomicU64,
    /// A background refresh is under way.
    refreshing: AtomicBool,
    /// After a failed background refresh: no new one before this.
    quiet_until: Mutex<Option<Instant>>,
}

/// Caches, refreshes and hands out one client's access token; cheap to
/// clone (clones share the token).
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.inner.token_url)
            .field("client_id", &self.inner.client_id)
            .field("credentials", &self.inner.credentials)
            .field("dpop", &self.inner.dpop.is_some())
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn builder(token_url: impl Into<String>) -> TokenSourceBuilder {
        TokenSourceBuilder {
            token_url: token_url.into(),
            client_id: None,
            credentials: None,
            params: Vec::new(),
            dpop: None,
            refresh_at: 0.8,
            retry: RetryPolicy::default(),
            clock: Arc::new(SystemClock),
            http: None,
        }
    }

    /// The DPoP key's thumbprint, when tokens are bound (`cnf.jkt`).
    pub fn dpop_thumbprint(&self) -> Option<String> {
        self.inner.dpop.as_ref().map(SigningKey::thumbprint)
    }

    fn cached(&self) -> Option<Arc<Cached>> {
        self.inner.current.read().expect("token lock").clone()
    }

    /// A valid token: the cached one, or a new one when there is none.
    pub async fn token(&self) -> Result<AccessToken, Error> {
        let asked = self.inner.clock.now();
        if let Some(cached) = self.cached()
            && asked < cached.token.expires_at
        {
            if asked >= cached.refresh_at {
                self.refresh_in_background();
            }
            return Ok(cached.token.clone());
        }
        let fetches_before = self.inner.fetches.load(Ordering::Acquire);
        let mut flight = self.inner.flight.lock().await;
        let now = self.inner.clock.now();
        if let Some(cached) = self.cached()
            && now < cached.token.expires_at
        {
            return Ok(cached.token.clone());
        }
        // A fetch that ended while this caller waited answers it too.
        if let Some(last) = &*flight
            && last.number > fetches_before
            && let Err(e) = &last.result
        {
            return Err(e.clone());
        }
        let result = self.inner.fetch().await;
        *flight = Some(LastFetch {
            number: self.inner.fetches.fetch_add(1, Ordering::AcqRel) + 1,
            result: result.as_ref().map(|_| ()).map_err(Clone::clone),
        });
        result
    }

    /// Forgets the cached token (say, after a resource server refused it);
    /// the next call fetches a new one.
    pub fn invalidate(&self) {
        *self.inner.current.write().expect("token lock") = None;
    }

    fn refresh_in_background(&self) {
        if let Some(until) = *self.inner.quiet_until.lock().expect("lock")
            && self.inner.clock.now() < until
        {
            return;
        }
        if self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let mut flight = inner.flight.lock().await;
            let due = inner
                .current
                .read()
                .expect("token lock")
                .as_ref()
                .is_none_or(|c| inner.clock.now() >= c.refresh_at);
            if due {
                let result = inner.fetch().await;
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "refreshing the access token failed; the cached one is used until it expires");
                    *inner.quiet_until.lock().expect("lock") =
                        Some(inner.clock.now() + inner.retry.max_wait);
                }
                *flight = Some(LastFetch {
                    number: inner.fetches.fetch_add(1, Ordering::AcqRel) + 1,
                    result: result.map(|_| ()),
                });
            }
            inner.refreshing.store(false, Ordering::Release);
        });
    }

    /// Adds this source's token to `request`: `Authorization: Bearer`, or
    /// `Authorization: DPoP` and a `DPoP` proof for its method and URL.
    pub async fn authorize(
        &self,
        mut request: reqwest::Request,
    ) -> Result<reqwest::Request, Error> {
        let token = self.token().await?;
        let header = |s: String| {
            reqwest::header::HeaderValue::from_str(&s).map_err(|_| Error::Protocol {
                url: self.inner.token_url.clone(),
                reason: "the access token is not a valid header value".into(),
            })
        };
        let (scheme, proof) = match (token.token_type, &self.inner.dpop) {
            (TokenType::DPoP, Some(key)) => (
                "DPoP",
                Some(key.dpop_proof(
                    request.method().as_str(),
                    request.url().as_str(),
                    Some(token.secret()),
                )),
            ),
            _ => ("Bearer", None),
        };
        let headers = request.headers_mut();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            header(format!("{scheme} {}", token.secret()))?,
        );
        if let Some(proof) = proof {
            headers.insert("dpop", header(proof)?);
        }
        Ok(request)
    }

    /// Sends `request` with this source's token.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let (client, request) = request.build_split();
        let request = request.map_err(|e| Error::Send(e.to_string()))?;
        let request = self.authorize(request).await?;
        client
            .execute(request)
            .await
            .map_err(|e| Error::Send(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
