//! Authorization server metadata (RFC 8414), also served at the OpenID
//! discovery path. Rendered once, re-rendered when the set of scopes changes.

use crate::app::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use bytes::Bytes;

pub fn render_metadata(issuer: &str, scopes: &[String]) -> Bytes {
    let doc = serde_json::json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes,
    });
    Bytes::from(serde_json::to_vec(&doc).expect("metadata serializes"))
}

pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .body(Bytes::clone(&state.metadata.load()))
}
