//! `POST /introspect` (RFC 7662) and `POST /revoke` (RFC 7009); the caller
//! authenticates as a client exactly as at /token.

use super::MAX_BODY;
use super::token::read_body;
use crate::oauth::{CachedClient, Credentials, Form, OAuthError, parse_form};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use std::sync::Arc;

/// Reads the form body and authenticates the calling client.
async fn authenticated_form(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<(Form, Arc<CachedClient>), OAuthError> {
    let body = read_body(req, payload, MAX_BODY).await?;
    let headers = req.headers();
    let form = parse_form(
        headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
        &body,
    )?;
    let certificate = super::forwarded::client_certificate(req);
    let credentials =
        Credentials::extract(super::authorization(req)?, &form, certificate.is_some())?;
    let address = super::forwarded::client_origin(req).map(|o| o.address);
    let client = state
        .auth
        .authenticate(
            credentials,
            state.admin.clock.now(),
            address,
            certificate.as_ref(),
        )
        .await?;
    Ok((form, client))
}

fn token_param(form: &Form) -> Result<&str, OAuthError> {
    let bad = |e: crate::oauth::FormError| OAuthError::invalid_request(e.to_string());
    form.single("token_type_hint").map_err(bad)?;
    form.single("token")
        .map_err(bad)?
        .ok_or_else(|| OAuthError::invalid_request("token is required"))
}

fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    builder
}

/// Token introspection (RFC 7662).
#[utoipa::path(post, path = "/introspect", tag = "oauth",
    request_body(content = super::openapi::TokenForm2, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "whether the token is active, and its claims", body = super::openapi::IntrospectionResponse),
        super::openapi::OAuthErrors,
    ))]
pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let (form, caller) = authenticated_form(&req, payload, &state).await?;
    let token = token_param(&form)?;
    Ok(no_store(HttpResponse::Ok()).json(state.inspector.introspect(&caller.client, token)))
}

/// Token revocation (RFC 7009) of a token issued to the calling client.
#[utoipa::path(post, path = "/revoke", tag = "oauth",
    request_body(content = super::openapi::TokenForm2, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "revoked, or nothing to revoke"),
        super::openapi::OAuthErrors,
    ))]
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let (form, caller) = authenticated_form(&req, payload, &state).await?;
    let token = token_param(&form)?;
    state.inspector.revoke(&caller.client, token).await?;
    Ok(no_store(HttpResponse::Ok()).finish())
}
