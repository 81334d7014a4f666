//! The request line: one per request, formatted here rather than by the
//! tracing formatter (see [`AccessLog`]) in the same shape, pretty or JSON.

use super::LogWriter;
use crate::config::LogFormat;

/// The target of request lines, however they are written (`RUST_LOG`
/// filters on it).
const TARGET: &str = "tokend::telemetry";

/// The request line's fields.
pub(super) struct RequestLine<'a> {
    pub(super) request_id: &'a str,
    pub(super) method: &'a str,
    pub(super) route: &'a str,
    pub(super) address: Option<std::net::IpAddr>,
    pub(super) status: u16,
    pub(super) latency_us: u64,
    pub(super) client_id: Option<&'a str>,
    pub(super) outcome: Option<&'a str>,
    pub(super) error: bool,
}

impl RequestLine<'_> {
    /// The line as an ordinary tracing event (when `serve`'s logging is not
    /// installed: tests, embedding).
    pub(super) fn emit(&self) {
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
                target: TARGET,
                method, route, address, status, latency_ms, client_id, outcome, "request"
            );
        } else {
            tracing::info!(
                target: TARGET,
                method, route, address, status, latency_ms, client_id, outcome, "request"
            );
        }
    }
}

pub(super) static ACCESS_LOG: std::sync::OnceLock<AccessLog> = std::sync::OnceLock::new();

/// The request lines of `serve`, formatted here rather than by the tracing
/// formatter: one line per request is the hottest log path, and the generic
/// formatter (field visitors, span field strings re-formatted per record,
/// ANSI styling objects) cost about a tenth of a token's CPU time. The line
/// has the same shape the formatter gives every other line, in both formats,
/// goes to the same background writer, and obeys the same `RUST_LOG` filter.
pub(super) struct AccessLog {
    pub(super) writer: LogWriter,
    pub(super) format: LogFormat,
    pub(super) ansi: bool,
}

