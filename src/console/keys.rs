//! The keys page: the timeline, the cache check, rotate / rotate now /
//! revoke behind a confirmation that says what verifiers will see.

use super::pages::{Chrome, Nothing, admin_error, change, render};
use super::session::{self, Session};
use super::timeline::{Layout, Timeline, timeline};
use crate::admin::{CacheCheck, KeyPlan};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

struct KeyRow {
    kid: String,
    alg: &'static str,
    state: String,
    published: String,
    active: String,
    removal: String,
    revocable: bool,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct Keys {
    chrome: Chrome,
    plan: KeyPlan,
    /// The same timeline for a wide screen and for a phone.
    timelines: [(&'static str, Timeline); 2],
    rows: Vec<KeyRow>,
    cache_age: String,
    check: Option<CacheCheck>,
    check_error: String,
}

#[derive(Deserialize)]
pub struct KeysQuery {
    #[serde(default)]
    cache_age: String,
    #[serde(default)]
    done: String,
}

pub async fn keys(session: Session, query: web::Query<KeysQuery>) -> HttpResponse {
    let notice = match query.done.as_str() {
        "rotated" => {
            "Rotation scheduled: the next key is published now and signs after keys.publish_ahead."
        }
        "rotated-now" => "Rotated: a new key signs now.",
        "revoked" => "Key revoked: it left the JWKS, and tokens it signed no longer verify.",
        _ => "",
    };
    let chrome = Chrome::of(&session, "keys").with_notice(notice);
    let plan = match session.admin.key_plan().await {
        Ok(p) => p,
        Err(e) => return admin_error(chrome, &e),
    };
    let (mut check, mut check_error) = (None, String::new());
    let cache_age = query.cache_age.trim().to_owned();
    if !cache_age.is_empty() {
        match crate::config::parse_duration(&cache_age) {
            Ok(age) => match session.admin.check_cache(age).await {
                Ok(c) => check = Some(c),
                Err(e) => return admin_error(chrome, &e),
            },
            Err(e) => check_error = format!("cache time: {e}"),
        }
    }
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    let rows = plan
        .keys
        .iter()
        .map(|k| KeyRow {
            kid: k.kid.clone(),
            alg: k.alg.as_str(),
            state: format!("{:?}", k.state).to_lowercase(),
            published: fmt(k.published_at),
            active: fmt(k.active_from),
            removal: k.removal_at.map(fmt).unwrap_or_else(|| "—".into()),
            revocable: k.revoked_at.is_none(),
        })
        .collect();
    render(
        StatusCode::OK,
        &Keys {
            chrome,
            timelines: [
                ("wide", timeline(&plan, Layout::WIDE)),
                ("narrow", timeline(&plan, Layout::NARROW)),
            ],
            plan,
            rows,
            cache_age,
            check,
            check_error,
        },
    )
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
struct Confirm {
    chrome: Chrome,
    heading: String,
    explanation: String,
    action: String,
    fields: Vec<(&'static str, String)>,
    button: String,
    back: String,
}

#[derive(Deserialize)]
pub struct RotateQuery {
    #[serde(default)]
    now: Option<String>,
}

fn publish_ahead(state: &AppState) -> String {
    crate::config::fmt_duration(state.settings().keys.publish_ahead)
}

pub async fn confirm_rotate(
    session: Session,
    query: web::Query<RotateQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let now = query.now.as_deref() == Some("1");
    let (heading, explanation) = if now {
        (
            "Rotate now",
            "A new key signs at once. Verifiers that refetch the JWKS on an unknown kid (tokend-verify does) carry on; a verifier that caches the JWKS for a fixed time and never refetches will refuse new tokens until its cache expires. The current key stays published until every token it signed has expired.".to_owned(),
        )
    } else {
        (
            "Rotate",
            format!(
                "The next key is published in the JWKS now and starts signing in {} (keys.publish_ahead), so every verifier sees it before a token carries it. The current key stays published until every token it signed has expired.",
                publish_ahead(&state)
            ),
        )
    };
    render(
        StatusCode::OK,
        &Confirm {
            chrome: Chrome::of(&session, "keys"),
            heading: heading.into(),
            explanation,
            action: "/console/keys/rotate".into(),
            fields: vec![("now", if now { "1" } else { "0" }.into())],
            button: heading.into(),
            back: "/console/keys".into(),
        },
    )
}

#[derive(Deserialize)]
struct RotateForm {
    #[serde(default)]
    now: String,
}

pub async fn rotate(
    session: Session,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: RotateForm = match change(&session, "keys", &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let now = form.now == "1";
    match session.admin.rotate_keys(now).await {
        Ok(_) => {
            if let Err(e) = state.reload_ring().await {
                tracing::warn!(error = %e, "reloading the key ring after a console rotation failed");
            }
            session::see_other(if now {
                "/console/keys?done=rotated-now"
            } else {
                "/console/keys?done=rotated"
            })
        }
        Err(e) => admin_error(Chrome::of(&session, "keys"), &e),
    }
}

pub async fn confirm_revoke(
    session: Session,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let kid = path.into_inner();
    let active = state
        .ring
        .load()
        .signer(state.now())
        .is_some_and(|s| s.kid() == kid);
    let mut explanation = format!(
        "Key {kid} leaves the JWKS now: every token it signed stops verifying at every verifier as soon as it refetches the JWKS. Use this when the key may be compromised."
    );
    if active {
        explanation.push_str(" It is the signing key: a new key signs at once (verifiers that do not refetch on an unknown kid refuse new tokens until their cache expires).");
    }
    render(
        StatusCode::OK,
        &Confirm {
            chrome: Chrome::of(&session, "keys"),
            heading: format!("Revoke key {kid}"),
            explanation,
            action: format!(
                "/console/keys/{}/revoke",
                form_urlencoded::byte_serialize(kid.as_bytes()).collect::<String>()
            ),
            fields: vec![],
            button: "Revoke".into(),
            back: "/console/keys".into(),
        },
    )
}

pub async fn revoke(
    session: Session,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(r) = change::<Nothing>(&session, "keys", &body) {
        return r;
    }
    match session.admin.revoke_key(&path).await {
        Ok(_) => {
            if let Err(e) = state.reload_ring().await {
                tracing::warn!(error = %e, "reloading the key ring after a console revocation failed");
            }
            session::see_other("/console/keys?done=revoked")
        }
        Err(e) => admin_error(Chrome::of(&session, "keys"), &e),
    }
}
