//! `GET /openapi.json`: the OpenAPI 3 document of every endpoint, generated
//! from the handlers' annotations and the types they exchange (utoipa).

use crate::admin::{
    ClientListPage, ClientUpdate, ClientView, ClientWithSecret, KeyPlan, KeyView, NewClient,
    PlannedEvents, Rotation, ScopesInput,
};
use crate::domain::{Algorithm, AuthMethod};
use crate::keys::{KeyState, PublicJwk};
use crate::oauth::TokenResponse;
use actix_web::HttpResponse;
use serde::Serialize;
use std::sync::LazyLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error body (RFC 6749 §5.2 for the OAuth endpoints).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// `invalid_request`, `invalid_client`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `invalid_target`,
    /// `invalid_token`, `insufficient_scope`, `not_found`, `conflict`,
    /// `method_not_allowed`, `temporarily_unavailable`, `server_error`.
    pub error: String,
    pub error_description: String,
}

#[derive(ToSchema)]
#[allow(non_camel_case_types, dead_code)]
pub enum GrantType {
    client_credentials,
    #[schema(rename = "urn:ietf:params:oauth:grant-type:jwt-bearer")]
    jwt_bearer,
    #[schema(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    token_exchange,
}

/// The error responses every OAuth endpoint may give.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum OAuthErrors {
    /// invalid_request and the other RFC 6749 §5.2 errors
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// invalid_client
    #[response(status = 401, headers(("WWW-Authenticate" = String, description = "Basic realm=\"tokend\"")))]
    Unauthorized(ErrorBody),
    /// the body is over 16 KiB
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// too many failed client authentications
    #[response(status = 429, headers(("Retry-After" = String)))]
    TooMany(ErrorBody),
    /// temporarily_unavailable
    #[response(status = 503, headers(("Retry-After" = String)))]
    Unavailable(ErrorBody),
}

/// The error responses every admin endpoint may give.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum AdminErrors {
    /// invalid input
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// no valid bearer token
    #[response(status = 401, headers(("WWW-Authenticate" = String)))]
    Unauthorized(ErrorBody),
    /// the admin scope is missing
    #[response(status = 403, headers(("WWW-Authenticate" = String)))]
    Forbidden(ErrorBody),
    /// the database is unavailable
    #[response(status = 503, headers(("Retry-After" = String)))]
    Unavailable(ErrorBody),
}

/// The token request (RFC 6749 §4.4.2, RFC 8707). Credentials go in the
/// Authorization header (client_secret_basic) or in the body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    /// `client_credentials`, or the jwt-bearer grant (RFC 7523 §2.1) with
    /// `assertion`, a workload identity token (SPEC §8).
    grant_type: GrantType,
    /// With the jwt-bearer grant: the workload's JWT.
    assertion: Option<String>,
    /// Token exchange (RFC 8693): the token to exchange.
    subject_token: Option<String>,
    /// `urn:ietf:params:oauth:token-type:access_token` (a tokend token) or
    /// `urn:ietf:params:oauth:token-type:jwt` (a trust provider's).
    subject_token_type: Option<String>,
    /// Token exchange: a token identifying the calling client (optional).
    actor_token: Option<String>,
    actor_token_type: Option<String>,
    /// Token exchange: only `urn:ietf:params:oauth:token-type:access_token`.
    requested_token_type: Option<String>,
    /// Space-delimited scopes.
    scope: Option<String>,
    /// Absolute URIs of the resources the token is for (repeatable).
    resource: Option<Vec<String>>,
    /// Audiences the token is for (repeatable).
    audience: Option<Vec<String>>,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// Introspection (RFC 7662) and revocation (RFC 7009) requests.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenForm2 {
    #[schema(min_length = 1)]
    token: String,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// RFC 7662 introspection response: `{"active": false}`, or `active: true`
/// with the token's claims.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct IntrospectionResponse {
    active: bool,
    scope: Option<String>,
    client_id: Option<String>,
    sub: Option<String>,
    /// A string, or an array of strings.
    #[schema(value_type = Option<Object>)]
    aud: Option<serde_json::Value>,
    iss: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
    /// `Bearer` or `DPoP`
    token_type: Option<String>,
    /// The binding (`jkt`, `x5t#S256`) of a sender-constrained token.
    #[schema(value_type = Option<Object>)]
    cnf: Option<serde_json::Value>,
    /// Who acted for `sub` (token exchange, RFC 8693 §4.1).
    #[schema(value_type = Option<Object>)]
    act: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<PublicJwk>,
}

/// RFC 8414 authorization server metadata.
#[derive(Serialize, ToSchema)]
pub struct Metadata {
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub grant_types_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    pub status: String,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "admin_bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tokend",
        description = "OAuth 2.0 client-credentials token service: RFC 9068 JWT access tokens, JWKS, introspection, revocation, admin API."
    ),
    paths(
        super::token::token,
        super::introspect::introspect,
        super::introspect::revoke,
        super::jwks::jwks,
        super::metadata::metadata,
        super::metadata::openid_configuration,
        super::health::healthz,
        super::health::readyz,
        super::metrics::metrics,
        super::admin::create_client,
        super::admin::list_clients,
        super::admin::get_client,
        super::admin::update_client,
        super::admin::delete_client,
        super::admin::rotate_secret,
        super::admin::list_keys,
        super::admin::key_plan,
        super::admin::rotate_keys,
        super::admin::revoke_key,
        super::admin_trust::add_provider,
        super::admin_trust::list_providers,
        super::admin_trust::get_provider,
        super::admin_trust::update_provider,
        super::admin_trust::remove_provider,
        super::admin_trust::test_provider,
        super::admin_trust::list_bindings,
        super::admin_trust::bind,
        super::admin_trust::unbind,
        openapi_json,
    ),
    components(schemas(
        ErrorBody, GrantType, TokenForm, TokenForm2, TokenResponse, IntrospectionResponse, Jwks, PublicJwk, Metadata,
        Status, NewClient, ClientUpdate, ClientView, ClientWithSecret, ClientListPage, ScopesInput,
        KeyView, KeyPlan, PlannedEvents, Rotation, KeyState, Algorithm, AuthMethod,
        super::admin::SecretRotation, super::admin::RotateRequest,
        crate::admin::NewTrustProvider, crate::admin::TrustProviderUpdate, crate::admin::TrustProviderView,
        crate::admin::BindingView, crate::admin::NewBinding, crate::admin::TrustTestReport,
        crate::admin::BindingMatch, crate::domain::ProviderKind,
        super::admin_trust::TrustTest, super::admin_trust::Unbind,
    )),
    modifiers(&Security),
    tags(
        (name = "oauth", description = "RFC 6749, 7662, 7009 endpoints"),
        (name = "discovery", description = "JWKS and metadata"),
        (name = "operations", description = "health"),
        (name = "admin", description = "client and key management"),
        (name = "federation", description = "trust providers and client bindings (workload identity)"),
    )
)]
pub struct ApiDoc;

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
});

/// The OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "discovery",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json", body = Object)))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}
