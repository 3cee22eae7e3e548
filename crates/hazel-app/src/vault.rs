//! AES-256-GCM encryption of provider credentials at rest, and the key's life cycle.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::Context as _;
use base64::Engine as _;
use hazel_domain::model::chat_sync::{Credentials, ExternalAppId, SealedCredentials};
use hazel_domain::ports::{CredentialVault, VaultError};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox, SecretString};
use serde::{Deserialize, Serialize};

/// Format version of sealed blobs: `[version][12-byte nonce][ciphertext + tag]`.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
/// Binds ciphertexts to their purpose, so a blob sealed for something else never opens here.
const AAD: &[u8] = b"hazel-sync/credentials/v1";
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

    /// The key in base64, for writing to the key file.
    fn encode(&self) -> SecretString {
        SecretString::from(base64::engine::general_purpose::STANDARD.encode(self.0.expose_secret()))
    }

    /// Reads `<dir>/secret.key`, or creates it with a fresh key (mode 0600) when absent.
    ///
    /// # Errors
    /// When the directory or file cannot be created or read, or the file holds no valid key.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(KEY_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Self::parse(&SecretString::from(text))
                .with_context(|| format!("the key file {} is invalid", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                let key = Self::generate();
                let mut options = fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt as _;
                    options.mode(0o600);
                }
                match options.open(&path) {
                    Ok(mut file) => {
                        file.write_all(key.encode().expose_secret().as_bytes())
                            .and_then(|()| file.sync_all())
                            .with_context(|| format!("writing {}", path.display()))?;
                        tracing::info!(path = %path.display(), "generated a new credential encryption key");
                        Ok(key)
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(dir)
                    }
                    Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
                }
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

/// The serialized form of credentials inside the ciphertext.
#[derive(Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "camelCase")]
enum Plain {
    #[serde(rename_all = "camelCase")]
    Slack {
        bot_token: String,
        signing_secret: String,
        // Absent in credentials sealed before app tokens existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_token: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Discord {
        bot_token: String,
        application_id: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Teams {
        app_id: String,
        app_password: String,
        tenant_id: String,
    },
}

/// [`CredentialVault`] with AES-256-GCM and a random 96-bit nonce per seal.
pub struct AesGcmVault {
    cipher: Aes256Gcm,
}

impl AesGcmVault {
    /// A vault using `key`.
    #[must_use]
    pub fn new(key: &SecretKey) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.0.expose_secret().into()),
        }
    }
}

