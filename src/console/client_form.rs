//! The client create/edit form: its fields, what the template reads, and
//! how a certificate identity and the grants map to the admin functions.

use crate::admin::ClientView;
use serde::Deserialize;

/// The fields of the create and edit forms.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClientForm {
    pub(super) client_id: String,
    pub(super) name: String,
    pub(super) scopes: String,
    pub(super) audiences: String,
    pub(super) token_ttl: String,
    pub(super) quota: String,
    pub(super) quota_mode: String,
    pub(super) require_dpop: Option<String>,
    pub(super) exchange: Option<String>,
    /// `subject_dn`, `san_uri`, `san_dns`, `certificate` or empty.
    pub(super) tls_kind: String,
    /// The DN, URI or DNS name, or the certificate's PEM.
    pub(super) tls_value: String,
}

/// What the form template reads.
pub struct FormView {
    pub(super) client_id: String,
    pub(super) name: String,
    pub(super) scopes: String,
    pub(super) audiences: String,
    pub(super) token_ttl: String,
    pub(super) quota: String,
    pub(super) quota_mode: String,
    pub(super) require_dpop: bool,
    pub(super) exchange: bool,
    pub(super) tls_kind: String,
    pub(super) tls_value: String,
    /// What is registered now, said in words (a certificate shows only its
    /// thumbprint: leave the PEM empty to keep it).
    pub(super) tls_registered: String,
}

impl From<&ClientForm> for FormView {
    fn from(f: &ClientForm) -> Self {
        Self {
            client_id: f.client_id.clone(),
            name: f.name.clone(),
            scopes: f.scopes.clone(),
            audiences: f.audiences.clone(),
            token_ttl: f.token_ttl.clone(),
            quota: f.quota.clone(),
            quota_mode: f.quota_mode.clone(),
            require_dpop: f.require_dpop.is_some(),
            exchange: f.exchange.is_some(),
            tls_kind: f.tls_kind.clone(),
            tls_value: f.tls_value.clone(),
            tls_registered: String::new(),
        }
    }
}

impl From<&ClientView> for FormView {
    fn from(c: &ClientView) -> Self {
        let (tls_kind, tls_value) = identity(c);
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            scopes: c.scopes.clone(),
            audiences: c.audiences.join("\n"),
            token_ttl: c.token_ttl.clone().unwrap_or_default(),
            quota: c.quota.clone(),
            quota_mode: c.quota_mode.as_str().into(),
            require_dpop: c.require_dpop,
            exchange: c.grant_types.contains(&crate::admin::TOKEN_EXCHANGE_GRANT),
            tls_registered: c
                .tls_identity
                .as_ref()
                .map(|t| t.describe())
                .unwrap_or_default(),
            tls_value: if tls_kind == "certificate" {
                String::new()
            } else {
                tls_value
            },
            tls_kind,
        }
    }
}

/// The registered certificate identity as (kind, value).
pub(super) fn identity(c: &ClientView) -> (String, String) {
    let Some(v) = c
        .tls_identity
        .as_ref()
        .and_then(|t| serde_json::to_value(t).ok())
    else {
        return (String::new(), String::new());
    };
    for (key, kind) in [
        ("subject_dn", "subject_dn"),
        ("san_uri", "san_uri"),
        ("san_dns", "san_dns"),
        ("certificate_sha256", "certificate"),
    ] {
        if let Some(value) = v.get(key).and_then(|s| s.as_str()) {
            return (kind.into(), value.into());
        }
    }
    (String::new(), String::new())
}

/// The admin fields for a certificate identity of `kind` (one of them set;
/// for none, an empty value that clears it).
pub(super) struct TlsFields {
    pub(super) subject_dn: Option<String>,
    pub(super) san_uri: Option<String>,
    pub(super) san_dns: Option<String>,
    pub(super) certificate: Option<String>,
}

pub(super) fn tls_fields(kind: &str, value: &str) -> Result<TlsFields, String> {
    let v = Some(value.trim().to_owned());
    let mut f = TlsFields {
        subject_dn: None,
        san_uri: None,
        san_dns: None,
        certificate: None,
    };
    match kind {
        "subject_dn" => f.subject_dn = v,
        "san_uri" => f.san_uri = v,
        "san_dns" => f.san_dns = v,
        "certificate" => f.certificate = v,
        "" => f.san_uri = Some(String::new()),
        other => {
            return Err(format!(
                "certificate identity `{other}` is not one this form offers"
            ));
        }
    }
    Ok(f)
}

pub(super) fn grants(exchange: bool) -> Vec<String> {
    let mut g = vec!["client_credentials".to_owned()];
    if exchange {
        g.push(crate::admin::TOKEN_EXCHANGE_GRANT.to_owned());
    }
    g
}

pub(super) fn lines(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}
