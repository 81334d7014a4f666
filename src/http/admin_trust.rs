//! The admin API for workload identity federation (SPEC §8):
//! `/admin/trust-providers` and a client's `/bindings`. Same authorisation
//! and body rules as the rest of `/admin`; each handler calls the same
//! `admin` function as the CLI.

use super::admin_request::{ApiError, authorize, client_id, json_body};
use super::openapi::ErrorBody;
use crate::admin::{NewBinding, NewTrustProvider, TrustProviderUpdate};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

fn name(req: &HttpRequest) -> String {
    req.match_info().get("name").unwrap_or_default().to_owned()
}

/// Trusts a foreign issuer's workload tokens.
#[utoipa::path(post, path = "/admin/trust-providers", tag = "federation", security(("admin_bearer" = [])),
    request_body = NewTrustProvider,
    responses(
        (status = 201, description = "created", body = crate::admin::TrustProviderView),
        (status = 409, description = "the name or issuer is taken", body = ErrorBody),
        super::openapi::AdminErrors,
    ))]
pub async fn add_provider(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    let new: NewTrustProvider = json_body(&req, payload).await?;
    Ok(HttpResponse::Created().json(admin.add_trust_provider(new).await?))
}

/// Every trust provider with its bindings.
#[utoipa::path(get, path = "/admin/trust-providers", tag = "federation", security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "the providers", body = Vec<crate::admin::TrustProviderView>),
        super::openapi::AdminErrors,
    ))]
pub async fn list_providers(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    Ok(HttpResponse::Ok().json(admin.list_trust_providers().await?))
}

/// One trust provider with its bindings.
#[utoipa::path(get, path = "/admin/trust-providers/{name}", tag = "federation", security(("admin_bearer" = [])),
    params(("name" = String, Path)),
    responses(
        (status = 200, description = "the provider", body = crate::admin::TrustProviderView),
        (status = 404, description = "no such provider", body = ErrorBody),
        super::openapi::AdminErrors,
    ))]
pub async fn get_provider(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    Ok(HttpResponse::Ok().json(admin.get_trust_provider(&name(&req)).await?))
}

/// Changes a trust provider; absent fields keep their value.
#[utoipa::path(patch, path = "/admin/trust-providers/{name}", tag = "federation", security(("admin_bearer" = [])),
    params(("name" = String, Path)),
    request_body(content = Option<TrustProviderUpdate>),
    responses(
        (status = 200, description = "the provider", body = crate::admin::TrustProviderView),
        (status = 404, description = "no such provider", body = ErrorBody),
        super::openapi::AdminErrors,
    ))]
pub async fn update_provider(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    let update: TrustProviderUpdate = json_body(&req, payload).await?;
    Ok(HttpResponse::Ok().json(admin.update_trust_provider(&name(&req), update).await?))
}

/// Removes a trust provider and its bindings.
#[utoipa::path(delete, path = "/admin/trust-providers/{name}", tag = "federation", security(("admin_bearer" = [])),
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "removed"),
        (status = 404, description = "no such provider", body = ErrorBody),
        super::openapi::AdminErrors,
    ))]
pub async fn remove_provider(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    admin.remove_trust_provider(&name(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustTest {
    /// The workload's JWT.
    #[schema(min_length = 1)]
    pub token: String,
    /// The client the request would name.
    pub client_id: Option<String>,
}

/// Runs every check on a pasted workload token; nothing is recorded.
#[utoipa::path(post, path = "/admin/trust-providers/{name}/test", tag = "federation", security(("admin_bearer" = [])),
    params(("name" = String, Path)),
    request_body = TrustTest,
    responses(
        (status = 200, description = "each check, the claims, the bindings", body = crate::admin::TrustTestReport),
        (status = 404, description = "no such provider", body = ErrorBody),
        super::openapi::AdminErrors,
    ))]
pub async fn test_provider(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    let body: TrustTest = json_body(&req, payload).await?;
    if body.token.is_empty() {
        return Err(ApiError::BadRequest("token: required".into()));
    }
    let report = admin
        .test_trust_token(
            &name(&req),
            &body.token,
            body.client_id.as_deref(),
            &state.issuer,
        )
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// A client's bindings.
#[utoipa::path(get, path = "/admin/clients/{id}/bindings", tag = "federation", security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "the client id, percent-encoded")),
    responses(
        (status = 200, description = "the bindings", body = Vec<crate::admin::BindingView>),
        super::openapi::AdminErrors,
    ))]
pub async fn list_bindings(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    let id = client_id(&req)?;
    admin.get_client(&id).await?;
    Ok(HttpResponse::Ok().json(admin.client_bindings(&id).await?))
}

/// Binds workloads of a trust provider to the client.
#[utoipa::path(post, path = "/admin/clients/{id}/bindings", tag = "federation", security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "the client id, percent-encoded")),
    request_body = NewBinding,
    responses(
        (status = 201, description = "bound", body = crate::admin::BindingView),
        (status = 404, description = "no such client or provider", body = ErrorBody),
        (status = 409, description = "already bound", body = ErrorBody),
        super::openapi::AdminErrors,
    ))]
pub async fn bind(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    let new: NewBinding = json_body(&req, payload).await?;
    Ok(HttpResponse::Created().json(admin.bind_client(&client_id(&req)?, new).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Unbind {
    pub provider: String,
    pub subject: String,
}

/// Removes one binding.
#[utoipa::path(delete, path = "/admin/clients/{id}/bindings", tag = "federation", security(("admin_bearer" = [])),
    params(("id" = String, Path, description = "the client id, percent-encoded")),
    request_body = Unbind,
    responses(
        (status = 204, description = "removed"),
        (status = 404, description = "no such binding", body = ErrorBody),
        super::openapi::AdminErrors,
    ))]
pub async fn unbind(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let admin = authorize(&req, &state)?;
    let body: Unbind = json_body(&req, payload).await?;
    admin
        .unbind_client(&client_id(&req)?, &body.provider, &body.subject)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
