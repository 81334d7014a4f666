//! A service that calls another with tokend-client: `GET /report` fetches
//! `TARGET_URL` (say, examples/resource_server's `/data`) with this
//! service's access token and answers what it said. The token is fetched
//! once, shared by every request, refreshed at 80% of its life.
//!
//! TOKEND_URL (the issuer, e.g. http://127.0.0.1:8080), CLIENT_ID, and
//! either CLIENT_SECRET or TOKEN_FILE (a workload identity token such as a
//! projected service-account token); DPOP=1 binds the token to a key of
//! this process; SCOPE and AUDIENCE narrow it; TARGET_URL; LISTEN (default
//! 127.0.0.1:8082).

use actix_web::{App, HttpResponse, HttpServer, web};
use tokend_client::{Credentials, TokenSource};

struct Calls {
    tokens: TokenSource,
    http: reqwest::Client,
    target: String,
}

async fn report(calls: web::Data<Calls>) -> HttpResponse {
    match calls.tokens.send(calls.http.get(&calls.target)).await {
        Ok(answer) => {
            let status = answer.status().as_u16();
            let body = answer.text().await.unwrap_or_default();
            HttpResponse::Ok()
                .json(serde_json::json!({"target_status": status, "target_said": body}))
        }
        // No token, or the call failed: say why (the error never holds a secret).
        Err(e) => HttpResponse::BadGateway().json(serde_json::json!({"error": e.to_string()})),
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let issuer = env("TOKEND_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let target = env("TARGET_URL").unwrap_or_else(|| "http://127.0.0.1:8081/data".into());
    let listen = env("LISTEN").unwrap_or_else(|| "127.0.0.1:8082".into());
    let credentials = match (env("CLIENT_SECRET"), env("TOKEN_FILE")) {
        (Some(secret), None) => Credentials::secret(secret),
        (None, Some(file)) => Credentials::token_file(file),
        _ => anyhow::bail!("set CLIENT_SECRET or TOKEN_FILE (one of them)"),
    };
    let mut builder = TokenSource::builder(format!("{issuer}/token")).credentials(credentials);
    if let Some(id) = env("CLIENT_ID") {
        builder = builder.client_id(id);
    }
    if let Some(scope) = env("SCOPE") {
        builder = builder.scope(scope);
    }
    if let Some(audience) = env("AUDIENCE") {
        builder = builder.audience(audience);
    }
    if env("DPOP").is_some_and(|v| v == "1") {
        builder = builder.dpop();
    }
    let calls = web::Data::new(Calls {
        tokens: builder.build()?,
        http: reqwest::Client::new(),
        target,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(calls.clone())
            .route("/report", web::get().to(report))
    })
    .bind(&listen)?;
    for address in server.addrs() {
        println!("calling service on {address}");
    }
    server.run().await?;
    Ok(())
}
