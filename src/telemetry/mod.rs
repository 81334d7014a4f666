//! Logging and the request span: a tracing subscriber writing to stderr
//! (stdout is for command output), human-readable or JSON, level from
//! `RUST_LOG` (default `info`); and one log line per request with its request
//! id, route, client id, outcome, status and latency. Bodies, headers,
//! secrets, assertions and tokens are never logged.

use crate::config::LogFormat;
use crate::metrics::Metrics;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, web};
use std::time::Instant;
use tracing::Span;
use tracing_subscriber::EnvFilter;

mod access_log;
mod writer;
use access_log::{ACCESS_LOG, AccessLog, RequestLine};
pub use writer::{LogGuard, LogWriter};

/// Logging for `serve`: lines go to stderr through a background writer (see
/// [`writer`]), so a request never waits on the process-wide stderr lock or
/// a `write(2)`, and a busy server writes its lines in batches. Nothing is
/// dropped; keep the guard until exit, its drop writes what is left. The
/// request lines take a shorter way to the same writer (see [`AccessLog`]).
pub fn init(format: LogFormat) -> LogGuard {
    let (writer, guard) = writer::spawn(std::io::stderr());
    let _ = ACCESS_LOG.set(AccessLog {
        writer: writer.clone(),
        format,
        ansi: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    });
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
    id: RequestId,
    start: Instant,
    /// The client's address, noted by the forwarded-address middleware.
    address: Option<std::net::IpAddr>,
}

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request's id: generated here (16 hex digits, held inline) or the
/// client's own `X-Request-Id`.
enum RequestId {
    Generated([u8; 16]),
    Given(Box<str>),
}

impl RequestId {
    fn as_str(&self) -> &str {
        match self {
            // Hex digits only, so always UTF-8.
            RequestId::Generated(hex) => std::str::from_utf8(hex).unwrap_or_default(),
            RequestId::Given(id) => id,
        }
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request id: a process-random 64-bit start, then a counter pushed
/// through a bijection (unique in the process, unguessable enough for a
/// log key, and no call into the system's random source per request).
fn new_request_id() -> RequestId {
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
    let mut hex = [0u8; 16];
    for (i, digit) in hex.iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[(x >> (60 - 4 * i)) as usize & 0xf];
    }
    RequestId::Generated(hex)
}

fn request_id(request: &ServiceRequest) -> RequestId {
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
        Some(id) => RequestId::Given(id.into()),
        None => new_request_id(),
    }
}

/// What code inside a request noted for its log line (the client and the
/// outcome, as typed values, not formatted fields).
#[derive(Default)]
pub struct Notes {
    client_id: Option<Box<str>>,
    outcome: Option<&'static str>,
}

thread_local! {
    /// The notes of the request being polled on this thread: the request's
    /// middleware moves them in for each poll and takes them back after
    /// (no lookup in the span registry per note).
    static CURRENT_NOTES: std::cell::Cell<Notes> = std::cell::Cell::new(Notes::default());
}

/// Runs `poll` with `notes` as this thread's current request notes; what
/// `poll` noted is in `notes` afterwards.
pub fn with_request_notes<R>(notes: &mut Notes, poll: impl FnOnce() -> R) -> R {
    let outside = CURRENT_NOTES.with(|c| c.replace(std::mem::take(notes)));
    let result = poll();
    *notes = CURRENT_NOTES.with(|c| c.replace(outside));
    result
}

fn note(f: impl FnOnce(&mut Notes)) {
    CURRENT_NOTES.with(|c| {
        let mut notes = c.take();
        f(&mut notes);
        c.set(notes);
    });
}

/// A request begins: its id, its span and its start time. The span
/// carries the request id (for every line logged inside the request); the
/// client and the outcome noted while it runs ([`Notes`]) go on the
/// request's one log line with the rest.
pub fn request_started(request: &ServiceRequest) -> Span {
    let id = request_id(request);
    let span = tracing::info_span!("request", request_id = %id);
    request.extensions_mut().insert(RequestMeta {
        id,
        start: Instant::now(),
        address: None,
    });
    span
}

/// A request ends (called inside its span): the latency metric and the
/// request's log line.
pub fn request_ended<B>(notes: Notes, outcome: &Result<ServiceResponse<B>, Error>) {
    let Ok(response) = outcome else {
        tracing::warn!("request failed without a response");
        return;
    };
    let request = response.request();
    let extensions = request.extensions();
    let meta = extensions.get::<RequestMeta>();
    let elapsed = meta.map(|m| m.start.elapsed()).unwrap_or_default();
    let route = request.match_name();
    if let Some(metrics) = request.app_data::<web::Data<Metrics>>() {
        metrics.observe(route, elapsed.as_secs_f64());
    }
    // Unnamed routes (the console's) by their pattern, never a path with
    // ids in it.
    let pattern = route.is_none().then(|| request.match_pattern()).flatten();
    let line = RequestLine {
        request_id: meta.map_or("", |m| m.id.as_str()),
        method: request.method().as_str(),
        route: route.or(pattern.as_deref()).unwrap_or("unmatched"),
        address: meta.and_then(|m| m.address),
        status: response.status().as_u16(),
        latency_us: (elapsed.as_nanos() as f64 / 1000.0).round() as u64,
        client_id: notes.client_id.as_deref(),
        outcome: notes.outcome,
        error: response.status().is_server_error(),
    };
    match ACCESS_LOG.get() {
        Some(log) => log.write(&line),
        None => line.emit(),
    }
}

/// The request id as a response header value, to echo it for correlating
/// with the log (`http::RequestLayer` adds it to the response).
pub fn request_id_header(request: &ServiceRequest) -> Option<HeaderValue> {
    let extensions = request.extensions();
    let id = &extensions.get::<RequestMeta>()?.id;
    // Ids are ASCII by construction (generated hex or a filtered header).
    HeaderValue::from_str(id.as_str()).ok()
}

/// Notes on the current request's log line who the client is and how the
/// request ended (`issued`, or an RFC 6749 error code).
pub fn record_client(client_id: &str) {
    note(|n| n.client_id = Some(client_id.into()));
}

pub fn record_outcome(outcome: &'static str) {
    note(|n| n.outcome = Some(outcome));
}

/// Notes the client's address (the peer, or what a trusted proxy forwarded)
/// for the request's log line.
pub fn note_address(request: &ServiceRequest, address: std::net::IpAddr) {
    if let Some(meta) = request.extensions_mut().get_mut::<RequestMeta>() {
        meta.address = Some(address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_belong_to_the_request_being_polled() {
        let (mut a, mut b) = (Notes::default(), Notes::default());
        with_request_notes(&mut a, || record_client("alice"));
        with_request_notes(&mut b, || record_outcome("invalid_client"));
        with_request_notes(&mut a, || record_outcome("issued"));
        // Outside any request: kept apart from every request's notes.
        record_client("outside");
        with_request_notes(&mut b, || {});
        assert_eq!(a.client_id.as_deref(), Some("alice"));
        assert_eq!(a.outcome, Some("issued"));
        assert_eq!(b.client_id, None);
        assert_eq!(b.outcome, Some("invalid_client"));
    }

    #[test]
    fn generated_request_ids_are_sixteen_hex_digits_and_differ() {
        let ids: Vec<String> = (0..1000).map(|_| new_request_id().to_string()).collect();
        for id in &ids {
            assert_eq!(id.len(), 16, "{id}");
            assert!(u64::from_str_radix(id, 16).is_ok(), "{id}");
            assert_eq!(id, &id.to_lowercase());
        }
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
