//! Client certificates (RFC 8705): the SHA-256 thumbprint a bound token
//! names (`cnf.x5t#S256`), the certificate of a TLS connection, and the
//! certificate a TLS-terminating proxy forwards in a header — Envoy's
//! `X-Forwarded-Client-Cert` or nginx's URL-encoded PEM (`$ssl_client_escaped_cert`).
//!
//! A forwarded certificate is only as good as the proxy that sent it: read
//! the header only from a peer address you trust ([`TrustedProxies`]), and
//! make sure the proxy removes the header from what clients send.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::net::IpAddr;
use std::str::FromStr;

/// A client certificate: the DER of the leaf and of the chain that came with it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    der: Vec<u8>,
    chain: Vec<Vec<u8>>,
    sha256: [u8; 32],
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t#S256", &self.thumbprint())
            .field("chain", &self.chain.len())
            .finish()
    }
}

impl ClientCertificate {
    /// The leaf certificate's DER and the intermediates after it.
    pub fn from_der(der: Vec<u8>, chain: Vec<Vec<u8>>) -> Self {
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(digest::digest(&digest::SHA256, &der).as_ref());
        Self { der, chain, sha256 }
    }

    /// The first certificate of a PEM text, and any after it as its chain.
    pub fn from_pem(pem: &str) -> Result<Self, ForwardedCertError> {
        let mut blocks = pem_certificates(pem)?.into_iter();
        let leaf = blocks.next().ok_or(ForwardedCertError::NoCertificate)?;
        Ok(Self::from_der(leaf, blocks.collect()))
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The intermediates that came with the certificate, nearest first.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// SHA-256 of the DER certificate.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// `x5t#S256` (RFC 8705 §3.1): base64url SHA-256 of the DER certificate.
    pub fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha256)
    }
}

/// The DER of every `CERTIFICATE` block of a PEM text.
fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, ForwardedCertError> {
    use base64::engine::general_purpose::STANDARD;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let end = body.find(END).ok_or(ForwardedCertError::Malformed)?;
        let b64: String = body[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        out.push(
            STANDARD
                .decode(b64)
                .map_err(|_| ForwardedCertError::Malformed)?,
        );
        rest = &body[end + END.len()..];
    }
    Ok(out)
}

/// Why a forwarded certificate header was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardedCertError {
    #[error("the forwarded client certificate header is malformed")]
    Malformed,
    #[error("the forwarded client certificate header carries no certificate")]
    NoCertificate,
}

/// The header a TLS-terminating proxy forwards the client certificate in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertHeader {
    /// Envoy's `X-Forwarded-Client-Cert`: `key=value;…` elements, one per
    /// hop, the certificate in `Cert` (URL-encoded PEM) and its chain in
    /// `Chain`. The last element is the one the nearest proxy wrote.
    EnvoyXfcc,
    /// nginx's `X-SSL-Client-Cert` set to `$ssl_client_escaped_cert`: the
    /// URL-encoded PEM.
    UrlEncodedPem,
}

impl CertHeader {
    /// The header's name.
    pub fn name(self) -> &'static str {
        match self {
            CertHeader::EnvoyXfcc => "x-forwarded-client-cert",
            CertHeader::UrlEncodedPem => "x-ssl-client-cert",
        }
    }

    /// The certificate in one header value.
    pub fn parse(self, value: &str) -> Result<ClientCertificate, ForwardedCertError> {
        match self {
            CertHeader::UrlEncodedPem => ClientCertificate::from_pem(&percent_decode(value)?),
            CertHeader::EnvoyXfcc => {
                let elements = xfcc_elements(value)?;
                let last = elements.last().ok_or(ForwardedCertError::NoCertificate)?;
                let cert = last
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("cert"))
                    .ok_or(ForwardedCertError::NoCertificate)?;
                let leaf = ClientCertificate::from_pem(&percent_decode(&cert.1)?)?;
                let chain = match last.iter().find(|(k, _)| k.eq_ignore_ascii_case("chain")) {
                    Some((_, chain)) => pem_certificates(&percent_decode(chain)?)?,
                    None => Vec::new(),
                };
                // Envoy's Chain starts with the leaf itself.
                let chain = chain.into_iter().filter(|c| c != leaf.der()).collect();
                Ok(ClientCertificate::from_der(leaf.der, chain))
            }
        }
    }
}

impl FromStr for CertHeader {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "x-forwarded-client-cert" => Ok(CertHeader::EnvoyXfcc),
            "x-ssl-client-cert" => Ok(CertHeader::UrlEncodedPem),
            other => Err(format!(
                "`{other}` is not x-forwarded-client-cert (Envoy) or x-ssl-client-cert (nginx, URL-encoded PEM)"
            )),
        }
    }
}

fn percent_decode(value: &str) -> Result<String, ForwardedCertError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(ForwardedCertError::Malformed)?;
                out.push(hex);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ForwardedCertError::Malformed)
}

type XfccElement = Vec<(String, String)>;

