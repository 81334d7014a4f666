//! A client's actions from its page: enable/disable, delete, rotate the
//! secret, bind and unbind workloads.

use super::clients::{secret_page, show_page};
use super::pages::{Chrome, admin_error, change};
use super::session::{self, Session};
use crate::admin::AdminError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use secrecy::ExposeSecret;
use serde::Deserialize;

#[derive(Deserialize)]
struct ActionForm {
    #[serde(default)]
    grace: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    subject: String,
    /// `NAME=PATTERN`, whitespace-separated.
    #[serde(default)]
    claims: String,
}

pub async fn action(
    session: Session,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let form: ActionForm = match change(&session, "clients", &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (id, action) = path.into_inner();
    let chrome = || Chrome::of(&session, "clients");
    match action.as_str() {
        "enable" | "disable" => match session
            .admin
            .set_client_enabled(&id, action == "enable")
            .await
        {
            Ok(_) => {
                show_page(
                    &session,
                    &id,
                    StatusCode::OK,
                    String::new(),
                    if action == "enable" {
                        "Client enabled."
                    } else {
                        "Client disabled: its tokens are refused from now on."
                    },
                )
                .await
            }
            Err(e) => admin_error(chrome(), &e),
        },
        "delete" => {
            if form.confirm != "yes" {
                return show_page(
                    &session,
                    &id,
                    StatusCode::BAD_REQUEST,
                    "Tick “I mean it” to delete the client.".into(),
                    "",
                )
                .await;
            }
            match session.admin.delete_client(&id).await {
                Ok(()) => session::see_other("/console/clients?done=deleted"),
                Err(e) => admin_error(chrome(), &e),
            }
        }
        "secret" => {
            let grace = match form.grace.trim() {
                "" | "0" => None,
                text => match crate::config::parse_duration(text) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        return show_page(
                            &session,
                            &id,
                            StatusCode::BAD_REQUEST,
                            format!("grace: {e}"),
                            "",
                        )
                        .await;
                    }
                },
            };
            match session.admin.rotate_secret(&id, grace).await {
                Ok(rotated) => secret_page(
                    &session,
                    StatusCode::OK,
                    "New secret",
                    rotated.client.client_id.clone(),
                    rotated.client_secret.map(|s| s.expose_secret().to_owned()),
                ),
                Err(AdminError::Invalid(why)) => {
                    show_page(&session, &id, StatusCode::BAD_REQUEST, why, "").await
                }
                Err(e) => admin_error(chrome(), &e),
            }
        }
        "bind" => {
            let mut claims = std::collections::BTreeMap::new();
            for pair in form.claims.split_whitespace() {
                match pair.split_once('=') {
                    Some((k, v)) if !k.is_empty() => {
                        claims.insert(k.to_owned(), v.to_owned());
                    }
                    _ => {
                        let why = format!("claim condition `{pair}` is not NAME=PATTERN");
                        return show_page(&session, &id, StatusCode::BAD_REQUEST, why, "").await;
                    }
                }
            }
            let new = crate::admin::NewBinding {
                provider: form.provider.clone(),
                subject: form.subject.trim().to_owned(),
                claims,
            };
            match session.admin.bind_client(&id, new).await {
                Ok(_) => {
                    show_page(
                        &session,
                        &id,
                        StatusCode::OK,
                        String::new(),
                        "Binding added.",
                    )
                    .await
                }
                Err(AdminError::Invalid(why))
                | Err(AdminError::Conflict(why))
                | Err(AdminError::NotFound(why)) => {
                    show_page(&session, &id, StatusCode::BAD_REQUEST, why, "").await
                }
                Err(e) => admin_error(chrome(), &e),
            }
        }
        "unbind" => match session
            .admin
            .unbind_client(&id, &form.provider, &form.subject)
            .await
        {
            Ok(_) => {
                show_page(
                    &session,
                    &id,
                    StatusCode::OK,
                    String::new(),
                    "Binding removed.",
                )
                .await
            }
            Err(AdminError::NotFound(why)) => {
                show_page(&session, &id, StatusCode::NOT_FOUND, why, "").await
            }
            Err(e) => admin_error(chrome(), &e),
        },
        _ => super::pages::message(
            chrome(),
            StatusCode::NOT_FOUND,
            "Not found",
            "no such action",
        ),
    }
}
