//! Trust providers and client bindings (SPEC §8): add, list, show, update,
//! remove, test a pasted token; bind and unbind clients. The CLI, the admin
//! API and the console call these.

use super::{Admin, AdminError};
use crate::config::parse_duration;
use crate::domain::{
    Binding, ClientId, DEFAULT_MAX_LIFETIME, GITHUB_ACTIONS_ISSUER, KeySource, Pattern,
    ProviderKind, TrustProvider,
};
use crate::oauth::TrustDirectory;
use std::sync::Arc;

use super::trust_views::{
    BindingView, NewBinding, NewTrustProvider, TrustProviderUpdate, TrustProviderView, view,
};

fn bad(e: impl std::fmt::Display) -> AdminError {
    AdminError::Invalid(e.to_string())
}

fn parse_kind(kind: Option<&str>) -> Result<ProviderKind, AdminError> {
    kind.map(str::parse)
        .transpose()
        .map_err(bad)
        .map(Option::unwrap_or_default)
}

fn parse_lifetime(text: &str) -> Result<std::time::Duration, AdminError> {
    parse_duration(text).map_err(|e| bad(format!("max_lifetime: {e}")))
}

/// The key source from the three exclusive fields.
fn key_source(
    discovery: Option<bool>,
    jwks_uri: Option<&String>,
    jwks: Option<&serde_json::Value>,
) -> Result<Option<KeySource>, AdminError> {
    let given = [discovery == Some(true), jwks_uri.is_some(), jwks.is_some()];
    match given.iter().filter(|g| **g).count() {
        0 => Ok(None),
        1 => Ok(Some(match (jwks_uri, jwks) {
            (Some(url), _) => KeySource::JwksUri { url: url.clone() },
            (_, Some(jwks)) => {
                if !jwks.get("keys").is_some_and(serde_json::Value::is_array) {
                    return Err(bad("jwks: not a JWK Set (an object with a keys array)"));
                }
                KeySource::Inline { jwks: jwks.clone() }
            }
            _ => KeySource::Discovery,
        })),
        _ => Err(bad(
            "give one key source: discovery, jwks_uri or jwks (a JWKS file)",
        )),
    }
}

impl Admin {
    /// Makes trust changes made through this `Admin` apply to `directory`
    /// at once (on this replica; elsewhere through the change feed).
    pub fn serve_trust_to(&self, directory: Arc<TrustDirectory>) {
        let _ = self.local_trust.set(directory);
    }

    /// Reloads the serving replica's trust directory from the database.
    pub async fn refresh_local_trust(&self) -> Result<(), AdminError> {
        if let Some(directory) = self.local_trust.get() {
            directory.replace(
                self.store.trust_providers().await?,
                self.store.bindings(None).await?,
            );
        }
        Ok(())
    }

    /// Files on tokend's host are named only by an operator on that host.
    fn check_host_files(
        &self,
        ca: Option<&String>,
        token: Option<&String>,
    ) -> Result<(), AdminError> {
        if self.actor.starts_with("api:") && (ca.is_some() || token.is_some()) {
            return Err(bad(
                "ca_file and bearer_token_file name files on tokend's host: set them with the CLI there",
            ));
        }
        Ok(())
    }

    pub async fn add_trust_provider(
        &self,
        new: NewTrustProvider,
    ) -> Result<TrustProviderView, AdminError> {
        let kind = parse_kind(new.kind.as_deref())?;
        self.check_host_files(new.ca_file.as_ref(), new.bearer_token_file.as_ref())?;
        let issuer = match (new.issuer, kind) {
            (Some(issuer), _) => issuer,
            (None, ProviderKind::GithubActions) => GITHUB_ACTIONS_ISSUER.to_owned(),
            (None, _) => return Err(bad("issuer: required")),
        };
        let keys = key_source(new.discovery, new.jwks_uri.as_ref(), new.jwks.as_ref())?
            .unwrap_or(KeySource::Discovery);
        let provider = TrustProvider {
            name: new.name,
            issuer,
            kind,
            keys,
            audiences: new.audiences,
            max_lifetime: new
                .max_lifetime
                .as_deref()
                .map(parse_lifetime)
                .transpose()?
                .unwrap_or(DEFAULT_MAX_LIFETIME),
            single_use: new.single_use.unwrap_or(false),
            ca_file: new.ca_file,
            bearer_token_file: new.bearer_token_file,
            allow_http: new.allow_http.unwrap_or(false),
        };
        provider.validate().map_err(bad)?;
        self.store
            .insert_trust_provider(&provider, self.now().timestamp())
            .await
            .map_err(|e| AdminError::from_store(e, String::new))?;
        self.refresh_local_trust().await?;
        self.audit(
            "trust.added",
            &provider.name,
            serde_json::json!({"issuer": provider.issuer, "kind": provider.kind}),
        )
        .await;
        Ok(view(&provider, &[]))
    }

    async fn load_provider(&self, name: &str) -> Result<TrustProvider, AdminError> {
        self.store
            .trust_provider(name)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no trust provider named `{name}`")))
    }

