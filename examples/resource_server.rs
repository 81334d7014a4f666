//! A minimal resource server that verifies tokend's access tokens offline from
//! its JWKS and answers 200 with the claims, or 401. Used by docker-compose.
//!
//! TOKEND_ISSUER (e.g. http://tokend:8080), AUDIENCE (default: the issuer),
//! LISTEN (default 0.0.0.0:8081). The JWKS is fetched at start, refetched when
//! its max-age has passed, and at most once per 10 s on an unknown `kid`.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Verifier {
    issuer: String,
    audience: String,
    http: reqwest::Client,
    cache: Mutex<Option<(jsonwebtoken::jwk::JwkSet, Instant, Instant)>>,
}

impl Verifier {
    async fn jwks(&self, unknown_kid: bool) -> Option<jsonwebtoken::jwk::JwkSet> {
        {
            let cache = self.cache.lock().unwrap();
            if let Some((set, expires, fetched)) = cache.as_ref() {
                let fresh = Instant::now() < *expires;
                let cooling = fetched.elapsed() < Duration::from_secs(10);
                if (fresh && !unknown_kid) || (unknown_kid && cooling) {
                    return Some(set.clone());
                }
            }
        }
        let resp = self
            .http
            .get(format!("{}/.well-known/jwks.json", self.issuer))
            .send()
            .await
            .ok()?;
        let max_age = resp
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split("max-age=").nth(1))
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(60);
        let set: jsonwebtoken::jwk::JwkSet = resp.json().await.ok()?;
        let now = Instant::now();
        *self.cache.lock().unwrap() = Some((set.clone(), now + Duration::from_secs(max_age), now));
        Some(set)
    }

    async fn verify(&self, token: &str) -> Result<serde_json::Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        if header.typ.as_deref() != Some("at+jwt") {
            return Err("typ is not at+jwt".into());
        }
        let kid = header.kid.ok_or("no kid")?;
        let mut set = self.jwks(false).await.ok_or("JWKS unavailable")?;
        if set.find(&kid).is_none() {
            set = self.jwks(true).await.ok_or("JWKS unavailable")?;
        }
        let jwk = set.find(&kid).ok_or("unknown kid")?;
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.leeway = 60;
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| e.to_string())
    }
}

async fn protected(req: HttpRequest, verifier: web::Data<Verifier>) -> HttpResponse {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer"))
            .json(serde_json::json!({"error": "invalid_token", "error_description": "no bearer token"}));
    };
    match verifier.verify(token).await {
        Ok(claims) => HttpResponse::Ok().json(serde_json::json!({"ok": true, "claims": claims})),
        Err(reason) => HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", r#"Bearer error="invalid_token""#))
            .json(serde_json::json!({"error": "invalid_token", "error_description": reason})),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let issuer = std::env::var("TOKEND_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let audience = std::env::var("AUDIENCE").unwrap_or_else(|_| issuer.clone());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "0.0.0.0:8081".into());
    let verifier = web::Data::new(Verifier {
        issuer,
        audience,
        http: reqwest::Client::new(),
        cache: Mutex::new(None),
    });
    println!("resource server on {listen}");
    HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().finish() }),
            )
            .default_service(web::to(protected))
    })
    .bind(listen)?
    .run()
    .await
}
