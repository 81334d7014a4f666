//! Logging under test: tokend's formatter ([`super::formatter`]) writing
//! into memory, its lines without their timestamps.

use super::{LazyRequestSpans, formatter};
use crate::config::LogFormat;
use std::sync::{Arc, Mutex};
use tracing_subscriber::EnvFilter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines logged while `f` runs under tokend's formatter with `filter`,
/// inside [`LazyRequestSpans`] when `lazy`, each without its timestamp.
pub(super) fn logged(format: LogFormat, filter: &str, lazy: bool, f: impl FnOnce()) -> Vec<String> {
    let captured = Captured::default();
    let writer = captured.clone();
    let formatter = formatter(format, EnvFilter::new(filter), false, move || {
        writer.clone()
    });
    let dispatch = if lazy {
        tracing::Dispatch::new(LazyRequestSpans(formatter))
    } else {
        tracing::Dispatch::new(formatter)
    };
    tracing::dispatcher::with_default(&dispatch, f);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|line| without_timestamp(format, line))
        .collect()
}

/// A line without its timestamp: pretty lines begin with one of fixed
/// length, JSON lines have it as a field.
pub(super) fn without_timestamp(format: LogFormat, line: &str) -> String {
    match format {
        LogFormat::Pretty => {
            let stamp = "2026-12-04T13:24:28.123456Z".len();
            assert_eq!(line.as_bytes().get(stamp - 1), Some(&b'Z'), "{line}");
            line[stamp..].to_owned()
        }
        LogFormat::Json => {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            let object = value.as_object_mut().unwrap();
            assert!(
                object.remove("timestamp").is_some_and(|t| t.is_string()),
                "{line}"
            );
            value.to_string()
        }
    }
}
