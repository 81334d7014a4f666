//! The verifier of tokend's access tokens, on the JWKS cache (`cache.rs`).
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

use crate::cache::{BuildError, JwksCache, JwksCacheBuilder, Stats};
use crate::dpop::{ProofRequest, verify_proof};
use crate::jwk::Algorithm;
use crate::token::{AccessToken, Rules, VerifyError, verify_token};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Configures a [`Verifier`].
#[derive(Debug, Clone)]
pub struct VerifierBuilder {
    issuer: String,
    audience: Option<Option<String>>,
    jwks_uri: Option<String>,
    leeway: Duration,
    cache: JwksCacheBuilder,
    resource_base: Option<String>,
    dpop_replay_capacity: usize,
    cert_header: Option<(crate::mtls::CertHeader, crate::mtls::TrustedProxies)>,
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
        self.cache = self.cache.algorithms(algorithms);
        self
    }

    /// At most one JWKS refetch per this period for unknown `kid`s, and the
    /// retry interval while the issuer is unreachable (default 10 s).
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.cache = self.cache.refetch_cooldown(cooldown);
        self
    }

    /// Cache time when the JWKS response has no max-age (default 5 min).
    pub fn default_max_age(mut self, age: Duration) -> Self {
        self.cache = self.cache.default_max_age(age);
        self
    }

    /// Bounds applied to the issuer's max-age (default 1 s to 1 day): the
    /// floor keeps a max-age of 0 from turning into a fetch per request.
    pub fn max_age_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.cache = self.cache.max_age_bounds(min, max);
        self
    }

    /// How long an expired set keeps serving while the issuer is unreachable
    /// (default 1 day). Past it, verification fails with `KeysUnavailable`.
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.cache = self.cache.max_stale(max_stale);
        self
    }

    /// Timeout of each metadata or JWKS request (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.cache = self.cache.timeout(timeout);
        self
    }

    /// Accept a metadata `jwks_uri` on another origin than the issuer (off by
    /// default: a metadata document could otherwise send the verifier to any
    /// address, an internal one included).
    pub fn allow_cross_origin_jwks(mut self) -> Self {
        self.cache = self.cache.allow_cross_origin_jwks();
        self
    }

    /// Use this HTTP client (custom CA roots, proxy, …). Its redirect policy
    /// is its own: the default client never follows one to another origin.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.cache = self.cache.http_client(client);
        self
    }

    /// This API's public base URL (`https://api.example`): a DPoP proof's
    /// `htu` must be it plus the request path. Without it the actix
    /// middleware takes the scheme and host the request itself names,
    /// which a client can set: configure it behind a proxy.
    pub fn resource_base_url(mut self, base: impl Into<String>) -> Self {
        self.resource_base = Some(base.into().trim_end_matches('/').to_owned());
        self
    }

    /// How many DPoP proof `jti`s are remembered to refuse a replay
    /// (default 100,000; each is kept only while its `iat` is acceptable,
    /// the oldest go first when full).
    pub fn dpop_replay_capacity(mut self, capacity: usize) -> Self {
        self.dpop_replay_capacity = capacity.max(1);
        self
    }

    /// Behind a proxy that terminates TLS: the client certificate (for
    /// certificate-bound tokens, RFC 8705 §3) comes in `header`, believed
    /// only when the request's peer is one of `trusted_proxies`. Without it
    /// the actix middleware reads the certificate of the connection (serve
    /// with [`crate::actix::client_certificate_on_connect`]).
    pub fn client_cert_header(
        mut self,
        header: crate::mtls::CertHeader,
        trusted_proxies: crate::mtls::TrustedProxies,
    ) -> Self {
        self.cert_header = Some((header, trusted_proxies));
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
        let algorithms = self.cache.algorithms.clone();
        let cache = match self.jwks_uri {
            // The settings move over to a cache of the configured URL.
            Some(uri) => self.cache.with_jwks_uri(uri),
            None => self.cache,
        }
        .build()?;
        Ok(Verifier {
            rules: std::sync::Arc::new(Rules {
                issuer,
                audience,
                leeway: self.leeway.as_secs(),
                algorithms,
            }),
            cache,
            resource_base: self.resource_base.map(std::sync::Arc::from),
            proofs: std::sync::Arc::new(SeenProofs::new(self.dpop_replay_capacity)),
            cert_header: self.cert_header.map(std::sync::Arc::new),
        })
    }
}

/// Verifies access tokens of one issuer for one audience. Cheap to clone
/// (one shared cache); share one per process.
#[derive(Clone)]
pub struct Verifier {
    rules: std::sync::Arc<Rules>,
    cache: JwksCache,
    resource_base: Option<std::sync::Arc<str>>,
    proofs: std::sync::Arc<SeenProofs>,
    cert_header: Option<std::sync::Arc<(crate::mtls::CertHeader, crate::mtls::TrustedProxies)>>,
}

/// How the token was presented (RFC 6750 §2.1, RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// What an HTTP request presented, for [`Verifier::verify_request`].
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub scheme: Scheme,
    /// The access token (the `Authorization` value after the scheme).
    pub token: &'a str,
    /// The `DPoP` header, when there is one.
    pub proof: Option<&'a str>,
    /// The request's method and the URL it was addressed to.
    pub method: &'a str,
    pub url: &'a str,
    /// SHA-256 of the DER client certificate the connection (or a trusted
    /// proxy) presented.
    pub client_cert_sha256: Option<&'a [u8]>,
}

