//! The 256-bit credential key: parsed from configuration, or generated once into a key file.

use std::fs;
use std::io::{ErrorKind, Write as _};
use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox, SecretString};

/// File name of the generated key inside the data directory.
pub const KEY_FILE: &str = "secret.key";

/// A 256-bit key, zeroed on drop.
pub struct SecretKey(SecretBox<[u8; 32]>);

impl SecretKey {
    /// Parses a base64 key of exactly 32 bytes.
    ///
    /// # Errors
    /// When the text is not base64 or not 32 bytes long (the message never echoes the key).
    pub fn parse(encoded: &SecretString) -> anyhow::Result<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.expose_secret().trim())
            .map_err(|_| anyhow::anyhow!("HAZEL_SECRET_KEY must be base64"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("HAZEL_SECRET_KEY must decode to exactly 32 bytes"))?;
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// A fresh random key.
    #[must_use]
    pub fn generate() -> Self {
        let mut key = [0_u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self(SecretBox::new(Box::new(key)))
    }

    /// The key's bytes, for the cipher.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }

    /// The key in base64, for writing to the key file.
    fn encode(&self) -> SecretString {
        SecretString::from(base64::engine::general_purpose::STANDARD.encode(self.bytes()))
    }

    /// Reads `<dir>/secret.key`, or creates it with a fresh key when absent.
    ///
    /// The key is written to a temporary file (mode 0600) in the same directory, flushed to
    /// disk, then renamed to `secret.key` only if no such file exists yet. A reader therefore
    /// sees either no key file or a complete one, and of several processes starting at once
    /// one wins the rename and the others read its key.
    ///
    /// # Errors
    /// When the directory or file cannot be created or read, or the file holds no valid key.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(KEY_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Self::parse(&SecretString::from(text))
                .with_context(|| format!("the key file {} is invalid", path.display())),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                let key = Self::generate();
                let mut builder = tempfile::Builder::new();
                builder.prefix(".secret.key.").suffix(".tmp");
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    builder.permissions(fs::Permissions::from_mode(0o600));
                }
                let mut file = builder.tempfile_in(dir).with_context(|| {
                    format!("creating a temporary key file in {}", dir.display())
                })?;
                file.write_all(key.encode().expose_secret().as_bytes())
                    .and_then(|()| file.as_file().sync_all())
                    .with_context(|| {
                        format!("writing a temporary key file in {}", dir.display())
                    })?;
                // Never replaces an existing key file: the first process to rename wins. The
                // temporary file of a loser is removed when it is dropped.
                match file.persist_noclobber(&path) {
                    Ok(_) => {
                        sync_dir(dir);
                        tracing::info!(path = %path.display(), "generated a new credential encryption key");
                        Ok(key)
                    }
                    Err(e) if e.error.kind() == ErrorKind::AlreadyExists => {
                        Self::load_or_create(dir)
                    }
                    Err(e) => Err(e.error).with_context(|| format!("creating {}", path.display())),
                }
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

/// Makes the rename durable. Best effort: not every platform can open a directory.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = fs::File::open(dir)
        && let Err(e) = handle.sync_all()
    {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot flush the key file's directory");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let first = SecretKey::load_or_create(dir.path()).unwrap();
        let second = SecretKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.bytes(), second.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_key_directory_is_created_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a").join("b");
        let key = SecretKey::load_or_create(&nested).unwrap();
        let again = SecretKey::load_or_create(&nested).unwrap();
        assert_eq!(key.bytes(), again.bytes());
    }

    #[test]
    fn processes_starting_at_once_end_with_one_key_and_never_read_a_partial_file() {
        // Each round races fresh starters on an empty directory; every one of them must come
        // back with the same key (none may read an empty or half-written file), and only the
        // key file may be left behind.
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let starters = 8;
            let barrier = Arc::new(Barrier::new(starters));
            let handles: Vec<_> = (0..starters)
                .map(|_| {
                    let barrier = barrier.clone();
                    let path = dir.path().to_owned();
                    std::thread::spawn(move || {
                        barrier.wait();
                        SecretKey::load_or_create(&path).map(|k| *k.bytes())
                    })
                })
                .collect();
            let keys: Vec<[u8; 32]> = handles
                .into_iter()
                .map(|h| h.join().unwrap().unwrap())
                .collect();
            assert!(keys.windows(2).all(|w| w[0] == w[1]), "several keys");
            let stored = SecretKey::load_or_create(dir.path()).unwrap();
            assert_eq!(stored.bytes(), &keys[0]);
            let names: Vec<_> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, vec![std::ffi::OsString::from(KEY_FILE)]);
        }
    }

    #[test]
    fn an_invalid_key_file_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(KEY_FILE), "").unwrap();
        let err = SecretKey::load_or_create(dir.path()).err().unwrap();
        assert!(format!("{err:#}").contains("is invalid"), "{err:#}");
        assert_eq!(fs::read(dir.path().join(KEY_FILE)).unwrap(), b"");
    }

    #[test]
    fn bad_keys_are_rejected_without_echoing_them() {
        let err = SecretKey::parse(&SecretString::from("c2hvcnQ="))
            .err()
            .unwrap();
        assert!(err.to_string().contains("32 bytes") && !err.to_string().contains("c2hvcnQ"));
        let err = SecretKey::parse(&SecretString::from("not base64 !!"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("base64"));
    }
}
