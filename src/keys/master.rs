//! The master key: 32 bytes that seal every private signing key (AES-256-GCM,
//! the `kid` as associated data) and key the client-secret hash. Subkeys are
//! derived per purpose so one use can never be turned against another.

use super::KeyError;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

const SEALED_VERSION: u8 = 1;

pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Where a master key came from, for the start-up log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeySource {
    Inline,
    File,
    Created,
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .expect("the system random source works");
        Self { bytes }
    }

    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .map_err(|_| KeyError::MasterKeyInvalid("not base64".into()))?,
        );
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            KeyError::MasterKeyInvalid(format!("expected 32 bytes, found {}", decoded.len()))
        })?;
        Ok(Self {
            bytes: Zeroizing::new(bytes),
        })
    }

    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_ref()))
    }

    /// The inline key wins over the file. A missing file is created (mode
    /// 0600) only when `may_create`, i.e. when nothing is sealed yet.
    pub fn load(
        inline: Option<&SecretString>,
        file: &Path,
        may_create: bool,
    ) -> Result<(Self, MasterKeySource), KeyError> {
        if let Some(inline) = inline {
            return Ok((
                Self::from_base64(inline.expose_secret())?,
                MasterKeySource::Inline,
            ));
        }
        let io_err = |e: std::io::Error| KeyError::MasterKeyIo {
            path: file.display().to_string(),
            reason: e.to_string(),
        };
        match std::fs::read_to_string(file) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                warn_if_readable_by_others(file);
                Ok((Self::from_base64(&text)?, MasterKeySource::File))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !may_create {
                    return Err(KeyError::MasterKeyMissing(file.display().to_string()));
                }
                let key = Self::generate();
                match key.write_new(file) {
                    Ok(()) => Ok((key, MasterKeySource::Created)),
                    // Another replica created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text = Zeroizing::new(std::fs::read_to_string(file).map_err(io_err)?);
                        Ok((Self::from_base64(&text)?, MasterKeySource::File))
                    }
                    Err(e) => Err(io_err(e)),
                }
            }
            Err(e) => Err(io_err(e)),
        }
    }

    fn write_new(&self, file: &Path) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(dir) = file.parent()
            && !dir.as_os_str().is_empty()
        {
            crate::files::create_private_dirs(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(file)?;
        let mut line = self.to_base64();
        line.push('\n');
        f.write_all(line.as_bytes())?;
        f.sync_all()
    }

    fn subkey(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.bytes.as_ref());
        let tag = hmac::sign(&key, label.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// A public fingerprint of the key, stored in the database so that a wrong
    /// key is refused at start with a clear message.
    pub fn fingerprint(&self) -> String {
        let sub = self.subkey("tokend/master-key-fingerprint/v1");
        sub[..12].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key of the client-secret hash (HMAC-SHA256).
    pub fn secret_pepper(&self) -> hmac::Key {
        hmac::Key::new(
            hmac::HMAC_SHA256,
            self.subkey("tokend/client-secret-pepper/v1").as_ref(),
        )
    }

    fn sealing_key(&self) -> LessSafeKey {
        let sub = self.subkey("tokend/private-key-sealing/v1");
        LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, sub.as_ref()).expect("32 bytes is an AES-256 key"),
        )
    }

    /// Seals a PKCS#8 private key: `version || nonce || ciphertext || tag`.
    pub fn seal(&self, kid: &str, pkcs8: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system random source works");
        let mut in_out = pkcs8.to_vec();
        self.sealing_key()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut in_out,
            )
            .expect("AES-GCM sealing of a short buffer cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&in_out);
        in_out.iter_mut().for_each(|b| *b = 0);
        out
    }

    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let unseal = || KeyError::Unseal(kid.to_owned());
        let (&version, rest) = sealed.split_first().ok_or_else(unseal)?;
        if version != SEALED_VERSION || rest.len() < NONCE_LEN {
            return Err(unseal());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unseal())?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let len = self
            .sealing_key()
            .open_in_place(nonce, Aad::from(kid.as_bytes()), buf.as_mut_slice())
            .map_err(|_| unseal())?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

fn warn_if_readable_by_others(file: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(file)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %file.display(),
                "the master key file is readable by other users; chmod 600 it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips() {
        let key = MasterKey::generate();
        let sealed = key.seal("kid-1", b"private bytes");
        assert_eq!(
            key.open("kid-1", &sealed).unwrap().as_slice(),
            b"private bytes"
        );
    }

    #[test]
    fn wrong_master_key_fails() {
        let sealed = MasterKey::generate().seal("kid-1", b"private bytes");
        assert!(matches!(
            MasterKey::generate().open("kid-1", &sealed),
            Err(KeyError::Unseal(_))
        ));
    }

    #[test]
    fn kid_is_bound_as_associated_data() {
        let key = MasterKey::generate();
        let sealed = key.seal("kid-1", b"private bytes");
        assert!(key.open("kid-2", &sealed).is_err());
    }

    #[test]
    fn tampered_ciphertext_fails() {
        let key = MasterKey::generate();
        let mut sealed = key.seal("kid-1", b"private bytes");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(key.open("kid-1", &sealed).is_err());
    }

    #[test]
    fn base64_round_trip_and_length_check() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.fingerprint(), again.fingerprint());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("!!!").is_err());
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let key = MasterKey::generate();
        assert_eq!(format!("{key:?}"), "MasterKey(..)");
    }

    #[test]
    fn file_is_created_0600_only_when_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        assert!(matches!(
            MasterKey::load(None, &path, false),
            Err(KeyError::MasterKeyMissing(_))
        ));
        let (created, source) = MasterKey::load(None, &path, true).unwrap();
        assert_eq!(source, MasterKeySource::Created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (loaded, source) = MasterKey::load(None, &path, false).unwrap();
        assert_eq!(source, MasterKeySource::File);
        assert_eq!(created.fingerprint(), loaded.fingerprint());
    }
}
