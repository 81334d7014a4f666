//! [`TokenSource`]: the cache, the single flight, the refresh and the retries.

use crate::Error;
use crate::keys::SigningKey;
use base64::Engine;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Where "now" comes from, so refreshes can be tested by stepping time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

/// The monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    offset: Arc<Mutex<Duration>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            offset: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().expect("clock lock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock().expect("clock lock")
    }
}

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

/// One failed attempt: retry (after the server's `Retry-After`, if it gave
/// one) or give up.
enum Failure {
    Retry(String, Option<Duration>),
    Fatal(Error),
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    token_type: String,
    expires_in: Option<u64>,
    scope: Option<String>,
}

#[derive(serde::Deserialize)]
struct ErrorAnswer {
    error: String,
    error_description: Option<String>,
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// `application/x-www-form-urlencoded` component encoding (RFC 6749 §2.3.1
/// asks it of the Basic credentials too).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
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

impl Inner {
    /// Fetches a token with retries and stores it.
    async fn fetch(&self) -> Result<AccessToken, Error> {
        let mut last = String::new();
        for attempt in 0..self.retry.attempts {
            match self.fetch_once().await {
                Ok(token) => {
                    let now = self.clock.now();
                    let life = token.expires_at.saturating_duration_since(now);
                    *self.current.write().expect("token lock") = Some(Arc::new(Cached {
                        refresh_at: now + life.mul_f64(self.refresh_at),
                        token: token.clone(),
                    }));
                    return Ok(token);
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(why, after)) => {
                    last = why;
                    if attempt + 1 < self.retry.attempts {
                        let backoff = self.retry.base * 2u32.saturating_pow(attempt);
                        let jitter =
                            0.5 + f64::from(crate::keys::random_id().as_bytes()[0] % 50) / 100.0;
                        let wait = after
                            .unwrap_or(backoff.mul_f64(jitter))
                            .min(self.retry.max_wait);
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        let cached_expired = self.current.read().expect("token lock").is_some();
        Err(Error::Unavailable {
            url: self.token_url.clone(),
            attempts: self.retry.attempts,
            last,
            cached_expired,
        })
    }

    async fn fetch_once(&self) -> Result<AccessToken, Failure> {
        let mut form: Vec<(&str, String)> = Vec::new();
        let mut request = self.http.post(&self.token_url);
        match &self.credentials {
            Credentials::Secret { secret, post } => {
                form.push(("grant_type", "client_credentials".into()));
                let id = self.client_id.as_deref().unwrap_or_default();
                if *post {
                    form.push(("client_id", id.into()));
                    form.push(("client_secret", secret.clone()));
                } else {
                    let pair = format!("{}:{}", form_encode(id), form_encode(secret));
                    request = request.header(
                        reqwest::header::AUTHORIZATION,
                        format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.encode(pair)
                        ),
                    );
                }
            }
            Credentials::PrivateKeyJwt(key) => {
                let id = self.client_id.as_deref().unwrap_or_default();
                form.push(("grant_type", "client_credentials".into()));
                form.push(("client_id", id.into()));
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push((
                    "client_assertion",
                    key.client_assertion(id, &self.token_url),
                ));
            }
            Credentials::TokenFile(path) => {
                let jwt = tokio::fs::read_to_string(path).await.map_err(|e| {
                    Failure::Fatal(Error::TokenFile {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })
                })?;
                form.push((
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                ));
                form.push(("assertion", jwt.trim().to_owned()));
                if let Some(id) = &self.client_id {
                    form.push(("client_id", id.clone()));
                }
            }
        }
        form.extend(self.params.iter().map(|(k, v)| (*k, v.clone())));
        if let Some(key) = &self.dpop {
            request = request.header("dpop", key.dpop_proof("POST", &self.token_url, None));
        }
        let sent = self.clock.now();
        let response = request
            .form(&form)
            .send()
            .await
            .map_err(|e| Failure::Retry(format!("{}", e.without_url()), None))?;
        let status = response.status();
        let after = retry_after(response.headers());
        let body = response.bytes().await.map_err(|e| {
            Failure::Retry(format!("reading the answer: {}", e.without_url()), None)
        })?;
        if status.is_success() {
            return self.parse_token(&body, sent).map_err(Failure::Fatal);
        }
        let (error, description) = match serde_json::from_slice::<ErrorAnswer>(&body) {
            Ok(e) => (e.error, e.error_description.unwrap_or_default()),
            Err(_) => (String::new(), String::new()),
        };
        let what = if error.is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            format!("HTTP {} {error}: {description}", status.as_u16())
        };
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(Failure::Retry(what, after));
        }
        Err(Failure::Fatal(Error::Refused {
            status: status.as_u16(),
            error,
            description,
        }))
    }

    fn parse_token(&self, body: &[u8], sent: Instant) -> Result<AccessToken, Error> {
        let protocol = |reason: String| Error::Protocol {
            url: self.token_url.clone(),
            reason,
        };
        let answer: TokenAnswer = serde_json::from_slice(body)
            .map_err(|e| protocol(format!("not a token response: {e}")))?;
        let token_type = if answer.token_type.eq_ignore_ascii_case("dpop") {
            TokenType::DPoP
        } else if answer.token_type.eq_ignore_ascii_case("bearer") {
            TokenType::Bearer
        } else {
            return Err(protocol(format!("token_type {:?}", answer.token_type)));
        };
        if self.dpop.is_some() && token_type != TokenType::DPoP {
            return Err(protocol(
                "a DPoP proof was sent but the token is not DPoP-bound".into(),
            ));
        }
        // Without expires_in, assume five minutes (RFC 6749 §5.1 leaves it
        // to documentation).
        let life = Duration::from_secs(answer.expires_in.unwrap_or(300));
        Ok(AccessToken {
            value: answer.access_token.into(),
            token_type,
            scope: answer.scope,
            expires_at: sent + life,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A token endpoint that answers each request with the next canned
    /// response, and records when each arrived.
    async fn canned(answers: Vec<String>) -> (String, Arc<Mutex<Vec<Instant>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            for answer in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await.unwrap();
                log.lock().unwrap().push(Instant::now());
                socket.write_all(answer.as_bytes()).await.unwrap();
                socket.shutdown().await.unwrap();
            }
        });
        (url, seen)
    }

    fn http(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
            body.len()
        )
    }

