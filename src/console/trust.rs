//! The trust providers page: list, add, remove, test a pasted token.

use super::pages::{Chrome, Nothing, admin_error, change, render};
use super::session::{self, Session};
use crate::admin::{AdminError, NewTrustProvider};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

struct ProviderRow {
    name: String,
    issuer: String,
    kind: String,
    key_source: &'static str,
    bindings: usize,
}

#[derive(Template)]
#[template(path = "console/trust.html")]
struct Trust {
    chrome: Chrome,
    providers: Vec<ProviderRow>,
    error: String,
    report: String,
}

async fn trust_page(
    session: &Session,
    status: StatusCode,
    error: String,
    report: String,
    notice: &str,
) -> HttpResponse {
    let chrome = Chrome::of(session, "trust").with_notice(notice);
    match session.admin.list_trust_providers().await {
        Ok(list) => render(
            status,
            &Trust {
                chrome,
                providers: list
                    .into_iter()
                    .map(|p| ProviderRow {
                        kind: serde_json::to_value(p.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        bindings: p.bindings.len(),
                        name: p.name,
                        issuer: p.issuer,
                        key_source: p.key_source,
                    })
                    .collect(),
                error,
                report,
            },
        ),
        Err(e) => admin_error(chrome, &e),
    }
}

pub async fn trust(session: Session) -> HttpResponse {
    trust_page(&session, StatusCode::OK, String::new(), String::new(), "").await
}

#[derive(Deserialize)]
struct NewProvider {
    name: String,
    issuer: String,
    kind: String,
    #[serde(default)]
    jwks_uri: String,
    #[serde(default)]
    audience: String,
}

pub async fn add_trust(session: Session, body: web::Bytes) -> HttpResponse {
    let form: NewProvider = match change(&session, "trust", &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let jwks_uri = (!form.jwks_uri.trim().is_empty()).then(|| form.jwks_uri.trim().to_owned());
    let new = NewTrustProvider {
        discovery: Some(jwks_uri.is_none()),
        jwks_uri,
        name: form.name.trim().to_owned(),
        issuer: Some(form.issuer.trim().to_owned()),
        kind: Some(form.kind),
        audiences: form
            .audience
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        ..NewTrustProvider::default()
    };
    match session.admin.add_trust_provider(new).await {
        Ok(p) => {
            trust_page(
                &session,
                StatusCode::OK,
                String::new(),
                String::new(),
                &format!("Trust provider {} added.", p.name),
            )
            .await
        }
        Err(AdminError::Invalid(why)) | Err(AdminError::Conflict(why)) => {
            trust_page(&session, StatusCode::BAD_REQUEST, why, String::new(), "").await
        }
        Err(e) => admin_error(Chrome::of(&session, "trust"), &e),
    }
}

pub async fn remove_trust(
    session: Session,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(r) = change::<Nothing>(&session, "trust", &body) {
        return r;
    }
    match session.admin.remove_trust_provider(&path).await {
        Ok(_) => session::see_other("/console/trust"),
        Err(e) => admin_error(Chrome::of(&session, "trust"), &e),
    }
}

#[derive(Deserialize)]
struct TestToken {
    name: String,
    token: String,
}

pub async fn test_trust(
    session: Session,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: TestToken = match change(&session, "trust", &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match session
        .admin
        .test_trust_token(&form.name, form.token.trim(), None, &state.issuer)
        .await
    {
        Ok(report) => {
            let text = serde_json::to_string_pretty(&report).unwrap_or_default();
            trust_page(&session, StatusCode::OK, String::new(), text, "").await
        }
        Err(AdminError::Invalid(why)) | Err(AdminError::NotFound(why)) => {
            trust_page(&session, StatusCode::BAD_REQUEST, why, String::new(), "").await
        }
        Err(e) => admin_error(Chrome::of(&session, "trust"), &e),
    }
}
