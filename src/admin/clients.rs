//! Client operations: create, list, search, show, update, enable/disable,
//! delete, rotate the secret (the shapes they take and give are in
//! `client_views.rs`).

use super::{
    Admin, AdminError, ClientListPage, ClientUpdate, ClientView, ClientWithSecret, NewClient,
};
use crate::domain::{AuthMethod, Client, ClientId, ClientSecrets};
use crate::oauth::{generate_secret, hash_secret};
use crate::store::ClientPage;
use std::time::Duration;

/// The grant type a client needs to exchange tokens (RFC 8693 §2.1).
pub use crate::oauth::TOKEN_EXCHANGE_GRANT;

use super::client_input::{
    check_client, parse_audiences, parse_grant_types, parse_quota, parse_quota_mode, parse_ttl,
    tls_given, tls_identity,
};

impl Admin {
    pub async fn create_client(&self, new: NewClient) -> Result<ClientWithSecret, AdminError> {
        let id = match &new.client_id {
            Some(id) => {
                ClientId::parse(id).map_err(|e| AdminError::Invalid(format!("client_id: {e}")))?
            }
            None => ClientId::parse(&random_client_id()).expect("generated ids are valid"),
        };
        let auth_method: AuthMethod = match &new.auth_method {
            Some(m) => m
                .parse()
                .map_err(|e| AdminError::Invalid(format!("auth_method: {e}")))?,
            None => AuthMethod::default(),
        };
        let grants = match &new.grant_types {
            Some(list) => parse_grant_types(list)?,
            None => (true, false),
        };
        let secret = auth_method.uses_secret().then(generate_secret);
        let now = self.now();
        let client = Client {
            id,
            name: new.name.clone(),
            scopes: new.scopes.parse("scopes")?,
            default_scopes: new
                .default_scopes
                .as_ref()
                .map(|s| s.parse("default_scopes"))
                .transpose()?,
            audiences: parse_audiences(&new.audiences)?,
            token_ttl: new.token_ttl.as_deref().map(parse_ttl).transpose()?,
            claims: new.claims.clone(),
            auth_method,
            grant_client_credentials: grants.0,
            grant_token_exchange: grants.1,
            jwks: new.jwks.clone(),
            enabled: true,
            secrets: ClientSecrets {
                current: secret.as_ref().map(|s| hash_secret(&self.pepper, s)),
                previous: None,
            },
            created_at: now,
            updated_at: now,
            tokens_valid_since: None,
            // A client that cannot get tokens exists to introspect them.
            may_introspect: new
                .may_introspect
                .unwrap_or(new.grant_types.as_ref().is_some_and(|g| g.is_empty())),
            require_dpop: new.require_dpop.unwrap_or(false),
            quota: new
                .quota
                .as_deref()
                .map(parse_quota)
                .transpose()?
                .unwrap_or_default(),
            quota_mode: new
                .quota_mode
                .as_deref()
                .map(parse_quota_mode)
                .transpose()?
                .unwrap_or_default(),
            tls_identity: tls_identity(
                new.tls_client_auth_subject_dn.as_deref(),
                new.tls_client_auth_san_uri.as_deref(),
                new.tls_client_auth_san_dns.as_deref(),
                new.tls_client_certificate.as_deref(),
            )?,
        };
        check_client(&client)?;
        self.store
            .insert_client(&client)
            .await
            .map_err(|e| AdminError::from_store(e, String::new))?;
        self.publish_client(&client);
        self.audit(
            "client.created",
            client.id.as_str(),
            serde_json::json!({"name": client.name, "scopes": client.scopes.to_string(), "auth_method": client.auth_method}),
        )
        .await;
        Ok(ClientWithSecret {
            client: ClientView::from(&client),
            client_secret: secret,
        })
    }

