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

mod writer;
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
/// span carries the request id (for every line logged inside the request);
/// the client and the outcome are noted on it as typed values, not
/// formatted fields, and go on the final line with the rest.
pub struct RequestSpan;

/// What code inside a request noted for its log line.
#[derive(Default)]
struct Notes {
    client_id: Option<Box<str>>,
    outcome: Option<&'static str>,
}

/// Runs `f` on the notes of the innermost `request` span around `span`
/// (nothing when no registry-based subscriber is installed).
fn with_notes(span: &Span, f: impl FnOnce(&mut Notes)) {
    use tracing_subscriber::registry::{LookupSpan, Registry};
    span.with_subscriber(|(id, dispatch)| {
        let Some(registry) = dispatch.downcast_ref::<Registry>() else {
            return;
        };
        let Some(current) = registry.span(id) else {
            return;
        };
        let Some(request) = current.scope().find(|s| s.name() == "request") else {
            return;
        };
        let mut extensions = request.extensions_mut();
        match extensions.get_mut::<Notes>() {
            Some(notes) => f(notes),
            None => {
                let mut notes = Notes::default();
                f(&mut notes);
                extensions.insert(notes);
            }
        }
    });
}

/// The request line's fields.
struct RequestLine<'a> {
    request_id: &'a str,
    method: &'a str,
    route: &'a str,
    address: Option<std::net::IpAddr>,
    status: u16,
    latency_us: u64,
    client_id: Option<&'a str>,
    outcome: Option<&'a str>,
    error: bool,
}

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = request_id(request);
        let span = tracing::info_span!("request", request_id = %id);
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
        let extensions = request.extensions();
        let meta = extensions.get::<RequestMeta>();
        let elapsed = meta.map(|m| m.start.elapsed()).unwrap_or_default();
        let route = request.match_name();
        if let Some(metrics) = request.app_data::<web::Data<Metrics>>() {
            metrics.observe(route, elapsed.as_secs_f64());
        }
        // Unnamed routes (the console's) by their pattern, never a path
        // with ids in it.
        let pattern = route.is_none().then(|| request.match_pattern()).flatten();
        let mut notes = Notes::default();
        with_notes(&span, |n| notes = std::mem::take(n));
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
            None => span.in_scope(|| line.emit()),
        }
    }
}

impl RequestLine<'_> {
    /// The line as an ordinary tracing event (when `serve`'s logging is not
    /// installed: tests, embedding).
    fn emit(&self) {
        let RequestLine {
            method,
            route,
            status,
            latency_us,
            client_id,
            outcome,
            ..
        } = *self;
        let latency_ms = latency_us as f64 / 1000.0;
        let address = self.address.map(tracing::field::display);
        if self.error {
            tracing::error!(
                method, route, address, status, latency_ms, client_id, outcome, "request"
            );
        } else {
            tracing::info!(
                method, route, address, status, latency_ms, client_id, outcome, "request"
            );
        }
    }
}

static ACCESS_LOG: std::sync::OnceLock<AccessLog> = std::sync::OnceLock::new();

/// The request lines of `serve`, formatted here rather than by the tracing
/// formatter: one line per request is the hottest log path, and the generic
/// formatter (field visitors, span field strings re-formatted per record,
/// ANSI styling objects) cost about a tenth of a token's CPU time. The line
/// has the same shape the formatter gives every other line, in both formats,
/// goes to the same background writer, and obeys the same `RUST_LOG` filter.
struct AccessLog {
    writer: LogWriter,
    format: LogFormat,
    ansi: bool,
}

