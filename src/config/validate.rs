//! The rules a configuration must meet to work, checked at start (each
//! violation names its setting), and the warnings about settings that work
//! but may surprise.

use super::*;

impl Settings {
    /// Checks every rule that makes a configuration unworkable. Returns the
    /// first violation, naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        let fetch = self.federation.fetch_timeout;
        if fetch.is_zero() || fetch > Duration::from_secs(60) {
            return Err(invalid(
                "federation.fetch_timeout",
                "must be between 1s and 60s: the token endpoint waits for it on a cold cache",
            ));
        }
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
        t.default_quota()
            .map_err(|e| invalid("tokens.default_quota", e))?;
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
        if self.tls.client_cert_header.is_some() && self.http.trusted_proxies.is_empty() {
            return Err(invalid(
                "tls.client_cert_header",
                "needs http.trusted_proxies: the header is believed only from the proxies listed there",
            ));
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
