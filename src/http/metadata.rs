//! Authorization server metadata (RFC 8414), also served at the OpenID
//! discovery path. Rendered once, re-rendered when the set of scopes changes.

use crate::app::AppState;
use crate::oauth::assertion::ASSERTION_ALGORITHMS;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use bytes::Bytes;

pub fn render_metadata(issuer: &str, scopes: &[String]) -> Bytes {
    let methods = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    let algs = ASSERTION_ALGORITHMS;
    let doc = serde_json::json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "scopes_supported": scopes,
    });
    Bytes::from(serde_json::to_vec(&doc).expect("metadata serializes"))
}

/// Authorization server metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "discovery",
    responses((status = 200, description = "the metadata", body = super::openapi::Metadata)))]
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    document(&state)
}

/// The same metadata, for discovery-based clients.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "discovery",
    responses((status = 200, description = "the metadata", body = super::openapi::Metadata)))]
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    document(&state)
}

fn document(state: &AppState) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .body(Bytes::clone(&state.metadata.load()))
}
