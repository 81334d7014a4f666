//! `POST /token` (RFC 6749 §4.4).

use super::MAX_BODY;
use crate::oauth::OAuthError;
use crate::state::AppState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::{FutureExt, StreamExt};

const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn append<E>(
    body: &mut BytesMut,
    chunk: Result<bytes::Bytes, E>,
    limit: usize,
) -> Result<(), OAuthError> {
    let chunk =
        chunk.map_err(|_| OAuthError::invalid_request("could not read the request body"))?;
    if body.len() + chunk.len() > limit {
        return Err(OAuthError::payload_too_large(limit));
    }
    body.extend_from_slice(&chunk);
    Ok(())
}

/// Reads the body, refusing more than `limit` bytes with 413.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<BytesMut, OAuthError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(OAuthError::payload_too_large(limit));
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(256).min(limit));
    // A small body usually arrived with the headers: take what is already
    // there without arming a timer (a timer per request is measurable on
    // the token path).
    loop {
        match payload.next().now_or_never() {
            Some(Some(chunk)) => append(&mut body, chunk, limit)?,
            Some(None) => return Ok(body),
            None => break,
        }
    }
    let read = async {
        while let Some(chunk) = payload.next().await {
            append(&mut body, chunk, limit)?;
        }
        Ok(())
    };
    // A client that trickles its body does not hold a worker for long.
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .map_err(|_| {
            OAuthError::new(
                crate::oauth::ErrorCode::InvalidRequest,
                actix_web::http::StatusCode::REQUEST_TIMEOUT,
                "the request body took too long to arrive",
            )
        })??;
    Ok(body)
}

/// Issues an access token (client credentials grant).
#[utoipa::path(post, path = "/token", tag = "oauth",
    request_body(content = super::openapi::TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    params(("DPoP" = Option<String>, Header, description = "a DPoP proof (RFC 9449): the token is bound to its key")),
    responses(
        (status = 200, description = "an RFC 9068 access token", body = crate::oauth::TokenResponse,
            headers(("Cache-Control" = String), ("Pragma" = String))),
        super::openapi::OAuthErrors,
    ))]
pub async fn token(req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, OAuthError> {
    // Borrowed from the app, not extracted: `web::Data` would clone (and
    // later drop) one reference count that every worker's requests share.
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| OAuthError::server_error("the application state is not configured"))?;
    let body = read_body(&req, payload, MAX_BODY).await?;
    let headers = req.headers();
    let mut proofs = headers.get_all("dpop");
    let dpop = proofs.next().map(|v| v.as_bytes());
    if proofs.next().is_some() {
        return Err(OAuthError::invalid_dpop_proof(
            "more than one DPoP header (RFC 9449 §4.3)",
        ));
    }
    let origin = super::forwarded::client_origin(&req);
    // The URL as this request addressed it; the issuer's token endpoint URL
    // is always accepted too (what a client behind a proxy sees).
    let url = dpop.and_then(|_| {
        // Behind a trusted proxy, the host the client addressed.
        let host = match super::forwarded::forwarded_host(&req) {
            Some(host) => host,
            None => headers.get(header::HOST)?.to_str().ok()?.to_owned(),
        };
        let scheme = if origin.is_some_and(|o| o.https) {
            "https"
        } else {
            "http"
        };
        Some(format!("{scheme}://{host}/token"))
    });
    // Boxed: most requests have none, and every request's future would
    // carry its room otherwise.
    let certificate = super::forwarded::client_certificate(&req).map(Box::new);
    // Before the call, not inside its argument: the `?` there would keep
    // its result in the future across the await.
    let authorization = super::authorization(&req)?;
    let response = state
        .tokens
        .token(
            &crate::oauth::RequestContext {
                content_type: headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
                authorization,
                dpop,
                url: url.as_deref(),
                address: origin.map(|o| o.address),
                certificate: certificate.as_deref(),
            },
            &body,
        )
        .await?;
    // Static header values: a `&str` or a `Mime` would be copied into a
    // new value on every response.
    let mut ok = HttpResponse::Ok();
    ok.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    if let Some(limit) = &response.rate_limit {
        limit.insert_headers(&mut ok);
    }
    Ok(ok
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(response.to_json()))
}
