//! Client identifiers: 1–255 characters of RFC 6749 Appendix A `VSCHAR`
//! (printable ASCII, space included).

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    pub const MAX_LEN: usize = 255;

    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("client_id must not be empty".into());
        }
        if s.len() > Self::MAX_LEN {
            return Err(format!(
                "client_id is longer than {} characters",
                Self::MAX_LEN
            ));
        }
        if !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err("client_id may only contain printable ASCII characters".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_colon_percent_and_space() {
        assert!(ClientId::parse("svc:a%b c").is_ok());
    }

    #[test]
    fn rejects_empty_long_and_control() {
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse(&"x".repeat(256)).is_err());
        assert!(ClientId::parse("a\nb").is_err());
        assert!(ClientId::parse("é").is_err());
        assert!(ClientId::parse(&"x".repeat(255)).is_ok());
    }
}
