//! The benchmark ceilings benches/load.sh measures tokend against.
//!
//! Without `ALG`: a bare actix-web handler that reads the form body and the
//! Basic header of a token request and answers fixed JSON, with no
//! authentication and no signature.
//!
//! With `ALG=ES256|EdDSA|RS256`: the least a token endpoint can do. The same
//! form and Basic parse, a fixed-secret check (keyed SHA-256, constant time,
//! as tokend does), then a fresh JWS per request with the same header (the
//! key's RFC 7638 thumbprint as `kid`) and claims as tokend's (its issuer
//! `http://LISTEN`; new `iat`, `exp`, `jti`) signed with a key parsed once by
//! aws-lc-rs, and no logging. Whatever tokend spends beyond this is its own
//! overhead.
//!
//! LISTEN (default 127.0.0.1:18300), CLIENT_SECRET (default `x`).

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use std::sync::Arc;
use tokend::domain::{Algorithm, SecretHash};
use tokend::keys::{Signer, generate};
use tokend::oauth::{ClientSecret, hash_secret, verify_secret};

struct Ceiling {
    /// `http://` and the listening address, as tokend's default issuer.
    issuer: String,
    signer: Option<Signer>,
    pepper: hmac::Key,
    secret: SecretHash,
}

/// The Basic credentials of a request with a non-empty form body.
fn parse(req: &HttpRequest, body: &[u8]) -> Option<Vec<u8>> {
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v).ok())?;
    (!form.is_empty()).then_some(basic)
}

async fn token(req: HttpRequest, body: web::Bytes, ceiling: web::Data<Ceiling>) -> HttpResponse {
    let Some(basic) = parse(&req, &body) else {
        return HttpResponse::BadRequest().finish();
    };
    let Some(signer) = &ceiling.signer else {
        return HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .content_type("application/json")
            .body(
                r#"{"access_token":"x","token_type":"Bearer","expires_in":3600,"scope":"read"}"#,
            );
    };
    let Some(at) = basic.iter().position(|&b| b == b':') else {
        return HttpResponse::BadRequest().finish();
    };
    let (id, secret) = (&basic[..at], &basic[at + 1..]);
    let secret = ClientSecret::from(String::from_utf8_lossy(secret).into_owned());
    if !verify_secret(&ceiling.pepper, &secret, &ceiling.secret) {
        return HttpResponse::Unauthorized().finish();
    }
    let id = String::from_utf8_lossy(id);
    let issuer = &ceiling.issuer;
    let now = chrono::Utc::now().timestamp();
    let mut jti = [0u8; 16];
    SystemRandom::new().fill(&mut jti).expect("random");
    let claims = format!(
        r#"{{"iss":"{issuer}","sub":"{id}","aud":"{issuer}","exp":{},"iat":{now},"nbf":{now},"jti":"{}","client_id":"{id}","scope":"read"}}"#,
        now + 3600,
        URL_SAFE_NO_PAD.encode(jti)
    );
    let token = signer.sign_jwt(claims.as_bytes()).expect("signs");
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .content_type("application/json")
        .body(format!(
            r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":3600,"scope":"read"}}"#
        ))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:18300".into());
    let signer = match std::env::var("ALG") {
        Ok(alg) => {
            let alg: Algorithm = alg.parse().expect("ALG is ES256, EdDSA or RS256");
            // The kid is the key's thumbprint, as tokend's: the same header.
            let key = generate(alg).expect("a key");
            Some(Signer::from_pkcs8(alg, &key.kid, &key.pkcs8).expect("parsed once"))
        }
        Err(_) => None,
    };
    let pepper = hmac::Key::new(hmac::HMAC_SHA256, b"ceiling pepper");
    let secret = std::env::var("CLIENT_SECRET").unwrap_or_else(|_| "x".into());
    let ceiling = web::Data::from(Arc::new(Ceiling {
        issuer: format!("http://{listen}"),
        secret: hash_secret(&pepper, &ClientSecret::from(secret)),
        signer,
        pepper,
    }));
    HttpServer::new(move || {
        App::new()
            .app_data(ceiling.clone())
            .route("/token", web::post().to(token))
    })
    .bind(listen)?
    .run()
    .await
}
