//! actix-web integration: [`RequireScope`] middleware and an [`AccessToken`]
//! extractor, answering RFC 6750 §3 errors (401 `invalid_token` with a
//! `WWW-Authenticate` challenge, 403 `insufficient_scope`). Tokens may come
//! as `Bearer` or, bound to a key, as `DPoP` with a proof (RFC 9449 §7):
//! a bound token sent as `Bearer` is refused, a proof error is answered
//! with a `DPoP error="invalid_dpop_proof"` challenge.
//!
//! Register the verifier as app data (`App::new().app_data(verifier.clone())`
//! or `web::Data<Verifier>`), then:
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, web};
//! use tokend_verify::{AccessToken, Verifier, actix::RequireScope};
//!
//! async fn orders(token: AccessToken) -> HttpResponse {
//!     HttpResponse::Ok().body(format!("hello {}", token.client_id))
//! }
//!
//! # fn app(verifier: Verifier) {
//! let app = App::new().app_data(verifier).service(
//!     web::resource("/orders")
//!         .wrap(RequireScope::new("orders:read"))
//!         .route(web::get().to(orders)),
//! );
//! # }
//! ```

use crate::mtls::ClientCertificate;
use crate::{AccessToken, Presented, Scheme, Verifier, VerifyError};
use actix_web::body::EitherBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    #[error("no bearer token")]
    Missing,
    #[error("{0}")]
    Invalid(VerifyError),
    /// A token sent with the `DPoP` scheme that is invalid as a token.
    #[error("{0}")]
    InvalidDpopToken(VerifyError),
    #[error("the token lacks scope {0:?}")]
    InsufficientScope(String),
    #[error("the issuer's keys are unavailable")]
    Unavailable,
    #[error("no tokend_verify::Verifier registered as app data")]
    NoVerifier,
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Missing | Self::Invalid(_) | Self::InvalidDpopToken(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::NoVerifier => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let description = self.to_string().replace('"', "'");
        let algs = crate::dpop::DPOP_ALGORITHMS
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(" ");
        let (code, challenge) = match self {
            // RFC 6750 §3.1: no error code when no credentials were sent.
            Self::Missing => (None, "Bearer".to_owned()),
            // RFC 9449 §7.1: the proof is at fault.
            Self::Invalid(
                VerifyError::Proof(_)
                | VerifyError::MissingProof
                | VerifyError::ProofKeyMismatch
                | VerifyError::ProofReplay,
            ) => (
                Some("invalid_dpop_proof"),
                format!(
                    "DPoP error=\"invalid_dpop_proof\", error_description=\"{description}\", algs=\"{algs}\""
                ),
            ),
            Self::Invalid(_) => (
                Some("invalid_token"),
                format!("Bearer error=\"invalid_token\", error_description=\"{description}\""),
            ),
            // RFC 9449 §7.1: the challenge names the scheme the client used.
            Self::InvalidDpopToken(_) => (
                Some("invalid_token"),
                format!(
                    "DPoP error=\"invalid_token\", error_description=\"{description}\", algs=\"{algs}\""
                ),
            ),
            Self::InsufficientScope(scope) => (
                Some("insufficient_scope"),
                format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
            ),
            Self::Unavailable => (Some("temporarily_unavailable"), String::new()),
            Self::NoVerifier => (Some("server_error"), String::new()),
        };
        let mut response = HttpResponse::build(self.status_code());
        if !challenge.is_empty() {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if matches!(self, Self::Unavailable) {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match code {
            Some(code) => response.json(serde_json::json!({
                "error": code,
                "error_description": description,
            })),
            None => response.finish(),
        }
    }
}

fn verifier(req: &HttpRequest) -> Option<Verifier> {
    req.app_data::<Verifier>().cloned().or_else(|| {
        req.app_data::<web::Data<Verifier>>()
            .map(|d| d.get_ref().clone())
    })
}

/// The token of the `Authorization` header and how it came: `Bearer`
/// (RFC 6750 §2.1) or `DPoP` (RFC 9449 §7.1); scheme names are
/// case-insensitive.
fn credentials(req: &HttpRequest) -> Result<(Scheme, String), BearerError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(BearerError::Missing)?
        .to_str()
        .map_err(|_| BearerError::Invalid(VerifyError::Malformed))?;
    let (scheme, token) = value.split_once(' ').ok_or(BearerError::Missing)?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Err(BearerError::Missing);
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(BearerError::Missing);
    }
    Ok((scheme, token.to_owned()))
}

