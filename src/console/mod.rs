//! The admin console (SPEC §12): server-rendered HTML from the binary itself
//! (askama templates compiled in, one embedded stylesheet, no script), a
//! strict Content-Security-Policy, a session that is the console's own
//! `tokend:admin` token in a cookie, and a CSRF token on every change. Every
//! action calls the same `admin` functions as the CLI and the admin API.

mod audit;
mod client_actions;
mod client_form;
mod clients;
mod keys;
mod pages;
mod session;
mod timeline;
mod trust;

use actix_web::{HttpRequest, HttpResponse, web};

/// The stylesheet, embedded at build time.
const CSS: &str = include_str!("../../templates/console/console.css");

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("content-type", "text/css; charset=utf-8"))
        .insert_header(("cache-control", "public, max-age=3600"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(CSS)
}

async fn index(req: HttpRequest, state: web::Data<crate::state::AppState>) -> HttpResponse {
    match session::session(&req, &state) {
        Some(_) => session::see_other("/console/keys"),
        None => session::see_other("/console/login"),
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            .route("", web::get().to(index))
            .route("/", web::get().to(index))
            .route("/assets/console.css", web::get().to(stylesheet))
            .route("/login", web::get().to(pages::login_page))
            .route("/login", web::post().to(pages::login))
            .route("/logout", web::post().to(pages::logout))
            .route("/keys", web::get().to(keys::keys))
            .route("/keys/rotate", web::get().to(keys::confirm_rotate))
            .route("/keys/rotate", web::post().to(keys::rotate))
            .route("/keys/{kid}/revoke", web::get().to(keys::confirm_revoke))
            .route("/keys/{kid}/revoke", web::post().to(keys::revoke))
            .route("/clients", web::get().to(clients::list))
            .route("/clients", web::post().to(clients::create))
            .route("/clients/new", web::get().to(clients::new_form))
            .route("/clients/{id}", web::get().to(clients::show))
            .route("/clients/{id}", web::post().to(clients::update))
            .route(
                "/clients/{id}/{action}",
                web::post().to(client_actions::action),
            )
            .route("/trust", web::get().to(trust::trust))
            .route("/trust", web::post().to(trust::add_trust))
            .route("/trust/test", web::post().to(trust::test_trust))
            .route("/trust/{name}/remove", web::post().to(trust::remove_trust))
            .route("/audit", web::get().to(audit::audit)),
    );
}
