//! Settings: built-in defaults < TOML file (`--config FILE`) < `TOKEND_*`
//! environment variables (nested keys joined by `__`), as SPEC §2 lays out.
//! Validated once, at start: a configuration that cannot work is refused with
//! one line naming the setting.

mod file_keys;
mod validate;
mod values;

pub use values::{DatabaseUrl, MAX_DURATION, TrustedProxies, fmt_duration, parse_duration};

use crate::domain::{Algorithm, Scope};
use file_keys::{check_file_keys, unknown_variables};
use secrecy::SecretString;
use serde::Deserialize;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;
use values::duration;

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
    pub federation: FederationSettings,
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
    /// The token quota of clients that name none (`N/m`, `N/h`, `N/d`);
    /// unset: no quota (SPEC §11).
    pub default_quota: Option<String>,
}

impl TokenSettings {
    /// `tokens.default_quota`, parsed.
    pub fn default_quota(&self) -> Result<Option<crate::domain::Quota>, String> {
        match self.default_quota.as_deref().map(str::trim) {
            None | Some("") | Some("none") => Ok(None),
            Some(q) => q.parse().map(Some),
        }
    }
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
    /// Serve the web console at `/console` (SPEC §12).
    pub console: bool,
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
    /// PEM CA certificates client certificates chain to (`tls_client_auth`,
    /// SPEC §9). With TLS on, a client certificate is then requested (never
    /// required).
    pub client_ca_file: Option<PathBuf>,
    /// The header a TLS-terminating proxy forwards the client certificate
    /// in, believed only from `http.trusted_proxies`.
    #[serde(deserialize_with = "cert_header")]
    pub client_cert_header: Option<tokend_verify::mtls::CertHeader>,
}

fn cert_header<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<tokend_verify::mtls::CertHeader>, D::Error> {
    let text = Option::<String>::deserialize(de)?;
    text.filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse().map_err(serde::de::Error::custom))
        .transpose()
}

impl TlsSettings {
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some()
    }
}

/// Workload identity federation (SPEC §8).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FederationSettings {
    /// Timeout of a trust provider's discovery or JWKS fetch.
    #[serde(deserialize_with = "duration")]
    pub fetch_timeout: Duration,
}

impl Default for FederationSettings {
    fn default() -> Self {
        Self {
            fetch_timeout: Duration::from_secs(5),
        }
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
            federation: FederationSettings::default(),
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
            default_quota: None,
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
            console: true,
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
        "TOKEND_TOKENS__DEFAULT_QUOTA",
        "TOKEND_KEYS__ALGORITHM",
        "TOKEND_KEYS__ROTATE_EVERY",
        "TOKEND_KEYS__PUBLISH_AHEAD",
        "TOKEND_KEYS__JWKS_MAX_AGE",
        "TOKEND_KEYS__REFRESH_EVERY",
        "TOKEND_ADMIN__SCOPE",
        "TOKEND_ADMIN__CONSOLE",
        "TOKEND_LOG__FORMAT",
        "TOKEND_HTTP__TRUSTED_PROXIES",
        "TOKEND_TLS__CERT_FILE",
        "TOKEND_TLS__KEY_FILE",
        "TOKEND_TLS__CLIENT_CA_FILE",
        "TOKEND_TLS__CLIENT_CERT_HEADER",
        "TOKEND_FEDERATION__FETCH_TIMEOUT",
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

#[cfg(test)]
mod tests;
