//! Scope: a set of scope tokens (RFC 6749 §3.3), kept in the order given.

use serde::{Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(Vec<String>);

fn is_scope_char(b: u8) -> bool {
    // NQCHAR without space: %x21 / %x23-5B / %x5D-7E
    b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
}

impl Scope {
    /// Parses a space-delimited scope string. Repeated tokens collapse to one;
    /// runs of spaces are tolerated. An empty string is the empty scope.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut tokens: Vec<String> = Vec::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            if !token.bytes().all(is_scope_char) {
                return Err(format!(
                    "scope token `{}` has a character RFC 6749 §3.3 does not allow",
                    token.escape_default()
                ));
            }
            if !tokens.iter().any(|t| t == token) {
                tokens.push(token.to_owned());
            }
        }
        Ok(Self(tokens))
    }

    pub fn from_tokens<I: IntoIterator<Item = S>, S: AsRef<str>>(
        tokens: I,
    ) -> Result<Self, String> {
        let joined: Vec<String> = tokens.into_iter().map(|t| t.as_ref().to_owned()).collect();
        Self::parse(&joined.join(" "))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.iter().all(|t| other.contains(t))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The tokens of `self` that `other` lacks.
    pub fn missing_from<'a>(&'a self, other: &'a Scope) -> impl Iterator<Item = &'a str> {
        self.iter().filter(move |t| !other.contains(t))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dedups_and_keeps_order() {
        let s = Scope::parse("write read  write").unwrap();
        assert_eq!(s.to_string(), "write read");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn empty_is_empty() {
        assert!(Scope::parse("").unwrap().is_empty());
        assert!(Scope::parse("   ").unwrap().is_empty());
    }

    #[test]
    fn rejects_quote_backslash_and_non_ascii() {
        assert!(Scope::parse("a\"b").is_err());
        assert!(Scope::parse("a\\b").is_err());
        assert!(Scope::parse("café").is_err());
        assert!(Scope::parse("a\tb").is_err());
    }

    #[test]
    fn subset() {
        let all = Scope::parse("a b c").unwrap();
        assert!(Scope::parse("c a").unwrap().is_subset_of(&all));
        assert!(!Scope::parse("a d").unwrap().is_subset_of(&all));
    }
}
