//! What a token grants: scope, audience and lifetime, decided from the client's
//! registration and the request (SPEC §3 rules; RFC 6749 §3.3, RFC 8707).

use super::{Audience, Client, Scope};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct TokenPolicy {
    pub default_ttl: Duration,
    pub max_ttl: Duration,
    pub default_audience: Audience,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub scope: Scope,
    pub audiences: Vec<Audience>,
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantRefusal {
    /// `invalid_scope`
    Scope(String),
    /// `invalid_target`
    Target(String),
}

impl TokenPolicy {
    pub fn decide(
        &self,
        client: &Client,
        requested_scope: Option<&Scope>,
        requested_targets: &[Audience],
    ) -> Result<Grant, GrantRefusal> {
        let scope = match requested_scope {
            Some(requested) => {
                if let Some(token) = requested.missing_from(&client.scopes).next() {
                    return Err(GrantRefusal::Scope(format!(
                        "scope `{token}` is not allowed for this client"
                    )));
                }
                requested.clone()
            }
            None => client
                .default_scopes
                .clone()
                .unwrap_or_else(|| client.scopes.clone()),
        };

        let allowed: &[Audience] = if client.audiences.is_empty() {
            std::slice::from_ref(&self.default_audience)
        } else {
            &client.audiences
        };
        let audiences = if requested_targets.is_empty() {
            allowed.to_vec()
        } else {
            let mut out: Vec<Audience> = Vec::with_capacity(requested_targets.len());
            for target in requested_targets {
                if !allowed.contains(target) {
                    return Err(GrantRefusal::Target(format!(
                        "`{target}` is not an audience of this client"
                    )));
                }
                if !out.contains(target) {
                    out.push(target.clone());
                }
            }
            out
        };

        let ttl = client
            .token_ttl
            .unwrap_or(self.default_ttl)
            .min(self.max_ttl);
        Ok(Grant {
            scope,
            audiences,
            ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuthMethod, ClientId, ClientSecrets};
    use chrono::Utc;

    fn client(scopes: &str, defaults: Option<&str>, auds: &[&str], ttl: Option<u64>) -> Client {
        Client {
            id: ClientId::parse("c").unwrap(),
            name: "c".into(),
            scopes: Scope::parse(scopes).unwrap(),
            default_scopes: defaults.map(|d| Scope::parse(d).unwrap()),
            audiences: auds.iter().map(|a| Audience::parse(a).unwrap()).collect(),
            token_ttl: ttl.map(Duration::from_secs),
            claims: Default::default(),
            auth_method: AuthMethod::ClientSecretBasic,
            grant_client_credentials: true,
            jwks: None,
            enabled: true,
            secrets: ClientSecrets::default(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            tokens_valid_since: None,
            may_introspect: false,
            require_dpop: false,
            tls_identity: None,
            grant_token_exchange: false,
            quota: Default::default(),
            quota_mode: Default::default(),
        }
    }

    fn policy() -> TokenPolicy {
        TokenPolicy {
            default_ttl: Duration::from_secs(3600),
            max_ttl: Duration::from_secs(7200),
            default_audience: Audience::parse("https://issuer").unwrap(),
        }
    }

    #[test]
    fn no_scope_requested_gives_defaults_else_all() {
        let p = policy();
        let g = p
            .decide(&client("a b c", Some("a"), &[], None), None, &[])
            .unwrap();
        assert_eq!(g.scope.to_string(), "a");
        let g = p
            .decide(&client("a b c", None, &[], None), None, &[])
            .unwrap();
        assert_eq!(g.scope.to_string(), "a b c");
    }

    #[test]
    fn scope_outside_allowed_is_refused() {
        let p = policy();
        let req = Scope::parse("a z").unwrap();
        let err = p
            .decide(&client("a b", None, &[], None), Some(&req), &[])
            .unwrap_err();
        assert!(matches!(err, GrantRefusal::Scope(m) if m.contains('z')));
    }

    #[test]
    fn audiences_default_and_subset() {
        let p = policy();
        let c = client("a", None, &["x", "y"], None);
        assert_eq!(p.decide(&c, None, &[]).unwrap().audiences.len(), 2);
        let y = Audience::parse("y").unwrap();
        assert_eq!(
            p.decide(&c, None, &[y.clone(), y]).unwrap().audiences.len(),
            1
        );
        let z = Audience::parse("z").unwrap();
        assert!(matches!(
            p.decide(&c, None, &[z]),
            Err(GrantRefusal::Target(_))
        ));
        let none = client("a", None, &[], None);
        assert_eq!(
            p.decide(&none, None, &[]).unwrap().audiences,
            vec![Audience::parse("https://issuer").unwrap()]
        );
    }

    #[test]
    fn ttl_is_capped_by_max_ttl() {
        let p = policy();
        assert_eq!(
            p.decide(&client("a", None, &[], Some(60)), None, &[])
                .unwrap()
                .ttl
                .as_secs(),
            60
        );
        assert_eq!(
            p.decide(&client("a", None, &[], Some(99999)), None, &[])
                .unwrap()
                .ttl
                .as_secs(),
            7200
        );
        assert_eq!(
            p.decide(&client("a", None, &[], None), None, &[])
                .unwrap()
                .ttl
                .as_secs(),
            3600
        );
    }
}
