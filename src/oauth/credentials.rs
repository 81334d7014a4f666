//! Client credentials in a request (RFC 6749 §2.3): HTTP Basic with the id and
//! secret form-url-encoded before base64 (§2.3.1, so ids with `:` or `%`
//! work), the same pair in the body, or a JWT assertion (RFC 7523 §2.2).
//! Exactly one method per request.

use super::OAuthError;
use super::form::{Form, form_urlencoded_decode};
use crate::domain::AuthMethod;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;

pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Debug)]
pub enum Credentials {
    Secret {
        client_id: String,
        /// The id exactly as sent, when form-url-decoding changed it: many
        /// clients (curl `-u`, Authlib, requests) send Basic credentials raw.
        raw_client_id: Option<String>,
        secret: SecretString,
        method: AuthMethod,
    },
    Assertion {
        client_id: Option<String>,
        assertion: SecretString,
    },
    /// Only `client_id` in the body: mTLS (RFC 8705 §2) when the request
    /// came with a client certificate.
    Certificate { client_id: String },
    /// No authentication at all.
    Missing,
}

/// Credentials from `Authorization: Basic …`.
#[derive(Debug)]
pub struct BasicCredentials {
    /// The form-url-decoded id (RFC 6749 §2.3.1), or the raw id when it does
    /// not decode.
    pub client_id: String,
    /// The raw id, when decoding changed it.
    pub raw_client_id: Option<String>,
    pub secret: SecretString,
}

/// Parses `Authorization: Basic …`: the id and secret are form-url-decoded as
/// RFC 6749 §2.3.1 says; a part that does not decode is taken as sent, and a
/// raw id is kept for the lookup fallback of SPEC §3.
pub fn parse_basic(header: &[u8]) -> Result<BasicCredentials, OAuthError> {
    let malformed = || OAuthError::invalid_request("malformed Basic authorization header");
    let header = std::str::from_utf8(header).map_err(|_| malformed())?;
    let (scheme, rest) = header.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "unsupported authorization scheme; use Basic",
        ));
    }
    let decoded = zeroize::Zeroizing::new(STANDARD.decode(rest.trim()).map_err(|_| malformed())?);
    let at = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(malformed)?;
    let (raw_id, raw_secret) = (&decoded[..at], &decoded[at + 1..]);
    let raw_id = std::str::from_utf8(raw_id).map_err(|_| malformed())?;
    let (client_id, raw_client_id) = match form_urlencoded_decode(raw_id.as_bytes()) {
        Ok(id) if id == raw_id => (id, None),
        Ok(id) => (id, Some(raw_id.to_owned())),
        Err(_) => (raw_id.to_owned(), None),
    };
    let secret = match form_urlencoded_decode(raw_secret) {
        Ok(secret) => secret,
        Err(_) => String::from_utf8(raw_secret.to_vec()).map_err(|_| malformed())?,
    };
    Ok(BasicCredentials {
        client_id,
        raw_client_id,
        secret: SecretString::from(secret),
    })
}

impl Credentials {
    /// The client id the credentials claim, before any check.
    pub fn claimed_client_id(&self) -> Option<String> {
        match self {
            Credentials::Secret { client_id, .. } => Some(client_id.clone()),
            Credentials::Assertion {
                client_id,
                assertion,
            } => client_id.clone().or_else(|| {
                use secrecy::ExposeSecret;
                super::assertion::claimed_client(assertion.expose_secret()).ok()
            }),
            Credentials::Certificate { client_id } => Some(client_id.clone()),
            Credentials::Missing => None,
        }
    }

    /// Whether the credentials came in the body (no `WWW-Authenticate` on a
    /// 401 then: SPEC §3, RFC 6749 §5.2).
    pub fn in_body(&self) -> bool {
        match self {
            Credentials::Secret { method, .. } => *method == AuthMethod::ClientSecretPost,
            Credentials::Assertion { .. } | Credentials::Certificate { .. } => true,
            Credentials::Missing => false,
        }
    }

