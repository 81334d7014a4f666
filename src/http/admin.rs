//! The admin API under `/admin` (SPEC §3): JSON, authorised by a bearer token
//! this tokend issued with the admin scope and the issuer as audience,
//! verified from the local key ring like any resource server would. Each
//! handler calls the same `admin` function as the CLI.

use super::openapi::ErrorBody;
use crate::admin::{AdminError, ClientUpdate, NewClient};
use crate::config::parse_duration;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::fmt;

#[derive(Debug)]
pub enum ApiError {
    Unauthorized(&'static str),
    Forbidden(String),
    BadRequest(String),
    /// A body that could not be read: too large (413), too slow (408).
    Request(StatusCode, String),
    Admin(AdminError),
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        ApiError::Admin(e)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unauthorized(d) => f.write_str(d),
            ApiError::Forbidden(d) | ApiError::BadRequest(d) | ApiError::Request(_, d) => {
                f.write_str(d)
            }
            ApiError::Admin(e) => write!(f, "{e}"),
        }
    }
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Unauthorized(d) => {
                (StatusCode::UNAUTHORIZED, "invalid_token", (*d).to_owned())
            }
            ApiError::Forbidden(d) => (StatusCode::FORBIDDEN, "insufficient_scope", d.clone()),
            ApiError::BadRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", d.clone()),
            ApiError::Request(status, d) => (*status, "invalid_request", d.clone()),
            ApiError::Admin(e) => match e {
                AdminError::Invalid(d) => (StatusCode::BAD_REQUEST, "invalid_request", d.clone()),
                AdminError::NotFound(d) => (StatusCode::NOT_FOUND, "not_found", d.clone()),
                AdminError::Conflict(d) => (StatusCode::CONFLICT, "conflict", d.clone()),
                e if e.is_unavailable() => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the database is unavailable; retry".into(),
                ),
                AdminError::Store(_) | AdminError::Key(_) => {
                    tracing::error!(error = %e, "admin operation failed");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        "the operation failed".into(),
                    )
                }
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, error, description) = self.parts();
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match status {
            StatusCode::UNAUTHORIZED => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    r#"Bearer realm="tokend", error="invalid_token""#,
                ));
            }
            StatusCode::FORBIDDEN => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    r#"Bearer realm="tokend", error="insufficient_scope""#,
                ));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: error.to_owned(),
            error_description: description,
        })
    }
}

/// Checks the bearer token: issued here, active, for this issuer, with the
/// admin scope. Returns the admin service acting as the calling client.
pub(super) fn authorize(
    req: &HttpRequest,
    state: &AppState,
) -> Result<crate::admin::Admin, ApiError> {
    let header =
        super::authorization(req).map_err(|e| ApiError::BadRequest(e.description.into_owned()))?;
    let token = header
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(ApiError::Unauthorized("a bearer token is required"))?;
    let claims = state.admin_token(token).map_err(|e| match e {
        crate::state::AdminTokenError::Invalid(why) => ApiError::Unauthorized(why),
        crate::state::AdminTokenError::Scope(why) => ApiError::Forbidden(why),
    })?;
    crate::telemetry::record_client(&claims.client_id);
    Ok(state.admin.as_actor(format!("api:{}", claims.client_id)))
}

/// Largest admin request body.
const MAX_JSON: usize = 256 * 1024;

/// Parses an admin JSON body, after authentication (SPEC §7): an empty body
/// means the defaults; otherwise it must be `application/json` and every
/// field known and of the right type, else 400 naming the field.
pub(super) async fn json_body<T: DeserializeOwned + Default>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    let body = super::token::read_body(req, payload, MAX_JSON)
        .await
        .map_err(|e| ApiError::Request(e.status, e.description.into_owned()))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|essence| {
            let essence = essence.trim().to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        })
        .unwrap_or(false);
    if !json {
        return Err(ApiError::BadRequest(
            "Content-Type must be application/json".into(),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(&body);
    // JSON `null` means the defaults, like an empty body.
    let value: Option<T> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::BadRequest(format!("invalid JSON body: {inner}"))
        } else {
            ApiError::BadRequest(format!("{path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    Ok(value.unwrap_or_default())
}

/// Query strings are parsed in the handler, after authentication.
fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))
}

/// The client id from the raw path, percent-decoded exactly once, so ids
/// with `/`, `%` or `:` (all allowed by RFC 6749) round-trip.
pub(super) fn client_id(req: &HttpRequest) -> Result<String, ApiError> {
    let raw = req.uri().path();
    let rest = raw
        .split_once("/admin/clients/")
        .map(|(_, r)| r)
        .unwrap_or_default();
    // The sub-resource the route matched (`…/secret`, `…/bindings`).
    let suffix = req
        .match_pattern()
        .and_then(|p| p.rsplit_once("}/").map(|(_, s)| format!("/{s}")));
    let rest = match &suffix {
        Some(suffix) => rest.strip_suffix(suffix.as_str()).unwrap_or(rest),
        None => rest,
    };
    percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .map(|id| id.into_owned())
        .map_err(|_| ApiError::BadRequest("the client id in the path is not UTF-8".into()))
}

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