/// DPoP proof `jti`s seen, bounded: kept while their `iat` is acceptable;
/// when full the oldest go first (a replay then needs more valid proofs
/// than the capacity within the window, each signed by a bound key).
struct SeenProofs {
    capacity: usize,
    seen: std::sync::Mutex<Seen>,
}

/// The keys seen, and the same in the order they expire.
type Seen = (
    std::collections::HashSet<String>,
    std::collections::VecDeque<(i64, String)>,
);

impl SeenProofs {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: std::sync::Mutex::default(),
        }
    }

    /// `true` the first time `key` is seen.
    fn first_use(&self, key: String, expires: i64, now: i64) -> bool {
        let mut guard = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (set, order) = &mut *guard;
        while order.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, k)) = order.pop_front() {
                set.remove(&k);
            }
        }
        if set.contains(&key) {
            return false;
        }
        while set.len() >= self.capacity {
            match order.pop_front() {
                Some((_, k)) => {
                    set.remove(&k);
                }
                None => break,
            }
        }
        set.insert(key.clone());
        order.push_back((expires, key));
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.lock().unwrap().0.len()
    }
}

impl Verifier {
    /// Starts configuring a verifier for tokens of `issuer` (the exact `iss`).
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        let issuer = issuer.into();
        VerifierBuilder {
            cache: JwksCache::rfc8414(issuer.clone()),
            issuer,
            audience: None,
            jwks_uri: None,
            leeway: Duration::from_secs(30),
            resource_base: None,
            dpop_replay_capacity: 100_000,
            cert_header: None,
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
        self.cache
            .verify_with(|keys| verify_token(token, keys, &self.rules, now))
            .await
    }

    /// Verifies the token a request presented, and its binding: a token
    /// bound to a DPoP key only as `DPoP` with a valid, fresh proof by that
    /// key for this request (`htm`, `htu`, `ath`, `iat`, `jti` once); a
    /// token bound to a certificate only with that certificate. A bound
    /// token sent as `Bearer` is refused: no downgrade.
    pub async fn verify_request(&self, p: &Presented<'_>) -> Result<AccessToken, VerifyError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.verify_request_at(p, now).await
    }

    /// [`Verifier::verify_request`] at unix time `now`.
    pub async fn verify_request_at(
        &self,
        p: &Presented<'_>,
        now: i64,
    ) -> Result<AccessToken, VerifyError> {
        let token = self.verify_at(p.token, now).await?;
        if let Some(expected) = &token.confirmation.x5t_s256 {
            use base64::Engine;
            let presented = p
                .client_cert_sha256
                .map(|d| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d));
            if presented.as_deref() != Some(expected.as_str()) {
                return Err(VerifyError::CertificateMismatch);
            }
        }
        match (p.scheme, &token.confirmation.jkt) {
            (Scheme::Bearer, Some(_)) => Err(VerifyError::BoundTokenAsBearer),
            (Scheme::Bearer, None) => Ok(token),
            (Scheme::Dpop, None) => Err(VerifyError::NotDpopBound),
            (Scheme::Dpop, Some(jkt)) => {
                let proof = p.proof.ok_or(VerifyError::MissingProof)?;
                let leeway = i64::try_from(self.rules.leeway).unwrap_or(i64::MAX);
                let urls = [p.url.to_owned()];
                let checked = verify_proof(
                    proof,
                    &ProofRequest {
                        method: p.method,
                        urls: &urls,
                        now,
                        leeway,
                        access_token: Some(p.token),
                    },
                )
                .map_err(VerifyError::Proof)?;
                if &checked.jkt != jkt {
                    return Err(VerifyError::ProofKeyMismatch);
                }
                let key = format!("{}\n{}", checked.jkt, checked.jti);
                let expires = checked.iat.saturating_add(leeway.saturating_mul(2)) + 1;
                if !self.proofs.first_use(key, expires, now) {
                    return Err(VerifyError::ProofReplay);
                }
                Ok(token)
            }
        }
    }

    /// The header a trusted proxy forwards client certificates in, and the
    /// proxies believed.
    pub fn client_cert_header(
        &self,
    ) -> Option<(crate::mtls::CertHeader, &crate::mtls::TrustedProxies)> {
        self.cert_header.as_deref().map(|(h, t)| (*h, t))
    }

    /// The configured public base URL of this API, if any.
    pub fn resource_base_url(&self) -> Option<&str> {
        self.resource_base.as_deref()
    }

    /// Fetches the JWKS now (for a fail-fast start-up check), unless a fresh
    /// one is cached. Returns the number of usable keys.
    pub async fn refresh(&self) -> Result<usize, VerifyError> {
        self.cache.refresh().await
    }

    pub fn issuer(&self) -> &str {
        &self.rules.issuer
    }

    pub fn stats(&self) -> Stats {
        self.cache.stats()
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.rules.issuer)
            .field("audience", &self.rules.audience)
            .field("cache", &self.cache)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_proofs_refuse_a_replay_and_stay_bounded() {
        let seen = SeenProofs::new(3);
        assert!(seen.first_use("a".into(), 100, 0));
        assert!(!seen.first_use("a".into(), 100, 1));
        for k in ["b", "c", "d", "e"] {
            assert!(seen.first_use(k.into(), 100, 2));
        }
        assert_eq!(seen.len(), 3);
        // Expired entries go at the next use.
        assert!(seen.first_use("f".into(), 300, 200));
        assert_eq!(seen.len(), 1);
    }
}