impl AccessLog {
    pub(super) fn write(&self, line: &RequestLine<'_>) {
        let enabled = if line.error {
            tracing::enabled!(target: TARGET, tracing::Level::ERROR)
        } else {
            tracing::enabled!(target: TARGET, tracing::Level::INFO)
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

/// Milliseconds with up to three decimals, as the tracing formatter writes
/// an `f64` field (its `Debug`) for `micros / 1000`: `0.532`, `1.5`, `2.0`.
fn milliseconds(out: &mut String, micros: u64) {
    out.push_str(itoa::Buffer::new().format(micros / 1000));
    let fraction = micros % 1000;
    if fraction == 0 {
        out.push_str(".0");
    } else {
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

/// An address as its `Display` writes it; IPv4 (nearly every request)
/// without the formatting machinery.
fn address(out: &mut String, address: std::net::IpAddr) {
    use std::fmt::Write;
    match address {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(itoa::Buffer::new().format(octet));
            }
        }
        std::net::IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
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

/// One field's value, written as each format writes its type.
#[derive(Clone, Copy)]
enum Value<'a> {
    Text(&'a str),
    Address(std::net::IpAddr),
    Status(u16),
    Micros(u64),
}

impl RequestLine<'_> {
    /// The fields after the message, in the formatter's order; absent ones
    /// are left out.
    fn fields(&self) -> [Option<(&'static str, Value<'_>)>; 7] {
        [
            Some(("method", Value::Text(self.method))),
            Some(("route", Value::Text(self.route))),
            self.address.map(|a| ("address", Value::Address(a))),
            Some(("status", Value::Status(self.status))),
            Some(("latency_ms", Value::Micros(self.latency_us))),
            self.client_id.map(|c| ("client_id", Value::Text(c))),
            self.outcome.map(|o| ("outcome", Value::Text(o))),
        ]
    }

    fn text(&self, out: &mut String, ansi: bool) {
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
        out.push_str("}: tokend::telemetry: request");
        for (name, value) in self.fields().into_iter().flatten() {
            out.push(' ');
            out.push_str(name);
            out.push('=');
            match value {
                Value::Text(text) => quoted(out, text),
                Value::Address(address) => self::address(out, address),
                Value::Status(status) => out.push_str(itoa::Buffer::new().format(status)),
                Value::Micros(micros) => milliseconds(out, micros),
            }
        }
    }

    fn json(&self, out: &mut String) {
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
        out.push_str(",\"message\":\"request\"");
        for (name, value) in self.fields().into_iter().flatten() {
            out.push_str(",\"");
            out.push_str(name);
            out.push_str("\":");
            match value {
                Value::Text(text) => string(out, text),
                Value::Address(address) => {
                    out.push('"');
                    self::address(out, address);
                    out.push('"');
                }
                Value::Status(status) => out.push_str(itoa::Buffer::new().format(status)),
                Value::Micros(micros) => milliseconds(out, micros),
            }
        }
        out.push_str(",\"target\":\"tokend::telemetry\",\"span\":{\"request_id\":");
        string(out, self.request_id);
        out.push_str(",\"name\":\"request\"}}");
    }
}

#[cfg(test)]
mod tests {
    use super::{RequestLine, milliseconds, quoted, timestamp};
    use std::sync::{Arc, Mutex};

    /// What the tracing formatter writes for `line.emit()` inside a request
    /// span, and what `AccessLog` writes by hand, without the timestamps.
    fn both(line: &RequestLine<'_>, json: bool) -> (String, String) {
        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone());
        let dispatch = if json {
            tracing::Dispatch::new(
                builder
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .finish(),
            )
        } else {
            tracing::Dispatch::new(builder.finish())
        };
        tracing::dispatcher::with_default(&dispatch, || {
            let id = line.request_id;
            tracing::info_span!("request", request_id = %id).in_scope(|| line.emit());
        });
        let formatter = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let mut by_hand = String::new();
        if json {
            line.json(&mut by_hand);
        } else {
            line.text(&mut by_hand, false);
        }
        (formatter.trim_end().to_owned(), by_hand)
    }

    fn lines() -> Vec<RequestLine<'static>> {
        vec![
            RequestLine {
                request_id: "5f0c9a7e21b3d4c8",
                method: "POST",
                route: "token",
                address: Some("10.1.2.3".parse().unwrap()),
                status: 200,
                latency_us: 1_532,
                client_id: Some("orders"),
                outcome: Some("issued"),
                error: false,
            },
            RequestLine {
                request_id: "trace-me-42",
                method: "GET",
                route: "/console/clients/{id}",
                address: None,
                status: 401,
                latency_us: 2_000,
                client_id: Some("odd \"id\" \\ é"),
                outcome: None,
                error: false,
            },
            RequestLine {
                request_id: "0000000000000001",
                method: "POST",
                route: "unmatched",
                address: Some("::1".parse().unwrap()),
                status: 500,
                latency_us: 0,
                client_id: None,
                outcome: Some("server_error"),
                error: true,
            },
        ]
    }

    #[test]
    fn the_hand_written_line_is_what_the_formatter_writes() {
        for line in lines() {
            let (formatter, by_hand) = both(&line, false);
            // Both begin with a timestamp of the same length.
            let stamp = "2026-12-04T13:24:28.123456Z".len();
            assert_eq!(formatter[stamp..], by_hand[stamp..]);
        }
    }

    #[test]
    fn the_hand_written_json_line_is_what_the_formatter_writes() {
        for line in lines() {
            let (formatter, by_hand) = both(&line, true);
            let mut formatter: serde_json::Value = serde_json::from_str(&formatter).unwrap();
            let mut by_hand: serde_json::Value = serde_json::from_str(&by_hand).unwrap();
            for value in [&mut formatter, &mut by_hand] {
                assert!(value["timestamp"].is_string());
                value.as_object_mut().unwrap().remove("timestamp");
            }
            assert_eq!(formatter, by_hand);
        }
    }

    #[test]
    fn latency_is_written_as_the_formatter_writes_an_f64() {
        for micros in (0..20_000).chain([999_999, 1_000_000, 123_456_789]) {
            let mut out = String::new();
            milliseconds(&mut out, micros);
            assert_eq!(out, format!("{:?}", micros as f64 / 1000.0), "{micros} µs");
        }
    }

    proptest::proptest! {
        #[test]
        fn addresses_are_written_as_display_writes_them(v4: std::net::Ipv4Addr, v6: std::net::Ipv6Addr) {
            for ip in [std::net::IpAddr::V4(v4), std::net::IpAddr::V6(v6)] {
                let mut out = String::new();
                super::address(&mut out, ip);
                proptest::prop_assert_eq!(out, ip.to_string());
            }
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
