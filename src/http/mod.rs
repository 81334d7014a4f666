//! actix-web handlers, thin: extract, call one function, map the result.

mod admin;
mod admin_request;
mod admin_trust;
pub mod forwarded;
mod health;
mod introspect;
mod jwks;
mod metadata;
mod metrics;
mod middleware;
mod openapi;
mod token;

pub use middleware::RequestLayer;

use crate::oauth::OAuthError;
use actix_web::{HttpResponse, ResponseError, web};

/// The request's one `Authorization` header: two are refused (400), since
/// which one a proxy or a library believes differs.
pub fn authorization(req: &actix_web::HttpRequest) -> Result<Option<&[u8]>, OAuthError> {
    let mut all = req
        .headers()
        .get_all(actix_web::http::header::AUTHORIZATION);
    let first = all.next();
    if all.next().is_some() {
        return Err(OAuthError::invalid_request(
            "send one Authorization header, not several",
        ));
    }
    Ok(first.map(|v| v.as_bytes()))
}

/// Largest body accepted by the OAuth endpoints (SPEC §3).
pub const MAX_BODY: usize = 16 * 1024;

/// A resource whose other methods get 405 with an `Allow` header, named by
/// its full pattern (the request log and the latency metric read the name,
/// which costs no allocation, unlike the matched pattern).
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    named(path, path, allow)
}

/// A resource of the `/admin` scope.
fn admin_resource(path: &str, allow: &'static str) -> actix_web::Resource {
    named(path, &format!("/admin{path}"), allow)
}

fn named(path: &str, name: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path)
        .name(name)
        .default_service(web::to(move || async move {
            let mut response = OAuthError::method_not_allowed().error_response();
            response.headers_mut().insert(
                actix_web::http::header::ALLOW,
                actix_web::http::header::HeaderValue::from_static(allow),
            );
            response
        }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/token", "POST").route(web::post().to(token::token)))
        .service(resource("/introspect", "POST").route(web::post().to(introspect::introspect)))
        .service(resource("/revoke", "POST").route(web::post().to(introspect::revoke)))
        .service(
            resource("/.well-known/jwks.json", "GET, HEAD")
                .route(web::get().to(jwks::jwks))
                .route(web::head().to(jwks::jwks)),
        )
        .service(
            resource("/.well-known/oauth-authorization-server", "GET")
                .route(web::get().to(metadata::metadata)),
        )
        .service(
            resource("/.well-known/openid-configuration", "GET")
                .route(web::get().to(metadata::openid_configuration)),
        )
        .service(resource("/openapi.json", "GET").route(web::get().to(openapi::openapi_json)))
        .service(resource("/metrics", "GET").route(web::get().to(metrics::metrics)))
        .service(resource("/healthz", "GET").route(web::get().to(health::healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(health::readyz)))
        .service(
            web::scope("/admin")
                .service(
                    admin_resource("/clients", "GET, POST")
                        .route(web::post().to(admin::create_client))
                        .route(web::get().to(admin::list_clients)),
                )
                .service(
                    admin_resource("/clients/{id:.+}/secret", "POST")
                        .route(web::post().to(admin::rotate_secret)),
                )
                .service(
                    admin_resource("/clients/{id:.+}/bindings", "GET, POST, DELETE")
                        .route(web::get().to(admin_trust::list_bindings))
                        .route(web::post().to(admin_trust::bind))
                        .route(web::delete().to(admin_trust::unbind)),
                )
                .service(
                    admin_resource("/trust-providers", "GET, POST")
                        .route(web::get().to(admin_trust::list_providers))
                        .route(web::post().to(admin_trust::add_provider)),
                )
                .service(
                    admin_resource("/trust-providers/{name}/test", "POST")
                        .route(web::post().to(admin_trust::test_provider)),
                )
                .service(
                    admin_resource("/trust-providers/{name}", "GET, PATCH, DELETE")
                        .route(web::get().to(admin_trust::get_provider))
                        .route(web::patch().to(admin_trust::update_provider))
                        .route(web::delete().to(admin_trust::remove_provider)),
                )
                .service(
                    admin_resource("/clients/{id:.+}", "GET, PATCH, DELETE")
                        .route(web::get().to(admin::get_client))
                        .route(web::patch().to(admin::update_client))
                        .route(web::delete().to(admin::delete_client)),
                )
                .service(admin_resource("/keys", "GET").route(web::get().to(admin::list_keys)))
                .service(admin_resource("/keys/plan", "GET").route(web::get().to(admin::key_plan)))
                .service(
                    admin_resource("/keys/rotate", "POST")
                        .route(web::post().to(admin::rotate_keys)),
                )
                .service(
                    admin_resource("/keys/{kid}/revoke", "POST")
                        .route(web::post().to(admin::revoke_key)),
                ),
        )
        .default_service(web::to(not_found));
}

async fn not_found() -> HttpResponse {
    OAuthError::not_found().error_response()
}
