//! The clients pages: list and search, create (the secret shown once),
//! edit, disable/enable, delete, rotate the secret with a grace period.

use super::client_form::{ClientForm, FormView, TlsFields, grants, identity, lines, tls_fields};
use super::pages::{Chrome, admin_error, change, render};
use super::session::Session;
use crate::admin::{AdminError, ClientUpdate, ClientView, NewClient, ScopesInput};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::ExposeSecret;
use serde::Deserialize;

/// Clients per page.
const PAGE: u32 = 50;

#[derive(Template)]
#[template(path = "console/clients.html")]
struct List {
    chrome: Chrome,
    q: String,
    clients: Vec<ClientView>,
    next: Option<String>,
    /// A later page: offer the first one again.
    later: bool,
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
    #[serde(default)]
    done: String,
}

pub async fn list(session: Session, query: web::Query<ListQuery>) -> HttpResponse {
    let q = query.q.trim().to_owned();
    let notice = match query.done.as_str() {
        "deleted" => "Client deleted.",
        _ => "",
    };
    let chrome = Chrome::of(&session, "clients").with_notice(notice);
    let page = if q.is_empty() {
        session
            .admin
            .list_clients(query.after.as_deref(), PAGE)
            .await
    } else {
        session
            .admin
            .search_clients(&q, query.after.as_deref(), PAGE)
            .await
    };
    match page {
        Ok(page) => render(
            StatusCode::OK,
            &List {
                chrome,
                q,
                clients: page.clients,
                next: page.next,
                later: query.after.is_some(),
            },
        ),
        Err(e) => admin_error(chrome, &e),
    }
}

#[derive(Template)]
#[template(path = "console/client_new.html")]
struct New {
    chrome: Chrome,
    form: FormView,
    error: String,
}

pub async fn new_form(session: Session) -> HttpResponse {
    let form = ClientForm {
        quota: "default".into(),
        quota_mode: "enforce".into(),
        ..ClientForm::default()
    };
    render(
        StatusCode::OK,
        &New {
            chrome: Chrome::of(&session, "clients"),
            form: FormView::from(&form),
            error: String::new(),
        },
    )
}

#[derive(Template)]
#[template(path = "console/secret.html")]
struct Secret {
    chrome: Chrome,
    heading: String,
    client_id: String,
    secret: Option<String>,
}

/// The secret page: shown once, never cached.
pub(super) fn secret_page(
    session: &Session,
    status: StatusCode,
    heading: &str,
    client_id: String,
    secret: Option<String>,
) -> HttpResponse {
    render(
        status,
        &Secret {
            chrome: Chrome::of(session, "clients"),
            heading: heading.into(),
            client_id,
            secret,
        },
    )
}

