//! The one middleware layer around every request: its span and request id,
//! where it comes from (see [`super::forwarded`]), and at its end the
//! latency metric, the request log line and the `X-Request-Id` echo.
//!
//! One hand-written layer, not one per concern: each actix-web layer costs
//! its own future (often boxed) per request, and tracing-actix-web's logger
//! also drew a UUID, stored two extensions and kept the span open while the
//! body was written — all unused here, and measurable on the token path.

use crate::telemetry::RequestScope;
use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::HeaderValue;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};

/// `App::wrap(RequestLayer)`.
pub struct RequestLayer;

impl<S, B> Transform<S, ServiceRequest> for RequestLayer
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = RequestService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestService { service }))
    }
}

pub struct RequestService<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for RequestService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = Traced<S::Future>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let mut scope = crate::telemetry::request_started(&request);
        let request_id = crate::telemetry::request_id_header(&scope);
        // Inside the request: a warning about a forwarded header carries
        // the request id.
        let inner = crate::telemetry::in_request(&mut scope, || {
            super::forwarded::resolve(&request);
            self.service.call(request)
        });
        Traced {
            inner,
            scope,
            request_id,
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, polled inside its request (its notes,
    /// its span when something logs).
    pub struct Traced<F> {
        #[pin]
        inner: F,
        scope: RequestScope,
        request_id: Option<HeaderValue>,
    }
}

impl<F, B> Future for Traced<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let polled = crate::telemetry::in_request(this.scope, || {
            let polled = inner.poll(cx);
            if let Poll::Ready(outcome) = &polled {
                crate::telemetry::request_ended(outcome);
            }
            polled
        });
        let mut outcome = std::task::ready!(polled);
        if let (Ok(response), Some(id)) = (&mut outcome, this.request_id.take()) {
            response
                .headers_mut()
                .insert(crate::telemetry::REQUEST_ID.clone(), id);
        }
        Poll::Ready(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::LazyRequestSpans;
    use actix_web::{App, HttpRequest, HttpResponse, test, web};
    use tracing::Span;

    /// Answers with the name of the span it runs in and the address the
    /// layer resolved.
    async fn probe(req: HttpRequest) -> HttpResponse {
        let span = Span::current()
            .metadata()
            .map_or("none", |m| m.name())
            .to_owned();
        let origin = crate::http::forwarded::client_origin(&req).map(|o| o.address.to_string());
        HttpResponse::Ok().body(format!("{span} {}", origin.unwrap_or_default()))
    }

    /// Records the level of each event and the name of the span it was
    /// logged in.
    struct SpanOfEvents(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl<S> tracing_subscriber::Layer<S> for SpanOfEvents
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            ctx: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let span = ctx
                .event_span(event)
                .map_or("none".into(), |s| s.name().to_owned());
            let level = event.metadata().level();
            self.0.lock().unwrap().push(format!("{level} in {span}"));
        }
    }

    #[actix_web::test]
    async fn each_request_runs_in_its_span_with_its_origin_and_echoes_its_id() {
        let _subscriber =
            tracing::subscriber::set_default(LazyRequestSpans(tracing_subscriber::registry()));
        let app = test::init_service(
            App::new()
                .wrap(RequestLayer)
                .route("/probe", web::get().to(probe)),
        )
        .await;
        let peer = "192.0.2.7:4000".parse().unwrap();

        let given = test::TestRequest::get()
            .uri("/probe")
            .peer_addr(peer)
            .insert_header(("x-request-id", "trace-me-42"))
            .to_request();
        let response = test::call_service(&app, given).await;
        assert_eq!(
            response.headers().get("x-request-id").unwrap(),
            "trace-me-42"
        );
        assert_eq!(test::read_body(response).await, "request 192.0.2.7");

        // Not an id to echo (a space): a generated one instead.
        let bad = test::TestRequest::get()
            .uri("/probe")
            .peer_addr(peer)
            .insert_header(("x-request-id", "two words"))
            .to_request();
        let response = test::call_service(&app, bad).await;
        let id = response
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(id.len(), 16, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");

        // A warning while resolving the origin (a malformed certificate
        // header from a trusted proxy) is logged inside the request's span.
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(
                    crate::config::TrustedProxies::parse("192.0.2.0/24").unwrap(),
                ))
                .app_data(web::Data::new(crate::http::forwarded::CertHeaderSetting(
                    Some(tokend_verify::mtls::CertHeader::UrlEncodedPem),
                )))
                .wrap(RequestLayer)
                .route("/probe", web::get().to(probe))
                .route("/quiet", web::get().to(HttpResponse::Ok)),
        )
        .await;
        drop(_subscriber);
        let warned = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let _subscriber = {
            use tracing_subscriber::layer::SubscriberExt;
            tracing::subscriber::set_default(LazyRequestSpans(
                tracing_subscriber::registry().with(SpanOfEvents(warned.clone())),
            ))
        };
        let forwarded = test::TestRequest::get()
            .uri("/probe")
            .peer_addr(peer)
            .insert_header(("x-ssl-client-cert", "not a certificate"))
            .to_request();
        test::call_service(&app, forwarded).await;
        // So is the request's line (an ordinary event without `serve`'s
        // access log).
        assert_eq!(
            *warned.lock().unwrap(),
            ["WARN in request", "INFO in request"]
        );
        // Also when nothing was logged before it.
        warned.lock().unwrap().clear();
        let plain = test::TestRequest::get()
            .uri("/quiet")
            .peer_addr(peer)
            .to_request();
        test::call_service(&app, plain).await;
        assert_eq!(*warned.lock().unwrap(), ["INFO in request"]);

        // Outside a request, no request span.
        assert_ne!(
            Span::current().metadata().map(|m| m.name()),
            Some("request")
        );
    }
}
