//! The console's session: the `tokend:admin` access token the console got
//! at sign-in, in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` under
//! TLS) that ends with the token. Nothing is stored server-side, so every
//! replica honours it and revoking the token or disabling the client ends
//! it. Each change carries a CSRF token derived from the session.

use crate::state::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, http::header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

pub const COOKIE: &str = "tokend_console";
/// The sign-in form's double-submit CSRF cookie.
pub const LOGIN_COOKIE: &str = "tokend_console_login";

/// A signed-in operator.
pub struct Session {
    pub admin: crate::admin::Admin,
    pub client_id: String,
    pub csrf: String,
}

/// The CSRF token of the session whose token has `jti`: a keyed hash, so it
/// cannot be guessed and needs no storage.
fn csrf_for(state: &AppState, jti: &str) -> String {
    let tag = aws_lc_rs::hmac::sign(
        &state.auth.pepper,
        format!("console-csrf\n{jti}").as_bytes(),
    );
    B64.encode(tag.as_ref())
}

/// The session of `req`, or `None` (no cookie, an expired or revoked token,
/// a client that lost the admin scope).
pub fn session(req: &HttpRequest, state: &AppState) -> Option<Session> {
    let cookie = req.cookie(COOKIE)?;
    let claims = state.admin_token(cookie.value()).ok()?;
    crate::telemetry::record_client(&claims.client_id);
    Some(Session {
        admin: state
            .admin
            .as_actor(format!("console:{}", claims.client_id)),
        csrf: csrf_for(state, &claims.jti),
        client_id: claims.client_id,
    })
}

/// A console page asked for without a session: the sign-in page instead.
#[derive(Debug)]
pub struct SignInFirst;

impl std::fmt::Display for SignInFirst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sign in first")
    }
}

impl actix_web::ResponseError for SignInFirst {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::SEE_OTHER
    }

    fn error_response(&self) -> HttpResponse {
        see_other("/console/login")
    }
}

/// Every console handler that takes a [`Session`] is for signed-in
/// operators only; anyone else is sent to the sign-in page.
impl actix_web::FromRequest for Session {
    type Error = SignInFirst;
    type Future = std::future::Ready<Result<Self, SignInFirst>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<actix_web::web::Data<AppState>>();
        std::future::ready(state.and_then(|s| session(req, s)).ok_or(SignInFirst))
    }
}

impl Session {
    /// Whether a submitted CSRF token is this session's.
    pub fn csrf_ok(&self, submitted: Option<&str>) -> bool {
        submitted.is_some_and(|s| {
            aws_lc_rs::constant_time::verify_slices_are_equal(s.as_bytes(), self.csrf.as_bytes())
                .is_ok()
        })
    }
}

/// Whether cookies must be `Secure`: the console is served over TLS.
pub fn secure(state: &AppState) -> bool {
    state.issuer.starts_with("https://")
}

/// The session cookie for `token`, living `max_age` seconds.
pub fn cookie(state: &AppState, token: &str, max_age: u64) -> Cookie<'static> {
    Cookie::build(COOKIE, token.to_owned())
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(state))
        .max_age(actix_web::cookie::time::Duration::seconds(max_age as i64))
        .finish()
}

/// The sign-in form's CSRF cookie (ten minutes, sent only to the form).
pub fn login_cookie(state: &AppState, token: &str) -> Cookie<'static> {
    Cookie::build(LOGIN_COOKIE, token.to_owned())
        .path("/console/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(state))
        .max_age(actix_web::cookie::time::Duration::minutes(10))
        .finish()
}

/// The cookie that ends the session.
pub fn removal(state: &AppState) -> Cookie<'static> {
    let mut c = cookie(state, "", 0);
    c.make_removal();
    c
}

/// The Content-Security-Policy of every console page: nothing but this
/// origin's stylesheet; no script at all, no external origin, no framing.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An HTML page with the console's security headers.
pub fn page(status: actix_web::http::StatusCode, html: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(html)
}

/// A redirect after a change (303: the browser follows with GET).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
