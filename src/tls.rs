//! HTTPS served by tokend itself (SPEC §2 `tls.*`): rustls on aws-lc-rs, the
//! certificate chain and key read from PEM files and swapped in place on
//! SIGHUP, so a renewed certificate (cert-manager, certbot) takes effect
//! without a restart and without dropping a connection. A reload that fails
//! keeps the certificate in use and says why.

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls.cert_file {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("tls.key_file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
}

/// The certificate in use, replaced whole on reload.
#[derive(Debug)]
pub struct ReloadableCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn load(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let cert_err = |reason: String| TlsError::Cert {
        path: cert_file.to_owned(),
        reason,
    };
    let key_err = |reason: String| TlsError::Key {
        path: key_file.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("holds no PEM certificate".into()));
    }
    // The error of a key parser can quote key bytes: say only what failed.
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|_| {
        key_err("holds no readable PEM private key (PKCS#8, PKCS#1 or SEC1)".into())
    })?;
    let certified = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| key_err(format!("does not fit the certificate: {e}")))?;
    Ok(certified)
}

impl ReloadableCert {
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, TlsError> {
        let provider = provider();
        let current = load(cert_file, key_file, &provider)?;
        Ok(Self {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            provider,
            current: ArcSwap::from_pointee(current),
        })
    }

    /// Reads the files again; on error the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = load(&self.cert_file, &self.key_file, &self.provider)?;
        self.current.store(Arc::new(fresh));
        Ok(())
    }

    /// The rustls configuration serving this certificate (HTTP/1.1). With
    /// `client_ca` (the verifier of `tls.client_ca_file`: its CA names and
    /// signature checks) a client certificate is asked for, never required
    /// (SPEC §9).
    pub fn server_config(
        self: &Arc<Self>,
        client_ca: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
    ) -> rustls::ServerConfig {
        let builder = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the aws-lc-rs provider supports the default versions");
        let builder = match client_ca {
            Some(inner) => {
                builder.with_client_cert_verifier(Arc::new(OptionalClientCert { inner }))
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Asks for a client certificate and checks the handshake's proof that the
/// client holds its key, but accepts any certificate: whether it chains to
/// `tls.client_ca_file` (`tls_client_auth`) or is the registered one
/// (`self_signed_tls_client_auth`) depends on the client, known only when
/// the request names it. A connection without a certificate is accepted.
#[derive(Debug)]
struct OptionalClientCert {
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
}

impl rustls::server::danger::ClientCertVerifier for OptionalClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
