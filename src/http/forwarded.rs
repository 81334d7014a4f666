//! Where a request really comes from: the peer address, or — only when the
//! peer is one of `http.trusted_proxies` — the address and scheme the proxy
//! forwarded (`Forwarded`, RFC 7239, else `X-Forwarded-For` and
//! `X-Forwarded-Proto`), and the client certificate it forwarded
//! (`tls.client_cert_header`). Used for the failure limiter, the request
//! log, mTLS and URL checks. A header from any other peer is ignored.

use crate::config::TrustedProxies;
use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;
use actix_web::{HttpMessage, HttpRequest, web};
use std::net::IpAddr;
use tokend_verify::mtls::{CertHeader, ClientCertificate};

/// The resolved origin of a request, kept in its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOrigin {
    pub address: IpAddr,
    /// `true` when the request reached tokend (or the trusted proxy) over TLS.
    pub https: bool,
}

/// `tls.client_cert_header`: where a trusted proxy forwards the client
/// certificate, if it does.
#[derive(Debug, Clone, Copy)]
pub struct CertHeaderSetting(pub Option<CertHeader>);

/// A client certificate a trusted proxy forwarded, kept in the request's
/// extensions.
struct ForwardedCertificate(ClientCertificate);

/// The request's client certificate: the one a trusted proxy forwarded
/// (when `tls.client_cert_header` is set and the peer is a trusted proxy),
/// else the one of tokend's own TLS connection.
pub fn client_certificate(req: &HttpRequest) -> Option<ClientCertificate> {
    if let Some(forwarded) = req.extensions().get::<ForwardedCertificate>() {
        return Some(forwarded.0.clone());
    }
    let from_proxy = req
        .app_data::<web::Data<CertHeaderSetting>>()
        .is_some_and(|s| s.0.is_some())
        && req.peer_addr().is_some_and(|p| {
            req.app_data::<web::Data<TrustedProxies>>()
                .is_some_and(|t| t.contains(p.ip()))
        });
    if from_proxy {
        // The proxy terminated TLS: its connection's certificate is its own.
        return None;
    }
    req.conn_data::<ClientCertificate>().cloned()
}

/// The certificate a trusted proxy forwarded in `header`; a malformed value
/// is logged and ignored (the request then has no certificate).
fn forwarded_certificate(header: CertHeader, headers: &HeaderMap) -> Option<ClientCertificate> {
    let mut values = headers.get_all(header.name());
    let value = values.next()?;
    if values.next().is_some() {
        tracing::warn!(
            header = header.name(),
            "ignoring a client certificate header sent twice"
        );
        return None;
    }
    let parsed = value
        .to_str()
        .map_err(|_| tokend_verify::mtls::ForwardedCertError::Malformed)
        .and_then(|v| header.parse(v));
    match parsed {
        Ok(cert) => Some(cert),
        Err(e) => {
            tracing::warn!(header = header.name(), error = %e, "ignoring a forwarded client certificate");
            None
        }
    }
}

/// The host a trusted proxy says the client addressed (`Forwarded: host=`,
/// else `X-Forwarded-Host`; the nearest proxy's entry); `None` from any other
/// peer or when the proxy sent none.
pub fn forwarded_host(req: &HttpRequest) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    if !req
        .app_data::<web::Data<TrustedProxies>>()
        .is_some_and(|t| t.contains(peer))
    {
        return None;
    }
    let headers = req.headers();
    let from_forwarded = headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("host")
                    .then(|| value.trim().trim_matches('"').to_owned())
            })
        })
        .last();
    let host = from_forwarded.or_else(|| {
        headers
            .get_all("x-forwarded-host")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_owned())
            .last()
    })?;
    // A host, optionally with a port: nothing that could change the path.
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    valid.then_some(host)
}

/// The origin of `req`: resolved by [`resolve`], else the bare peer.
pub fn client_origin(req: &HttpRequest) -> Option<ClientOrigin> {
    req.extensions().get::<ClientOrigin>().copied().or_else(|| {
        req.peer_addr().map(|a| ClientOrigin {
            address: a.ip(),
            https: req.app_config().secure(),
        })
    })
}

/// One hop of `Forwarded` or `X-Forwarded-For`: an address, `None` when the
/// proxy wrote something else (`unknown`, an obfuscated name).
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    // IPv4 with a port.
    node.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

struct Hop {
    address: Option<IpAddr>,
    https: Option<bool>,
}

