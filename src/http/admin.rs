//! The admin API under `/admin` (SPEC §3): JSON, authorised by a bearer token
//! this tokend issued with the admin scope and the issuer as audience,
//! verified from the local key ring like any resource server would. Each
//! handler calls the same `admin` function as the CLI.

use super::openapi::ErrorBody;
use crate::admin::{ClientUpdate, NewClient};
use crate::config::parse_duration;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::admin_request::{ApiError, authorize, client_id, json_body, query};

/// Registers a client; the response shows its secret once.
#[utoipa::path(post, path = "/admin/clients", tag = "admin", security(("admin_bearer" = [])),
    request_body = NewClient,
    responses(
        (status = 201, description = "created", body = crate::admin::ClientWithSecret),
        (status = 409, description = "the client id is taken", body = ErrorBody),
        super::openapi::AdminErrors,
    ))]
pub async fn create_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    let created = admin.create_client(json_body(&req, payload).await?).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(created))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub limit: Option<u32>,
    pub after: Option<String>,
}

/// Lists clients by id, a page at a time.
#[utoipa::path(get, path = "/admin/clients", tag = "admin", security(("admin_bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "page size, 1–1000 (default 100)"),
        ("after" = Option<String>, Query, description = "the `next` cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "a page", body = crate::admin::ClientListPage),
        super::openapi::AdminErrors,
    ))]
pub async fn list_clients(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    let query: ListQuery = query(&req)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit: {limit} is outside 1–1000"
        )));
    }
    let page = admin.list_clients(query.after.as_deref(), limit).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One client (never its secret).
#[utoipa::path(get, path = "/admin/clients/{id}", tag = "admin", security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "the client id, percent-encoded")),
    responses(
        (status = 200, description = "the client", body = crate::admin::ClientView),
        (status = 404, description = "no such client", body = ErrorBody),
        super::openapi::AdminErrors,
    ))]
pub async fn get_client(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    Ok(HttpResponse::Ok().json(admin.get_client(&client_id(&req)?).await?))
}

/// Changes a client; absent fields keep their value.
#[utoipa::path(patch, path = "/admin/clients/{id}", tag = "admin", security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "the client id, percent-encoded")),
    request_body(content = Option<ClientUpdate>, description = "absent fields keep their value; an empty body changes nothing"),
    responses(
        (status = 200, description = "the updated client", body = crate::admin::ClientView),
        (status = 404, description = "no such client", body = ErrorBody),
        super::openapi::AdminErrors,
    ))]
pub async fn update_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    let update: ClientUpdate = json_body(&req, payload).await?;
    let updated = admin.update_client(&client_id(&req)?, update).await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// Deletes a client.
#[utoipa::path(delete, path = "/admin/clients/{id}", tag = "admin", security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "the client id, percent-encoded")),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "no such client", body = ErrorBody),
        super::openapi::AdminErrors,
    ))]
pub async fn delete_client(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    admin.delete_client(&client_id(&req)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRotation {
    /// How long the old secret keeps working, e.g. `24h`; none: it stops now.
    #[schema(pattern = r"^[0-9]{1,6}[smhd]?$")]
    pub grace: Option<String>,
}

/// Issues a new secret; with `grace`, the old one keeps working until it ends.
#[utoipa::path(post, path = "/admin/clients/{id}/secret", tag = "admin", security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "the client id, percent-encoded")),
    request_body(content = Option<SecretRotation>),
    responses(
        (status = 200, description = "the client with its new secret", body = crate::admin::ClientWithSecret),
        (status = 404, description = "no such client", body = ErrorBody),
        super::openapi::AdminErrors,
    ))]
pub async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    let body: SecretRotation = json_body(&req, payload).await?;
    let grace = body
        .grace
        .map(|g| parse_duration(&g).map_err(|e| ApiError::BadRequest(format!("grace: {e}"))))
        .transpose()?;
    let rotated = admin.rotate_secret(&client_id(&req)?, grace).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(rotated))
}

/// Every signing key with its state and times.
#[utoipa::path(get, path = "/admin/keys", tag = "admin", security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "the keys", body = Vec<crate::admin::KeyView>),
        super::openapi::AdminErrors,
    ))]
pub async fn list_keys(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    Ok(HttpResponse::Ok().json(admin.list_keys().await?))
}

/// Every key with its times, and the next planned events.
#[utoipa::path(get, path = "/admin/keys/plan", tag = "admin", security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "the plan", body = crate::admin::KeyPlan),
        super::openapi::AdminErrors,
    ))]
pub async fn key_plan(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    Ok(HttpResponse::Ok().json(admin.key_plan().await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// Sign with a new key at once instead of after `publish_ahead`.
    #[serde(default)]
    pub now: bool,
}

/// Publishes the next key now (it signs after publish_ahead), or with `now`,
/// signs with a new key at once.
#[utoipa::path(post, path = "/admin/keys/rotate", tag = "admin", security(("admin_bearer" = [])),
    request_body(content = Option<RotateRequest>),
    responses(
        (status = 200, description = "the rotation", body = crate::admin::Rotation),
        super::openapi::AdminErrors,
    ))]
pub async fn rotate_keys(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    let RotateRequest { now } = json_body(&req, payload).await?;
    let rotation = admin.rotate_keys(now).await?;
    // This replica signs and publishes accordingly before it answers.
    state.reload_ring().await?;
    Ok(HttpResponse::Ok().json(rotation))
}

/// Revokes a key: out of the JWKS at once, its tokens inactive.
#[utoipa::path(post, path = "/admin/keys/{kid}/revoke", tag = "admin", security(("admin_bearer" = [])),
    params(("kid" = String, Path)),
    responses(
        (status = 200, description = "the keys after the revocation", body = Vec<crate::admin::KeyView>),
        (status = 404, description = "no such key", body = ErrorBody),
        (status = 409, description = "already revoked", body = ErrorBody),
        super::openapi::AdminErrors,
    ))]
pub async fn revoke_key(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    let kid = req.match_info().get("kid").unwrap_or_default().to_owned();
    let keys = admin.revoke_key(&kid).await?;
    // No token of this replica carries the revoked kid once this answers.
    state.reload_ring().await?;
    Ok(HttpResponse::Ok().json(keys))
}
