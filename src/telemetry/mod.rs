//! Logging and the request span: a tracing subscriber writing to stderr
//! (stdout is for command output), human-readable or JSON, level from
//! `RUST_LOG` (default `info`); and one log line per request with its request
//! id, route, client id, outcome, status and latency. Bodies, headers,
//! secrets, assertions and tokens are never logged.

use crate::config::LogFormat;
use crate::metrics::Metrics;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, web};
use tracing_subscriber::EnvFilter;

mod access_log;
mod request_scope;
#[cfg(test)]
mod testing;
mod writer;
use access_log::{ACCESS_LOG, AccessLog, RequestLine};
use request_scope::RequestId;
pub use request_scope::{
    LazyRequestSpans, RequestScope, in_request, note_address, record_client, record_outcome,
};
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
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a terminal: a log file or collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A second init (tests) keeps the first subscriber.
    let _ = LazyRequestSpans(formatter(format, filter, ansi, writer)).try_init();
}

/// tokend's log lines, pretty or JSON (the current span's fields flattened
/// into `span`), as tracing-subscriber formats them; `init` installs it
/// inside [`LazyRequestSpans`].
fn formatter<W>(
    format: LogFormat,
    filter: EnvFilter,
    ansi: bool,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
        LogFormat::Pretty => Box::new(builder.finish()),
    }
}

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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

/// A request begins: its id (the client's `X-Request-Id` if usable) and
/// start time. The id goes on the request's one log line and on every line
/// logged inside the request (its span, see [`request_scope`]).
pub fn request_started(request: &ServiceRequest) -> RequestScope {
    RequestScope::new(request_id(request))
}

/// A request ends (called inside it, see [`in_request`]): the latency
/// metric and the request's log line.
pub fn request_ended<B>(outcome: &Result<ServiceResponse<B>, Error>) {
    let Ok(response) = outcome else {
        tracing::warn!("request failed without a response");
        return;
    };
    let access_log = ACCESS_LOG.get();
    if access_log.is_none() {
        // The line will be an ordinary event, logged while this request's
        // notes are out of the thread-local: make its span now.
        let _ = tracing::Span::current();
    }
    request_scope::with_current(|scope| {
        let request = response.request();
        let elapsed = scope.start.map(|s| s.elapsed()).unwrap_or_default();
        let route = request.match_name();
        if let Some(metrics) = request.app_data::<web::Data<Metrics>>() {
            metrics.observe(route, elapsed.as_secs_f64());
        }
        // Unnamed routes (the console's) by their pattern, never a path with
        // ids in it.
        let pattern = route.is_none().then(|| request.match_pattern()).flatten();
        let line = RequestLine {
            request_id: scope.id.as_ref().map_or("", |id| id.as_str()),
            method: request.method().as_str(),
            route: route.or(pattern.as_deref()).unwrap_or("unmatched"),
            address: scope.notes.address,
            status: response.status().as_u16(),
            latency_us: (elapsed.as_nanos() as f64 / 1000.0).round() as u64,
            client_id: scope.notes.client_id.as_deref(),
            outcome: scope.notes.outcome,
            error: response.status().is_server_error(),
        };
        match access_log {
            Some(log) => log.write(&line),
            None => line.emit(),
        }
    });
}

/// The request id as a response header value, to echo it for correlating
/// with the log (`http::RequestLayer` adds it to the response).
pub fn request_id_header(scope: &RequestScope) -> Option<HeaderValue> {
    // Ids are ASCII by construction (generated hex or a filtered header).
    HeaderValue::from_str(scope.id.as_ref()?.as_str()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_belong_to_the_request_being_polled() {
        let (mut a, mut b) = (RequestScope::default(), RequestScope::default());
        in_request(&mut a, || record_client("alice"));
        in_request(&mut b, || record_outcome("invalid_client"));
        in_request(&mut a, || {
            record_outcome("issued");
            // A request inside a request (not in tokend, but possible):
            // its notes stay its own.
            in_request(&mut RequestScope::default(), || record_client("inner"));
        });
        // Outside any request: kept apart from every request's notes.
        record_client("outside");
        in_request(&mut b, || {});
        assert_eq!(a.notes.client_id.as_deref(), Some("alice"));
        assert_eq!(a.notes.outcome, Some("issued"));
        assert_eq!(b.notes.client_id, None);
        assert_eq!(b.notes.outcome, Some("invalid_client"));
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
