//! How commands print: one JSON document with `--json`, else text; and the
//! small parsers of command-line values.

use crate::admin::{ClientWithSecret, KeyView};
use anyhow::{Context, anyhow};
use serde::Serialize;
use std::path::PathBuf;

pub(super) fn parse_claims(
    pairs: &[String],
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut claims = serde_json::Map::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("--claim `{pair}`: expected KEY=VALUE"))?;
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        claims.insert(key.to_owned(), value);
    }
    Ok(claims)
}

pub(super) fn read_jwks(path: &Option<PathBuf>) -> anyhow::Result<Option<serde_json::Value>> {
    path.as_ref()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("--jwks-file {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("--jwks-file {}: not JSON", p.display()))
        })
        .transpose()
}

/// The text of an optional file named by a flag (a PEM certificate).
pub(super) fn read_text_file(path: &Option<PathBuf>) -> anyhow::Result<Option<String>> {
    path.as_ref()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .transpose()
}

pub(super) struct Output {
    pub(super) json: bool,
}

impl Output {
    pub(super) fn print<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).expect("output serializes")
            );
        } else {
            println!("{}", human());
        }
    }
}

pub(super) fn describe_secret(created: &ClientWithSecret) -> String {
    let c = &created.client;
    let mut out = format!("client_id:     {}\n", c.client_id);
    if let Some(secret) = &created.client_secret {
        use secrecy::ExposeSecret;
        out.push_str(&format!(
            "client_secret: {}\n\nThe secret is shown only this once; store it now.",
            secret.expose_secret()
        ));
    }
    out
}

pub(super) fn describe_client(c: &crate::admin::ClientView) -> String {
    let mut binding = Vec::new();
    if let Some(id) = &c.tls_identity {
        binding.push(format!("\ncertificate:  {}", id.describe()));
    }
    if c.require_dpop {
        binding.push("\nrequire_dpop: true (every token is bound to a DPoP key)".into());
    }
    if c.quota != "default" || c.quota_mode.as_str() != "enforce" {
        binding.push(format!(
            "\nquota:        {} ({})",
            match c.quota.as_str() {
                "default" => "tokens.default_quota",
                q => q,
            },
            c.quota_mode.as_str()
        ));
    }
    let text = format!(
        "client_id:    {}\nname:         {}\nenabled:      {}\nscopes:       {}\ndefault:      {}\naudiences:    {}\ntoken_ttl:    {}\nauth_method:  {}\ngrant_types:  {}\nclaims:       {}\nupdated_at:   {}",
        c.client_id,
        c.name,
        c.enabled,
        c.scopes,
        c.default_scopes.as_deref().unwrap_or("(all allowed)"),
        if c.audiences.is_empty() {
            "(default audience)".into()
        } else {
            c.audiences.join(" ")
        },
        c.token_ttl.as_deref().unwrap_or("(tokens.ttl)"),
        c.auth_method,
        c.grant_types.join(" "),
        serde_json::Value::Object(c.claims.clone()),
        c.updated_at.to_rfc3339(),
    );
    text + &binding.concat()
}

pub(super) fn describe_keys(keys: &[KeyView]) -> String {
    let mut out = format!(
        "{:<44} {:<6} {:<8} {:<25} {:<25}\n",
        "KID", "ALG", "STATE", "ACTIVE FROM", "REMOVAL"
    );
    for k in keys {
        out.push_str(&format!(
            "{:<44} {:<6} {:<8} {:<25} {:<25}\n",
            k.kid,
            k.alg.as_str(),
            serde_json::to_value(k.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            k.active_from.to_rfc3339(),
            k.removal_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "-".into()),
        ));
    }
    out.trim_end().to_owned()
}

/// What a token is bound to (RFC 7800 `cnf`), for `token verify`: a name for
/// the JSON output and a line for people.
pub(super) fn describe_binding(claims: &serde_json::Value) -> (&'static str, String) {
    let cnf = &claims["cnf"];
    let jkt = cnf["jkt"].as_str();
    let x5t = cnf["x5t#S256"].as_str();
    match (jkt, x5t) {
        (Some(j), Some(x)) => (
            "dpop+mtls",
            format!("bound to DPoP key {j} and client certificate {x}"),
        ),
        (Some(j), None) => (
            "dpop",
            format!("bound to DPoP key {j} (send it as `Authorization: DPoP` with a proof)"),
        ),
        (None, Some(x)) => (
            "mtls",
            format!("bound to the client certificate with x5t#S256 {x}"),
        ),
        (None, None) => ("none", "not bound: a bearer token".to_owned()),
    }
}
