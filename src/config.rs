//! Settings: built-in defaults < TOML file (`--config FILE`) < `TOKEND_*`
//! environment variables (nested keys joined by `__`), as SPEC §2 lays out.
//! Validated once, at start: a configuration that cannot work is refused with
//! one line naming the setting.

use crate::domain::{Algorithm, Scope};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // Not `#[from]`: the cause would print twice, as message and as source.
    #[error("configuration: {0}")]
    Load(config::ConfigError),
    #[error("configuration: {setting}: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
}

impl From<config::ConfigError> for ConfigError {
    fn from(e: config::ConfigError) -> Self {
        ConfigError::Load(e)
    }
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub listen: String,
    pub issuer: Option<String>,
    pub database_url: DatabaseUrl,
    pub master_key_file: PathBuf,
    pub master_key: Option<SecretString>,
    pub tokens: TokenSettings,
    pub keys: KeySettings,
    pub admin: AdminSettings,
    pub log: LogSettings,
    pub http: HttpSettings,
    pub tls: TlsSettings,
    /// `TOKEND_*` variables that name no setting (likely misspelled).
    #[serde(skip)]
    pub unknown_env: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TokenSettings {
    #[serde(deserialize_with = "duration")]
    pub ttl: Duration,
    #[serde(deserialize_with = "duration")]
    pub max_ttl: Duration,
    #[serde(deserialize_with = "duration")]
    pub leeway: Duration,
    pub default_audience: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct KeySettings {
    pub algorithm: Algorithm,
    #[serde(deserialize_with = "duration")]
    pub rotate_every: Duration,
    #[serde(deserialize_with = "duration")]
    pub publish_ahead: Duration,
    #[serde(deserialize_with = "duration")]
    pub jwks_max_age: Duration,
    #[serde(deserialize_with = "duration")]
    pub refresh_every: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AdminSettings {
    pub scope: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct HttpSettings {
    /// Proxies whose forwarded address and scheme are believed (SPEC §2).
    pub trusted_proxies: TrustedProxies,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct TlsSettings {
    /// PEM certificate chain: with `key_file`, tokend serves HTTPS.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

impl TlsSettings {
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some()
    }
}

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

/// CIDRs (a bare address is one host) whose forwarded headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Comma- or space-separated CIDRs or addresses.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("`{s}` is not an address or CIDR such as 10.0.0.0/8"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        let address = match address {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&address))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            List(Vec<String>),
        }
        let text = match Raw::deserialize(de)? {
            Raw::Text(t) => t,
            Raw::List(l) => l.join(","),
        };
        TrustedProxies::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct LogSettings {
    pub format: LogFormat,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            issuer: None,
            database_url: DatabaseUrl::from("sqlite://data/tokend.db"),
            master_key_file: PathBuf::from("keys/master.key"),
            master_key: None,
            tokens: TokenSettings::default(),
            keys: KeySettings::default(),
            admin: AdminSettings::default(),
            log: LogSettings::default(),
            http: HttpSettings::default(),
            tls: TlsSettings::default(),
            unknown_env: Vec::new(),
        }
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
            max_ttl: Duration::from_secs(24 * 3600),
            leeway: Duration::from_secs(60),
            default_audience: None,
        }
    }
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::RS256,
            rotate_every: Duration::from_secs(30 * 24 * 3600),
            // 2h: a verifier caching the JWKS for a fixed hour
            // (mod_auth_openidc's default) is safe.
            publish_ahead: Duration::from_secs(2 * 3600),
            jwks_max_age: Duration::from_secs(300),
            refresh_every: Duration::from_secs(10),
        }
    }
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            scope: "tokend:admin".into(),
        }
    }
}

/// Below this, verifiers with a fixed JWKS cache (Envoy: 10 minutes) may miss
/// a freshly published key.
pub const SHORT_PUBLISH_AHEAD: Duration = Duration::from_secs(600);

