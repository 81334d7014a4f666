//! What every request handler shares: the service layer the HTTP handlers
//! see. They call its methods and the protocol objects it holds, never the
//! store.

use crate::admin::{Admin, AdminError};
use crate::config::Settings;
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::oauth::{ClientAuthenticator, ClientDirectory, DenyList, TokenInspector, TokenIssuer};
use arc_swap::ArcSwap;
use bytes::Bytes;
use std::sync::Arc;

/// Clients read per query when the directory is filled.
const CLIENT_PAGE: u32 = 1000;

/// What every request handler shares.
pub struct AppState {
    pub admin: Admin,
    pub issuer: String,
    pub auth: Arc<ClientAuthenticator>,
    pub tokens: TokenIssuer,
    pub inspector: Arc<TokenInspector>,
    pub ring: Arc<ArcSwap<KeyRing>>,
    pub clients: Arc<ClientDirectory>,
    pub deny: Arc<DenyList>,
    pub metadata: ArcSwap<Bytes>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn settings(&self) -> &Settings {
        &self.admin.settings
    }

    pub fn now(&self) -> i64 {
        self.admin.clock.now().timestamp()
    }

    /// The claims of an admin token: active, issued here, for this issuer
    /// only (a token that also names another API could be replayed here by
    /// that API), with the admin scope. The admin API's bearer tokens and the
    /// console's session are both this.
    pub fn admin_token(&self, token: &str) -> Result<crate::keys::AccessClaims, AdminTokenError> {
        let claims = self
            .inspector
            .verify_bearer(token)
            .ok_or(AdminTokenError::Invalid("the bearer token is not valid"))?;
        let for_us_only = match &claims.aud {
            serde_json::Value::String(a) => a == &self.issuer,
            serde_json::Value::Array(list) => {
                list.len() == 1 && list[0].as_str() == Some(&self.issuer)
            }
            _ => false,
        };
        if !for_us_only {
            return Err(AdminTokenError::Invalid(
                "the bearer token's only audience must be this issuer",
            ));
        }
        let scope = &self.settings().admin.scope;
        if !claims.scope.split(' ').any(|s| s == scope) {
            return Err(AdminTokenError::Scope(format!(
                "the `{scope}` scope is required"
            )));
        }
        Ok(claims)
    }

    pub(crate) async fn refresh_metadata(&self) -> Result<(), AdminError> {
        let scopes = self.admin.store.scopes_in_use().await?;
        let tls = &self.settings().tls;
        // Certificates reach tokend over its own TLS with client CAs, or
        // from a trusted proxy.
        let mtls =
            (tls.enabled() && tls.client_ca_file.is_some()) || tls.client_cert_header.is_some();
        self.metadata.store(Arc::new(crate::oauth::render_metadata(
            &self.issuer,
            &scopes,
            mtls,
        )));
        Ok(())
    }

    /// Whether the database answers within `timeout`.
    pub async fn database_ready(&self, timeout: std::time::Duration) -> bool {
        matches!(
            tokio::time::timeout(timeout, self.admin.store.ping()).await,
            Ok(Ok(()))
        )
    }

    /// Reads every client into the directory.
    pub(crate) async fn reload_clients(&self) -> Result<(), AdminError> {
        let clients = load_all_clients(&self.admin.store).await?;
        self.clients.replace_all(clients);
        Ok(())
    }

    /// Reloads this replica's key ring (and so its JWKS) from the database.
    pub async fn reload_ring(&self) -> Result<(), AdminError> {
        let ring = self.admin.load_ring().await?;
        self.ring.store(Arc::new(ring));
        Ok(())
    }
}

/// Why a token does not grant the admin operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminTokenError {
    /// Not an active token of this issuer for this issuer alone.
    Invalid(&'static str),
    /// Valid, without the admin scope.
    Scope(String),
}

/// Every client, a page at a time.
pub(crate) async fn load_all_clients(
    store: &crate::store::Store,
) -> Result<Vec<crate::domain::Client>, AdminError> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list_clients(after.as_deref(), CLIENT_PAGE).await?;
        all.extend(page.clients);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
}
