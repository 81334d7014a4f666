//! actix-web handlers, thin: extract, call one function, map the result.

mod admin;
mod health;
mod introspect;
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
    .service(
        web::resource("/introspect")
            .route(web::post().to(introspect::introspect))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/revoke")
            .route(web::post().to(introspect::revoke))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::scope("/admin")
            .app_data(admin::json_config())
            .app_data(admin::query_config())
            .service(
                web::resource("/clients")
                    .route(web::post().to(admin::create_client))
                    .route(web::get().to(admin::list_clients)),
            )
            .service(
                web::resource("/clients/{id:.+}/secret")
                    .route(web::post().to(admin::rotate_secret)),
            )
            .service(
                web::resource("/clients/{id:.+}")
                    .route(web::get().to(admin::get_client))
                    .route(web::patch().to(admin::update_client))
                    .route(web::delete().to(admin::delete_client)),
            )
            .service(web::resource("/keys").route(web::get().to(admin::list_keys)))
            .service(web::resource("/keys/plan").route(web::get().to(admin::key_plan)))
            .service(web::resource("/keys/rotate").route(web::post().to(admin::rotate_keys)))
            .service(web::resource("/keys/{kid}/revoke").route(web::post().to(admin::revoke_key))),
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
