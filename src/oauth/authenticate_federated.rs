//! Client authentication by a workload identity token (SPEC §8): the
//! provider's checks, the bindings, single use, and the first-use audit.

use super::authenticate::{FederatedForm, Refusal};
use super::client_directory::CachedClient;
use super::federation::{ClaimRules, FederatedIdentity, FederationError, Provider};
use super::{ClientAuthenticator, OAuthError};
use chrono::{DateTime, Utc};
use std::sync::Arc;

impl ClientAuthenticator {
    /// A trust provider's token checked as a token exchange subject (SPEC
    /// §10): the provider's checks and single use, no binding (the token
    /// names a subject, not a client). Errors are `invalid_grant`.
    pub async fn verify_trusted_token(
        &self,
        jwt: &str,
        now: DateTime<Utc>,
    ) -> Result<FederatedIdentity, OAuthError> {
        let peeked = super::federation::peek(jwt).unwrap_or_default();
        let provider = self
            .trust
            .provider_for(peeked.iss.as_deref(), peeked.sub.as_deref())
            .ok_or_else(|| {
                OAuthError::invalid_grant(match peeked.iss {
                    Some(iss) => format!("no trust provider has issuer {iss:?}"),
                    None => "the token is not a JWT with an iss tokend trusts".into(),
                })
            })?;
        let rules = ClaimRules {
            default_audiences: &self.assertion_audiences,
            leeway: self.leeway,
            now: now.timestamp(),
        };
        let checked = async {
            let identity = provider.verify_cached(jwt, &rules, &self.trust).await?;
            self.spend_single_use(&provider, &identity).await?;
            Ok(identity)
        };
        checked.await.map_err(|e| match e {
            FederationError::Refused(why) => OAuthError::invalid_grant(why),
            FederationError::Unavailable(why) => OAuthError::unavailable(why),
        })
    }

    /// A single-use provider's `jti`, spent on every replica at once.
    async fn spend_single_use(
        &self,
        provider: &Provider,
        identity: &FederatedIdentity,
    ) -> Result<(), FederationError> {
        if !provider.config.single_use {
            return Ok(());
        }
        let name = &provider.config.name;
        let jti = identity.jti.as_deref().unwrap_or_default();
        let fresh = self
            .replays
            .first_use(
                &format!("federated:{name}\n{jti}"),
                identity.exp + self.leeway,
            )
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "recording a workload token's use failed");
                FederationError::Unavailable("cannot record the token's use; retry".into())
            })?;
        if fresh {
            Ok(())
        } else {
            Err(FederationError::Refused(format!(
                "trust provider {name} is single-use and this token was already used (jti replay)"
            )))
        }
    }

    /// SPEC §8: the provider's checks, the bindings, the client, then the
    /// single use of the `jti` (last, so a refused token is not spent).
    pub(super) async fn by_workload_token(
        &self,
        provider: &Provider,
        client_id: Option<&str>,
        jwt: &str,
        now: DateTime<Utc>,
        form: FederatedForm,
    ) -> Result<Arc<CachedClient>, Refusal> {
        let name = provider.config.name.as_str();
        let result = self.workload_client(provider, client_id, jwt, now).await;
        let outcome = match &result {
            Ok(_) => "authenticated",
            Err(FederationError::Refused(_)) => "refused",
            Err(FederationError::Unavailable(_)) => "unavailable",
        };
        self.metrics.federated_request(name, outcome);
        match result {
            Ok(client) => Ok(client),
            Err(FederationError::Unavailable(why)) => {
                Err(Refusal::not_counted(OAuthError::unavailable(why)))
            }
            Err(FederationError::Refused(why)) => Err(Refusal::failed(match form {
                FederatedForm::ClientAssertion => OAuthError::invalid_client(why),
                FederatedForm::Grant => OAuthError::invalid_grant(why),
            })),
        }
    }

    async fn workload_client(
        &self,
        provider: &Provider,
        client_id: Option<&str>,
        jwt: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<CachedClient>, FederationError> {
        let rules = ClaimRules {
            default_audiences: &self.assertion_audiences,
            leeway: self.leeway,
            now: now.timestamp(),
        };
        let identity = provider.verify_cached(jwt, &rules, &self.trust).await?;
        let client = provider.choose_client(&identity, client_id, &self.clients)?;
        self.spend_single_use(provider, &identity).await?;
        let name = &provider.config.name;
        let key = (
            name.clone(),
            identity.subject.clone(),
            client.client.id.to_string(),
        );
        if self.federated_seen.get(&key).is_none() {
            self.federated_seen.insert(key, ());
            let details = serde_json::json!({"provider": name, "subject": identity.subject});
            tracing::info!(target: "audit", provider = %name, subject = %identity.subject,
                client_id = %client.client.id, "federated client: first use");
            if let Err(e) = self
                .audit
                .record(
                    now.timestamp(),
                    "tokend",
                    "federation.first_use",
                    client.client.id.as_str(),
                    &details,
                )
                .await
            {
                tracing::warn!(error = %e, "could not store an audit event");
            }
        }
        Ok(client)
    }
}
