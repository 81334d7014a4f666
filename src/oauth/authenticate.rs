//! Client authentication (RFC 6749 §2.3, RFC 7523 §2.2), one code path for
//! every endpoint that authenticates a client. An unknown client and a wrong
//! secret get the same answer after the same work: the secret is always
//! checked, against a dummy hash when there is no client.

use super::OAuthError;
use super::assertion;
use super::client_directory::{CachedClient, ClientDirectory};
use super::credentials::Credentials;
use super::federation::TrustDirectory;
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
use tokend_verify::mtls::ClientCertificate;

static DUMMY: SecretHash = SecretHash([0u8; 32]);

pub struct ClientAuthenticator {
    /// `tls.client_ca_file`, for `tls_client_auth`.
    pub client_ca: Option<Arc<super::mtls::ClientCa>>,
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
    /// Trust providers and bindings (SPEC §8).
    pub trust: Arc<TrustDirectory>,
    /// (provider, subject, client) triples already seen by this replica: the
    /// audit trail records each first use.
    pub federated_seen: quick_cache::sync::Cache<(String, String, String), ()>,
}

/// The answer of a failed workload-token check, as an error of the request
/// form: `invalid_client` for a client assertion, `invalid_grant` for the
/// jwt-bearer grant.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum FederatedForm {
    ClientAssertion,
    Grant,
}

impl ClientAuthenticator {
    /// Authenticates the client; failures are limited per client id and
    /// per source address.
    pub async fn authenticate(
        &self,
        credentials: Credentials,
        now: DateTime<Utc>,
        address: Option<IpAddr>,
        certificate: Option<&ClientCertificate>,
    ) -> Result<Arc<CachedClient>, OAuthError> {
        let claimed = credentials.claimed_client_id();
        let in_body = credentials.in_body();
        self.limited(
            claimed.as_deref(),
            address,
            now,
            in_body,
            self.check(credentials, now, certificate),
        )
        .await
    }

    /// The jwt-bearer grant (RFC 7523 §2.1): the workload's token is the
    /// grant and the authentication; `client_id` picks among several
    /// bindings. Errors are `invalid_grant`.
    pub async fn authenticate_workload(
        &self,
        assertion: &str,
        client_id: Option<&str>,
        now: DateTime<Utc>,
        address: Option<IpAddr>,
    ) -> Result<Arc<CachedClient>, OAuthError> {
        let check = async {
            let peeked = super::federation::peek(assertion).unwrap_or_default();
            let Some(provider) = self
                .trust
                .provider_for(peeked.iss.as_deref(), peeked.sub.as_deref())
            else {
                return Err(Refusal::failed(OAuthError::invalid_grant(
                    match peeked.iss {
                        Some(iss) => format!("no trust provider has issuer {iss:?}"),
                        None => "the assertion is not a JWT with an iss tokend trusts".into(),
                    },
                )));
            };
            self.by_workload_token(&provider, client_id, assertion, now, FederatedForm::Grant)
                .await
        };
        self.limited(client_id, address, now, true, check).await
    }

    /// Whether a client assertion is a workload token of a trust provider
    /// (rather than a private_key_jwt assertion).
    pub fn is_federated(&self, assertion: &str) -> bool {
        !self.trust.is_empty()
            && super::federation::peek(assertion).is_some_and(|p| {
                self.trust
                    .provider_for(p.iss.as_deref(), p.sub.as_deref())
                    .is_some()
            })
    }

    /// Runs `check` behind the failure limiter.
    async fn limited(
        &self,
        claimed: Option<&str>,
        address: Option<IpAddr>,
        now: DateTime<Utc>,
        in_body: bool,
        check: impl std::future::Future<Output = Result<Arc<CachedClient>, Refusal>>,
    ) -> Result<Arc<CachedClient>, OAuthError> {
        let source = Source {
            client_id: claimed,
            address,
        };
        let t = now.timestamp();
        if let Err(retry_after) = self.limiter.check(source, t) {
            self.metrics.auth_failures_limited.inc();
            return Err(OAuthError::too_many_failures(retry_after));
        }
        match check.await {
            Ok(client) => {
                crate::telemetry::record_client(client.client.id.as_str());
                Ok(client)
            }
            Err(Refusal { error, failed }) => {
                if failed && self.limiter.record_failure(source, t) {
                    Box::pin(self.failure_limit_reached(claimed, address, t)).await;
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
        certificate: Option<&ClientCertificate>,
    ) -> Result<Arc<CachedClient>, Refusal> {
        match credentials {
            Credentials::Missing => Err(Refusal::not_counted(OAuthError::invalid_client(
                "client authentication is required (client_secret_basic, client_secret_post, private_key_jwt, or a TLS client certificate with client_id in the body)",
            ))),
            Credentials::Certificate { client_id } => match certificate {
                Some(cert) => self.by_certificate(&client_id, cert, now),
                None => Err(Refusal::not_counted(OAuthError::invalid_client(
                    "client authentication is required: client_id alone needs a TLS client certificate",
                ))),
            },
            Credentials::Secret {
                client_id,
                raw_client_id,
                secret,
                method: _,
            } => self.by_secret(&client_id, raw_client_id.as_deref(), &secret, now),
            Credentials::Assertion {
                client_id,
                assertion,
            } => {
                // Boxed: its key fetches make a large future, which every
                // request's future would otherwise carry (and allocate).
                Box::pin(self.by_assertion(client_id.as_deref(), assertion.expose_secret(), now))
                    .await
            }
        }
    }

    /// Either secret method works for a client with a secret, whatever it
    /// registered (SPEC §3: client libraries differ in what they send).
    fn by_secret(
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

    /// RFC 8705 §2: the certificate authenticates a client registered for
    /// mTLS. Every failure gets the answer of an unknown client (the reason
    /// is logged, never the certificate).
    fn by_certificate(
        &self,
        client_id: &str,
        cert: &ClientCertificate,
        now: DateTime<Utc>,
    ) -> Result<Arc<CachedClient>, Refusal> {
        let refused = || {
            Refusal::failed(OAuthError::invalid_client(
                "client authentication failed: the TLS client certificate does not authenticate this client",
            ))
        };
        let Some(found) = self.clients.get(client_id) else {
            return Err(refused());
        };
        let client = &found.client;
        let identity = client
            .tls_identity
            .as_ref()
            .filter(|_| client.auth_method.uses_certificate())
            .ok_or_else(refused)?;
        if let Err(why) =
            super::mtls::authenticate(identity, cert, self.client_ca.as_deref(), now.timestamp())
        {
            tracing::info!(client_id, reason = %why, "mTLS client authentication refused");
            return Err(refused());
        }
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
        // A workload token of a trust provider (SPEC §8) is federation, not
        // private_key_jwt.
        if !self.trust.is_empty()
            && let Some(peeked) = super::federation::peek(jwt)
            && let Some(provider) = self
                .trust
                .provider_for(peeked.iss.as_deref(), peeked.sub.as_deref())
        {
            return self
                .by_workload_token(
                    &provider,
                    client_id,
                    jwt,
                    now,
                    FederatedForm::ClientAssertion,
                )
                .await;
        }
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
pub(super) struct Refusal {
    error: OAuthError,
    failed: bool,
}

impl Refusal {
    pub(super) fn failed(error: OAuthError) -> Self {
        Self {
            error,
            failed: true,
        }
    }

    pub(super) fn not_counted(error: OAuthError) -> Self {
        Self {
            error,
            failed: false,
        }
    }
}
