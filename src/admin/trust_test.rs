//! `trust test` (SPEC §8): every check of the token endpoint on a pasted
//! workload token, each reported, and which bindings match. The CLI, the
//! admin API and the console call it; nothing is recorded.

use super::{Admin, AdminError};
use crate::oauth::TrustDirectory;
use crate::oauth::federation::{CheckResult, ClaimRules, peek};
use serde::Serialize;
use std::sync::Arc;

/// One binding of the provider and whether the tested token matches it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BindingMatch {
    pub client_id: String,
    pub subject: String,
    pub matches: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
}

/// What `trust test` found: each check, the claims, the bindings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrustTestReport {
    pub provider: String,
    #[schema(value_type = Vec<Object>)]
    pub checks: Vec<CheckResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub claims: Option<serde_json::Value>,
    pub bindings: Vec<BindingMatch>,
    /// The client a token would be issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub would_issue: bool,
    /// Why no token would be issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Admin {
    /// Runs every check of SPEC §8 on a pasted token, as the token endpoint
    /// would, and says which bindings match. Nothing is recorded (a
    /// single-use `jti` is not spent).
    pub async fn test_trust_token(
        &self,
        name: &str,
        token: &str,
        client_id: Option<&str>,
        issuer: &str,
    ) -> Result<TrustTestReport, AdminError> {
        let directory = match self.local_trust.get() {
            Some(d) => d.clone(),
            None => {
                let d = Arc::new(TrustDirectory::new(self.settings.federation.fetch_timeout));
                d.replace(
                    self.store.trust_providers().await?,
                    self.store.bindings(None).await?,
                );
                d
            }
        };
        let provider = directory
            .by_name(name)
            .ok_or_else(|| AdminError::NotFound(format!("no trust provider named `{name}`")))?;
        let mut report = TrustTestReport {
            provider: name.to_owned(),
            checks: Vec::new(),
            claims: None,
            bindings: Vec::new(),
            client_id: None,
            would_issue: false,
            error: None,
        };
        if let Some(p) = peek(token)
            && directory
                .provider_for(p.iss.as_deref(), p.sub.as_deref())
                .is_none_or(|found| found.config.name != name)
        {
            report.checks.push(CheckResult {
                check: "provider",
                ok: false,
                detail: format!(
                    "the token's iss {:?} does not pick trust provider {name}",
                    p.iss.unwrap_or_default()
                ),
            });
        }
        let audiences = [format!("{issuer}/token"), issuer.to_owned()];
        let rules = ClaimRules {
            default_audiences: &audiences,
            leeway: self.settings.tokens.leeway.as_secs() as i64,
            now: self.now().timestamp(),
        };
        let mut checks = Vec::new();
        let verified = provider
            .verify(token, &rules, &mut |c| checks.push(c))
            .await;
        report.checks.extend(checks);
        let identity = match verified {
            Ok(identity) => identity,
            Err(e) => {
                report.error = Some(e.to_string());
                return Ok(report);
            }
        };
        let (matching, other) = provider.matching_bindings(&identity);
        for b in &matching {
            report.bindings.push(BindingMatch {
                client_id: b.client_id.to_string(),
                subject: b.subject.to_string(),
                matches: true,
                why_not: None,
            });
        }
        for (b, why) in &other {
            report.bindings.push(BindingMatch {
                client_id: b.client_id.to_string(),
                subject: b.subject.to_string(),
                matches: false,
                why_not: Some(why.clone()),
            });
        }
        report.claims = Some(identity.claims.clone());
        // The client directory of a replica, or the database's clients.
        let clients = crate::oauth::ClientDirectory::default();
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.list_clients(after.as_deref(), 1000).await?;
            all.extend(page.clients);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        clients.replace_all(all);
        match provider.choose_client(&identity, client_id, &clients) {
            Ok(client) => {
                report.client_id = Some(client.client.id.to_string());
                report.would_issue = client.client.grant_client_credentials;
                if !report.would_issue {
                    report.error = Some(format!(
                        "client {} may not get tokens (no client_credentials grant)",
                        client.client.id
                    ));
                }
            }
            Err(e) => report.error = Some(e.to_string()),
        }
        Ok(report)
    }
}
