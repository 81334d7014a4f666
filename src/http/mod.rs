//! actix-web handlers, thin: extract, call one function, map the result.

mod health;
mod jwks;
mod metadata;
mod token;

pub use metadata::render_metadata;

use crate::oauth::OAuthError;
use actix_web::{HttpResponse, ResponseError, web};

/// Largest body accepted by the OAuth endpoints (SPEC §3).
pub const MAX_BODY: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/token")
            .route(web::post().to(token::token))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/.well-known/jwks.json")
            .route(web::get().to(jwks::jwks))
            .route(web::head().to(jwks::jwks)),
    )
    .service(
        web::resource("/.well-known/oauth-authorization-server")
            .route(web::get().to(metadata::metadata)),
    )
    .service(
        web::resource("/.well-known/openid-configuration").route(web::get().to(metadata::metadata)),
    )
    .service(web::resource("/healthz").route(web::get().to(health::healthz)))
    .service(web::resource("/readyz").route(web::get().to(health::readyz)))
    .default_service(web::to(not_found));
}

async fn method_not_allowed() -> HttpResponse {
    OAuthError::method_not_allowed().error_response()
}

async fn not_found() -> HttpResponse {
    OAuthError::not_found().error_response()
}
