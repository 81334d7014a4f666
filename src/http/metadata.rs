//! Authorization server metadata (RFC 8414), also served at the OpenID
//! discovery path. Rendered once, re-rendered when the set of scopes changes.

use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use bytes::Bytes;

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