impl Settings {
    /// Loads defaults, then the TOML file if given, then `TOKEND_*` variables,
    /// and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, None)
    }

    /// The environment variables tokend reads (SPEC §2).
    pub const ENV_VARS: &'static [&'static str] = &[
        "TOKEND_LISTEN",
        "TOKEND_ISSUER",
        "TOKEND_DATABASE_URL",
        "TOKEND_MASTER_KEY_FILE",
        "TOKEND_MASTER_KEY",
        "TOKEND_TOKENS__TTL",
        "TOKEND_TOKENS__MAX_TTL",
        "TOKEND_TOKENS__LEEWAY",
        "TOKEND_TOKENS__DEFAULT_AUDIENCE",
        "TOKEND_KEYS__ALGORITHM",
        "TOKEND_KEYS__ROTATE_EVERY",
        "TOKEND_KEYS__PUBLISH_AHEAD",
        "TOKEND_KEYS__JWKS_MAX_AGE",
        "TOKEND_KEYS__REFRESH_EVERY",
        "TOKEND_ADMIN__SCOPE",
        "TOKEND_LOG__FORMAT",
        "TOKEND_HTTP__TRUSTED_PROXIES",
        "TOKEND_TLS__CERT_FILE",
        "TOKEND_TLS__KEY_FILE",
    ];

    /// [`Settings::load`] with the environment given as a map instead of read
    /// from the process (for tests and tools that check a deployment).
    pub fn load_with_env(
        file: Option<&Path>,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(file) = file {
            if !file.exists() {
                return Err(invalid(
                    "--config",
                    format!("file {} does not exist", file.display()),
                ));
            }
            check_file_keys(file)?;
            builder = builder.add_source(
                config::File::from(file)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        let names: Vec<String> = match &env {
            Some(map) => map.keys().cloned().collect(),
            None => std::env::vars_os()
                .filter_map(|(k, _)| k.into_string().ok())
                .collect(),
        };
        builder = builder.add_source(
            config::Environment::with_prefix("TOKEND")
                .prefix_separator("_")
                .separator("__")
                .source(env.map(|m| m.into_iter().collect())),
        );
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        settings.unknown_env = unknown_variables(names);
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every rule that makes a configuration unworkable. Returns the
    /// first violation, naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if let Some(issuer) = &self.issuer {
            validate_issuer(issuer)?;
        }
        let url = self.database_url.as_str();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database_url",
                "must start with sqlite:// or postgres://",
            ));
        }
        let t = &self.tokens;
        if t.ttl.as_secs() == 0 {
            return Err(invalid("tokens.ttl", "must be at least 1s"));
        }
        if t.max_ttl < t.ttl {
            return Err(invalid(
                "tokens.max_ttl",
                format!(
                    "{} is shorter than tokens.ttl ({})",
                    fmt_duration(t.max_ttl),
                    fmt_duration(t.ttl)
                ),
            ));
        }
        if let Some(aud) = &t.default_audience
            && aud.trim().is_empty()
        {
            return Err(invalid("tokens.default_audience", "must not be empty"));
        }
        let k = &self.keys;
        if k.refresh_every.as_secs() == 0 {
            return Err(invalid("keys.refresh_every", "must be at least 1s"));
        }
        if k.publish_ahead <= k.refresh_every + Duration::from_secs(1) {
            return Err(invalid(
                "keys.publish_ahead",
                format!(
                    "{} must be longer than keys.refresh_every + 1s ({}): replicas must load the next key before it signs",
                    fmt_duration(k.publish_ahead),
                    fmt_duration(k.refresh_every + Duration::from_secs(1))
                ),
            ));
        }
        if k.rotate_every <= k.publish_ahead {
            return Err(invalid(
                "keys.rotate_every",
                format!(
                    "{} must be longer than keys.publish_ahead ({})",
                    fmt_duration(k.rotate_every),
                    fmt_duration(k.publish_ahead)
                ),
            ));
        }
        if k.jwks_max_age.as_secs() == 0 {
            return Err(invalid("keys.jwks_max_age", "must be at least 1s"));
        }
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(_), None) => {
                return Err(invalid("tls.key_file", "is required with tls.cert_file"));
            }
            (None, Some(_)) => {
                return Err(invalid("tls.cert_file", "is required with tls.key_file"));
            }
            _ => {}
        }
        if Scope::parse(&self.admin.scope).map(|s| s.len()) != Ok(1) {
            return Err(invalid(
                "admin.scope",
                "must be a single scope token (RFC 6749 §3.3)",
            ));
        }
        Ok(())
    }

    /// Warnings about settings that work but may surprise; logged once at start.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for name in &self.unknown_env {
            out.push(format!(
                "{name} is not a tokend setting and is ignored (misspelled? `tokend --help` lists the variables)"
            ));
        }
        if self.keys.publish_ahead < SHORT_PUBLISH_AHEAD {
            out.push(format!(
                "keys.publish_ahead is {}: verifiers that ignore Cache-Control and cache the JWKS for a fixed time (Envoy's default is 10m) may meet an unknown kid; run `tokend keys check --cache-age 10m`",
                fmt_duration(self.keys.publish_ahead)
            ));
        }
        out
    }

    /// The address to bind. `:PORT` means every interface, as in Go.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        let listen = if self.listen.starts_with(':') {
            format!("0.0.0.0{}", self.listen)
        } else {
            self.listen.clone()
        };
        listen
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| invalid("listen", format!("`{}` is not host:port", self.listen)))
    }

    /// The issuer: configured, or `http://` (`https://` with TLS) + the
    /// address actually bound.
    pub fn issuer_for(&self, bound: SocketAddr) -> String {
        let scheme = if self.tls.enabled() { "https" } else { "http" };
        match &self.issuer {
            Some(issuer) => issuer.clone(),
            None => format!("{scheme}://{bound}"),
        }
    }
}

