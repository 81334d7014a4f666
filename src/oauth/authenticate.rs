//! Client authentication (RFC 6749 §2.3, RFC 7523 §2.2), one code path for
//! every endpoint that authenticates a client. An unknown client and a wrong
//! secret get the same answer after the same work: the secret is always
//! checked, against a dummy hash when there is no client.

use super::OAuthError;
use super::assertion;
use super::client_directory::{CachedClient, ClientDirectory};
use super::credentials::Credentials;
use super::limiter::{FailureLimiter, Source};
use super::ports::{AuditSink, ReplayGuard};
use super::secret::{ClientSecret, verify_secret};
use crate::domain::{AuthMethod, SecretHash};
use crate::metrics::Metrics;
use aws_lc_rs::hmac;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use std::net::IpAddr;
use std::sync::Arc;

static DUMMY: SecretHash = SecretHash([0u8; 32]);

pub struct ClientAuthenticator {
    pub clients: Arc<ClientDirectory>,
    pub pepper: Arc<hmac::Key>,
    pub replays: Arc<dyn ReplayGuard>,
    pub audit: Arc<dyn AuditSink>,
    /// What a client assertion's `aud` may name: the token endpoint URL and
    /// the issuer.
    pub assertion_audiences: Vec<String>,
    pub leeway: i64,
    pub limiter: FailureLimiter,
    pub metrics: Arc<Metrics>,
}

impl ClientAuthenticator {
    /// Authenticates the client; failures are limited per client id and
    /// per source address.
    pub async fn authenticate(
        &self,
        credentials: Credentials,
        now: DateTime<Utc>,
        address: Option<IpAddr>,
    ) -> Result<Arc<CachedClient>, OAuthError> {
        let claimed = credentials.claimed_client_id();
        let source = Source {
            client_id: claimed.as_deref(),
            address,
        };
        let t = now.timestamp();
        if let Err(retry_after) = self.limiter.check(source, t) {
            self.metrics.auth_failures_limited.inc();
            return Err(OAuthError::too_many_failures(retry_after));
        }
        let in_body = credentials.in_body();
        match self.check(credentials, now).await {
            Ok(client) => {
                crate::telemetry::record_client(client.client.id.as_str());
                Ok(client)
            }
            Err(Refusal { error, failed }) => {
                if failed && self.limiter.record_failure(source, t) {
                    self.failure_limit_reached(claimed.as_deref(), address, t)
                        .await;
                }
                // A client that authenticated in the body gets no challenge: a
                // library takes `WWW-Authenticate` for one and hides the body.
                Err(if in_body {
                    error.without_challenge()
                } else {
                    error
                })
            }
        }
    }

    async fn failure_limit_reached(&self, claimed: Option<&str>, address: Option<IpAddr>, t: i64) {
        let subject = claimed.unwrap_or("-");
        let address = address.map(|a| a.to_string()).unwrap_or_default();
        tracing::warn!(
            target: "audit",
            client_id = subject,
            %address,
            "repeated failed client authentication: limit reached"
        );
        let details = serde_json::json!({"address": address});
        if let Err(e) = self
            .audit
            .record(t, "tokend", "auth.failure_limit_reached", subject, &details)
            .await
        {
            tracing::warn!(error = %e, "could not store an audit event");
        }
    }

    async fn check(
        &self,
        credentials: Credentials,
        now: DateTime<Utc>,
    ) -> Result<Arc<CachedClient>, Refusal> {
        match credentials {
            Credentials::Missing => Err(Refusal::not_counted(OAuthError::invalid_client(
                "client authentication is required (client_secret_basic, client_secret_post or private_key_jwt)",
            ))),
            Credentials::Secret {
                client_id,
                raw_client_id,
                secret,
                method: _,
            } => {
                self.by_secret(&client_id, raw_client_id.as_deref(), &secret, now)
                    .await
            }
            Credentials::Assertion {
                client_id,
                assertion,
            } => {
                self.by_assertion(client_id.as_deref(), assertion.expose_secret(), now)
                    .await
            }
        }
    }

