//! Token exchange (RFC 8693, SPEC §10): a service trades a token it received
//! for a narrower one for the next hop. The subject keeps its `sub`; the
//! calling client becomes the current actor (`act`, nesting earlier actors);
//! audiences come only from the caller's registration; scope only narrows;
//! the new token never outlives the subject token.

use super::form::Form;
use super::token::{Terms, TokenIssuer};
use super::{FormError, OAuthError};
use crate::domain::{Audience, Client, RESERVED_CLAIMS, Scope};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// RFC 8693 §2.1.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 §3: an access token of this issuer.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693 §3: a JWT, here one of a trust provider (SPEC §8).
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// A subject or actor token that held, as the exchange needs it.
#[derive(Debug)]
struct Presented {
    sub: String,
    /// The token's `client_id` (tokend tokens).
    client_id: Option<String>,
    scope: Scope,
    exp: i64,
    act: Option<Value>,
    may_act: Option<Value>,
    /// `,"name":value…` of the claims carried over (tokend tokens only).
    extra: String,
}

fn bad(e: FormError) -> OAuthError {
    OAuthError::invalid_request(e.to_string())
}

/// `scope` as a space-delimited string, or `scp` as a list (a common form
/// in other issuers' tokens); no scope at all is the empty scope.
fn scope_of(claims: &Map<String, Value>) -> Scope {
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => Scope::parse(s).unwrap_or_default(),
        (_, Some(Value::Array(list))) => {
            Scope::from_tokens(list.iter().filter_map(Value::as_str)).unwrap_or_default()
        }
        _ => Scope::default(),
    }
}

/// The non-reserved claims of a tokend token, ready to splice.
fn carried_claims(claims: &Map<String, Value>) -> String {
    let mut out = String::new();
    for (name, value) in claims {
        if RESERVED_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        out.push(',');
        out.push_str(&serde_json::to_string(name).expect("a string serializes"));
        out.push(':');
        out.push_str(&value.to_string());
    }
    out
}

/// Whether a `may_act` object (RFC 8693 §4.4) names `client`: by `sub` or
/// `client_id`; every one of those it has must name the client.
fn may_act_names(may_act: &Value, client: &str) -> bool {
    let Some(object) = may_act.as_object() else {
        return false;
    };
    let named: Vec<&Value> = ["sub", "client_id"]
        .iter()
        .filter_map(|k| object.get(*k))
        .collect();
    !named.is_empty() && named.iter().all(|v| v.as_str() == Some(client))
}

impl TokenIssuer {
    /// Checks a presented token of the given type; `role` names it in errors
    /// (`subject_token`, `actor_token`).
    async fn presented(
        &self,
        token: &str,
        token_type: &str,
        role: &str,
        now: DateTime<Utc>,
    ) -> Result<Presented, OAuthError> {
        match token_type {
            ACCESS_TOKEN_TYPE => {
                let claims = self.inspector.active_claims(token).ok_or_else(|| {
                    OAuthError::invalid_grant(format!(
                        "the {role} is not an active access token of this issuer (expired, revoked, or not signed by a published key)"
                    ))
                })?;
                Ok(Presented {
                    scope: Scope::parse(&claims.scope).unwrap_or_default(),
                    act: claims.extra.get("act").cloned(),
                    may_act: claims.extra.get("may_act").cloned(),
                    extra: carried_claims(&claims.extra),
                    sub: claims.sub,
                    client_id: Some(claims.client_id),
                    exp: claims.exp,
                })
            }
            JWT_TOKEN_TYPE => {
                let identity =
                    self.auth
                        .verify_trusted_token(token, now)
                        .await
                        .map_err(|e| match e.code {
                            super::ErrorCode::TemporarilyUnavailable => e,
                            _ => OAuthError::invalid_grant(format!("{role}: {}", e.description)),
                        })?;
                let claims = identity.claims.as_object().cloned().unwrap_or_default();
                Ok(Presented {
                    scope: scope_of(&claims),
                    act: claims.get("act").cloned(),
                    may_act: claims.get("may_act").cloned(),
                    extra: String::new(),
                    client_id: None,
                    sub: identity.subject,
                    exp: identity.exp,
                })
            }
            other => Err(OAuthError::invalid_request(format!(
                "{role}_type `{}` is not supported; use {ACCESS_TOKEN_TYPE} or {JWT_TOKEN_TYPE}",
                other.escape_default()
            ))),
        }
    }

