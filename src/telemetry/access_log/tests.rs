//! The request line, byte for byte what the tracing formatter writes.

use super::{RequestLine, milliseconds, quoted, timestamp};
use crate::config::LogFormat;
use crate::telemetry::testing::{logged, without_timestamp};

/// What the tracing formatter writes for `line.emit()` inside a request
/// span, and what `AccessLog` writes by hand, both without the timestamp.
fn both(line: &RequestLine<'_>, format: LogFormat) -> (String, String) {
    let formatter = logged(format, "info", false, || {
        let id = line.request_id;
        tracing::info_span!("request", request_id = %id).in_scope(|| line.emit());
    });
    let mut by_hand = String::new();
    match format {
        LogFormat::Json => line.json(&mut by_hand),
        LogFormat::Pretty => line.text(&mut by_hand, false),
    }
    assert_eq!(formatter.len(), 1, "{formatter:?}");
    (formatter[0].clone(), without_timestamp(format, &by_hand))
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
    for format in [LogFormat::Pretty, LogFormat::Json] {
        for line in lines() {
            let (formatter, by_hand) = both(&line, format);
            assert_eq!(formatter, by_hand, "{format:?}");
        }
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