/// The URL the request was addressed to, for a DPoP proof's `htu`: the
/// verifier's configured base URL plus the path, else what the request
/// itself names.
fn request_url(req: &HttpRequest, verifier: &Verifier) -> String {
    match verifier.resource_base_url() {
        Some(base) => format!("{base}{}", req.path()),
        None => {
            let info = req.connection_info();
            format!("{}://{}{}", info.scheme(), info.host(), req.path())
        }
    }
}

/// Records the client certificate of a TLS connection (rustls 0.23) for
/// certificate-bound tokens (RFC 8705 §3): pass it to
/// `HttpServer::on_connect`. The connection's TLS configuration must ask for
/// client certificates (a rustls `ClientCertVerifier`).
pub fn client_certificate_on_connect(
    conn: &dyn std::any::Any,
    ext: &mut actix_web::dev::Extensions,
) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    let Some(tls) = conn.downcast_ref::<Tls>() else {
        return;
    };
    let (_, session) = tls.get_ref();
    if let Some([leaf, chain @ ..]) = session.peer_certificates() {
        ext.insert(ClientCertificate::from_der(
            leaf.to_vec(),
            chain.iter().map(|c| c.to_vec()).collect(),
        ));
    }
}

/// The client certificate of a request: forwarded by a trusted proxy when
/// the verifier is configured so (and the peer is one), else the
/// connection's own.
pub fn client_certificate(req: &HttpRequest, verifier: &Verifier) -> Option<ClientCertificate> {
    if let Some((header, trusted)) = verifier.client_cert_header()
        && req.peer_addr().is_some_and(|p| trusted.contains(p.ip()))
    {
        let value = req.headers().get(header.name())?.to_str().ok()?;
        return match header.parse(value) {
            Ok(cert) => Some(cert),
            Err(e) => {
                tracing::warn!(header = header.name(), error = %e, "ignoring a forwarded client certificate");
                None
            }
        };
    }
    req.conn_data::<ClientCertificate>().cloned()
}

/// The request's verified token: verified once per request, then reused.
pub async fn authenticate(req: &HttpRequest) -> Result<AccessToken, BearerError> {
    if let Some(token) = req.extensions().get::<AccessToken>() {
        return Ok(token.clone());
    }
    let verifier = verifier(req).ok_or(BearerError::NoVerifier)?;
    let (scheme, token) = credentials(req)?;
    let mut proofs = req.headers().get_all("dpop");
    let proof = proofs.next().and_then(|v| v.to_str().ok());
    if proofs.next().is_some() {
        return Err(BearerError::Invalid(VerifyError::Proof(
            crate::dpop::DpopError::Malformed,
        )));
    }
    let url = request_url(req, &verifier);
    let certificate = client_certificate(req, &verifier);
    let presented = Presented {
        scheme,
        token: &token,
        proof,
        method: req.method().as_str(),
        url: &url,
        client_cert_sha256: certificate.as_ref().map(|c| c.sha256().as_slice()),
    };
    let token = verifier
        .verify_request(&presented)
        .await
        .map_err(|e| match e {
            VerifyError::KeysUnavailable(_) => BearerError::Unavailable,
            e @ (VerifyError::Proof(_)
            | VerifyError::MissingProof
            | VerifyError::ProofKeyMismatch
            | VerifyError::ProofReplay) => BearerError::Invalid(e),
            e if scheme == Scheme::Dpop => BearerError::InvalidDpopToken(e),
            e => BearerError::Invalid(e),
        })?;
    req.extensions_mut().insert(token.clone());
    Ok(token)
}

impl FromRequest for AccessToken {
    type Error = BearerError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

/// Middleware: the request needs a valid token carrying this scope.
#[derive(Clone)]
pub struct RequireScope {
    scope: Rc<str>,
}

impl RequireScope {
    pub fn new(scope: impl AsRef<str>) -> Self {
        Self {
            scope: Rc::from(scope.as_ref()),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireScope
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireScopeMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireScopeMiddleware {
            service: Rc::new(service),
            scope: Rc::clone(&self.scope),
        }))
    }
}

pub struct RequireScopeMiddleware<S> {
    service: Rc<S>,
    scope: Rc<str>,
}

impl<S, B> Service<ServiceRequest> for RequireScopeMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let scope = Rc::clone(&self.scope);
        Box::pin(async move {
            let allowed = authenticate(req.request()).await.and_then(|token| {
                if token.has_scope(&scope) {
                    Ok(())
                } else {
                    Err(BearerError::InsufficientScope(scope.to_string()))
                }
            });
            match allowed {
                Ok(()) => service
                    .call(req)
                    .await
                    .map(ServiceResponse::map_into_left_body),
                Err(e) => Ok(req.error_response(e).map_into_right_body()),
            }
        })
    }
}
