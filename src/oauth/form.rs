//! A strict `application/x-www-form-urlencoded` parser (WHATWG URL §5.1 with
//! RFC 6749 §3.2 rules): malformed percent escapes and invalid UTF-8 are
//! errors rather than silently replaced, empty values count as omitted, and a
//! parameter that may appear once is refused when repeated.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    BadEscape,
    NotUtf8,
    Repeated(String),
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormError::BadEscape => f.write_str("body has a malformed percent escape"),
            FormError::NotUtf8 => f.write_str("body is not valid UTF-8 once decoded"),
            FormError::Repeated(name) => write!(f, "parameter `{name}` is repeated"),
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one form component: `+` is a space, `%XX` a byte; the result must
/// be UTF-8.
pub fn form_urlencoded_decode(input: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(input.len());
    decode_into(input, &mut out)?;
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

/// Appends the decoded bytes of one form component to `out` and checks that
/// they are UTF-8.
fn decode_into(input: &[u8], out: &mut Vec<u8>) -> Result<(), FormError> {
    let start = out.len();
    // Runs without `+` or `%` are copied whole, not byte by byte.
    let mut rest = input;
    while let Some(at) = rest.iter().position(|&b| b == b'+' || b == b'%') {
        out.extend_from_slice(&rest[..at]);
        if rest[at] == b'+' {
            out.push(b' ');
            rest = &rest[at + 1..];
            continue;
        }
        let hi = rest.get(at + 1).copied().and_then(hex);
        let lo = rest.get(at + 2).copied().and_then(hex);
        match (hi, lo) {
            (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
            _ => return Err(FormError::BadEscape),
        }
        rest = &rest[at + 3..];
    }
    out.extend_from_slice(rest);
    match std::str::from_utf8(&out[start..]) {
        Ok(_) => Ok(()),
        Err(_) => Err(FormError::NotUtf8),
    }
}

/// A decoded form: every name and value in one buffer (two allocations
/// whatever the number of parameters).
#[derive(Debug, Clone, Default)]
pub struct Form {
    decoded: String,
    /// Byte ranges in `decoded`: name, then value.
    pairs: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
}

impl Form {
    pub fn parse(body: &[u8]) -> Result<Self, FormError> {
        // Decoding never lengthens a component.
        let mut decoded = Vec::with_capacity(body.len());
        let mut pairs = Vec::with_capacity(body.iter().filter(|&&b| b == b'&').count() + 1);
        for part in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match part.iter().position(|&b| b == b'=') {
                Some(at) => (&part[..at], &part[at + 1..]),
                None => (part, &b""[..]),
            };
            let start = decoded.len();
            decode_into(name, &mut decoded)?;
            let middle = decoded.len();
            decode_into(value, &mut decoded)?;
            if decoded.len() == middle {
                // An empty value counts as omitted.
                decoded.truncate(start);
            } else {
                pairs.push((start..middle, middle..decoded.len()));
            }
        }
        // Each component was checked; so is their concatenation.
        let decoded = String::from_utf8(decoded).map_err(|_| FormError::NotUtf8)?;
        Ok(Self { decoded, pairs })
    }

    /// A parameter that may appear at most once.
    pub fn single<'a>(&'a self, name: &'a str) -> Result<Option<&'a str>, FormError> {
        let mut found = self.all(name);
        let first = found.next();
        if found.next().is_some() {
            return Err(FormError::Repeated(name.to_owned()));
        }
        Ok(first)
    }

    /// Every value of a repeatable parameter.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| &self.decoded[n.clone()] == name)
            .map(|(_, v)| &self.decoded[v.clone()])
    }

    pub fn contains(&self, name: &str) -> bool {
        self.all(name).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent() {
        let f = Form::parse(b"scope=read+write&client_id=a%3Ab%25c").unwrap();
        assert_eq!(f.single("scope").unwrap(), Some("read write"));
        assert_eq!(f.single("client_id").unwrap(), Some("a:b%c"));
    }

    #[test]
    fn one_buffer_holds_what_each_component_decodes_to() {
        for body in [
            &b"grant_type=client_credentials&scope=read"[..],
            b"a=&b=%C3%A9t%C3%A9&&c=x+y&d&a=%25&e=%3D%26",
            b"=v&n=",
            b"",
        ] {
            let form = Form::parse(body).unwrap();
            let mut expected = Vec::new();
            for part in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
                let mut it = part.splitn(2, |&b| b == b'=');
                let name = form_urlencoded_decode(it.next().unwrap()).unwrap();
                let value = form_urlencoded_decode(it.next().unwrap_or(b"")).unwrap();
                if !value.is_empty() {
                    expected.push((name, value));
                }
            }
            let got: Vec<(String, String)> = form
                .pairs
                .iter()
                .map(|(n, v)| {
                    (
                        form.decoded[n.clone()].into(),
                        form.decoded[v.clone()].into(),
                    )
                })
                .collect();
            assert_eq!(got, expected, "{}", String::from_utf8_lossy(body));
        }
        let form = Form::parse(b"a=%C3%A9&b=&a=x").unwrap();
        assert_eq!(form.all("a").collect::<Vec<_>>(), ["é", "x"]);
        assert!(!form.contains("b"));
    }

    #[test]
    fn repeated_single_parameter_is_an_error() {
        let f = Form::parse(b"grant_type=a&grant_type=b").unwrap();
        assert_eq!(
            f.single("grant_type"),
            Err(FormError::Repeated("grant_type".into()))
        );
    }

    #[test]
    fn repeatable_parameters_collect() {
        let f = Form::parse(b"resource=a&resource=b&audience=c").unwrap();
        assert_eq!(f.all("resource").collect::<Vec<_>>(), vec!["a", "b"]);
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let f = Form::parse(b"scope=&scope=read&x").unwrap();
        assert_eq!(f.single("scope").unwrap(), Some("read"));
        assert!(!f.contains("x"));
    }

    proptest::proptest! {
        /// Where the strict decoder accepts a component, it decodes it as
        /// the `form_urlencoded` crate does.
        #[test]
        fn decodes_as_the_form_urlencoded_crate(
            input in proptest::collection::vec(
                proptest::sample::select(b"ab+%2FC3A9x".to_vec()), 0..24)
        ) {
            if let Ok(ours) = form_urlencoded_decode(&input) {
                let mut body = b"n=".to_vec();
                body.extend_from_slice(&input);
                let (_, theirs) = form_urlencoded::parse(&body).next().unwrap();
                proptest::prop_assert_eq!(ours, theirs.into_owned());
            }
        }
    }

    #[test]
    fn malformed_escapes_and_bad_utf8_are_errors() {
        assert_eq!(Form::parse(b"a=%4").unwrap_err(), FormError::BadEscape);
        assert_eq!(Form::parse(b"a=%zz").unwrap_err(), FormError::BadEscape);
        assert_eq!(Form::parse(b"a=%ff%fe").unwrap_err(), FormError::NotUtf8);
        assert_eq!(Form::parse(b"a=\xff").unwrap_err(), FormError::NotUtf8);
    }
}
