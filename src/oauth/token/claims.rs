//! An access token's claims (RFC 9068 §2.2) and their JSON, written by hand:
//! byte for byte what `serde_json` writes for the derived `Serialize` (a test
//! holds the two together), without its per-byte escaping of the keys and of
//! values that need none (ids, URLs, base64url). Strings that do need
//! escaping still go through `serde_json`.

use serde::Serialize;

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum Aud<'a> {
    One(&'a str),
    Many(Vec<&'a str>),
}

/// RFC 7800: what a token is bound to — a DPoP key (RFC 9449 §6), a client
/// certificate (RFC 8705 §3.1), or both.
#[derive(Serialize)]
pub(super) struct Confirmation<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jkt: Option<&'a str>,
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
}

#[derive(Serialize)]
pub(super) struct Claims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: Aud<'a>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    /// RFC 8693 §4.1: who acts for `sub` (token exchange).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation<'a>>,
}

impl Claims<'_> {
    /// The claims as JSON, with `extra` (`,"name":value…`, already JSON)
    /// spliced in before the closing brace.
    pub fn to_json(&self, extra: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + extra.len());
        out.extend_from_slice(b"{\"iss\":");
        string(&mut out, self.iss);
        out.extend_from_slice(b",\"sub\":");
        string(&mut out, self.sub);
        out.extend_from_slice(b",\"aud\":");
        match &self.aud {
            Aud::One(one) => string(&mut out, one),
            Aud::Many(many) => {
                out.push(b'[');
                for (i, aud) in many.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    string(&mut out, aud);
                }
                out.push(b']');
            }
        }
        let mut numbers = itoa::Buffer::new();
        out.extend_from_slice(b",\"exp\":");
        out.extend_from_slice(numbers.format(self.exp).as_bytes());
        out.extend_from_slice(b",\"iat\":");
        out.extend_from_slice(numbers.format(self.iat).as_bytes());
        out.extend_from_slice(b",\"nbf\":");
        out.extend_from_slice(numbers.format(self.nbf).as_bytes());
        out.extend_from_slice(b",\"jti\":");
        string(&mut out, self.jti);
        out.extend_from_slice(b",\"client_id\":");
        string(&mut out, self.client_id);
        out.extend_from_slice(b",\"scope\":");
        string(&mut out, self.scope);
        if let Some(act) = self.act {
            out.extend_from_slice(b",\"act\":");
            // Writing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, act);
        }
        if let Some(cnf) = &self.cnf {
            out.extend_from_slice(b",\"cnf\":");
            let _ = serde_json::to_writer(&mut out, cnf);
        }
        out.extend_from_slice(extra.as_bytes());
        out.push(b'}');
        out
    }
}

/// Writes `s` as a JSON string: as is when nothing in it needs escaping
/// (what `serde_json` escapes: `"`, `\` and control characters), else
/// through `serde_json`.
pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    // Without an early exit the check compiles to a vector loop.
    let escaped = s.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !escaped {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claims<'a>(
        strings: &'a [String; 6],
        aud: Aud<'a>,
        act: Option<&'a serde_json::Value>,
        cnf: Option<Confirmation<'a>>,
    ) -> Claims<'a> {
        Claims {
            iss: &strings[0],
            sub: &strings[1],
            aud,
            exp: i64::MAX,
            iat: -1,
            nbf: 0,
            jti: &strings[2],
            client_id: &strings[3],
            scope: &strings[4],
            act,
            cnf,
        }
    }

    proptest! {
        /// Whatever the strings (quotes, backslashes, control characters,
        /// non-ASCII), the hand-written JSON is serde_json's.
        #[test]
        fn the_claims_are_what_serde_json_writes(
            strings in prop::array::uniform6(prop_oneof![
                any::<String>(),
                "[a-z:/\"\\\\\\x00-\\x1f\\x7fé]{0,12}",
            ]),
            many in any::<bool>(),
            acts in any::<bool>(),
            bound in 0u8..4,
        ) {
            let act = serde_json::json!({"sub": strings[5], "act": {"sub": "x\"y"}});
            let aud = if many {
                Aud::Many(vec![strings[0].as_str(), strings[5].as_str(), "b\\c"])
            } else {
                Aud::One(&strings[5])
            };
            let cnf = (bound > 0).then(|| Confirmation {
                jkt: (bound & 1 == 1).then_some(strings[5].as_str()),
                x5t_s256: (bound & 2 == 2).then(|| strings[1].clone()),
            });
            let claims = claims(&strings, aud, acts.then_some(&act), cnf);
            let written = String::from_utf8(claims.to_json("")).unwrap();
            prop_assert_eq!(written, serde_json::to_string(&claims).unwrap());
        }
    }

    #[test]
    fn extra_claims_are_spliced_before_the_closing_brace() {
        let strings = ["i", "s", "j", "c", "read", ""].map(String::from);
        let json = claims(&strings, Aud::One("a"), None, None).to_json(r#","tenant":"t""#);
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["tenant"], "t");
        assert_eq!(value["scope"], "read");
    }
}