/// Envoy's XFCC grammar: elements split by `,`, pairs by `;`, `key=value`,
/// a value optionally in double quotes (where `,` `;` `=` are literal and
/// `\"` is a quote).
fn xfcc_elements(value: &str) -> Result<Vec<XfccElement>, ForwardedCertError> {
    let mut elements = Vec::new();
    let mut element: XfccElement = Vec::new();
    let mut key = String::new();
    let mut current = String::new();
    let mut in_value = false;
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    let finish_pair = |element: &mut XfccElement,
                       key: &mut String,
                       current: &mut String|
     -> Result<(), ForwardedCertError> {
        let k = std::mem::take(key);
        let v = std::mem::take(current);
        if k.trim().is_empty() {
            return if v.trim().is_empty() {
                Ok(())
            } else {
                Err(ForwardedCertError::Malformed)
            };
        }
        element.push((k.trim().to_owned(), v));
        Ok(())
    };
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '\\' if chars.peek() == Some(&'"') => {
                    current.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                c => current.push(c),
            }
            continue;
        }
        match c {
            '"' if in_value && current.is_empty() => quoted = true,
            '=' if !in_value => in_value = true,
            ';' => {
                finish_pair(&mut element, &mut key, &mut current)?;
                in_value = false;
            }
            ',' => {
                finish_pair(&mut element, &mut key, &mut current)?;
                in_value = false;
                elements.push(std::mem::take(&mut element));
            }
            c if in_value => current.push(c),
            c => key.push(c),
        }
    }
    if quoted {
        return Err(ForwardedCertError::Malformed);
    }
    finish_pair(&mut element, &mut key, &mut current)?;
    elements.push(element);
    Ok(elements)
}

/// Peer addresses whose forwarded headers are believed: addresses and
/// CIDR blocks (`10.0.0.0/8`, `::1`). An IPv4-mapped IPv6 peer is compared
/// as IPv4.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Comma- or space-separated CIDRs or addresses.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("`{s}` is not an address or CIDR such as 10.0.0.0/8"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&address))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A string (`"10.0.0.0/8, ::1"`) or a list of strings.
impl<'de> serde::Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            List(Vec<String>),
        }
        let text = match Raw::deserialize(de)? {
            Raw::Text(t) => t,
            Raw::List(l) => l.join(","),
        };
        TrustedProxies::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A tiny self-signed certificate is not needed: the parser only moves
    // base64 around; any DER-looking bytes do.
    const PEM: &str = "-----BEGIN CERTIFICATE-----\nAQIDBAUG\n-----END CERTIFICATE-----\n";
    const PEM2: &str = "-----BEGIN CERTIFICATE-----\nBwgJ\n-----END CERTIFICATE-----\n";

    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect()
    }

    #[test]
    fn envoy_xfcc_as_documented() {
        // The shape of Envoy's documentation: By, Hash, Cert, Chain, Subject, URI, DNS.
        let value = format!(
            r#"By=spiffe://cluster.local/ns/default/sa/tokend;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;Cert="{}";Chain="{}";Subject="CN=svc,O=Example, Inc.";URI=spiffe://cluster.local/ns/default/sa/orders;DNS=orders.local"#,
            encode(PEM),
            encode(&format!("{PEM}{PEM2}"))
        );
        let cert = CertHeader::EnvoyXfcc.parse(&value).unwrap();
        assert_eq!(cert.der(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(
            cert.chain(),
            &[vec![7, 8, 9]],
            "the leaf is not its own chain"
        );
        assert_eq!(cert.thumbprint().len(), 43);
    }

    #[test]
    fn xfcc_takes_the_element_of_the_nearest_proxy() {
        let value = format!(
            "By=a;Cert=\"{}\",By=b;Cert=\"{}\"",
            encode(PEM2),
            encode(PEM)
        );
        let cert = CertHeader::EnvoyXfcc.parse(&value).unwrap();
        assert_eq!(cert.der(), &[1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn xfcc_without_cert_or_malformed() {
        assert_eq!(
            CertHeader::EnvoyXfcc.parse("By=a;Hash=abcd"),
            Err(ForwardedCertError::NoCertificate)
        );
        assert_eq!(
            CertHeader::EnvoyXfcc.parse("Cert=\"unterminated"),
            Err(ForwardedCertError::Malformed)
        );
        assert!(CertHeader::EnvoyXfcc.parse("Cert=%zz").is_err());
    }

    #[test]
    fn nginx_url_encoded_pem() {
        let cert = CertHeader::UrlEncodedPem.parse(&encode(PEM)).unwrap();
        assert_eq!(cert.der(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(
            CertHeader::UrlEncodedPem.parse("(null)"),
            Err(ForwardedCertError::NoCertificate)
        );
    }

    #[test]
    fn trusted_proxies() {
        let t = TrustedProxies::parse("10.0.0.0/8, 127.0.0.2, ::1").unwrap();
        assert!(t.contains("10.1.2.3".parse().unwrap()));
        assert!(t.contains("127.0.0.2".parse().unwrap()));
        assert!(!t.contains("127.0.0.1".parse().unwrap()));
        assert!(t.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(t.contains("::1".parse().unwrap()));
        assert!(TrustedProxies::parse("10.0.0.0/40").is_err());
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(TrustedProxies::parse("nope").is_err());
    }
}