    const TOKEN: &str =
        r#"{"access_token":"t1","token_type":"Bearer","expires_in":60,"scope":"a"}"#;

    fn source(url: &str) -> TokenSource {
        TokenSource::builder(url)
            .client_id("c")
            .credentials(Credentials::secret("s"))
            .retry(RetryPolicy {
                attempts: 3,
                base: Duration::from_millis(10),
                max_wait: Duration::from_secs(5),
            })
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn retry_after_of_a_429_is_honoured() {
        let (url, seen) = canned(vec![
            http(
                "429 Too Many Requests",
                "retry-after: 1\r\n",
                r#"{"error":"temporarily_unavailable"}"#,
            ),
            http("200 OK", "", TOKEN),
        ])
        .await;
        let token = source(&url).token().await.unwrap();
        assert_eq!(token.secret(), "t1");
        let seen = seen.lock().unwrap();
        assert!(
            seen[1] - seen[0] >= Duration::from_secs(1),
            "{:?}",
            seen[1] - seen[0]
        );
    }

    #[tokio::test]
    async fn server_errors_are_retried_then_reported() {
        let (url, seen) = canned(vec![
            http("503 Service Unavailable", "", "{}"),
            http("502 Bad Gateway", "", "{}"),
            http(
                "500 Internal Server Error",
                "",
                r#"{"error":"server_error","error_description":"x"}"#,
            ),
        ])
        .await;
        let err = source(&url).token().await.unwrap_err();
        assert_eq!(seen.lock().unwrap().len(), 3);
        let text = err.to_string();
        assert!(
            text.contains("3 attempt(s)") && text.contains("HTTP 500 server_error"),
            "{text}"
        );
        assert!(!text.contains("the cached token"), "{text}");
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried() {
        let (url, seen) = canned(vec![http(
            "401 Unauthorized",
            "",
            r#"{"error":"invalid_client","error_description":"client authentication failed"}"#,
        )])
        .await;
        let err = source(&url).token().await.unwrap_err();
        assert_eq!(
            err,
            Error::Refused {
                status: 401,
                error: "invalid_client".into(),
                description: "client authentication failed".into()
            }
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn secrets_never_print() {
        let s = source("http://127.0.0.1:1/token");
        assert!(!format!("{s:?}").contains("\"s\""));
        assert!(format!("{s:?}").contains("redacted"));
        assert_eq!(form_encode("a b:c%"), "a+b%3Ac%25");
    }

    #[test]
    fn builder_refuses_nonsense() {
        let no_id = TokenSource::builder("http://x/token").credentials(Credentials::secret("s"));
        assert!(matches!(no_id.build(), Err(Error::Config(_))));
        let bad_url = TokenSource::builder("ftp://x")
            .client_id("c")
            .credentials(Credentials::secret("s"));
        assert!(matches!(bad_url.build(), Err(Error::Config(_))));
        let file =
            TokenSource::builder("http://x/token").credentials(Credentials::token_file("/t"));
        assert!(file.build().is_ok(), "a token file may name no client");
    }
}
