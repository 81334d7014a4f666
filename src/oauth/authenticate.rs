//! Client authentication (RFC 6749 §2.3), shared by every endpoint that
//! authenticates a client. An unknown client and a wrong secret get the same
//! answer after the same work: the secret is always checked, against a dummy
//! hash when there is no client.

use super::OAuthError;
use super::client_cache::{CachedClient, ClientCache};
use super::credentials::Credentials;
use super::secret::verify_secret;
use crate::domain::SecretHash;
use aws_lc_rs::hmac;
use chrono::{DateTime, Utc};
use std::sync::Arc;

static DUMMY: SecretHash = SecretHash([0u8; 32]);

pub async fn authenticate(
    clients: &ClientCache,
    pepper: &hmac::Key,
    credentials: Credentials,
    now: DateTime<Utc>,
) -> Result<Arc<CachedClient>, OAuthError> {
    match credentials {
        Credentials::Missing => Err(OAuthError::invalid_client(
            "client authentication is required (client_secret_basic, client_secret_post)",
        )),
        Credentials::Assertion { .. } => Err(OAuthError::invalid_client(
            "private_key_jwt client authentication is not enabled on this server",
        )),
        Credentials::Secret {
            client_id,
            secret,
            method,
        } => {
            let found = clients
                .get(&client_id)
                .await
                .map_err(|_| OAuthError::unavailable("client registry is unavailable; retry"))?;
            let Some(found) = found else {
                let _ = verify_secret(pepper, &secret, &DUMMY);
                return Err(OAuthError::authentication_failed());
            };
            let client = &found.client;
            let mut ok = false;
            let mut checked = 0;
            for stored in client.secrets.valid_at(now) {
                ok |= verify_secret(pepper, &secret, stored);
                checked += 1;
            }
            if checked == 0 {
                let _ = verify_secret(pepper, &secret, &DUMMY);
            }
            if !ok {
                return Err(OAuthError::authentication_failed());
            }
            // The caller proved it holds the secret: from here, details help.
            if !client.enabled {
                return Err(OAuthError::invalid_client("client is disabled"));
            }
            if client.auth_method != method {
                return Err(OAuthError::invalid_client(format!(
                    "client is registered for {}",
                    client.auth_method
                )));
            }
            Ok(found)
        }
    }
}
