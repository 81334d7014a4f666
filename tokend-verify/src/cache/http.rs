//! The cache's HTTP side: fetching and revalidating the set, discovering its
//! location, the cache lifetime a response grants; bounded bodies,
//! same-origin redirects only, the RFC 8414 metadata URL, and errors
//! described without secrets.

use super::*;

/// reqwest's error with its causes (a refused redirect, a timeout), never a
/// body.
pub(super) fn describe_error(e: &reqwest::Error) -> String {
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
pub(super) fn rfc8414_metadata_url(issuer: &reqwest::Url) -> String {
    let path = issuer.path().trim_end_matches('/');
    let mut url = issuer.clone();
    url.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    url.set_query(None);
    url.to_string()
}

/// Redirects are followed (up to 5) only within the origin they started on.
pub(super) fn same_origin_redirects() -> reqwest::redirect::Policy {
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
pub(super) async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
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

impl JwksCache {
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

    pub(super) async fn fetch(&self, current: Option<&Snapshot>) -> Result<Snapshot, String> {
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
