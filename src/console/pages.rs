//! Sign-in and sign-out, trust providers, the audit trail, and what every
//! page shares: the header, errors, form parsing and the CSRF check.

use super::session::{self, Session};
use crate::admin::AdminError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// What the page header needs.
pub struct Chrome {
    pub signed_in: bool,
    pub section: &'static str,
    pub csrf: String,
    pub who: String,
    pub notice: String,
}

impl Chrome {
    pub fn of(session: &Session, section: &'static str) -> Self {
        Self {
            signed_in: true,
            section,
            csrf: session.csrf.clone(),
            who: session.client_id.clone(),
            notice: String::new(),
        }
    }

    fn anonymous() -> Self {
        Self {
            signed_in: false,
            section: "",
            csrf: String::new(),
            who: String::new(),
            notice: String::new(),
        }
    }

    pub fn with_notice(mut self, notice: impl Into<String>) -> Self {
        self.notice = notice.into();
        self
    }
}

/// A rendered page with the console's headers.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(html) => session::page(status, html),
        Err(e) => {
            tracing::error!(error = %e, "rendering a console page failed");
            session::page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>tokend</title><p>The page could not be rendered.</p>".into(),
            )
        }
    }
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct Message {
    chrome: Chrome,
    heading: String,
    text: String,
}

/// A page that says one thing (an error, mostly).
pub fn message(
    chrome: Chrome,
    status: StatusCode,
    heading: &str,
    text: impl Into<String>,
) -> HttpResponse {
    render(
        status,
        &Message {
            chrome,
            heading: heading.into(),
            text: text.into(),
        },
    )
}

/// An admin operation's failure, as the admin API maps it.
pub fn admin_error(chrome: Chrome, e: &AdminError) -> HttpResponse {
    let (status, text) = match e {
        AdminError::Invalid(d) => (StatusCode::BAD_REQUEST, d.clone()),
        AdminError::NotFound(d) => (StatusCode::NOT_FOUND, d.clone()),
        AdminError::Conflict(d) => (StatusCode::CONFLICT, d.clone()),
        e if e.is_unavailable() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database is unavailable; retry".into(),
        ),
        e => {
            tracing::error!(error = %e, "console operation failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the operation failed".into(),
            )
        }
    };
    message(chrome, status, "That did not work", text)
}

/// A submitted form, after the session's CSRF token is checked: 403 without
/// it, 400 when malformed.
#[allow(clippy::result_large_err)]
pub fn change<T: DeserializeOwned>(
    session: &Session,
    section: &'static str,
    body: &[u8],
) -> Result<T, HttpResponse> {
    #[derive(Deserialize)]
    struct Csrf {
        csrf: Option<String>,
    }
    let csrf: Csrf = serde_urlencoded::from_bytes(body).unwrap_or(Csrf { csrf: None });
    if !session.csrf_ok(csrf.csrf.as_deref()) {
        return Err(message(
            Chrome::of(session, section),
            StatusCode::FORBIDDEN,
            "Refused",
            "The form did not carry this session's CSRF token. Reload the page and try again.",
        ));
    }
    serde_urlencoded::from_bytes(body).map_err(|e| {
        message(
            Chrome::of(session, section),
            StatusCode::BAD_REQUEST,
            "Malformed form",
            e.to_string(),
        )
    })
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct Login {
    chrome: Chrome,
    scope: String,
    error: String,
    client_id: String,
    /// The sign-in form's CSRF token, also in a cookie (double submit):
    /// another site cannot sign a browser in as someone else.
    login_csrf: String,
}

/// A sign-in page with a fresh form token and its cookie.
fn login_form(
    state: &AppState,
    status: StatusCode,
    error: String,
    client_id: String,
) -> HttpResponse {
    let token = crate::oauth::generate_secret();
    let token = secrecy::ExposeSecret::expose_secret(&token).to_owned();
    let mut response = render(
        status,
        &Login {
            chrome: Chrome::anonymous(),
            scope: state.settings().admin.scope.clone(),
            error,
            client_id,
            login_csrf: token.clone(),
        },
    );
    let _ = response.add_cookie(&session::login_cookie(state, &token));
    response
}

pub async fn login_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if session::session(&req, &state).is_some() {
        return session::see_other("/console/keys");
    }
    login_form(&state, StatusCode::OK, String::new(), String::new())
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    login_csrf: String,
}

