//! Logging and the request span: a tracing subscriber writing to stderr
//! (stdout is for command output), human-readable or JSON, level from
//! `RUST_LOG` (default `info`); and one log line per request with its request
//! id, route, client id, outcome, status and latency. Bodies, headers,
//! secrets, assertions and tokens are never logged.

use crate::config::LogFormat;
use crate::metrics::Metrics;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use std::time::Instant;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;
use tracing_subscriber::EnvFilter;

/// Logging for `serve`: lines go to stderr through a background writer, so
/// a request never waits on the process-wide stderr lock or a `write(2)`.
/// Nothing is dropped (a full buffer makes the logger wait instead); keep the
/// guard until exit, its drop flushes what is left.
pub fn init(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        // The channel is allocated up front: 128,000 lines (the default)
        // cost 4 MB of RSS for a burst that never comes.
        .buffered_lines_limit(8192)
        .thread_name("tokend-log")
        .finish(std::io::stderr());
    init_with_default(format, "info,sqlx=warn", writer);
    guard
}

/// For commands whose output is on stdout: only warnings unless `RUST_LOG`.
pub fn init_quiet(format: LogFormat) {
    init_with_default(format, "warn", std::io::stderr);
}

fn init_with_default<W>(format: LogFormat, default: &str, writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a terminal: a log file or collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}

#[derive(Clone)]
struct RequestMeta {
    id: String,
    start: Instant,
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn request_id(request: &ServiceRequest) -> String {
    let given = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .filter(|v| {
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    match given {
        Some(id) => id.to_owned(),
        None => {
            use aws_lc_rs::rand::{SecureRandom, SystemRandom};
            let mut bytes = [0u8; 8];
            let _ = SystemRandom::new().fill(&mut bytes);
            // One allocation per request, not one per byte.
            format!("{:016x}", u64::from_be_bytes(bytes))
        }
    }
}

/// The root span of every request, and its one log line at the end.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = request_id(request);
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method = %request.method(),
            route = tracing::field::Empty,
            address = tracing::field::Empty,
            client_id = tracing::field::Empty,
            outcome = tracing::field::Empty,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        request.extensions_mut().insert(RequestMeta {
            id,
            start: Instant::now(),
        });
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let Ok(response) = outcome else {
            span.in_scope(|| tracing::warn!("request failed without a response"));
            return;
        };
        let request = response.request();
        let meta = request.extensions().get::<RequestMeta>().cloned();
        let elapsed = meta.map(|m| m.start.elapsed()).unwrap_or_default();
        let route = request.match_pattern();
        if let Some(metrics) = request.app_data::<web::Data<Metrics>>() {
            metrics.observe(route.as_deref(), elapsed.as_secs_f64());
        }
        let status = response.status().as_u16();
        span.record("route", route.as_deref().unwrap_or("unmatched"));
        span.record("status", status);
        span.record(
            "latency_ms",
            (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        );
        span.in_scope(|| {
            if response.status().is_server_error() {
                tracing::error!("request");
            } else {
                tracing::info!("request");
            }
        });
    }
}

/// Echoes the request id in the response, for correlating with the log.
pub async fn request_id_header(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request
        .extensions()
        .get::<RequestMeta>()
        .map(|m| m.id.clone());
    let mut response = next.call(request).await?;
    if let Some(id) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert(REQUEST_ID.clone(), id);
    }
    Ok(response)
}

/// Notes on the current request's log line who the client is and how the
/// request ended (`issued`, or an RFC 6749 error code).
pub fn record_client(client_id: &str) {
    Span::current().record("client_id", client_id);
}

pub fn record_outcome(outcome: &str) {
    Span::current().record("outcome", outcome);
}

/// Notes the client's address (the peer, or what a trusted proxy forwarded).
pub fn record_address(address: std::net::IpAddr) {
    Span::current().record("address", tracing::field::display(address));
}
