//! The authorization server metadata document (RFC 8414 §2), rendered once
//! and again whenever the set of scopes in use changes.

use super::assertion::ASSERTION_ALGORITHMS;
use bytes::Bytes;

/// `mtls`: client certificates can reach tokend (its own TLS with
/// `tls.client_ca_file`, or `tls.client_cert_header`), so the RFC 8705
/// methods and certificate-bound tokens are offered.
pub fn render_metadata(issuer: &str, scopes: &[String], mtls: bool) -> Bytes {
    let mut methods = vec![
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    if mtls {
        methods.extend(["tls_client_auth", "self_signed_tls_client_auth"]);
    }
    let algs = ASSERTION_ALGORITHMS;
    let doc = serde_json::json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "grant_types_supported": [
            "client_credentials",
            super::token::JWT_BEARER_GRANT,
            super::exchange::TOKEN_EXCHANGE_GRANT,
        ],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "scopes_supported": scopes,
        "dpop_signing_alg_values_supported": tokend_verify::dpop::DPOP_ALGORITHMS
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>(),
    });
    let mut doc = doc;
    if mtls {
        doc["tls_client_certificate_bound_access_tokens"] = serde_json::Value::Bool(true);
    }
    Bytes::from(serde_json::to_vec(&doc).expect("metadata serializes"))
}