impl AccessLog {
    fn write(&self, line: &RequestLine<'_>) {
        let enabled = if line.error {
            tracing::enabled!(target: "tokend::telemetry", tracing::Level::ERROR)
        } else {
            tracing::enabled!(target: "tokend::telemetry", tracing::Level::INFO)
        };
        if !enabled {
            return;
        }
        thread_local! {
            static BUFFER: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        BUFFER.with_borrow_mut(|buffer| {
            buffer.clear();
            match self.format {
                LogFormat::Json => line.json(buffer),
                LogFormat::Pretty => line.text(buffer, self.ansi),
            }
            buffer.push('\n');
            self.writer.append(buffer.as_bytes());
        });
    }
}

/// `2026-12-04T13:24:28.123456Z`, as the tracing formatter writes time.
/// The part up to the second is formatted once per second per thread.
fn timestamp(out: &mut String) {
    use std::cell::RefCell;
    use std::fmt::Write;
    thread_local! {
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    let second = now.timestamp();
    SECOND.with_borrow_mut(|(cached, prefix)| {
        if *cached != second {
            prefix.clear();
            let _ = write!(prefix, "{}", now.format("%Y-%m-%dT%H:%M:%S"));
            *cached = second;
        }
        out.push_str(prefix);
    });
    let micros = now.timestamp_subsec_micros().min(999_999);
    out.push('.');
    let digits = itoa::Buffer::new().format(micros).len();
    for _ in digits..6 {
        out.push('0');
    }
    out.push_str(itoa::Buffer::new().format(micros));
    out.push('Z');
}

/// Milliseconds with up to three decimals, as `f64`'s `Display` writes
/// `micros / 1000` (`0.532`, `1.5`, `2`).
fn milliseconds(out: &mut String, micros: u64) {
    out.push_str(itoa::Buffer::new().format(micros / 1000));
    let fraction = micros % 1000;
    if fraction != 0 {
        let digits = [
            b'0' + (fraction / 100) as u8,
            b'0' + (fraction / 10 % 10) as u8,
            b'0' + (fraction % 10) as u8,
        ];
        let end = digits.iter().rposition(|&d| d != b'0').map_or(0, |i| i + 1);
        out.push('.');
        out.push_str(std::str::from_utf8(&digits[..end]).unwrap_or_default());
    }
}

/// `"text"` as `{:?}` writes it; text without anything to escape (ids,
/// routes, methods: nearly always) is copied as it is.
fn quoted(out: &mut String, text: &str) {
    use std::fmt::Write;
    if text
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        let _ = write!(out, "{text:?}");
    }
}

impl RequestLine<'_> {
    fn text(&self, out: &mut String, ansi: bool) {
        use std::fmt::Write;
        timestamp(out);
        let level = match (self.error, ansi) {
            (true, false) => " ERROR ",
            (false, false) => "  INFO ",
            (true, true) => " \x1b[31mERROR\x1b[0m ",
            (false, true) => "  \x1b[32mINFO\x1b[0m ",
        };
        out.push_str(level);
        // Ids are ASCII without spaces by construction; the route is a
        // registered name; a client id may hold anything, so it is quoted
        // and escaped as the formatter does.
        out.push_str("request{request_id=");
        out.push_str(self.request_id);
        out.push_str("}: tokend::telemetry: request method=");
        quoted(out, self.method);
        out.push_str(" route=");
        quoted(out, self.route);
        if let Some(address) = self.address {
            let _ = write!(out, " address={address}");
        }
        out.push_str(" status=");
        out.push_str(itoa::Buffer::new().format(self.status));
        out.push_str(" latency_ms=");
        milliseconds(out, self.latency_us);
        if let Some(client_id) = self.client_id {
            out.push_str(" client_id=");
            quoted(out, client_id);
        }
        if let Some(outcome) = self.outcome {
            out.push_str(" outcome=");
            quoted(out, outcome);
        }
    }

    fn json(&self, out: &mut String) {
        use std::fmt::Write;
        let string = |out: &mut String, s: &str| {
            // serde_json's escaping: a client id with quotes or controls
            // stays one well-formed value.
            out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
        };
        out.push_str("{\"timestamp\":\"");
        timestamp(out);
        out.push_str(if self.error {
            "\",\"level\":\"ERROR\""
        } else {
            "\",\"level\":\"INFO\""
        });
        out.push_str(",\"message\":\"request\",\"method\":");
        string(out, self.method);
        out.push_str(",\"route\":");
        string(out, self.route);
        if let Some(address) = self.address {
            let _ = write!(out, ",\"address\":\"{address}\"");
        }
        out.push_str(",\"status\":");
        out.push_str(itoa::Buffer::new().format(self.status));
        out.push_str(",\"latency_ms\":");
        milliseconds(out, self.latency_us);
        if let Some(client_id) = self.client_id {
            out.push_str(",\"client_id\":");
            string(out, client_id);
        }
        if let Some(outcome) = self.outcome {
            out.push_str(",\"outcome\":");
            string(out, outcome);
        }
        out.push_str(",\"target\":\"tokend::telemetry\",\"span\":{\"request_id\":");
        string(out, self.request_id);
        out.push_str(",\"name\":\"request\"}}");
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
    with_notes(&Span::current(), |n| n.client_id = Some(client_id.into()));
}

pub fn record_outcome(outcome: &'static str) {
    with_notes(&Span::current(), |n| n.outcome = Some(outcome));
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
    use super::{milliseconds, quoted, timestamp};

    #[test]
    fn latency_is_written_as_f64_display_writes_it() {
        for micros in (0..20_000).chain([999_999, 1_000_000, 123_456_789]) {
            let mut out = String::new();
            milliseconds(&mut out, micros);
            assert_eq!(out, (micros as f64 / 1000.0).to_string(), "{micros} µs");
        }
    }

    #[test]
    fn quoted_text_is_what_debug_writes() {
        for text in [
            "POST",
            "/console/clients/{id}",
            "",
            "a\"b",
            "back\\slash",
            "é",
            "tab\there",
            "\u{7f}",
        ] {
            let mut out = String::new();
            quoted(&mut out, text);
            assert_eq!(out, format!("{text:?}"));
        }
    }

    #[test]
    fn timestamps_are_rfc3339_with_microseconds() {
        let mut previous = String::new();
        for _ in 0..1000 {
            let mut out = String::new();
            timestamp(&mut out);
            assert_eq!(out.len(), "2026-12-04T13:24:28.123456Z".len(), "{out}");
            let parsed = chrono::DateTime::parse_from_rfc3339(&out).expect("RFC 3339");
            assert!((chrono::Utc::now() - parsed.to_utc()).num_seconds().abs() < 5);
            assert!(out >= previous, "{out} after {previous}");
            previous = out;
        }
    }
}
