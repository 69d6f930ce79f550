//! Encryption at rest for what runs keep that holds secrets: saved plan files (terraform puts
//! every variable's value and the prior state in them) and the plan's JSON. AES-256-GCM under
//! the server's data key, with a fresh random nonce per message and the message's context (run
//! and artifact name) authenticated with it, so a sealed plan cannot be moved to another run.
//!
//! The key is `server.data_key` (32 bytes, base64) or, when unset, one made at first start in
//! the data directory (`data.key`, mode 0600). Replicas must share it: each sealed message names
//! the key that sealed it (a fingerprint, not the key), so a mismatch is reported as such.

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

const MAGIC: &[u8; 4] = b"ZSL1";
const KEY_ID_BYTES: usize = 8;
const NONCE_BYTES: usize = 12;
const HEADER: usize = MAGIC.len() + KEY_ID_BYTES + NONCE_BYTES;
pub const KEY_FILE: &str = "data.key";

#[derive(Clone)]
pub struct DataKey {
    cipher: Aes256Gcm,
    id: [u8; KEY_ID_BYTES],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({})", self.id())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("it is not encrypted (it was saved before plans were encrypted)")]
    NotSealed,
    #[error("it was encrypted with data key {sealed_with}, and this server's key is {ours}: every replica must use the same server.data_key")]
    OtherKey { sealed_with: String, ours: String },
    #[error("it does not decrypt with this server's data key: it was altered or damaged")]
    Damaged,
}

impl DataKey {
    fn from_bytes(bytes: &[u8]) -> Result<DataKey, String> {
        if bytes.len() != 32 {
            return Err(format!("must be 32 bytes, base64-encoded (this one is {} bytes)", bytes.len()));
        }
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; KEY_ID_BYTES];
        id.copy_from_slice(&digest[..KEY_ID_BYTES]);
        Ok(DataKey { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(bytes)), id })
    }

    pub fn from_base64(text: &str) -> Result<DataKey, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| "is not base64 (make one with `openssl rand -base64 32`)".to_string())?;
        Self::from_bytes(&bytes)
    }

    /// The configured key, or the data directory's, made there on first use.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<DataKey> {
        if let Some(text) = configured {
            return DataKey::from_base64(text).map_err(|why| anyhow::anyhow!("server.data_key {why}"));
        }
        let path = data_dir.join(KEY_FILE);
        std::fs::create_dir_all(data_dir)?;
        let fresh = base64::engine::general_purpose::STANDARD.encode(Aes256Gcm::generate_key(OsRng));
        // create_new: of two processes starting on one data directory, one writes the key and
        // the other reads it.
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
            Ok(mut file) => {
                file.write_all(format!("{fresh}\n").as_bytes())?;
                file.sync_all()?;
                tracing::info!("made a new data key in {} (set server.data_key to share it with replicas)", path.display());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mode = std::fs::metadata(&path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!("{} can be read by other users (mode {:o}): chmod 600 it", path.display(), mode & 0o777);
                }
            }
            Err(e) => return Err(anyhow::anyhow!("cannot create the data key {}: {e}", path.display())),
        }
        let text = std::fs::read_to_string(&path)?;
        DataKey::from_base64(&text).map_err(|why| anyhow::anyhow!("the data key in {} {why}", path.display()))
    }

    /// The key's fingerprint: names it in messages without giving anything away.
    pub fn id(&self) -> String {
        hex::encode(self.id)
    }

    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut out = Vec::with_capacity(HEADER + plaintext.len() + 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce);
        let aad = self.associated(context);
        let sealed = self.cipher.encrypt(&nonce, Payload { msg: plaintext, aad: &aad }).expect("AES-GCM encrypts any message that fits in memory");
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < HEADER || &sealed[..MAGIC.len()] != MAGIC {
            return Err(OpenError::NotSealed);
        }
        let id = &sealed[MAGIC.len()..MAGIC.len() + KEY_ID_BYTES];
        if id != self.id {
            return Err(OpenError::OtherKey { sealed_with: hex::encode(id), ours: self.id() });
        }
        let nonce = Nonce::from_slice(&sealed[MAGIC.len() + KEY_ID_BYTES..HEADER]);
        let aad = self.associated(context);
        self.cipher.decrypt(nonce, Payload { msg: &sealed[HEADER..], aad: &aad }).map_err(|_| OpenError::Damaged)
    }

    fn associated(&self, context: &[u8]) -> Vec<u8> {
        [MAGIC.as_slice(), &self.id, context].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn what_is_sealed_opens_only_with_its_key_and_context() {
        let k = key();
        let sealed = k.seal(b"run 1 plan.tfplan", b"PK\x03\x04 hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"), "no plaintext in the sealed bytes");
        assert_eq!(k.open(b"run 1 plan.tfplan", &sealed).unwrap(), b"PK\x03\x04 hunter2");
        assert_ne!(k.seal(b"c", b"same"), k.seal(b"c", b"same"), "a fresh nonce each time");

        assert_eq!(k.open(b"run 2 plan.tfplan", &sealed), Err(OpenError::Damaged), "bound to its run");
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(k.open(b"run 1 plan.tfplan", &flipped), Err(OpenError::Damaged));
        assert_eq!(k.open(b"run 1 plan.tfplan", b"PK\x03\x04 plain zip"), Err(OpenError::NotSealed));

        let other = DataKey::from_bytes(&[8u8; 32]).unwrap();
        match other.open(b"run 1 plan.tfplan", &sealed) {
            Err(OpenError::OtherKey { sealed_with, ours }) => assert_eq!((sealed_with, ours), (k.id(), other.id())),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_are_32_bytes_of_base64() {
        assert!(DataKey::from_base64("not base64!").unwrap_err().contains("not base64"));
        assert!(DataKey::from_base64("c2hvcnQ=").unwrap_err().contains("32 bytes"));
        let text = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert_eq!(DataKey::from_base64(&format!("{text}\n")).unwrap().id(), DataKey::from_bytes(&[1u8; 32]).unwrap().id());
    }

    #[test]
    fn a_key_is_made_once_per_data_directory_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataKey::load(None, dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = DataKey::load(None, dir.path()).unwrap();
        assert_eq!(first.id(), again.id(), "the same key after a restart");
        let configured = base64::engine::general_purpose::STANDARD.encode([3u8; 32]);
        assert_ne!(DataKey::load(Some(&configured), dir.path()).unwrap().id(), first.id(), "server.data_key wins");
        std::fs::write(dir.path().join(KEY_FILE), "garbage").unwrap();
        assert!(DataKey::load(None, dir.path()).unwrap_err().to_string().contains("not base64"));
    }
}
