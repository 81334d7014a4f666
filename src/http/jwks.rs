//! `GET /.well-known/jwks.json` (RFC 7517): pre-rendered bytes, an `ETag`, and
//! a `max-age` that never outlives the next planned key publication.

use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

fn matches_etag(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

/// The public signing keys (RFC 7517).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "discovery",
    params(("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier response")),
    responses(
        (status = 200, description = "the JWKS", body = super::openapi::Jwks,
            headers(("Cache-Control" = String), ("ETag" = String))),
        (status = 304, description = "unchanged", headers(("Cache-Control" = String), ("ETag" = String))),
    ))]
pub async fn jwks(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ring = state.ring.load();
    let max_age = ring.jwks_max_age(state.now(), state.settings().keys.jwks_max_age.as_secs());
    let cache_control = format!("public, max-age={max_age}");
    let etag = ring.etag();
    if matches_etag(&req, etag) {
        return HttpResponse::NotModified()
            .insert_header((header::CACHE_CONTROL, cache_control))
            .insert_header((header::ETAG, etag.to_owned()))
            .finish();
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::ETAG, etag.to_owned()))
        .body(ring.jwks())
}