    pub async fn list_trust_providers(&self) -> Result<Vec<TrustProviderView>, AdminError> {
        let bindings = self.store.bindings(None).await?;
        Ok(self
            .store
            .trust_providers()
            .await?
            .iter()
            .map(|p| view(p, &bindings))
            .collect())
    }

    pub async fn get_trust_provider(&self, name: &str) -> Result<TrustProviderView, AdminError> {
        let p = self.load_provider(name).await?;
        Ok(view(&p, &self.store.bindings(None).await?))
    }

    pub async fn update_trust_provider(
        &self,
        name: &str,
        update: TrustProviderUpdate,
    ) -> Result<TrustProviderView, AdminError> {
        self.check_host_files(update.ca_file.as_ref(), update.bearer_token_file.as_ref())?;
        let mut p = self.load_provider(name).await?;
        if let Some(issuer) = update.issuer {
            p.issuer = issuer;
        }
        if update.kind.is_some() {
            p.kind = parse_kind(update.kind.as_deref())?;
        }
        if let Some(keys) = key_source(
            update.discovery,
            update.jwks_uri.as_ref(),
            update.jwks.as_ref(),
        )? {
            p.keys = keys;
        }
        if let Some(audiences) = update.audiences {
            p.audiences = audiences;
        }
        if let Some(lifetime) = update.max_lifetime.as_deref() {
            p.max_lifetime = parse_lifetime(lifetime)?;
        }
        if let Some(single_use) = update.single_use {
            p.single_use = single_use;
        }
        // An empty string clears a file.
        if let Some(ca) = update.ca_file {
            p.ca_file = Some(ca).filter(|c| !c.is_empty());
        }
        if let Some(token) = update.bearer_token_file {
            p.bearer_token_file = Some(token).filter(|t| !t.is_empty());
        }
        if let Some(allow) = update.allow_http {
            p.allow_http = allow;
        }
        p.validate().map_err(bad)?;
        let bindings = self.store.bindings(None).await?;
        for b in bindings.iter().filter(|b| b.provider == p.name) {
            b.validate(p.kind).map_err(|e| {
                bad(format!(
                    "binding of client {} for {}: {e}",
                    b.client_id, b.subject
                ))
            })?;
        }
        self.store
            .update_trust_provider(&p, self.now().timestamp())
            .await
            .map_err(|e| {
                AdminError::from_store(e, || format!("no trust provider named `{name}`"))
            })?;
        self.refresh_local_trust().await?;
        self.audit(
            "trust.updated",
            &p.name,
            serde_json::json!({"issuer": p.issuer}),
        )
        .await;
        Ok(view(&p, &bindings))
    }

    /// Removes a provider and its bindings; returns how many bindings went.
    pub async fn remove_trust_provider(&self, name: &str) -> Result<u64, AdminError> {
        let removed = self
            .store
            .delete_trust_provider(name, self.now().timestamp())
            .await
            .map_err(|e| {
                AdminError::from_store(e, || format!("no trust provider named `{name}`"))
            })?;
        self.refresh_local_trust().await?;
        self.audit(
            "trust.removed",
            name,
            serde_json::json!({"bindings_removed": removed}),
        )
        .await;
        Ok(removed)
    }

    pub async fn bind_client(&self, id: &str, new: NewBinding) -> Result<BindingView, AdminError> {
        let client = self.get_client(id).await?;
        let provider = self.load_provider(&new.provider).await?;
        let mut claims = Vec::new();
        for (name, pattern) in &new.claims {
            claims.push((
                name.clone(),
                Pattern::parse(pattern).map_err(|e| bad(format!("claim {name}: {e}")))?,
            ));
        }
        let binding = Binding {
            client_id: ClientId::parse(&client.client_id).map_err(bad)?,
            provider: provider.name.clone(),
            subject: Pattern::parse(&new.subject).map_err(|e| bad(format!("subject: {e}")))?,
            claims,
        };
        binding.validate(provider.kind).map_err(bad)?;
        self.store
            .insert_binding(&binding, self.now().timestamp())
            .await
            .map_err(|e| AdminError::from_store(e, String::new))?;
        self.refresh_local_trust().await?;
        let shown = BindingView::from(&binding);
        self.audit(
            "client.bound",
            id,
            serde_json::json!({"provider": shown.provider, "subject": shown.subject, "claims": shown.claims}),
        )
        .await;
        Ok(shown)
    }

    pub async fn unbind_client(
        &self,
        id: &str,
        provider: &str,
        subject: &str,
    ) -> Result<(), AdminError> {
        self.store
            .delete_binding(id, provider, subject, self.now().timestamp())
            .await
            .map_err(|e| {
                AdminError::from_store(e, || {
                    format!("client `{id}` has no binding to `{provider}` for subject `{subject}`")
                })
            })?;
        self.refresh_local_trust().await?;
        self.audit(
            "client.unbound",
            id,
            serde_json::json!({"provider": provider, "subject": subject}),
        )
        .await;
        Ok(())
    }

    pub async fn client_bindings(&self, id: &str) -> Result<Vec<BindingView>, AdminError> {
        Ok(self
            .store
            .bindings(Some(id))
            .await?
            .iter()
            .map(BindingView::from)
            .collect())
    }
}
