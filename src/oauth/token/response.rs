//! The token endpoint's successful answer (RFC 6749 §5.1).

use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Token exchange only (RFC 8693 §2.2.1): always
    /// `urn:ietf:params:oauth:token-type:access_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    /// The client's quota, for the `RateLimit` headers.
    #[serde(skip)]
    pub rate_limit: Option<crate::oauth::RateLimit>,
}

impl TokenResponse {
    /// The response body, byte for byte what `serde_json` writes for this
    /// struct, written in one allocation of the right size. The access token
    /// is a compact JWS tokend signed (base64url and dots), which never
    /// needs escaping; the scope is escaped where it needs it.
    pub fn to_json(&self) -> Vec<u8> {
        debug_assert!(
            self.access_token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        let mut out = Vec::with_capacity(self.access_token.len() + self.scope.len() + 160);
        out.extend_from_slice(b"{\"access_token\":\"");
        out.extend_from_slice(self.access_token.as_bytes());
        out.push(b'"');
        if let Some(kind) = self.issued_token_type {
            out.extend_from_slice(b",\"issued_token_type\":\"");
            out.extend_from_slice(kind.as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b",\"token_type\":\"");
        out.extend_from_slice(self.token_type.as_bytes());
        out.extend_from_slice(b"\",\"expires_in\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.expires_in).as_bytes());
        out.extend_from_slice(b",\"scope\":");
        super::claims::string(&mut out, &self.scope);
        out.push(b'}');
        out
    }
}