    /// Either secret method works for a client with a secret, whatever it
    /// registered (SPEC §3: client libraries differ in what they send).
    async fn by_secret(
        &self,
        client_id: &str,
        raw_client_id: Option<&str>,
        secret: &ClientSecret,
        now: DateTime<Utc>,
    ) -> Result<Arc<CachedClient>, Refusal> {
        let found = self
            .clients
            .get(client_id)
            .or_else(|| raw_client_id.and_then(|raw| self.clients.get(raw)));
        let Some(found) = found else {
            let _ = verify_secret(&self.pepper, secret, &DUMMY);
            return Err(Refusal::failed(OAuthError::authentication_failed()));
        };
        let client = &found.client;
        let mut ok = false;
        let mut checked = 0;
        for stored in client.secrets.valid_at(now) {
            ok |= verify_secret(&self.pepper, secret, stored);
            checked += 1;
        }
        if checked == 0 {
            let _ = verify_secret(&self.pepper, secret, &DUMMY);
        }
        if !ok || !client.auth_method.uses_secret() {
            return Err(Refusal::failed(OAuthError::authentication_failed()));
        }
        // The caller proved it holds the secret: from here, details help,
        // and nothing counts as a failed authentication.
        if !client.enabled {
            return Err(Refusal::not_counted(OAuthError::invalid_client(
                "client is disabled",
            )));
        }
        Ok(found)
    }

    async fn by_assertion(
        &self,
        client_id: Option<&str>,
        jwt: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<CachedClient>, Refusal> {
        let bad = |e: assertion::AssertionError| {
            Refusal::failed(OAuthError::invalid_client(e.to_string()))
        };
        // What needs no client is checked first: the same answer whether the
        // claimed client exists or not.
        assertion::precheck(jwt).map_err(bad)?;
        let claimed = assertion::claimed_client(jwt).map_err(bad)?;
        if client_id.is_some_and(|id| id != claimed) {
            return Err(Refusal::failed(OAuthError::invalid_client(
                "client_id differs from the assertion's iss and sub",
            )));
        }
        let Some(found) = self.clients.get(&claimed) else {
            return Err(Refusal::failed(OAuthError::authentication_failed()));
        };
        let client = &found.client;
        let Some(keys) = found
            .jwks
            .as_ref()
            .filter(|_| client.auth_method == AuthMethod::PrivateKeyJwt)
        else {
            return Err(Refusal::failed(OAuthError::authentication_failed()));
        };
        let now = now.timestamp();
        let verified = assertion::verify(
            jwt,
            &claimed,
            keys,
            &self.assertion_audiences,
            now,
            self.leeway,
        )
        .map_err(|e| match e {
            // No matching key or a bad signature: the answer an unknown
            // client gets.
            assertion::AssertionError::NoKey | assertion::AssertionError::Signature => {
                Refusal::failed(OAuthError::authentication_failed())
            }
            other => bad(other),
        })?;
        if !client.enabled {
            return Err(Refusal::not_counted(OAuthError::invalid_client(
                "client is disabled",
            )));
        }
        // One use per jti, on every replica: the database decides.
        let fresh = self
            .replays
            .first_use(
                &format!("{claimed}\n{}", verified.jti),
                verified.exp + self.leeway,
            )
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "recording a client assertion's use failed");
                Refusal::not_counted(OAuthError::unavailable(
                    "cannot record the client assertion; retry",
                ))
            })?;
        if !fresh {
            return Err(Refusal::failed(OAuthError::invalid_client(
                "client assertion was already used (jti replay)",
            )));
        }
        Ok(found)
    }
}

/// Why authentication was refused, and whether it counts toward the failure
/// limiter: only a wrong or missing proof does, never a correct secret.
struct Refusal {
    error: OAuthError,
    failed: bool,
}

impl Refusal {
    fn failed(error: OAuthError) -> Self {
        Self {
            error,
            failed: true,
        }
    }

    fn not_counted(error: OAuthError) -> Self {
        Self {
            error,
            failed: false,
        }
    }
}
