//! RFC 6749 §5.2 error responses. An [`OAuthError`] knows its code and HTTP
//! status and renders itself as JSON with `Cache-Control: no-store`, plus
//! `WWW-Authenticate` on 401 and `Retry-After` on 429/503.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    InvalidTarget,
    /// RFC 9449 §5: the DPoP proof is invalid.
    InvalidDpopProof,
    TemporarilyUnavailable,
    ServerError,
    NotFound,
    MethodNotAllowed,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::ServerError => "server_error",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    pub status: StatusCode,
    pub retry_after: Option<u64>,
    /// `WWW-Authenticate` on a 401: only when the request used the
    /// `Authorization` header or carried no authentication (RFC 6749 §5.2).
    pub challenge: bool,
    /// The client's quota state, for the `RateLimit` headers of a 429.
    pub rate_limit: Option<RateLimit>,
}

/// A client's token quota as the IETF RateLimit headers say it
/// (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy:
/// "tokens";q=LIMIT;w=WINDOW` and `RateLimit: "tokens";r=REMAINING;t=RESET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u32,
    pub window: u32,
    pub remaining: u64,
    pub reset: u64,
}

impl RateLimit {
    pub fn insert_headers(&self, response: &mut actix_web::HttpResponseBuilder) {
        response
            .insert_header((
                "ratelimit-policy",
                format!("\"tokens\";q={};w={}", self.limit, self.window),
            ))
            .insert_header((
                "ratelimit",
                format!("\"tokens\";r={};t={}", self.remaining, self.reset),
            ));
    }
}

impl OAuthError {
    pub fn new(
        code: ErrorCode,
        status: StatusCode,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            code,
            description: description.into(),
            status,
            retry_after: None,
            challenge: true,
            rate_limit: None,
        }
    }

    /// The same error without a `WWW-Authenticate` challenge.
    pub fn without_challenge(self) -> Self {
        Self {
            challenge: false,
            ..self
        }
    }

    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, StatusCode::BAD_REQUEST, d)
    }

    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, StatusCode::UNAUTHORIZED, d)
    }

    /// The one answer for an unknown client and a wrong secret.
    /// RFC 6749 §5.2 `invalid_grant`: the grant (a jwt-bearer assertion, a
    /// subject token) is invalid.
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, StatusCode::BAD_REQUEST, d)
    }

    /// RFC 9449 §5 `invalid_dpop_proof`.
    pub fn invalid_dpop_proof(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidDpopProof, StatusCode::BAD_REQUEST, d)
    }

    pub fn authentication_failed() -> Self {
        Self::invalid_client("client authentication failed")
    }

    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, StatusCode::BAD_REQUEST, d)
    }

    pub fn unsupported_grant_type(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnsupportedGrantType, StatusCode::BAD_REQUEST, d)
    }

    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, StatusCode::BAD_REQUEST, d)
    }

    pub fn invalid_target(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidTarget, StatusCode::BAD_REQUEST, d)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::InvalidRequest,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {} KiB", limit / 1024),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            ErrorCode::MethodNotAllowed,
            StatusCode::METHOD_NOT_ALLOWED,
            "this method is not allowed here; see the Allow header",
        )
    }

    pub fn not_found() -> Self {
        Self::new(
            ErrorCode::NotFound,
            StatusCode::NOT_FOUND,
            "no such endpoint",
        )
    }

    pub fn unavailable(d: impl Into<Cow<'static, str>>) -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                ErrorCode::TemporarilyUnavailable,
                StatusCode::SERVICE_UNAVAILABLE,
                d,
            )
        }
    }

    /// Too many failed authentications (SPEC §7).
    pub fn too_many_failures(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                ErrorCode::TemporarilyUnavailable,
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed client authentications; retry later",
            )
        }
    }

    pub fn server_error(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::ServerError, StatusCode::INTERNAL_SERVER_ERROR, d)
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if self.status == StatusCode::UNAUTHORIZED && self.challenge {
            response.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="tokend""#));
        }
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(limit) = &self.rate_limit {
            limit.insert_headers(&mut response);
        }
        response.json(Body {
            error: self.code.as_str(),
            error_description: &self.description,
        })
    }
}
