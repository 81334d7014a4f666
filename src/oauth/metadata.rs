//! The authorization server metadata document (RFC 8414 §2), rendered once
//! and again whenever the set of scopes in use changes.

use super::assertion::ASSERTION_ALGORITHMS;
use bytes::Bytes;

pub fn render_metadata(issuer: &str, scopes: &[String]) -> Bytes {
    let methods = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    let algs = ASSERTION_ALGORITHMS;
    let doc = serde_json::json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "grant_types_supported": ["client_credentials", super::token::JWT_BEARER_GRANT],
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
    Bytes::from(serde_json::to_vec(&doc).expect("metadata serializes"))
}