    /// The token a `role` parameter pair names, if the request has one.
    async fn presented_param(
        &self,
        form: &Form,
        role: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Presented>, OAuthError> {
        let type_param = format!("{role}_type");
        let token = form.single(role).map_err(bad)?;
        let token_type = form.single(&type_param).map_err(bad)?;
        match (token, token_type) {
            (None, None) => Ok(None),
            (Some(token), Some(token_type)) => {
                Ok(Some(self.presented(token, token_type, role, now).await?))
            }
            (Some(_), None) => Err(OAuthError::invalid_request(format!(
                "{type_param} is required with {role} (RFC 8693 §2.1)"
            ))),
            (None, Some(_)) => Err(OAuthError::invalid_request(format!(
                "{type_param} was sent without {role}"
            ))),
        }
    }

    /// SPEC §10: what the exchanged token says, or why there is none.
    pub(super) async fn exchange_terms(
        &self,
        client: &Client,
        form: &Form,
        requested_scope: Option<&Scope>,
        targets: &[Audience],
        now: DateTime<Utc>,
    ) -> Result<Terms, OAuthError> {
        if let Some(wanted) = form.single("requested_token_type").map_err(bad)?
            && wanted != ACCESS_TOKEN_TYPE
        {
            return Err(OAuthError::invalid_request(format!(
                "requested_token_type `{}` is not supported; tokend issues {ACCESS_TOKEN_TYPE}",
                wanted.escape_default()
            )));
        }
        let caller = client.id.as_str();
        let subject = self
            .presented_param(form, "subject_token", now)
            .await?
            .ok_or_else(|| {
                OAuthError::invalid_request("subject_token is required (RFC 8693 §2.1)")
            })?;
        if let Some(actor) = self.presented_param(form, "actor_token", now).await?
            && actor.sub != caller
            && actor.client_id.as_deref() != Some(caller)
        {
            return Err(OAuthError::invalid_request(
                "the actor_token does not identify the calling client, the actor of the new token",
            ));
        }
        if let Some(may_act) = &subject.may_act
            && !may_act_names(may_act, caller)
        {
            return Err(OAuthError::invalid_grant(format!(
                "the subject token's may_act does not name client {caller}"
            )));
        }

        // Scope only narrows: within the subject token's and the caller's.
        let offered = client.default_scopes.as_ref().unwrap_or(&client.scopes);
        let scope = match requested_scope {
            Some(requested) => {
                if let Some(token) = requested.missing_from(&subject.scope).next() {
                    return Err(OAuthError::invalid_scope(format!(
                        "scope `{token}` is not in the subject token's scope (exchange only narrows)"
                    )));
                }
                requested.clone()
            }
            None => {
                let common =
                    Scope::from_tokens(offered.iter().filter(|t| subject.scope.contains(t)))
                        .unwrap_or_default();
                if common.is_empty() {
                    return Err(OAuthError::invalid_scope(
                        "the subject token and this client have no scope in common",
                    ));
                }
                common
            }
        };
        let mut grant = self.decide(client, Some(&scope), targets)?;
        // Never longer-lived than the subject token.
        let left = (subject.exp - now.timestamp()).max(1) as u64;
        grant.ttl = grant.ttl.min(std::time::Duration::from_secs(left));

        let mut act = Map::new();
        act.insert("sub".into(), Value::String(caller.to_owned()));
        if let Some(earlier) = subject.act {
            act.insert("act".into(), earlier);
        }
        Ok(Terms {
            grant,
            subject: Some(subject.sub),
            act: Some(Value::Object(act)),
            extra: Some(subject.extra),
            exchanged: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn may_act_must_name_the_caller_by_every_member_it_has() {
        assert!(may_act_names(&json!({"sub": "b"}), "b"));
        assert!(may_act_names(&json!({"client_id": "b"}), "b"));
        assert!(may_act_names(&json!({"sub": "b", "client_id": "b"}), "b"));
        assert!(!may_act_names(&json!({"sub": "c"}), "b"));
        assert!(!may_act_names(&json!({"sub": "b", "client_id": "c"}), "b"));
        assert!(!may_act_names(&json!({"iss": "x"}), "b"));
        assert!(!may_act_names(&json!("b"), "b"));
    }

    #[test]
    fn scope_from_either_claim() {
        let claims = json!({"scope": "a b"});
        assert_eq!(scope_of(claims.as_object().unwrap()).to_string(), "a b");
        let claims = json!({"scp": ["a", "c"]});
        assert_eq!(scope_of(claims.as_object().unwrap()).to_string(), "a c");
        let claims = json!({});
        assert!(scope_of(claims.as_object().unwrap()).is_empty());
    }

    #[test]
    fn only_unreserved_claims_are_carried() {
        let claims =
            json!({"team": "pay", "act": {"sub": "x"}, "cnf": {"jkt": "k"}, "may_act": {}});
        assert_eq!(
            carried_claims(claims.as_object().unwrap()),
            r#","team":"pay""#
        );
    }
}