pub async fn create(session: Session, body: web::Bytes) -> HttpResponse {
    let form: ClientForm = match change(&session, "clients", &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let none_if_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let bad = |why: String| {
        render(
            StatusCode::BAD_REQUEST,
            &New {
                chrome: Chrome::of(&session, "clients"),
                form: FormView::from(&form),
                error: why,
            },
        )
    };
    let (tls, auth_method) = if form.tls_kind.is_empty() || form.tls_value.trim().is_empty() {
        (None, None)
    } else {
        match tls_fields(&form.tls_kind, &form.tls_value) {
            Ok(f) => {
                let method = if form.tls_kind == "certificate" {
                    "self_signed_tls_client_auth"
                } else {
                    "tls_client_auth"
                };
                (Some(f), Some(method.to_owned()))
            }
            Err(why) => return bad(why),
        }
    };
    let tls = tls.unwrap_or(TlsFields {
        subject_dn: None,
        san_uri: None,
        san_dns: None,
        certificate: None,
    });
    let new = NewClient {
        name: form.name.trim().to_owned(),
        client_id: none_if_empty(&form.client_id),
        scopes: ScopesInput::Text(form.scopes.clone()),
        audiences: lines(&form.audiences),
        token_ttl: none_if_empty(&form.token_ttl),
        grant_types: Some(grants(form.exchange.is_some())),
        require_dpop: Some(form.require_dpop.is_some()),
        quota: none_if_empty(&form.quota),
        quota_mode: none_if_empty(&form.quota_mode),
        auth_method,
        tls_client_auth_subject_dn: tls.subject_dn,
        tls_client_auth_san_uri: tls.san_uri,
        tls_client_auth_san_dns: tls.san_dns,
        tls_client_certificate: tls.certificate,
        ..NewClient::default()
    };
    match session.admin.create_client(new).await {
        Ok(created) => secret_page(
            &session,
            StatusCode::CREATED,
            "Client created",
            created.client.client_id.clone(),
            created.client_secret.map(|s| s.expose_secret().to_owned()),
        ),
        Err(AdminError::Invalid(why)) | Err(AdminError::Conflict(why)) => bad(why),
        Err(e) => admin_error(Chrome::of(&session, "clients"), &e),
    }
}

/// A workload binding as the client page lists it.
struct BindingRow {
    provider: String,
    subject: String,
    claims: String,
}

#[derive(Template)]
#[template(path = "console/client.html")]
struct Show {
    chrome: Chrome,
    client: ClientView,
    form: FormView,
    error: String,
    bindings: Vec<BindingRow>,
    providers: Vec<String>,
}

pub(super) async fn show_page(
    session: &Session,
    id: &str,
    status: StatusCode,
    error: String,
    notice: &str,
) -> HttpResponse {
    let chrome = Chrome::of(session, "clients").with_notice(notice);
    let loaded = async {
        let client = session.admin.get_client(id).await?;
        let bindings = session.admin.client_bindings(id).await?;
        let providers = session.admin.list_trust_providers().await?;
        Ok::<_, AdminError>((client, bindings, providers))
    };
    match loaded.await {
        Ok((client, bindings, providers)) => render(
            status,
            &Show {
                chrome,
                form: FormView::from(&client),
                client,
                error,
                bindings: bindings
                    .into_iter()
                    .map(|b| BindingRow {
                        claims: b
                            .claims
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" "),
                        provider: b.provider,
                        subject: b.subject,
                    })
                    .collect(),
                providers: providers.into_iter().map(|p| p.name).collect(),
            },
        ),
        Err(e) => admin_error(chrome, &e),
    }
}

pub async fn show(session: Session, path: web::Path<String>) -> HttpResponse {
    show_page(&session, &path, StatusCode::OK, String::new(), "").await
}

pub async fn update(session: Session, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let form: ClientForm = match change(&session, "clients", &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let id = path.into_inner();
    let current = match session.admin.get_client(&id).await {
        Ok(c) => c,
        Err(e) => return admin_error(Chrome::of(&session, "clients"), &e),
    };
    let (had_kind, had_value) = identity(&current);
    let unchanged = form.tls_kind == had_kind
        && (form.tls_value.trim() == had_value
            || (had_kind == "certificate" && form.tls_value.trim().is_empty()));
    let tls = if unchanged {
        None
    } else {
        match tls_fields(&form.tls_kind, &form.tls_value) {
            Ok(f) => Some(f),
            Err(why) => return show_page(&session, &id, StatusCode::BAD_REQUEST, why, "").await,
        }
    };
    let (subject_dn, san_uri, san_dns, certificate) = match tls {
        Some(f) => (f.subject_dn, f.san_uri, f.san_dns, f.certificate),
        None => (None, None, None, None),
    };
    let update = ClientUpdate {
        name: Some(form.name.trim().to_owned()),
        scopes: Some(ScopesInput::Text(form.scopes.clone())),
        audiences: Some(lines(&form.audiences)),
        token_ttl: Some(form.token_ttl.trim().to_owned()),
        grant_types: Some(if current.grant_types.contains(&"client_credentials") {
            grants(form.exchange.is_some())
        } else {
            form.exchange
                .is_some()
                .then(|| crate::admin::TOKEN_EXCHANGE_GRANT.to_owned())
                .into_iter()
                .collect()
        }),
        require_dpop: Some(form.require_dpop.is_some()),
        quota: Some(if form.quota.trim().is_empty() {
            "default".into()
        } else {
            form.quota.trim().to_owned()
        }),
        quota_mode: Some(if form.quota_mode.is_empty() {
            "enforce".into()
        } else {
            form.quota_mode.clone()
        }),
        tls_client_auth_subject_dn: subject_dn,
        tls_client_auth_san_uri: san_uri,
        tls_client_auth_san_dns: san_dns,
        tls_client_certificate: certificate,
        ..ClientUpdate::default()
    };
    match session.admin.update_client(&id, update).await {
        Ok(_) => show_page(&session, &id, StatusCode::OK, String::new(), "Saved.").await,
        Err(AdminError::Invalid(why)) => {
            show_page(&session, &id, StatusCode::BAD_REQUEST, why, "").await
        }
        Err(e) => admin_error(Chrome::of(&session, "clients"), &e),
    }
}