/// The dotted settings a TOML file may hold: those of [`Settings::ENV_VARS`].
fn known_keys() -> Vec<String> {
    Settings::ENV_VARS
        .iter()
        .map(|v| {
            v.trim_start_matches("TOKEND_")
                .replace("__", ".")
                .to_ascii_lowercase()
        })
        .collect()
}

/// Variables with the `TOKEND_` prefix that name no setting. (Test and tool
/// variables of tokend's own, `TOKEND_TEST_*`, are not settings either but
/// are no mistake.)
fn unknown_variables(names: Vec<String>) -> Vec<String> {
    let mut unknown: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with("TOKEND_") && !n.starts_with("TOKEND_TEST_"))
        .filter(|n| !Settings::ENV_VARS.contains(&n.as_str()))
        .collect();
    unknown.sort();
    unknown
}

/// Refuses a TOML file with a key tokend does not know: a misspelled setting
/// would otherwise be silently ignored.
fn check_file_keys(file: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| invalid("--config", format!("cannot read {}: {e}", file.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| invalid("--config", format!("{} is not TOML: {e}", file.display())))?;
    let known = known_keys();
    let mut stack: Vec<(String, &toml::Table)> = vec![(String::new(), &table)];
    while let Some((prefix, table)) = stack.pop() {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            let section = known.iter().any(|k| k.starts_with(&format!("{path}.")));
            match value {
                toml::Value::Table(inner) if section => stack.push((path, inner)),
                _ if known.contains(&path) => {}
                _ => {
                    let hint = known
                        .iter()
                        .min_by_key(|k| strsim_distance(k, &path))
                        .map(|k| format!(" (did you mean `{k}`?)"))
                        .unwrap_or_default();
                    return Err(invalid(
                        "--config",
                        format!("{}: unknown setting `{path}`{hint}", file.display()),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Edit distance, for a "did you mean" hint.
fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

fn validate_issuer(issuer: &str) -> Result<(), ConfigError> {
    let url = url::Url::parse(issuer)
        .map_err(|e| invalid("issuer", format!("`{issuer}` is not a URL: {e}")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid("issuer", "must be an http or https URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "issuer",
            "must not have a query or fragment (RFC 8414 §2)",
        ));
    }
    if issuer.ends_with('/') {
        return Err(invalid("issuer", "must not end with a slash"));
    }
    Ok(())
}

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

fn bounded(d: Duration) -> Result<Duration, ()> {
    if d > MAX_DURATION { Err(()) } else { Ok(d) }
}

pub fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().expect("defaults validate");
    }

    #[test]
    fn durations_parse_human_forms() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_duration("42"), Ok(Duration::from_secs(42)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn durations_longer_than_a_century_are_refused_not_wrapped() {
        for text in [
            "100000000d",
            "18446744073709551615",
            "99999999999999999999",
            "3650000d",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(
                err.contains("100 years") || err.contains("duration"),
                "{text}: {err}"
            );
        }
        assert_eq!(parse_duration("36500d"), Ok(MAX_DURATION));
        for (var, value) in [
            ("TOKEND_KEYS__REFRESH_EVERY", "18446744073709551615"),
            ("TOKEND_KEYS__ROTATE_EVERY", "200000d"),
            ("TOKEND_TOKENS__MAX_TTL", "9223372036854775807"),
            ("TOKEND_TOKENS__LEEWAY", "1000000000000s"),
        ] {
            let env = [(var.to_owned(), value.to_owned())].into_iter().collect();
            let err = Settings::load_with_env(None, Some(env))
                .unwrap_err()
                .to_string();
            assert!(err.contains("100 years"), "{var}: {err}");
        }
    }

    #[test]
    fn short_publish_ahead_is_refused_naming_the_setting() {
        let mut s = Settings::default();
        s.keys.publish_ahead = Duration::from_secs(11);
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("keys.publish_ahead"), "{err}");
    }

    #[test]
    fn rotate_every_must_exceed_publish_ahead() {
        let mut s = Settings::default();
        s.keys.rotate_every = Duration::from_secs(3600);
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("keys.rotate_every"), "{err}");
    }

    #[test]
    fn issuer_with_trailing_slash_is_refused() {
        let s = Settings {
            issuer: Some("https://auth.example.com/".into()),
            ..Settings::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("issuer"));
    }

    #[test]
    fn every_documented_variable_is_read() {
        let values = [
            ("TOKEND_LISTEN", "127.0.0.1:9999"),
            ("TOKEND_ISSUER", "https://a.example"),
            ("TOKEND_DATABASE_URL", "postgres://x@y/z"),
            ("TOKEND_MASTER_KEY_FILE", "/k"),
            ("TOKEND_MASTER_KEY", "AAAA"),
            ("TOKEND_TOKENS__TTL", "2m"),
            ("TOKEND_TOKENS__MAX_TTL", "3m"),
            ("TOKEND_TOKENS__LEEWAY", "4s"),
            ("TOKEND_TOKENS__DEFAULT_AUDIENCE", "aud"),
            ("TOKEND_KEYS__ALGORITHM", "es384"),
            ("TOKEND_KEYS__ROTATE_EVERY", "2d"),
            ("TOKEND_KEYS__PUBLISH_AHEAD", "2h"),
            ("TOKEND_KEYS__JWKS_MAX_AGE", "7m"),
            ("TOKEND_KEYS__REFRESH_EVERY", "3s"),
            ("TOKEND_ADMIN__SCOPE", "ops"),
            ("TOKEND_LOG__FORMAT", "json"),
            ("TOKEND_HTTP__TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1"),
            ("TOKEND_TLS__CERT_FILE", "/c.pem"),
            ("TOKEND_TLS__KEY_FILE", "/k.pem"),
        ];
        assert_eq!(values.len(), Settings::ENV_VARS.len());
        let env = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let s = Settings::load_with_env(None, Some(env)).unwrap();
        let d = Settings::default();
        assert_ne!(s.listen, d.listen);
        assert_eq!(s.issuer.as_deref(), Some("https://a.example"));
        assert_ne!(s.database_url, d.database_url);
        assert_ne!(s.master_key_file, d.master_key_file);
        assert!(s.master_key.is_some());
        assert_eq!(s.tokens.ttl.as_secs(), 120);
        assert_eq!(s.tokens.max_ttl.as_secs(), 180);
        assert_eq!(s.tokens.leeway.as_secs(), 4);
        assert_eq!(s.tokens.default_audience.as_deref(), Some("aud"));
        assert_eq!(s.keys.algorithm, Algorithm::ES384);
        assert_eq!(s.keys.rotate_every.as_secs(), 2 * 86400);
        assert_eq!(s.keys.publish_ahead.as_secs(), 7200);
        assert_eq!(s.keys.jwks_max_age.as_secs(), 420);
        assert_eq!(s.keys.refresh_every.as_secs(), 3);
        assert_eq!(s.admin.scope, "ops");
        assert_eq!(s.log.format, LogFormat::Json);
        assert!(s.http.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(
            s.http
                .trusted_proxies
                .contains("192.0.2.1".parse().unwrap())
        );
        assert!(
            !s.http
                .trusted_proxies
                .contains("192.0.2.2".parse().unwrap())
        );
        assert!(s.tls.enabled());
    }

    #[test]
    fn a_bad_trusted_proxy_is_refused_naming_it() {
        let err = TrustedProxies::parse("10.0.0.0/8, nope").unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn unknown_toml_keys_are_refused_and_unknown_variables_warned() {
        let dir = tempfile::tempdir().unwrap();
        for (text, needle) in [
            ("[keyz]\nrotate_every = \"7d\"\n", "keyz"),
            ("[tokens]\nmaxttl = \"1h\"\n", "tokens.maxttl"),
            ("isuer = \"https://a.example\"\n", "did you mean `issuer`"),
        ] {
            let file = dir.path().join("t.toml");
            std::fs::write(&file, text).unwrap();
            let err = Settings::load_with_env(Some(&file), Some(Default::default()))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let file = dir.path().join("ok.toml");
        std::fs::write(
            &file,
            "issuer = \"https://a.example\"\n[keys]\nalgorithm = \"ES256\"\n",
        )
        .unwrap();
        let env = [
            ("TOKEND_TOKENS__MAXTTL".to_owned(), "1h".to_owned()),
            ("TOKEND_TEST_DATABASE_URL".to_owned(), "x".to_owned()),
        ]
        .into_iter()
        .collect();
        let s = Settings::load_with_env(Some(&file), Some(env)).unwrap();
        assert_eq!(s.unknown_env, vec!["TOKEND_TOKENS__MAXTTL".to_owned()]);
        assert!(
            s.warnings()
                .iter()
                .any(|w| w.contains("TOKEND_TOKENS__MAXTTL"))
        );
    }

    #[test]
    fn the_database_password_never_shows_in_debug() {
        let s = Settings {
            database_url: DatabaseUrl::from("postgres://tokend:hunter2@db/tokend"),
            ..Settings::default()
        };
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("postgres://tokend:***@db/tokend"), "{debug}");
    }

    #[test]
    fn max_ttl_below_ttl_is_refused() {
        let mut s = Settings::default();
        s.tokens.max_ttl = Duration::from_secs(60);
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("tokens.max_ttl")
        );
    }
}
