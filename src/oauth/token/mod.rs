//! The token endpoint's logic (RFC 6749 §4.4, RFC 8707, RFC 9068): parse the
//! request, authenticate the client, decide scope/audience/lifetime, build the
//! claims and sign them with the active key. Memory only: the client comes
//! from the cache, the key from the key ring.

use super::credentials::Credentials;
use super::form::Form;
use super::{ClientAuthenticator, OAuthError};
use crate::clock::SharedClock;
use crate::domain::{Audience, GrantRefusal, Scope, TokenPolicy};
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::telemetry;
use arc_swap::ArcSwap;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret;
use std::sync::Arc;

mod claims;
mod proof;
mod quota;
mod response;
use claims::{Aud, Claims, Confirmation};
pub use response::TokenResponse;

/// What a token request came with besides its body.
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestContext<'a> {
    pub content_type: Option<&'a [u8]>,
    pub authorization: Option<&'a [u8]>,
    /// The `DPoP` header (RFC 9449 §4), when there is exactly one.
    pub dpop: Option<&'a [u8]>,
    /// The token endpoint URL as this request addressed it (scheme and host
    /// as the client saw them, behind a trusted proxy the forwarded ones).
    pub url: Option<&'a str>,
    pub address: Option<std::net::IpAddr>,
    /// The TLS client certificate (tokend's own TLS, or a trusted proxy's
    /// header): it may authenticate the client, and it binds the token.
    pub certificate: Option<&'a tokend_verify::mtls::ClientCertificate>,
}

/// How a token request is counted (metrics labels from fixed sets).
struct Labels {
    grant: &'static str,
    method: &'static str,
}

/// Everything the token endpoint needs, shared by all workers.
pub struct TokenIssuer {
    pub issuer: String,
    pub policy: TokenPolicy,
    pub auth: Arc<ClientAuthenticator>,
    pub ring: Arc<ArcSwap<KeyRing>>,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    /// Checks tokend's own access tokens (token exchange subjects).
    pub inspector: Arc<super::TokenInspector>,
    /// Per-client token quotas (SPEC §11).
    pub quotas: Arc<super::quota::QuotaCounter>,
}

/// What a granted request's token says besides the client and binding:
/// decided by the grant.
pub(super) struct Terms {
    pub grant: crate::domain::Grant,
    /// `sub` when it is not the client (token exchange).
    pub subject: Option<String>,
    pub act: Option<serde_json::Value>,
    /// `,"name":value…` to splice into the claims; `None` for the client's
    /// registered extra claims.
    pub extra: Option<String>,
    pub exchanged: bool,
}

fn is_form_content_type(content_type: Option<&[u8]>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct.split(|&b| b == b';').next().unwrap_or_default();
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
}

