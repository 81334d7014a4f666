//! The patterns of SPEC §8 bindings: `*` matches any run of characters
//! except `/` and `:` (one path or colon segment), `**` any run at all.
//! Matched in linear space and O(pattern × value) time, whatever the input.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A pattern of SPEC §8: `*` matches any run of characters except `/` and
/// `:`, `**` any run at all; everything else matches itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pattern(String);

#[derive(Clone, Copy, PartialEq)]
enum Token {
    Byte(u8),
    /// `*`
    Segment,
    /// `**`
    Any,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 1024 {
            return Err("a pattern is 1–1024 characters".into());
        }
        if s.chars().any(char::is_control) {
            return Err("a pattern has no control characters".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern has no wildcard at all.
    pub fn is_literal(&self) -> bool {
        !self.0.contains('*')
    }

    fn tokens(&self) -> Vec<Token> {
        let b = self.0.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'*' {
                if b.get(i + 1) == Some(&b'*') {
                    out.push(Token::Any);
                    i += 2;
                    while b.get(i) == Some(&b'*') {
                        i += 1;
                    }
                } else {
                    out.push(Token::Segment);
                    i += 1;
                }
            } else {
                out.push(Token::Byte(b[i]));
                i += 1;
            }
        }
        out
    }

    /// Whether `value` matches, in O(pattern × value) time and O(value)
    /// memory (no backtracking blow-up on hostile input).
    pub fn matches(&self, value: &str) -> bool {
        let v = value.as_bytes();
        // row[j]: the tokens so far match v[..j].
        let mut row = vec![false; v.len() + 1];
        row[0] = true;
        for token in self.tokens() {
            let mut next = vec![false; v.len() + 1];
            match token {
                Token::Byte(c) => {
                    for j in 0..v.len() {
                        next[j + 1] = row[j] && v[j] == c;
                    }
                }
                Token::Segment | Token::Any => {
                    let mut reach = false;
                    for j in 0..=v.len() {
                        if j > 0 && token == Token::Segment && matches!(v[j - 1], b'/' | b':') {
                            reach = false;
                        }
                        reach |= row[j];
                        next[j] = reach;
                    }
                }
            }
            row = next;
        }
        row[v.len()]
    }
}

impl TryFrom<String> for Pattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Pattern> for String {
    fn from(p: Pattern) -> String {
        p.0
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, v: &str) -> bool {
        Pattern::parse(p).unwrap().matches(v)
    }

    #[test]
    fn patterns() {
        assert!(m(
            "system:serviceaccount:prod:orders",
            "system:serviceaccount:prod:orders"
        ));
        assert!(!m(
            "system:serviceaccount:prod:orders",
            "system:serviceaccount:prod:orders2"
        ));
        assert!(m(
            "system:serviceaccount:prod:*",
            "system:serviceaccount:prod:orders"
        ));
        assert!(!m(
            "system:serviceaccount:*",
            "system:serviceaccount:prod:orders"
        ));
        assert!(m(
            "system:serviceaccount:**",
            "system:serviceaccount:prod:orders"
        ));
        assert!(m(
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/api:ref:refs/heads/main"
        ));
        assert!(!m(
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/api/x:ref:refs/heads/main"
        ));
        assert!(m("spiffe://td/ns/*/sa/*", "spiffe://td/ns/prod/sa/orders"));
        assert!(!m(
            "spiffe://td/ns/*/sa/*",
            "spiffe://td/ns/prod/sa/orders/x"
        ));
        assert!(m("*", ""));
        assert!(m("a*b", "ab"));
        assert!(m("**", "a/b:c"));
        assert!(!m("*", "a/b"));
        assert!(m("a***b", "a/x/b"));
    }

    #[test]
    fn hostile_patterns_stay_linear() {
        let p = Pattern::parse(&"*a".repeat(500)).unwrap();
        let v = "a".repeat(1000) + "b";
        assert!(!p.matches(&v));
    }
}
