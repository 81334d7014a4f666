//! What every admin API handler does before its work: the bearer token
//! checked (issued here, admin scope), the JSON body and the query read after
//! it, the client id taken from the raw path; and the API's error answers.

use super::openapi::ErrorBody;
use crate::admin::AdminError;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
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
pub(super) fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
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