fn new_jti() -> String {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Parses and checks the body of a form-encoded OAuth request.
pub fn parse_form(content_type: Option<&[u8]>, body: &[u8]) -> Result<Form, OAuthError> {
    if !is_form_content_type(content_type) {
        return Err(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    Form::parse(body).map_err(|e| OAuthError::invalid_request(e.to_string()))
}

impl TokenIssuer {
    /// The scope, audiences and lifetime the client's registration allows.
    pub(super) fn decide(
        &self,
        client: &crate::domain::Client,
        scope: Option<&Scope>,
        targets: &[Audience],
    ) -> Result<crate::domain::Grant, OAuthError> {
        self.policy
            .decide(client, scope, targets)
            .map_err(|refusal| match refusal {
                GrantRefusal::Scope(d) => OAuthError::invalid_scope(d),
                GrantRefusal::Target(d) => OAuthError::invalid_target(d),
            })
    }
}

/// RFC 7523 §2.1: a JWT as an authorization grant.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

impl TokenIssuer {
    /// The jwt-bearer grant: the workload's token is the only proof; a
    /// second authentication in the same request is refused.
    async fn workload_grant(
        &self,
        authorization: Option<&[u8]>,
        form: &Form,
        now: chrono::DateTime<chrono::Utc>,
        address: Option<std::net::IpAddr>,
    ) -> Result<Arc<super::CachedClient>, OAuthError> {
        let bad = |e: super::FormError| OAuthError::invalid_request(e.to_string());
        if authorization.is_some()
            || ["client_secret", "client_assertion", "client_assertion_type"]
                .iter()
                .any(|p| form.all(p).next().is_some())
        {
            return Err(OAuthError::invalid_request(
                "the jwt-bearer grant authenticates with its assertion: send no other client authentication",
            ));
        }
        let assertion = form
            .single("assertion")
            .map_err(bad)?
            .ok_or_else(|| OAuthError::invalid_request("assertion is required (RFC 7523 §2.1)"))?;
        let client_id = form.single("client_id").map_err(bad)?;
        self.auth
            .authenticate_workload(assertion, client_id, now, address)
            .await
    }

    /// Handles one token request and returns the response or the error;
    /// counts the outcome and notes it on the request's log line.
    pub async fn token(
        &self,
        request: &RequestContext<'_>,
        body: &[u8],
    ) -> Result<TokenResponse, OAuthError> {
        let mut labels = Labels {
            grant: "other",
            method: "none",
        };
        let result = self.issue(request, body, &mut labels).await;
        let outcome = match &result {
            Ok(_) => "issued",
            Err(e) => e.code.as_str(),
        };
        self.metrics
            .token_request(outcome, labels.grant, labels.method);
        telemetry::record_outcome(outcome);
        result
    }

    async fn issue(
        &self,
        request: &RequestContext<'_>,
        body: &[u8],
        labels: &mut Labels,
    ) -> Result<TokenResponse, OAuthError> {
        let RequestContext {
            content_type,
            authorization,
            address,
            ..
        } = *request;
        let form = parse_form(content_type, body)?;
        let bad = |e: super::FormError| OAuthError::invalid_request(e.to_string());
        let (jwt_bearer, exchange) = match form.single("grant_type").map_err(bad)? {
            None => return Err(OAuthError::invalid_request("grant_type is required")),
            Some("client_credentials") => {
                labels.grant = "client_credentials";
                (false, false)
            }
            Some(JWT_BEARER_GRANT) => {
                labels.grant = "jwt_bearer";
                (true, false)
            }
            Some(super::exchange::TOKEN_EXCHANGE_GRANT) => {
                labels.grant = "token_exchange";
                (false, true)
            }
            Some(other) => {
                return Err(OAuthError::unsupported_grant_type(format!(
                    "grant_type `{}` is not supported; use client_credentials, {JWT_BEARER_GRANT} or {}",
                    other.escape_default(),
                    super::exchange::TOKEN_EXCHANGE_GRANT,
                )));
            }
        };
        let scope = form
            .single("scope")
            .map_err(bad)?
            .map(Scope::parse)
            .transpose()
            .map_err(OAuthError::invalid_scope)?;
        let mut targets = Vec::new();
        for resource in form.all("resource") {
            targets.push(Audience::parse_resource(resource).map_err(OAuthError::invalid_target)?);
        }
        for audience in form.all("audience") {
            targets.push(Audience::parse(audience).map_err(OAuthError::invalid_target)?);
        }
        let now = self.clock.now();
        // The proof is checked before the client (it needs no client); its
        // jti is spent only once the token is granted.
        // Boxed: most requests have none, and every request's future would
        // carry its room otherwise.
        let proof = request
            .dpop
            .map(|header| self.check_proof(header, request.url, now.timestamp()))
            .transpose()?
            .map(Box::new);
        let client = if jwt_bearer {
            labels.method = "federated";
            // The cold grants are boxed: their futures are large, and every
            // token request's future would otherwise carry them.
            Box::pin(self.workload_grant(authorization, &form, now, address)).await?
        } else {
            let credentials =
                Credentials::extract(authorization, &form, request.certificate.is_some())?;
            labels.method = match &credentials {
                Credentials::Assertion { assertion, .. }
                    if self.auth.is_federated(assertion.expose_secret()) =>
                {
                    "federated"
                }
                other => other.method_name(),
            };
            // Boxed: a future this size in the token request's own future
            // would put that future past glibc's fast allocation path.
            Box::pin(
                self.auth
                    .authenticate(credentials, now, address, request.certificate),
            )
            .await?
        };
        if exchange {
            if !client.client.grant_token_exchange {
                return Err(OAuthError::unauthorized_client(
                    "this client may not exchange tokens (register it with --exchange)",
                ));
            }
        } else if !client.client.grant_client_credentials {
            return Err(OAuthError::unauthorized_client(
                "this client may not get tokens (it has no grant)",
            ));
        }
        if proof.is_none() && client.client.require_dpop {
            return Err(OAuthError::invalid_request(
                "this client must send a DPoP proof (RFC 9449): its tokens are bound to its key",
            ));
        }
        let terms = if exchange {
            Box::pin(self.exchange_terms(&client.client, &form, scope.as_ref(), &targets, now))
                .await?
        } else {
            Terms {
                grant: self.decide(&client.client, scope.as_ref(), &targets)?,
                subject: None,
                act: None,
                extra: None,
                exchanged: false,
            }
        };
        let grant = terms.grant;

        let iat = now.timestamp();
        // The last awaits come before the claims: what is held across an
        // await is carried in every token request's future.
        if let Some(proof) = &proof {
            Box::pin(self.spend_proof(proof)).await?;
        }
        let rate_limit = self.count_quota(&client.client, iat).await?;
        let ttl = grant.ttl.as_secs();
        let scope = grant.scope.to_string();
        let jti = new_jti();
        let aud = match grant.audiences.as_slice() {
            [one] => Aud::One(one.as_str()),
            many => Aud::Many(many.iter().map(Audience::as_str).collect()),
        };
        let claims = Claims {
            iss: &self.issuer,
            sub: terms
                .subject
                .as_deref()
                .unwrap_or(client.client.id.as_str()),
            aud,
            exp: iat + ttl as i64,
            iat,
            nbf: iat,
            jti: &jti,
            client_id: client.client.id.as_str(),
            scope: &scope,
            act: terms.act.as_ref(),
            cnf: (proof.is_some() || request.certificate.is_some()).then(|| Confirmation {
                jkt: proof.as_ref().map(|p| p.jkt.as_str()),
                x5t_s256: request.certificate.map(|c| c.thumbprint()),
            }),
        };
        let json = claims.to_json(terms.extra.as_deref().unwrap_or(&client.extra_claims));
        let ring = self.ring.load();
        let signer = ring
            .signer(iat)
            .ok_or_else(|| OAuthError::unavailable("no signing key is loaded yet; retry"))?;
        let access_token = signer.sign_jwt(&json).map_err(|e| {
            tracing::error!(error = %e, kid = signer.kid(), "signing a token failed");
            OAuthError::server_error("signing failed")
        })?;
        Ok(TokenResponse {
            access_token,
            issued_token_type: terms
                .exchanged
                .then_some(super::exchange::ACCESS_TOKEN_TYPE),
            token_type: if proof.is_some() { "DPoP" } else { "Bearer" },
            expires_in: ttl,
            scope,
            rate_limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TokenResponse;

    #[test]
    fn the_response_body_is_what_serde_json_writes() {
        for (issued, kind, scope) in [
            (None, "Bearer", "read write"),
            (Some(super::super::exchange::ACCESS_TOKEN_TYPE), "DPoP", ""),
            (None, "Bearer", "odd\"scope\\ \u{1}é"),
        ] {
            let response = TokenResponse {
                access_token: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_a".into(),
                issued_token_type: issued,
                token_type: kind,
                expires_in: 3600,
                scope: scope.into(),
                rate_limit: None,
            };
            let body = response.to_json();
            assert_eq!(
                String::from_utf8(body).unwrap(),
                serde_json::to_string(&response).unwrap()
            );
        }
    }
}