fn hops(headers: &HeaderMap) -> Vec<Hop> {
    let mut out = Vec::new();
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        for element in forwarded.iter().flat_map(|v| v.split(',')) {
            let mut hop = Hop {
                address: None,
                https: None,
            };
            for pair in element.split(';') {
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                match name.trim().to_ascii_lowercase().as_str() {
                    "for" => hop.address = parse_node(value),
                    "proto" => {
                        hop.https =
                            Some(value.trim().trim_matches('"').eq_ignore_ascii_case("https"))
                    }
                    _ => {}
                }
            }
            out.push(hop);
        }
        return out;
    }
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|p| p.trim().eq_ignore_ascii_case("https"));
    for value in headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
    {
        for node in value.split(',') {
            out.push(Hop {
                address: parse_node(node),
                https: None,
            });
        }
    }
    if let Some(first) = out.first_mut() {
        first.https = proto;
    } else if proto.is_some() {
        out.push(Hop {
            address: None,
            https: proto,
        });
    }
    out
}

/// The origin of a request from `peer` with `headers`, believing forwarded
/// headers only from trusted proxies: walking the hops from the nearest, the
/// first address that is not a trusted proxy is the client.
pub fn resolve_origin(
    trusted: &TrustedProxies,
    peer: IpAddr,
    peer_https: bool,
    headers: &HeaderMap,
) -> ClientOrigin {
    let mut origin = ClientOrigin {
        address: peer,
        https: peer_https,
    };
    if !trusted.contains(peer) {
        return origin;
    }
    let hops = hops(headers);
    let mut scheme = hops.iter().rev().find_map(|h| h.https);
    for hop in hops.iter().rev() {
        let Some(address) = hop.address else {
            // Whatever stands before an unreadable hop cannot be believed.
            break;
        };
        origin.address = address;
        if let Some(https) = hop.https {
            scheme = Some(https);
        }
        if !trusted.contains(address) {
            break;
        }
    }
    if let Some(https) = scheme {
        origin.https = https;
    }
    origin
}

/// Resolves the origin of `request` once, keeps it in the request's
/// extensions (with a certificate a trusted proxy forwarded) and notes the
/// address on the request's log line; called by [`super::RequestLayer`].
pub fn resolve(request: &ServiceRequest) {
    let Some(peer) = request.peer_addr() else {
        return;
    };
    // Whether this server speaks TLS; `connection_info()` would believe
    // anyone's `Forwarded` header.
    let https = request.app_config().secure();
    let trusted = request.app_data::<web::Data<TrustedProxies>>();
    let origin = match trusted {
        Some(trusted) => resolve_origin(trusted, peer.ip(), https, request.headers()),
        None => ClientOrigin {
            address: peer.ip(),
            https,
        },
    };
    if let Some(CertHeaderSetting(Some(header))) = request
        .app_data::<web::Data<CertHeaderSetting>>()
        .map(|s| *s.get_ref())
        && trusted.is_some_and(|t| t.contains(peer.ip()))
        && let Some(cert) = forwarded_certificate(header, request.headers())
    {
        request.extensions_mut().insert(ForwardedCertificate(cert));
    }
    crate::telemetry::note_address(origin.address);
    request.extensions_mut().insert(origin);
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        let o = resolve_origin(&trusted("10.0.0.0/8"), ip("192.0.2.9"), false, &h);
        assert_eq!(o.address, ip("192.0.2.9"));
        assert!(!o.https);
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.7"),
            ("x-forwarded-proto", "https"),
        ]);
        let o = resolve_origin(&trusted("10.0.0.0/8"), ip("10.0.0.1"), false, &h);
        assert_eq!(
            o.address,
            ip("1.2.3.4"),
            "a spoofed leftmost entry is not believed"
        );
        assert!(o.https);
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for() {
        let h = headers(&[
            (
                "forwarded",
                r#"for="[2001:db8::1]:4711";proto=https, for=10.0.0.3"#,
            ),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        let o = resolve_origin(&trusted("10.0.0.0/8"), ip("10.0.0.1"), false, &h);
        assert_eq!(o.address, ip("2001:db8::1"));
        assert!(o.https);
    }

    #[test]
    fn an_unreadable_hop_stops_the_walk() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4, unknown, 10.0.0.5")]);
        let o = resolve_origin(&trusted("10.0.0.0/8"), ip("10.0.0.1"), false, &h);
        assert_eq!(o.address, ip("10.0.0.5"));
    }
}