    async fn load_client(&self, id: &str) -> Result<Client, AdminError> {
        self.store
            .client(id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no client with id `{id}`")))
    }

    pub async fn get_client(&self, id: &str) -> Result<ClientView, AdminError> {
        Ok(ClientView::from(&self.load_client(id).await?))
    }

    pub async fn list_clients(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ClientListPage, AdminError> {
        let ClientPage { clients, next } = self.store.list_clients(after, limit).await?;
        Ok(ClientListPage {
            clients: clients.iter().map(ClientView::from).collect(),
            next,
        })
    }

    /// Clients whose id or name contains `text` (case-insensitive).
    pub async fn search_clients(
        &self,
        text: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ClientListPage, AdminError> {
        let ClientPage { clients, next } = self.store.search_clients(text, after, limit).await?;
        Ok(ClientListPage {
            clients: clients.iter().map(ClientView::from).collect(),
            next,
        })
    }

    pub async fn update_client(
        &self,
        id: &str,
        update: ClientUpdate,
    ) -> Result<ClientView, AdminError> {
        let mut c = self.load_client(id).await?;
        let changed: Vec<&str> = [
            ("name", update.name.is_some()),
            ("scopes", update.scopes.is_some()),
            ("default_scopes", update.default_scopes.is_some()),
            ("audiences", update.audiences.is_some()),
            ("token_ttl", update.token_ttl.is_some()),
            ("claims", update.claims.is_some()),
            ("auth_method", update.auth_method.is_some()),
            ("jwks", update.jwks.is_some()),
            ("grant_types", update.grant_types.is_some()),
            ("enabled", update.enabled.is_some()),
            ("may_introspect", update.may_introspect.is_some()),
            ("require_dpop", update.require_dpop.is_some()),
            ("quota", update.quota.is_some()),
            ("quota_mode", update.quota_mode.is_some()),
            ("tls_identity", tls_given(&update)),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        let tls_changed = tls_given(&update);
        if let Some(name) = update.name {
            c.name = name;
        }
        if let Some(scopes) = &update.scopes {
            c.scopes = scopes.parse("scopes")?;
        }
        if let Some(defaults) = &update.default_scopes {
            let parsed = defaults.parse("default_scopes")?;
            c.default_scopes = (!parsed.is_empty()).then_some(parsed);
        }
        if let Some(audiences) = &update.audiences {
            c.audiences = parse_audiences(audiences)?;
        }
        if let Some(ttl) = &update.token_ttl {
            c.token_ttl = if ttl.trim().is_empty() {
                None
            } else {
                Some(parse_ttl(ttl)?)
            };
        }
        if let Some(claims) = update.claims {
            c.claims = claims;
        }
        if let Some(method) = &update.auth_method {
            c.auth_method = method
                .parse()
                .map_err(|e| AdminError::Invalid(format!("auth_method: {e}")))?;
        }
        if let Some(jwks) = update.jwks {
            c.jwks = Some(jwks);
        }
        if let Some(grants) = &update.grant_types {
            (c.grant_client_credentials, c.grant_token_exchange) = parse_grant_types(grants)?;
        }
        if let Some(quota) = &update.quota {
            c.quota = parse_quota(quota)?;
        }
        if let Some(mode) = &update.quota_mode {
            c.quota_mode = parse_quota_mode(mode)?;
        }
        if let Some(enabled) = update.enabled {
            c.enabled = enabled;
        }
        if let Some(require) = update.require_dpop {
            c.require_dpop = require;
        }
        if let Some(may) = update.may_introspect {
            c.may_introspect = may;
        }
        if tls_changed {
            c.tls_identity = tls_identity(
                update.tls_client_auth_subject_dn.as_deref(),
                update.tls_client_auth_san_uri.as_deref(),
                update.tls_client_auth_san_dns.as_deref(),
                update.tls_client_certificate.as_deref(),
            )?;
        }
        if c.auth_method.uses_secret() && c.secrets.current.is_none() {
            return Err(AdminError::Invalid(
                "auth_method: the client has no secret; rotate-secret gives it one first".into(),
            ));
        }
        c.updated_at = self.now();
        check_client(&c)?;
        self.store
            .update_client(&c)
            .await
            .map_err(|e| AdminError::from_store(e, || format!("no client with id `{id}`")))?;
        self.publish_client(&c);
        self.audit(
            "client.updated",
            id,
            serde_json::json!({"fields": changed, "enabled": c.enabled}),
        )
        .await;
        Ok(ClientView::from(&c))
    }

    pub async fn set_client_enabled(
        &self,
        id: &str,
        enabled: bool,
    ) -> Result<ClientView, AdminError> {
        self.update_client(
            id,
            ClientUpdate {
                enabled: Some(enabled),
                ..ClientUpdate::default()
            },
        )
        .await
    }

    pub async fn delete_client(&self, id: &str) -> Result<(), AdminError> {
        let parsed = ClientId::parse(id)
            .map_err(|_| AdminError::NotFound(format!("no client with id `{id}`")))?;
        self.store
            .delete_client(&parsed, self.now().timestamp())
            .await
            .map_err(|e| AdminError::from_store(e, || format!("no client with id `{id}`")))?;
        if let Some(directory) = self.local_clients.get() {
            directory.remove(parsed.as_str());
        }
        // Its bindings went with it.
        self.refresh_local_trust().await?;
        self.audit("client.deleted", id, serde_json::json!({}))
            .await;
        Ok(())
    }

    /// Issues a new secret. With a grace period the old one keeps working
    /// until it ends; without, it stops at once.
    pub async fn rotate_secret(
        &self,
        id: &str,
        grace: Option<Duration>,
    ) -> Result<ClientWithSecret, AdminError> {
        let mut c = self.load_client(id).await?;
        if !c.auth_method.uses_secret() {
            return Err(AdminError::Invalid(format!(
                "client `{id}` authenticates with private_key_jwt and has no secret"
            )));
        }
        let now = self.now();
        let secret = generate_secret();
        let previous = c.secrets.current.take();
        c.secrets = ClientSecrets {
            current: Some(hash_secret(&self.pepper, &secret)),
            previous: match (previous, grace) {
                (Some(old), Some(grace)) if grace.as_secs() > 0 => {
                    Some((old, now + chrono::Duration::seconds(grace.as_secs() as i64)))
                }
                _ => None,
            },
        };
        // Without a grace period the old secret is dead, and so are the
        // tokens it got, as far as tokend itself is concerned.
        if c.secrets.previous.is_none() {
            c.tokens_valid_since = Some(now);
        }
        c.updated_at = now;
        self.store
            .update_client(&c)
            .await
            .map_err(|e| AdminError::from_store(e, || format!("no client with id `{id}`")))?;
        self.publish_client(&c);
        self.audit(
            "client.secret_rotated",
            id,
            serde_json::json!({"grace_secs": grace.map(|g| g.as_secs()).unwrap_or(0)}),
        )
        .await;
        Ok(ClientWithSecret {
            client: ClientView::from(&c),
            client_secret: Some(secret),
        })
    }
}

fn random_client_id() -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