/// Signs in: the console asks `/token`'s own logic for a token with the
/// admin scope for the client (so a wrong secret is limited like at
/// `/token`), and keeps it in the session cookie.
pub async fn login(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let form: Credentials = serde_urlencoded::from_bytes(&body).unwrap_or(Credentials {
        client_id: String::new(),
        client_secret: String::new(),
        login_csrf: String::new(),
    });
    let scope = state.settings().admin.scope.clone();
    let refuse = |status: StatusCode, error: String, retry_after: Option<u64>| {
        let mut response = login_form(&state, status, error, form.client_id.clone());
        if let Some(secs) = retry_after
            && let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string())
        {
            response
                .headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, v);
        }
        response
    };
    let cookie = req.cookie(session::LOGIN_COOKIE);
    let same = cookie.as_ref().is_some_and(|c| {
        !form.login_csrf.is_empty()
            && aws_lc_rs::constant_time::verify_slices_are_equal(
                c.value().as_bytes(),
                form.login_csrf.as_bytes(),
            )
            .is_ok()
    });
    if !same {
        return refuse(
            StatusCode::FORBIDDEN,
            "The sign-in form expired or came from elsewhere; sign in again.".into(),
            None,
        );
    }
    if form.client_id.is_empty() || form.client_secret.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Enter the client id and secret.".into(),
            None,
        );
    }
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let token_body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
        enc(&form.client_id),
        enc(&form.client_secret),
        enc(&scope)
    );
    let origin = crate::http::forwarded::client_origin(&req);
    let issued = state
        .tokens
        .token(
            &crate::oauth::RequestContext {
                content_type: Some(b"application/x-www-form-urlencoded"),
                address: origin.map(|o| o.address),
                ..Default::default()
            },
            token_body.as_bytes(),
        )
        .await;
    let token = match issued {
        Ok(t) => t,
        Err(e) => {
            let text = match e.code {
                crate::oauth::ErrorCode::InvalidScope => {
                    format!("This client may not have the {scope} scope.")
                }
                crate::oauth::ErrorCode::InvalidClient => {
                    "Sign-in failed: wrong client id or secret.".into()
                }
                _ => format!("Sign-in failed: {}", e.description),
            };
            return refuse(e.status, text, e.retry_after);
        }
    };
    if let Err(e) = state.admin_token(&token.access_token) {
        let text = match e {
            crate::state::AdminTokenError::Scope(why) => why,
            crate::state::AdminTokenError::Invalid(why) => format!("Sign-in failed: {why}"),
        };
        return refuse(StatusCode::FORBIDDEN, text, None);
    }
    tracing::info!(target: "audit", client_id = %form.client_id, "console: signed in");
    let mut response = session::see_other("/console/keys");
    let _ = response.add_cookie(&session::cookie(
        &state,
        &token.access_token,
        token.expires_in,
    ));
    response
}

/// A form that carries nothing but its CSRF token.
#[derive(Deserialize)]
pub struct Nothing {}

/// Signs out: the session's token is revoked (a copied cookie is dead too)
/// and the cookie removed.
pub async fn logout(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(session) = session::session(&req, &state) else {
        return session::see_other("/console/login");
    };
    if let Err(refused) = change::<Nothing>(&session, "", &body) {
        return refused;
    }
    if let (Some(token), Some(client)) = (
        req.cookie(session::COOKIE),
        state.clients.get(&session.client_id),
    ) && let Err(e) = state.inspector.revoke(&client.client, token.value()).await
    {
        tracing::warn!(error = %e, "console sign-out: revoking the session token failed");
    }
    let mut response = session::see_other("/console/login");
    let _ = response.add_cookie(&session::removal(&state));
    response
}