    /// The authentication method, as metrics name it.
    pub fn method_name(&self) -> &'static str {
        match self {
            Credentials::Secret { method, .. } => method.as_str(),
            Credentials::Assertion { .. } => "private_key_jwt",
            Credentials::Certificate { .. } => "tls_client_auth",
            Credentials::Missing => "none",
        }
    }

    /// Finds the one authentication method a request uses; `certificate`
    /// tells whether it came with a TLS client certificate.
    pub fn extract(
        authorization: Option<&[u8]>,
        form: &Form,
        certificate: bool,
    ) -> Result<Self, OAuthError> {
        let bad = |e: super::FormError| OAuthError::invalid_request(e.to_string());
        let body_id = form.single("client_id").map_err(bad)?;
        let body_secret = form.single("client_secret").map_err(bad)?;
        let assertion = form.single("client_assertion").map_err(bad)?;
        let assertion_type = form.single("client_assertion_type").map_err(bad)?;
        let two = || OAuthError::invalid_request("use exactly one client authentication method");

        if let Some(header) = authorization {
            if body_secret.is_some() || assertion.is_some() {
                return Err(two());
            }
            let BasicCredentials {
                client_id,
                raw_client_id,
                secret,
            } = parse_basic(header)?;
            if body_id.is_some_and(|id| id != client_id && Some(id) != raw_client_id.as_deref()) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the one in the Authorization header",
                ));
            }
            return Ok(Credentials::Secret {
                client_id,
                raw_client_id,
                secret,
                method: AuthMethod::ClientSecretBasic,
            });
        }
        match (body_secret, assertion) {
            (Some(_), Some(_)) => Err(two()),
            (Some(secret), None) => {
                let client_id = body_id.ok_or_else(|| {
                    OAuthError::invalid_request("client_secret needs a client_id")
                })?;
                Ok(Credentials::Secret {
                    client_id: client_id.to_owned(),
                    raw_client_id: None,
                    secret: SecretString::from(secret.to_owned()),
                    method: AuthMethod::ClientSecretPost,
                })
            }
            (None, Some(assertion)) => {
                if assertion_type != Some(JWT_BEARER_ASSERTION) {
                    return Err(OAuthError::invalid_request(format!(
                        "client_assertion_type must be {JWT_BEARER_ASSERTION}"
                    )));
                }
                Ok(Credentials::Assertion {
                    client_id: body_id.map(str::to_owned),
                    assertion: SecretString::from(assertion.to_owned()),
                })
            }
            (None, None) => Ok(match body_id {
                Some(id) if certificate => Credentials::Certificate {
                    client_id: id.to_owned(),
                },
                _ => Credentials::Missing,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn basic(raw: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(raw)).into_bytes()
    }

    #[test]
    fn basic_is_form_url_decoded() {
        let creds = parse_basic(&basic("svc%3Aa%25b:s%2Bx+y")).unwrap();
        assert_eq!(creds.client_id, "svc:a%b");
        assert_eq!(creds.raw_client_id.as_deref(), Some("svc%3Aa%25b"));
        assert_eq!(creds.secret.expose_secret(), "s+x y");
    }

    #[test]
    fn raw_basic_ids_are_kept_for_the_fallback() {
        let creds = parse_basic(&basic("a+b:s")).unwrap();
        assert_eq!(creds.client_id, "a b");
        assert_eq!(creds.raw_client_id.as_deref(), Some("a+b"));
        let creds = parse_basic(&basic("plain:s")).unwrap();
        assert_eq!(creds.raw_client_id, None);
        // Not decodable: taken as sent.
        let creds = parse_basic(&basic("50%off:s%zz")).unwrap();
        assert_eq!(creds.client_id, "50%off");
        assert_eq!(creds.raw_client_id, None);
        assert_eq!(creds.secret.expose_secret(), "s%zz");
    }

    #[test]
    fn basic_scheme_is_case_insensitive() {
        let header = format!("bAsIc {}", STANDARD.encode("a:b"));
        assert!(parse_basic(header.as_bytes()).is_ok());
    }

    #[test]
    fn malformed_basic_is_invalid_request() {
        for bad in [
            "Basic",
            "Basic !!!",
            &format!("Basic {}", STANDARD.encode("nocolon")),
        ] {
            let err = parse_basic(bad.as_bytes()).unwrap_err();
            assert_eq!(err.code, super::super::ErrorCode::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn two_methods_are_refused() {
        let form = Form::parse(b"client_id=a&client_secret=b").unwrap();
        let err = Credentials::extract(Some(&basic("a:b")), &form, false).unwrap_err();
        assert_eq!(err.code, super::super::ErrorCode::InvalidRequest);
    }

    #[test]
    fn post_credentials_and_missing() {
        let form = Form::parse(b"client_id=a&client_secret=b").unwrap();
        assert!(matches!(
            Credentials::extract(None, &form, false).unwrap(),
            Credentials::Secret {
                method: AuthMethod::ClientSecretPost,
                ..
            }
        ));
        let form = Form::parse(b"client_id=a").unwrap();
        assert!(matches!(
            Credentials::extract(None, &form, false).unwrap(),
            Credentials::Missing
        ));
        assert!(matches!(
            Credentials::extract(None, &form, true).unwrap(),
            Credentials::Certificate { client_id } if client_id == "a"
        ));
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let form = Form::parse(b"client_id=a&client_secret=hunter2").unwrap();
        let creds = Credentials::extract(None, &form, false).unwrap();
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
