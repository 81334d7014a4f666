//! The benchmark ceiling: a bare actix-web handler that reads the form body
//! and the Basic header of a token request and answers fixed JSON, with no
//! authentication and no signature. benches/load.sh measures tokend against it.
//!
//! LISTEN (default 127.0.0.1:18300)

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;

async fn token(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok());
    if form.is_empty() || basic.is_none() {
        return HttpResponse::BadRequest().finish();
    }
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("application/json")
        .body(r#"{"access_token":"x","token_type":"Bearer","expires_in":3600,"scope":"read"}"#)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:18300".into());
    HttpServer::new(|| App::new().route("/token", web::post().to(token)))
        .bind(listen)?
        .run()
        .await
}
