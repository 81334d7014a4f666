//! How a [`JwksCache`] is configured: where its keys come from (discovery
//! or a JWKS URL), the algorithms, timeouts and bounds, checked when built.

use super::*;

/// Largest metadata or JWKS body read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Where the keys come from.
#[derive(Debug, Clone)]
pub(super) enum Source {
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
    pub(super) source: Source,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(super) rsa_default: Option<Algorithm>,
    pub(super) refetch_cooldown: Duration,
    pub(super) default_max_age: Duration,
    pub(super) min_max_age: Duration,
    pub(super) max_max_age: Duration,
    pub(super) max_stale: Duration,
    pub(super) timeout: Duration,
    pub(super) http: Option<reqwest::Client>,
    pub(super) cross_origin_jwks: bool,
    pub(super) root_certificates_pem: Option<Vec<u8>>,
    pub(super) bearer_token_file: Option<PathBuf>,
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
    pub(super) fn new(source: Source) -> Self {
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

pub(super) fn http_url(s: &str) -> Option<reqwest::Url> {
    reqwest::Url::parse(s)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}
