//! The clients pages: list and search, create (the secret shown once),
//! edit, disable/enable, delete, rotate the secret with a grace period.

use super::pages::{Chrome, admin_error, change, render, signed_in};
use super::session::{self, Session};
use crate::admin::{AdminError, ClientUpdate, ClientView, NewClient, ScopesInput};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
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
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
    #[serde(default)]
    done: String,
}

pub async fn list(
    req: HttpRequest,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let session = match signed_in(&req, &state) {
        Ok(s) => s,
        Err(r) => return r,
    };
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
            },
        ),
        Err(e) => admin_error(chrome, &e),
    }
}

/// The fields of the create and edit forms.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClientForm {
    client_id: String,
    name: String,
    scopes: String,
    audiences: String,
    token_ttl: String,
    quota: String,
    quota_mode: String,
    require_dpop: Option<String>,
    exchange: Option<String>,
    /// `subject_dn`, `san_uri`, `san_dns`, `certificate` or empty.
    tls_kind: String,
    /// The DN, URI or DNS name, or the certificate's PEM.
    tls_value: String,
}

/// What the form template reads.
pub struct FormView {
    client_id: String,
    name: String,
    scopes: String,
    audiences: String,
    token_ttl: String,
    quota: String,
    quota_mode: String,
    require_dpop: bool,
    exchange: bool,
    tls_kind: String,
    tls_value: String,
    /// What is registered now, said in words (a certificate shows only its
    /// thumbprint: leave the PEM empty to keep it).
    tls_registered: String,
}

impl From<&ClientForm> for FormView {
    fn from(f: &ClientForm) -> Self {
        Self {
            client_id: f.client_id.clone(),
            name: f.name.clone(),
            scopes: f.scopes.clone(),
            audiences: f.audiences.clone(),
            token_ttl: f.token_ttl.clone(),
            quota: f.quota.clone(),
            quota_mode: f.quota_mode.clone(),
            require_dpop: f.require_dpop.is_some(),
            exchange: f.exchange.is_some(),
            tls_kind: f.tls_kind.clone(),
            tls_value: f.tls_value.clone(),
            tls_registered: String::new(),
        }
    }
}

impl From<&ClientView> for FormView {
    fn from(c: &ClientView) -> Self {
        let (tls_kind, tls_value) = identity(c);
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            scopes: c.scopes.clone(),
            audiences: c.audiences.join("\n"),
            token_ttl: c.token_ttl.clone().unwrap_or_default(),
            quota: c.quota.clone(),
            quota_mode: c.quota_mode.as_str().into(),
            require_dpop: c.require_dpop,
            exchange: c.grant_types.contains(&crate::admin::TOKEN_EXCHANGE_GRANT),
            tls_registered: c
                .tls_identity
                .as_ref()
                .map(|t| t.describe())
                .unwrap_or_default(),
            tls_value: if tls_kind == "certificate" {
                String::new()
            } else {
                tls_value
            },
            tls_kind,
        }
    }
}

/// The registered certificate identity as (kind, value).
fn identity(c: &ClientView) -> (String, String) {
    let Some(v) = c
        .tls_identity
        .as_ref()
        .and_then(|t| serde_json::to_value(t).ok())
    else {
        return (String::new(), String::new());
    };
    for (key, kind) in [
        ("subject_dn", "subject_dn"),
        ("san_uri", "san_uri"),
        ("san_dns", "san_dns"),
        ("certificate_sha256", "certificate"),
    ] {
        if let Some(value) = v.get(key).and_then(|s| s.as_str()) {
            return (kind.into(), value.into());
        }
    }
    (String::new(), String::new())
}

/// The admin fields for a certificate identity of `kind` (one of them set;
/// for none, an empty value that clears it).
struct TlsFields {
    subject_dn: Option<String>,
    san_uri: Option<String>,
    san_dns: Option<String>,
    certificate: Option<String>,
}

fn tls_fields(kind: &str, value: &str) -> Result<TlsFields, String> {
    let v = Some(value.trim().to_owned());
    let mut f = TlsFields {
        subject_dn: None,
        san_uri: None,
        san_dns: None,
        certificate: None,
    };
    match kind {
        "subject_dn" => f.subject_dn = v,
        "san_uri" => f.san_uri = v,
        "san_dns" => f.san_dns = v,
        "certificate" => f.certificate = v,
        "" => f.san_uri = Some(String::new()),
        other => {
            return Err(format!(
                "certificate identity `{other}` is not one this form offers"
            ));
        }
    }
    Ok(f)
}

fn grants(exchange: bool) -> Vec<String> {
    let mut g = vec!["client_credentials".to_owned()];
    if exchange {
        g.push(crate::admin::TOKEN_EXCHANGE_GRANT.to_owned());
    }
    g
}

fn lines(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

#[derive(Template)]
#[template(path = "console/client_new.html")]
struct New {
    chrome: Chrome,
    form: FormView,
    error: String,
}

pub async fn new_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let session = match signed_in(&req, &state) {
        Ok(s) => s,
        Err(r) => return r,
    };
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
fn secret_page(
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

pub async fn create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let session = match signed_in(&req, &state) {
        Ok(s) => s,
        Err(r) => return r,
    };
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

async fn show_page(
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

pub async fn show(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match signed_in(&req, &state) {
        Ok(s) => show_page(&s, &path, StatusCode::OK, String::new(), "").await,
        Err(r) => r,
    }
}

pub async fn update(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let session = match signed_in(&req, &state) {
        Ok(s) => s,
        Err(r) => return r,
    };
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
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let session = match signed_in(&req, &state) {
        Ok(s) => s,
        Err(r) => return r,
    };
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
