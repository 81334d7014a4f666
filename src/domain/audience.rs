//! Audiences (the `aud` claim) and RFC 8707 resource indicators.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Audience(String);

impl Audience {
    /// Any non-empty string of printable ASCII without spaces: what a client
    /// may be registered with, or request through `audience`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("audience must not be empty".into());
        }
        if s.len() > 2048 {
            return Err("audience is longer than 2048 characters".into());
        }
        if !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(format!(
                "audience `{}` must be printable ASCII without spaces",
                s.escape_default()
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// A `resource` parameter: an absolute URI without a fragment (RFC 8707 §2).
    pub fn parse_resource(s: &str) -> Result<Self, String> {
        let aud = Self::parse(s)?;
        match url::Url::parse(s) {
            Ok(url) if url.fragment().is_none() => Ok(aud),
            Ok(_) => Err(format!(
                "resource `{s}` must not have a fragment (RFC 8707 §2)"
            )),
            Err(_) => Err(format!(
                "resource `{s}` is not an absolute URI (RFC 8707 §2)"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_must_be_absolute_without_fragment() {
        assert!(Audience::parse_resource("https://api.example.com/v1").is_ok());
        assert!(Audience::parse_resource("urn:example:api").is_ok());
        assert!(Audience::parse_resource("/relative").is_err());
        assert!(Audience::parse_resource("https://api.example.com/#frag").is_err());
    }

    #[test]
    fn audience_rejects_spaces() {
        assert!(Audience::parse("a b").is_err());
        assert!(Audience::parse("orders-api").is_ok());
    }
}
