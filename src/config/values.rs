//! Setting values parsed at the edge: the database URL (redacted in
//! `Debug`), trusted proxy networks, and bounded durations.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// The database URL. It may hold a password, so `Debug` shows it redacted;
/// `as_str` is for the driver alone.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            _ => self.0.clone(),
        }
    }
}

impl From<&str> for DatabaseUrl {
    fn from(url: &str) -> Self {
        Self(url.to_owned())
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

/// `http.trusted_proxies`: one implementation with tokend-verify's.
pub use tokend_verify::mtls::TrustedProxies;

/// The longest duration tokend takes anywhere (100 years): every sum of
/// durations and timestamps then stays far inside `i64` seconds and chrono's
/// range, so no arithmetic on them can overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `90s`, `15m`, `1h`, `30d`; a bare integer is seconds; at most 100 years.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let parsed = match s.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() => Duration::MAX,
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| format!("`{s}` is not a duration like 90s, 15m, 1h, 30d ({e})"))?,
    };
    bounded(parsed).map_err(|_| format!("`{s}` is longer than 100 years"))
}

pub(super) fn bounded(d: Duration) -> Result<Duration, ()> {
    if d > MAX_DURATION { Err(()) } else { Ok(d) }
}

pub fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

pub(super) fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    match Raw::deserialize(de)? {
        Raw::Secs(secs) => bounded(Duration::from_secs(secs))
            .map_err(|_| serde::de::Error::custom(format!("{secs} s is longer than 100 years"))),
        Raw::Text(text) => parse_duration(&text).map_err(serde::de::Error::custom),
    }
}
