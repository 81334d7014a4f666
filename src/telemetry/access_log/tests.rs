//! The request line, byte for byte what the tracing formatter writes.

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
