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
mod tests;
