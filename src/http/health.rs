//! `GET /healthz` (the process runs) and `GET /readyz` (the database answers
//! and a signing key is loaded).

use crate::app::AppState;
use crate::oauth::OAuthError;
use actix_web::{HttpResponse, web};
use std::time::Duration;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let database = tokio::time::timeout(Duration::from_secs(2), state.admin.store.ping()).await;
    if !matches!(database, Ok(Ok(()))) {
        return Err(OAuthError::unavailable("the database is unreachable"));
    }
    if state.ring.load().signer(state.now()).is_none() {
        return Err(OAuthError::unavailable("no signing key is loaded"));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}