impl CredentialVault for AesGcmVault {
    fn seal(&self, credentials: &Credentials) -> Result<SealedCredentials, VaultError> {
        let plain = match credentials {
            Credentials::Slack {
                bot_token,
                signing_secret,
                app_token,
            } => Plain::Slack {
                bot_token: bot_token.expose_secret().to_owned(),
                signing_secret: signing_secret.expose_secret().to_owned(),
                app_token: app_token.as_ref().map(|t| t.expose_secret().to_owned()),
            },
            Credentials::Discord {
                bot_token,
                application_id,
            } => Plain::Discord {
                bot_token: bot_token.expose_secret().to_owned(),
                application_id: application_id.as_ref().map(|id| id.as_str().to_owned()),
            },
            Credentials::Teams {
                app_id,
                app_password,
                tenant_id,
            } => Plain::Teams {
                app_id: app_id.clone(),
                app_password: app_password.expose_secret().to_owned(),
                tenant_id: tenant_id.clone(),
            },
        };
        let json = SecretBox::new(Box::new(serde_json::to_vec(&plain).map_err(|e| {
            VaultError::Unexpected(anyhow::anyhow!("serializing credentials: {e}"))
        })?));
        let mut nonce = [0_u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: json.expose_secret(),
                    aad: AAD,
                },
            )
            .map_err(|_| VaultError::Unexpected(anyhow::anyhow!("encryption failed")))?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(SealedCredentials::from_bytes(sealed))
    }

    fn open(&self, sealed: &SealedCredentials) -> Result<Credentials, VaultError> {
        let bytes = sealed.as_bytes();
        let Some((&VERSION, rest)) = bytes.split_first() else {
            return Err(VaultError::WrongKey);
        };
        if rest.len() < NONCE_LEN {
            return Err(VaultError::WrongKey);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let json = SecretBox::new(Box::new(
            self.cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: AAD,
                    },
                )
                .map_err(|_| VaultError::WrongKey)?,
        ));
        let plain: Plain = serde_json::from_slice(json.expose_secret()).map_err(|_| {
            VaultError::Unexpected(anyhow::anyhow!("sealed credentials do not parse"))
        })?;
        Ok(match plain {
            Plain::Slack {
                bot_token,
                signing_secret,
                app_token,
            } => Credentials::Slack {
                bot_token: bot_token.into(),
                signing_secret: signing_secret.into(),
                app_token: app_token.map(Into::into),
            },
            Plain::Discord {
                bot_token,
                application_id,
            } => Credentials::Discord {
                bot_token: bot_token.into(),
                application_id: application_id
                    .map(|id| ExternalAppId::parse("applicationId", &id))
                    .transpose()
                    .map_err(|_| {
                        VaultError::Unexpected(anyhow::anyhow!(
                            "sealed Discord credentials hold an unusable application id"
                        ))
                    })?,
            },
            Plain::Teams {
                app_id,
                app_password,
                tenant_id,
            } => Credentials::Teams {
                app_id,
                app_password: app_password.into(),
                tenant_id,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slack() -> Credentials {
        Credentials::Slack {
            bot_token: SecretString::from("xoxb-1234-secret"),
            signing_secret: SecretString::from("signing-secret-value"),
            app_token: Some(SecretString::from("xapp-1-A1-app-secret")),
        }
    }

    #[test]
    fn seal_then_open_round_trips_and_hides_the_plaintext() {
        let vault = AesGcmVault::new(&SecretKey::generate());
        let sealed = vault.seal(&slack()).unwrap();
        let haystack = String::from_utf8_lossy(sealed.as_bytes());
        assert!(
            !haystack.contains("xoxb-1234-secret")
                && !haystack.contains("signing-secret-value")
                && !haystack.contains("app-secret")
        );
        match vault.open(&sealed).unwrap() {
            Credentials::Slack {
                bot_token,
                signing_secret,
                app_token,
            } => {
                assert_eq!(bot_token.expose_secret(), "xoxb-1234-secret");
                assert_eq!(signing_secret.expose_secret(), "signing-secret-value");
                assert_eq!(
                    app_token.map(|t| t.expose_secret().to_owned()).as_deref(),
                    Some("xapp-1-A1-app-secret")
                );
            }
            other => panic!("wrong provider: {other:?}"),
        }
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let vault = AesGcmVault::new(&SecretKey::generate());
        assert_ne!(vault.seal(&slack()).unwrap(), vault.seal(&slack()).unwrap());
    }

    #[test]
    fn another_key_or_tampering_cannot_open() {
        let sealed = AesGcmVault::new(&SecretKey::generate())
            .seal(&slack())
            .unwrap();
        let other = AesGcmVault::new(&SecretKey::generate());
        assert!(matches!(other.open(&sealed), Err(VaultError::WrongKey)));
        let vault_key = SecretKey::generate();
        let vault = AesGcmVault::new(&vault_key);
        let mut bytes = vault.seal(&slack()).unwrap().as_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            vault.open(&SealedCredentials::from_bytes(bytes)),
            Err(VaultError::WrongKey)
        ));
        assert!(matches!(
            vault.open(&SealedCredentials::from_bytes(vec![])),
            Err(VaultError::WrongKey)
        ));
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let first = SecretKey::load_or_create(dir.path()).unwrap();
        let second = SecretKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.0.expose_secret(), second.0.expose_secret());
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
