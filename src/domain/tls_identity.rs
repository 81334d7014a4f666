//! What a client's certificate must show to authenticate it (RFC 8705 §2):
//! for `tls_client_auth` one subject — a distinguished name, a SAN URI (a
//! SPIFFE ID) or a SAN DNS name — of a certificate chaining to
//! `tls.client_ca_file`; for `self_signed_tls_client_auth` the registered
//! certificate itself, by its SHA-256 thumbprint.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsIdentity {
    /// An RFC 4514 distinguished name, kept in the canonical form of
    /// [`canonical_dn`].
    SubjectDn(String),
    SanUri(String),
    SanDns(String),
    /// `x5t#S256` of the registered self-signed certificate.
    CertificateSha256(String),
}

impl TlsIdentity {
    /// A subject DN as registered: parsed and kept canonical.
    pub fn subject_dn(dn: &str) -> Result<Self, String> {
        canonical_dn(dn).map(TlsIdentity::SubjectDn)
    }

    pub fn san_uri(uri: &str) -> Result<Self, String> {
        let uri = uri.trim();
        let parsed = url::Url::parse(uri).map_err(|e| format!("`{uri}` is not a URI: {e}"))?;
        if parsed.scheme() == "spiffe" && parsed.host_str().is_none_or(str::is_empty) {
            return Err(format!("`{uri}` names no SPIFFE trust domain"));
        }
        Ok(TlsIdentity::SanUri(uri.to_owned()))
    }

    pub fn san_dns(name: &str) -> Result<Self, String> {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
            });
        if !valid {
            return Err(format!("`{name}` is not a DNS name"));
        }
        Ok(TlsIdentity::SanDns(name))
    }

    /// Whether the identity needs a certificate authority (`tls_client_auth`)
    /// rather than a registered certificate.
    pub fn is_ca_issued(&self) -> bool {
        !matches!(self, TlsIdentity::CertificateSha256(_))
    }

    /// How `client show` names it.
    pub fn describe(&self) -> String {
        match self {
            TlsIdentity::SubjectDn(dn) => format!("subject DN {dn}"),
            TlsIdentity::SanUri(uri) => format!("SAN URI {uri}"),
            TlsIdentity::SanDns(dns) => format!("SAN DNS {dns}"),
            TlsIdentity::CertificateSha256(t) => format!("certificate x5t#S256 {t}"),
        }
    }
}

/// Short names of the attribute types of RFC 4514 §3 (and the common
/// others), by OID.
pub const DN_ATTRIBUTES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.5", "SERIALNUMBER"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("1.2.840.113549.1.9.1", "EMAILADDRESS"),
];

/// One attribute's canonical text: the short name (upper case) or the
/// dotted OID, `=`, the value with RFC 4514 escaping.
pub fn dn_attribute(kind: &str, value: &str) -> String {
    let kind = DN_ATTRIBUTES
        .iter()
        .find(|(oid, short)| *oid == kind || short.eq_ignore_ascii_case(kind))
        .map_or_else(|| kind.to_ascii_uppercase(), |(_, s)| (*s).to_owned());
    let mut out = format!("{kind}=");
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Parses an RFC 4514 DN (`CN=orders, O=Example\, Inc., C=US`) into its
/// canonical text: attribute names upper case or dotted OIDs, no spaces
/// around separators, escaping as RFC 4514 §2.4 writes it. Values compare
/// case-insensitively (what LDAP's caseIgnoreMatch does for these types).
pub fn canonical_dn(dn: &str) -> Result<String, String> {
    let bad = |why: &str| format!("`{dn}` is not an RFC 4514 distinguished name: {why}");
    let mut parts: Vec<String> = Vec::new();
    let mut separators: Vec<char> = Vec::new();
    let mut current = String::new();
    let mut chars = dn.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(&next) = chars.peek() else {
                    return Err(bad("it ends with a backslash"));
                };
                if next.is_ascii_hexdigit() {
                    let hi = chars.next().and_then(|c| c.to_digit(16));
                    let lo = chars.next().and_then(|c| c.to_digit(16));
                    let (Some(hi), Some(lo)) = (hi, lo) else {
                        return Err(bad("a \\XX escape needs two hex digits"));
                    };
                    // Kept escaped: the value is unescaped below.
                    current.push('\u{0}');
                    current.push(char::from((hi * 16 + lo) as u8));
                } else {
                    chars.next();
                    current.push('\u{0}');
                    current.push(next);
                }
            }
            ',' | ';' | '+' => {
                parts.push(std::mem::take(&mut current));
                separators.push(if c == '+' { '+' } else { ',' });
            }
            c => current.push(c),
        }
    }
    parts.push(current);
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        let (kind, value) = part
            .split_once('=')
            .ok_or_else(|| bad("every part is TYPE=value"))?;
        let kind = kind.trim();
        if kind.is_empty()
            || !(kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                || kind.chars().all(|c| c.is_ascii_digit() || c == '.'))
        {
            return Err(bad("an attribute type is empty or not a name or OID"));
        }
        // Unescape (the NUL marks an escaped character) and trim the
        // unescaped spaces around the value.
        let value = value.trim_matches(' ');
        let mut plain = String::new();
        let mut escaped = false;
        for c in value.chars() {
            if c == '\u{0}' && !escaped {
                escaped = true;
                continue;
            }
            escaped = false;
            plain.push(c);
        }
        if plain.is_empty() {
            return Err(bad("an attribute value is empty"));
        }
        if i > 0 {
            out.push(separators[i - 1]);
        }
        out.push_str(&dn_attribute(kind, &plain));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_are_canonical() {
        assert_eq!(
            canonical_dn("cn=orders, o=Example\\, Inc. ,C=US").unwrap(),
            "CN=orders,O=Example\\, Inc.,C=US"
        );
        assert_eq!(
            canonical_dn("CN=a+UID=b;2.5.4.10=x").unwrap(),
            "CN=a+UID=b,O=x"
        );
        assert_eq!(canonical_dn("CN=\\41b").unwrap(), "CN=Ab");
        assert_eq!(canonical_dn("CN=x,1.2.3.4=y").unwrap(), "CN=x,1.2.3.4=y");
        for bad in ["", "CN", "CN=", "=x", "CN=a,", "C N=a", "CN=a\\"] {
            assert!(canonical_dn(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn san_values() {
        assert!(TlsIdentity::san_uri("spiffe://prod.example/ns/a/sa/b").is_ok());
        assert!(TlsIdentity::san_uri("not a uri").is_err());
        assert_eq!(
            TlsIdentity::san_dns("Orders.Example.COM.").unwrap(),
            TlsIdentity::SanDns("orders.example.com".into())
        );
        assert!(TlsIdentity::san_dns("a..b").is_err());
        assert!(TlsIdentity::san_dns("bad name").is_err());
    }

    #[test]
    fn stored_as_tagged_json() {
        let id = TlsIdentity::SanUri("spiffe://x/y".into());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, r#"{"san_uri":"spiffe://x/y"}"#);
        assert_eq!(serde_json::from_str::<TlsIdentity>(&json).unwrap(), id);
    }
}
