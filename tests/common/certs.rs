#![allow(dead_code)] // each test binary uses a different part
//! Test certificates, made by the `openssl` command in the test's own folder:
//! a CA, and server certificates it signs for 127.0.0.1 and localhost. No key
//! material is committed.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TestCa {
    pub dir: PathBuf,
    pub cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    /// A new P-256 CA in `dir`.
    pub fn new(dir: &Path) -> Self {
        let cert = dir.join("ca.pem");
        let key = dir.join("ca.key");
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                "/CN=tokend test CA",
                "-days",
                "2",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        Self {
            dir: dir.to_owned(),
            cert,
            key,
        }
    }

    /// A server certificate for 127.0.0.1 and localhost: (cert, key) paths
    /// named `NAME.pem`, `NAME.key`.
    pub fn server(&self, name: &str) -> (PathBuf, PathBuf) {
        self.issue(
            name,
            &format!("/CN={name}"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        )
    }

    /// A client certificate (extended key usage clientAuth) with subject
    /// `subj` (openssl's `/CN=a/O=b` form) and, when given, the SAN
    /// (`URI:spiffe://…`, `DNS:…`).
    pub fn client(&self, name: &str, subj: &str, san: Option<&str>) -> (PathBuf, PathBuf) {
        let mut ext = "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n".to_owned();
        if let Some(san) = san {
            ext.push_str(&format!("subjectAltName={san}\n"));
        }
        self.issue(name, subj, &ext)
    }

    fn issue(&self, name: &str, subj: &str, ext_text: &str) -> (PathBuf, PathBuf) {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let ext = format!("{name}.ext");
        std::fs::write(self.dir.join(&ext), ext_text).unwrap();
        openssl(
            &self.dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                subj,
                "-keyout",
                &key,
                "-out",
                &csr,
            ],
        );
        let ca = self.cert.display().to_string();
        let ca_key = self.key.display().to_string();
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &pem,
            ],
        );
        (self.dir.join(pem), self.dir.join(key))
    }
}

/// A self-signed client certificate in `dir`: (cert, key) paths named
/// `NAME.pem`, `NAME.key`.
pub fn self_signed(dir: &Path, name: &str, subj: &str) -> (PathBuf, PathBuf) {
    let key = format!("{name}.key");
    let pem = format!("{name}.pem");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            subj,
            "-days",
            "2",
            "-keyout",
            &key,
            "-out",
            &pem,
        ],
    );
    (dir.join(pem), dir.join(key))
}

/// The DER of the first certificate of a PEM file.
pub fn pem_to_der(pem: &Path) -> Vec<u8> {
    use base64::Engine;
    let text = std::fs::read_to_string(pem).unwrap();
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// `x5t#S256` of a PEM certificate file.
pub fn thumbprint(pem: &Path) -> String {
    use base64::Engine;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &pem_to_der(pem));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Percent-encodes everything but unreserved characters, as proxies write
/// a forwarded PEM.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// The claims of a compact JWT, unverified (what the test then checks).
pub fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}
