//! One fetch of a token: the request for each kind of credentials, the
//! answer read, and the retries with backoff that honour `Retry-After`.

use super::*;

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
pub(super) fn form_encode(s: &str) -> String {
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

impl Inner {
    /// Fetches a token with retries and stores it.
    pub(super) async fn fetch(&self) -> Result<AccessToken, Error> {
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
