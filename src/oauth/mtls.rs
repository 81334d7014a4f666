//! mTLS client authentication (RFC 8705 §2): a certificate chaining to
//! `tls.client_ca_file` whose subject DN, SAN URI or SAN DNS name is the
//! registered one (`tls_client_auth`), or the registered self-signed
//! certificate itself (`self_signed_tls_client_auth`). The certificate comes
//! from tokend's own TLS handshake (which proved the client holds its key)
//! or from a trusted proxy that terminated TLS.

use crate::domain::{TlsIdentity, dn_attribute};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use std::sync::Arc;
use tokend_verify::mtls::ClientCertificate;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The certificate authorities of `tls.client_ca_file`.
pub struct ClientCa {
    verifier: Arc<dyn ClientCertVerifier>,
    /// Certificates whose chain was verified, by SHA-256, with what they
    /// show: a client presents the same certificate on every request, and
    /// its chain check is a signature verification per certificate.
    verified: quick_cache::sync::Cache<[u8; 32], Arc<Verified>>,
}

/// A certificate that chains to the CAs, until `until` (its own expiry, or
/// a few minutes: the CA's and intermediates' validity is re-checked then).
struct Verified {
    until: i64,
    subject_dn: Result<String, String>,
    san_uris: Vec<String>,
    san_dns: Vec<String>,
}

/// How long a verified chain is remembered at most.
const VERIFIED_FOR_SECS: i64 = 300;
/// Certificates remembered (about 0.3 KiB each).
const VERIFIED_CAPACITY: usize = 10_000;

impl std::fmt::Debug for ClientCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientCa(..)")
    }
}

impl ClientCa {
    /// The CAs of a PEM text (one or more certificates).
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("holds unreadable PEM: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("holds a certificate that is no usable CA: {e}"))?;
        }
        if roots.is_empty() {
            return Err("holds no PEM certificate".into());
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("cannot be used: {e}"))?;
        Ok(Self {
            verifier,
            verified: quick_cache::sync::Cache::new(VERIFIED_CAPACITY),
        })
    }

    /// The chain check and what the certificate shows, remembered.
    fn facts(&self, cert: &ClientCertificate, now: i64) -> Result<Arc<Verified>, String> {
        if let Some(known) = self.verified.get(cert.sha256())
            && now < known.until
        {
            return Ok(known);
        }
        self.verify(cert, now)?;
        let (_, parsed) = X509Certificate::from_der(cert.der())
            .map_err(|_| "the client certificate is not X.509".to_owned())?;
        let names: Vec<GeneralName<'_>> = parsed
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|ext| ext.value.general_names.clone())
            .unwrap_or_default();
        let facts = Arc::new(Verified {
            until: parsed
                .validity()
                .not_after
                .timestamp()
                .min(now + VERIFIED_FOR_SECS),
            subject_dn: subject_dn(&parsed),
            san_uris: names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::URI(u) => Some((*u).to_owned()),
                    _ => None,
                })
                .collect(),
            san_dns: names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect(),
        });
        self.verified.insert(*cert.sha256(), facts.clone());
        Ok(facts)
    }

    /// The verifier whose CA names and signature checks the TLS handshake
    /// uses.
    pub fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        self.verifier.clone()
    }

    /// Whether `cert` chains to one of the CAs at unix time `now` (validity
    /// period, key usage for client authentication).
    pub fn verify(&self, cert: &ClientCertificate, now: i64) -> Result<(), String> {
        let leaf = CertificateDer::from(cert.der());
        let chain: Vec<CertificateDer<'_>> = cert
            .chain()
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(now).unwrap_or(0),
        ));
        self.verifier
            .verify_client_cert(&leaf, &chain, now)
            .map(|_| ())
            .map_err(|e| {
                format!("the client certificate does not chain to tls.client_ca_file ({e})")
            })
    }
}

/// A self-signed client certificate as registered: its thumbprint.
pub fn registered_certificate(pem: &str) -> Result<TlsIdentity, String> {
    let cert = ClientCertificate::from_pem(pem).map_err(|e| e.to_string())?;
    X509Certificate::from_der(cert.der())
        .map_err(|_| "the PEM block is not an X.509 certificate".to_owned())?;
    Ok(TlsIdentity::CertificateSha256(cert.thumbprint()))
}

/// The subject DN of a certificate in the canonical form of
/// [`crate::domain::canonical_dn`] (RFC 4514 order: the last RDN first).
fn subject_dn(cert: &X509Certificate<'_>) -> Result<String, String> {
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter() {
        let mut attrs = Vec::new();
        for attr in rdn.iter() {
            let value = attr
                .as_str()
                .map_err(|_| "the certificate's subject has a value that is not text".to_owned())?;
            attrs.push(dn_attribute(&attr.attr_type().to_id_string(), value));
        }
        rdns.push(attrs.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

/// Whether `cert` authenticates a client registered with `identity`. For a
/// CA-issued identity the chain is checked first (`ca` is
/// `tls.client_ca_file`).
pub fn authenticate(
    identity: &TlsIdentity,
    cert: &ClientCertificate,
    ca: Option<&ClientCa>,
    now: i64,
) -> Result<(), String> {
    if let TlsIdentity::CertificateSha256(expected) = identity {
        return if cert.thumbprint() == *expected {
            Ok(())
        } else {
            Err("the client certificate is not the one registered for this client".into())
        };
    }
    let ca = ca.ok_or("tls_client_auth needs tls.client_ca_file, which is not set")?;
    let facts = ca.facts(cert, now)?;
    let (found, what) = match identity {
        TlsIdentity::SubjectDn(dn) => (
            facts.subject_dn.clone()?.eq_ignore_ascii_case(dn),
            "subject DN",
        ),
        TlsIdentity::SanUri(uri) => (facts.san_uris.iter().any(|u| u == uri), "SAN URI"),
        TlsIdentity::SanDns(dns) => (
            facts.san_dns.iter().any(|d| d.eq_ignore_ascii_case(dns)),
            "SAN DNS name",
        ),
        // Matched by thumbprint above, before any chain check.
        TlsIdentity::CertificateSha256(_) => (false, "certificate"),
    };
    if found {
        Ok(())
    } else {
        Err(format!(
            "the client certificate does not show the registered {what}"
        ))
    }
}
