//! What the admin functions accept for a client, parsed and checked: the
//! audiences, lifetime, grant types, quota and its mode, the mTLS identity,
//! and the rules a whole client must meet.

use super::{AdminError, ClientUpdate, TOKEN_EXCHANGE_GRANT};
use crate::config::parse_duration;
use crate::domain::{Audience, AuthMethod, Client, QuotaMode, QuotaSetting, validate_claims};
use std::time::Duration;

pub(super) fn parse_audiences(list: &[String]) -> Result<Vec<Audience>, AdminError> {
    let mut out: Vec<Audience> = Vec::new();
    for a in list {
        let a = Audience::parse(a).map_err(|e| AdminError::Invalid(format!("audiences: {e}")))?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

pub(super) fn parse_ttl(text: &str) -> Result<Duration, AdminError> {
    let ttl = parse_duration(text).map_err(|e| AdminError::Invalid(format!("token_ttl: {e}")))?;
    if ttl.as_secs() == 0 {
        return Err(AdminError::Invalid("token_ttl: must be at least 1s".into()));
    }
    Ok(ttl)
}

/// `(client_credentials, token_exchange)` from an RFC 7591 grant type list.
pub(super) fn parse_grant_types(list: &[String]) -> Result<(bool, bool), AdminError> {
    let mut grants = (false, false);
    for grant in list {
        match grant.as_str() {
            "client_credentials" => grants.0 = true,
            TOKEN_EXCHANGE_GRANT => grants.1 = true,
            other => {
                return Err(AdminError::Invalid(format!(
                    "grant_types: `{}` is not supported; use client_credentials and {TOKEN_EXCHANGE_GRANT}",
                    other.escape_default()
                )));
            }
        }
    }
    Ok(grants)
}

pub(super) fn parse_quota(text: &str) -> Result<QuotaSetting, AdminError> {
    QuotaSetting::parse(text).map_err(|e| AdminError::Invalid(format!("quota: {e}")))
}

pub(super) fn parse_quota_mode(text: &str) -> Result<QuotaMode, AdminError> {
    text.parse()
        .map_err(|e| AdminError::Invalid(format!("quota_mode: {e}")))
}

pub(super) fn tls_given(u: &ClientUpdate) -> bool {
    u.tls_client_auth_subject_dn.is_some()
        || u.tls_client_auth_san_uri.is_some()
        || u.tls_client_auth_san_dns.is_some()
        || u.tls_client_certificate.is_some()
}

/// The one certificate subject given (an empty value clears it).
pub(super) fn tls_identity(
    subject_dn: Option<&str>,
    san_uri: Option<&str>,
    san_dns: Option<&str>,
    certificate: Option<&str>,
) -> Result<Option<crate::domain::TlsIdentity>, AdminError> {
    use crate::domain::TlsIdentity;
    let given: Vec<_> = [
        ("tls_client_auth_subject_dn", subject_dn),
        ("tls_client_auth_san_uri", san_uri),
        ("tls_client_auth_san_dns", san_dns),
        ("tls_client_certificate", certificate),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.filter(|v| !v.trim().is_empty()).map(|v| (name, v)))
    .collect();
    let (name, value) = match given.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        _ => {
            return Err(AdminError::Invalid(
                "give one of tls_client_auth_subject_dn, tls_client_auth_san_uri, tls_client_auth_san_dns, tls_client_certificate".into(),
            ));
        }
    };
    let invalid = |e: String| AdminError::Invalid(format!("{name}: {e}"));
    match name {
        "tls_client_auth_subject_dn" => TlsIdentity::subject_dn(value),
        "tls_client_auth_san_uri" => TlsIdentity::san_uri(value),
        "tls_client_auth_san_dns" => TlsIdentity::san_dns(value),
        _ => crate::oauth::mtls::registered_certificate(value),
    }
    .map(Some)
    .map_err(invalid)
}

pub(super) fn check_client(c: &Client) -> Result<(), AdminError> {
    if c.name.trim().is_empty() || c.name.len() > 200 {
        return Err(AdminError::Invalid("name: must be 1–200 characters".into()));
    }
    if let Some(defaults) = &c.default_scopes
        && let Some(extra) = defaults.missing_from(&c.scopes).next()
    {
        return Err(AdminError::Invalid(format!(
            "default_scopes: `{extra}` is not among the client's scopes"
        )));
    }
    validate_claims(&c.claims).map_err(|e| AdminError::Invalid(format!("claims: {e}")))?;
    if let Some(jwks) = &c.jwks {
        crate::oauth::assertion::validate_client_jwks(jwks)
            .map_err(|e| AdminError::Invalid(format!("jwks: {e}")))?;
    }
    match (c.auth_method, &c.tls_identity) {
        (AuthMethod::TlsClientAuth, Some(id)) if id.is_ca_issued() => {}
        (AuthMethod::TlsClientAuth, _) => {
            return Err(AdminError::Invalid(
                "tls_client_auth needs the certificate's subject: tls_client_auth_subject_dn, tls_client_auth_san_uri or tls_client_auth_san_dns".into(),
            ));
        }
        (AuthMethod::SelfSignedTlsClientAuth, Some(id)) if !id.is_ca_issued() => {}
        (AuthMethod::SelfSignedTlsClientAuth, _) => {
            return Err(AdminError::Invalid(
                "self_signed_tls_client_auth needs the client's certificate: tls_client_certificate (PEM)".into(),
            ));
        }
        (_, Some(_)) => {
            return Err(AdminError::Invalid(format!(
                "a certificate subject is only for tls_client_auth or self_signed_tls_client_auth clients, not {}",
                c.auth_method
            )));
        }
        (_, None) => {}
    }
    if c.auth_method == AuthMethod::PrivateKeyJwt && c.jwks.is_none() {
        return Err(AdminError::Invalid(
            "jwks: private_key_jwt needs the client's public keys (a JWK Set)".into(),
        ));
    }
    Ok(())
}
