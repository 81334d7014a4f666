//! `GET /healthz` (the process runs) and `GET /readyz` (the database answers
//! and a signing key is loaded).

use crate::oauth::OAuthError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use std::time::Duration;

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "alive", body = super::openapi::Status)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// 200 when the database is reachable and a signing key is loaded.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "ready", body = super::openapi::Status),
        (status = 503, description = "not ready", body = super::openapi::ErrorBody, headers(("Retry-After" = String))),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    if !state.database_ready(Duration::from_secs(2)).await {
        return Err(OAuthError::unavailable("the database is unreachable"));
    }
    if state.ring.load().signer(state.now()).is_none() {
        return Err(OAuthError::unavailable("no signing key is loaded"));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}
