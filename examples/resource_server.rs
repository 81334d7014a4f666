//! The example resource server of SPEC §1, on tokend-verify: it verifies
//! tokend's access tokens offline and answers with who called.
//!
//!   GET /healthz        200, no token needed
//!   GET /data           needs a valid token with scope SCOPE (default "read")
//!   anything else       needs a valid token; answers its claims
//!
//! TOKEND_ISSUER (e.g. http://tokend:8080), AUDIENCE (default: the issuer),
//! SCOPE, LISTEN (default 0.0.0.0:8081), RESOURCE_BASE_URL (this server's
//! public URL, for DPoP proofs' `htu`; default: what requests name). Used by
//! docker-compose.yml. DPoP-bound tokens need their proof (RFC 9449).

use actix_web::{App, HttpResponse, HttpServer, web};
use tokend_verify::actix::RequireScope;
use tokend_verify::{AccessToken, Verifier};

async fn data(token: AccessToken) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "client_id": token.client_id,
        "scope": token.scopes.join(" "),
    }))
}

async fn whoami(token: AccessToken) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"ok": true, "claims": token.claims()}))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let issuer = std::env::var("TOKEND_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let audience = std::env::var("AUDIENCE").unwrap_or_else(|_| issuer.clone());
    let scope = std::env::var("SCOPE").unwrap_or_else(|_| "read".into());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "0.0.0.0:8081".into());
    let mut builder = Verifier::builder(issuer).audience(audience);
    if let Ok(base) = std::env::var("RESOURCE_BASE_URL") {
        builder = builder.resource_base_url(base);
    }
    let verifier = builder.build()?;
    println!("resource server on {listen}");
    HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .route("/healthz", web::get().to(HttpResponse::Ok))
            .service(
                web::resource("/data")
                    .wrap(RequireScope::new(&scope))
                    .route(web::get().to(data)),
            )
            .default_service(web::to(whoami))
    })
    .bind(listen)?
    .run()
    .await?;
    Ok(())
}
