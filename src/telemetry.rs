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

struct RequestMeta {
    id: String,
    start: Instant,
    /// The client's address, noted by the forwarded-address middleware.
    address: Option<std::net::IpAddr>,
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request id: a process-random 64-bit start, then a counter pushed
/// through a bijection (unique in the process, unguessable enough for a
/// log key, and no call into the system's random source per request).
fn new_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        use aws_lc_rs::rand::{SecureRandom, SystemRandom};
        let mut bytes = [0u8; 8];
        let _ = SystemRandom::new().fill(&mut bytes);
        u64::from_be_bytes(bytes)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // An odd multiplier is a bijection on u64; xor-shift spreads the bits.
    let mut x = n.wrapping_add(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    format!("{x:016x}")
}

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
        None => new_request_id(),
    }
}

/// The root span of every request, and its one log line at the end. The
/// span carries only what code below it notes (`client_id`, `outcome`);
/// the rest goes on the final line, formatted once.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = request_id(request);
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            client_id = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        request.extensions_mut().insert(RequestMeta {
            id,
            start: Instant::now(),
            address: None,
        });
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let Ok(response) = outcome else {
            span.in_scope(|| tracing::warn!("request failed without a response"));
            return;
        };
        let request = response.request();
        let (elapsed, address) = request
            .extensions()
            .get::<RequestMeta>()
            .map(|m| (m.start.elapsed(), m.address))
            .unwrap_or_default();
        let route = request.match_name();
        if let Some(metrics) = request.app_data::<web::Data<Metrics>>() {
            metrics.observe(route, elapsed.as_secs_f64());
        }
        let status = response.status().as_u16();
        let latency_ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
        let method = request.method().as_str();
        let route = route.unwrap_or("unmatched");
        let address = address.map(tracing::field::display);
        span.in_scope(|| {
            if response.status().is_server_error() {
                tracing::error!(method, route, address, status, latency_ms, "request");
            } else {
                tracing::info!(method, route, address, status, latency_ms, "request");
            }
        });
    }
}

/// The request id as a response header value, to echo it for correlating
/// with the log (the outer middleware in `http` adds it to the response).
pub fn request_id_header(request: &ServiceRequest) -> Option<(HeaderName, HeaderValue)> {
    let extensions = request.extensions();
    let id = &extensions.get::<RequestMeta>()?.id;
    // Ids are ASCII by construction (generated hex or a filtered header).
    HeaderValue::from_str(id)
        .ok()
        .map(|v| (REQUEST_ID.clone(), v))
}

/// Notes on the current request's log line who the client is and how the
/// request ended (`issued`, or an RFC 6749 error code).
pub fn record_client(client_id: &str) {
    Span::current().record("client_id", client_id);
}

pub fn record_outcome(outcome: &str) {
    Span::current().record("outcome", outcome);
}

/// Notes the client's address (the peer, or what a trusted proxy forwarded)
/// for the request's log line.
pub fn note_address(request: &ServiceRequest, address: std::net::IpAddr) {
    if let Some(meta) = request.extensions_mut().get_mut::<RequestMeta>() {
        meta.address = Some(address);
    }
}
