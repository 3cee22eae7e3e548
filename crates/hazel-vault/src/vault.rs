//! AES-256-GCM encryption of provider credentials at rest, bound to their connection.
//!
//! A sealed blob is `[version][12-byte nonce][ciphertext + tag]`:
//! - version 2 (written): the associated data is `hazel-sync/credentials/v2/<connection id>`,
//!   so a blob opens only for the connection it was sealed for;
//! - version 1 (read only, written before credentials were bound to connections): the
//!   associated data is `hazel-sync/credentials/v1`. Such blobs still open, for any
//!   connection, and are replaced by a version 2 blob the next time the connection's
//!   credentials are written.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hazel_domain::ids::{ChannelLinkId, SyncConnectionId};
use hazel_domain::model::chat_sync::{
    Credentials, ExternalAppId, SealedCredentials, SealedLinkSecret,
};
use hazel_domain::ports::{CredentialVault, VaultError};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox};
use serde::{Deserialize, Serialize};

use crate::key::SecretKey;

/// The format of blobs sealed before credentials were bound to their connection.
const LEGACY: u8 = 1;
/// The associated data of [`LEGACY`] blobs: it binds them to their purpose only.
const LEGACY_AAD: &[u8] = b"hazel-sync/credentials/v1";
/// The format written now: bound to the connection.
const BOUND: u8 = 2;
const NONCE_LEN: usize = 12;

/// The associated data of a [`BOUND`] blob of `connection`.
fn bound_aad(connection: SyncConnectionId) -> Vec<u8> {
    format!("hazel-sync/credentials/v2/{connection}").into_bytes()
}

/// The format of a link's secret: bound to the link and to its purpose, so it never opens as
/// credentials (whose associated data differs) nor for another link.
const LINK_SECRET: u8 = 1;

/// The associated data of a link secret of `link`.
fn link_aad(link: ChannelLinkId) -> Vec<u8> {
    format!("hazel-sync/link-secret/v1/{link}").into_bytes()
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

impl Plain {
    fn of(credentials: &Credentials) -> Self {
        match credentials {
            Credentials::Slack {
                bot_token,
                signing_secret,
                app_token,
            } => Self::Slack {
                bot_token: bot_token.expose_secret().to_owned(),
                signing_secret: signing_secret.expose_secret().to_owned(),
                app_token: app_token.as_ref().map(|t| t.expose_secret().to_owned()),
            },
            Credentials::Discord {
                bot_token,
                application_id,
            } => Self::Discord {
                bot_token: bot_token.expose_secret().to_owned(),
                application_id: application_id.as_ref().map(|id| id.as_str().to_owned()),
            },
            Credentials::Teams {
                app_id,
                app_password,
                tenant_id,
            } => Self::Teams {
                app_id: app_id.clone(),
                app_password: app_password.expose_secret().to_owned(),
                tenant_id: tenant_id.clone(),
            },
        }
    }

    fn into_credentials(self) -> Result<Credentials, VaultError> {
        Ok(match self {
            Self::Slack {
                bot_token,
                signing_secret,
                app_token,
            } => Credentials::Slack {
                bot_token: bot_token.into(),
                signing_secret: signing_secret.into(),
                app_token: app_token.map(Into::into),
            },
            Self::Discord {
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
            Self::Teams {
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

/// [`CredentialVault`] with AES-256-GCM, a random 96-bit nonce per seal, and the connection id
/// as associated data.
pub struct AesGcmVault {
    cipher: Aes256Gcm,
}

impl AesGcmVault {
    /// A vault using `key`.
    #[must_use]
    pub fn new(key: &SecretKey) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.bytes().into()),
        }
    }

    fn seal_as(
        &self,
        version: u8,
        aad: &[u8],
        credentials: &Credentials,
    ) -> Result<SealedCredentials, VaultError> {
        let json = SecretBox::new(Box::new(
            serde_json::to_vec(&Plain::of(credentials)).map_err(|e| {
                VaultError::Unexpected(anyhow::anyhow!("serializing credentials: {e}"))
            })?,
        ));
        self.seal_bytes(version, aad, json.expose_secret())
            .map(SealedCredentials::from_bytes)
    }

    /// `[version][nonce][ciphertext + tag]` of `plain` under `aad`.
    fn seal_bytes(&self, version: u8, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0_u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            .map_err(|_| VaultError::Unexpected(anyhow::anyhow!("encryption failed")))?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(version);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// The plaintext of `[version][nonce][ciphertext + tag]` sealed under `aad`.
    fn open_bytes(&self, aad: &[u8], rest: &[u8]) -> Result<SecretBox<Vec<u8>>, VaultError> {
        if rest.len() < NONCE_LEN {
            return Err(VaultError::WrongKey);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        Ok(SecretBox::new(Box::new(
            self.cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: ciphertext,
                        aad,
                    },
                )
                .map_err(|_| VaultError::WrongKey)?,
        )))
    }
}

impl CredentialVault for AesGcmVault {
    fn seal(
        &self,
        connection: SyncConnectionId,
        credentials: &Credentials,
    ) -> Result<SealedCredentials, VaultError> {
        self.seal_as(BOUND, &bound_aad(connection), credentials)
    }

    fn open(
        &self,
        connection: SyncConnectionId,
        sealed: &SealedCredentials,
    ) -> Result<Credentials, VaultError> {
        let bytes = sealed.as_bytes();
        let aad = match bytes.first() {
            Some(&BOUND) => bound_aad(connection),
            Some(&LEGACY) => LEGACY_AAD.to_vec(),
            _ => return Err(VaultError::WrongKey),
        };
        let json = self.open_bytes(&aad, &bytes[1..])?;
        let plain: Plain = serde_json::from_slice(json.expose_secret()).map_err(|_| {
            VaultError::Unexpected(anyhow::anyhow!("sealed credentials do not parse"))
        })?;
        plain.into_credentials()
    }

    fn seal_link_secret(
        &self,
        link: ChannelLinkId,
        secret: &secrecy::SecretString,
    ) -> Result<SealedLinkSecret, VaultError> {
        self.seal_bytes(
            LINK_SECRET,
            &link_aad(link),
            secret.expose_secret().as_bytes(),
        )
        .map(SealedLinkSecret::from_bytes)
    }

    fn open_link_secret(
        &self,
        link: ChannelLinkId,
        sealed: &SealedLinkSecret,
    ) -> Result<secrecy::SecretString, VaultError> {
        let bytes = sealed.as_bytes();
        if bytes.first() != Some(&LINK_SECRET) {
            return Err(VaultError::WrongKey);
        }
        let plain = self.open_bytes(&link_aad(link), &bytes[1..])?;
        let text = std::str::from_utf8(plain.expose_secret()).map_err(|_| {
            VaultError::Unexpected(anyhow::anyhow!("a sealed link secret is not text"))
        })?;
        Ok(secrecy::SecretString::from(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn slack() -> Credentials {
        Credentials::Slack {
            bot_token: SecretString::from("xoxb-1234-secret"),
            signing_secret: SecretString::from("signing-secret-value"),
            app_token: Some(SecretString::from("xapp-1-A1-app-secret")),
        }
    }

    fn bot_token(credentials: &Credentials) -> &str {
        match credentials {
            Credentials::Slack { bot_token, .. } => bot_token.expose_secret(),
            other => panic!("wrong provider: {other:?}"),
        }
    }

    #[test]
    fn link_secrets_open_only_for_their_link_and_never_as_credentials() {
        let vault = AesGcmVault::new(&SecretKey::generate());
        let link = ChannelLinkId::new();
        let sealed = vault
            .seal_link_secret(link, &SecretString::from("123:webhook-token-value"))
            .unwrap();
        assert!(!String::from_utf8_lossy(sealed.as_bytes()).contains("webhook-token-value"));
        assert_eq!(
            vault
                .open_link_secret(link, &sealed)
                .unwrap()
                .expose_secret(),
            "123:webhook-token-value"
        );
        assert!(matches!(
            vault.open_link_secret(ChannelLinkId::new(), &sealed),
            Err(VaultError::WrongKey)
        ));
        let as_credentials = SealedCredentials::from_bytes(sealed.as_bytes().to_vec());
        assert!(
            vault
                .open(SyncConnectionId::new(), &as_credentials)
                .is_err()
        );
        let other_key = AesGcmVault::new(&SecretKey::generate());
        assert!(matches!(
            other_key.open_link_secret(link, &sealed),
            Err(VaultError::WrongKey)
        ));
    }

    #[test]
    fn seal_then_open_round_trips_and_hides_the_plaintext() {
        let vault = AesGcmVault::new(&SecretKey::generate());
        let connection = SyncConnectionId::new();
        let sealed = vault.seal(connection, &slack()).unwrap();
        let haystack = String::from_utf8_lossy(sealed.as_bytes());
        assert!(
            !haystack.contains("xoxb-1234-secret")
                && !haystack.contains("signing-secret-value")
                && !haystack.contains("app-secret")
        );
        match vault.open(connection, &sealed).unwrap() {
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
    fn every_provider_round_trips() {
        let vault = AesGcmVault::new(&SecretKey::generate());
        let connection = SyncConnectionId::new();
        let discord = Credentials::Discord {
            bot_token: SecretString::from("discord-token"),
            application_id: Some(ExternalAppId::parse("applicationId", "42").unwrap()),
        };
        let teams = Credentials::Teams {
            app_id: "app".into(),
            app_password: SecretString::from("pw"),
            tenant_id: "tenant".into(),
        };
        for credentials in [slack(), discord, teams] {
            let opened = vault
                .open(connection, &vault.seal(connection, &credentials).unwrap())
                .unwrap();
            assert_eq!(format!("{opened:?}"), format!("{credentials:?}"));
        }
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let vault = AesGcmVault::new(&SecretKey::generate());
        let connection = SyncConnectionId::new();
        assert_ne!(
            vault.seal(connection, &slack()).unwrap(),
            vault.seal(connection, &slack()).unwrap()
        );
    }

    #[test]
    fn credentials_copied_to_another_connection_do_not_open() {
        let vault = AesGcmVault::new(&SecretKey::generate());
        let (owner, other) = (SyncConnectionId::new(), SyncConnectionId::new());
        let sealed = vault.seal(owner, &slack()).unwrap();
        assert_eq!(sealed.as_bytes()[0], BOUND);
        assert!(matches!(
            vault.open(other, &sealed),
            Err(VaultError::WrongKey)
        ));
        assert_eq!(
            bot_token(&vault.open(owner, &sealed).unwrap()),
            "xoxb-1234-secret"
        );
    }

    #[test]
    fn credentials_sealed_before_the_binding_still_open_and_are_resealed_bound() {
        let vault = AesGcmVault::new(&SecretKey::generate());
        let connection = SyncConnectionId::new();
        let legacy = vault.seal_as(LEGACY, LEGACY_AAD, &slack()).unwrap();
        assert_eq!(legacy.as_bytes()[0], LEGACY);
        let opened = vault.open(connection, &legacy).unwrap();
        assert_eq!(bot_token(&opened), "xoxb-1234-secret");
        // Writing them again (the next credentials write) produces the bound format.
        let resealed = vault.seal(connection, &opened).unwrap();
        assert_eq!(resealed.as_bytes()[0], BOUND);
        assert!(vault.open(SyncConnectionId::new(), &resealed).is_err());
    }

    #[test]
    fn a_legacy_blob_keeps_its_own_associated_data() {
        // A version-1 blob relabelled as version 2 does not open: the version byte is bound
        // to the associated data it was sealed with.
        let vault = AesGcmVault::new(&SecretKey::generate());
        let connection = SyncConnectionId::new();
        let mut bytes = vault
            .seal_as(LEGACY, LEGACY_AAD, &slack())
            .unwrap()
            .as_bytes()
            .to_vec();
        bytes[0] = BOUND;
        assert!(matches!(
            vault.open(connection, &SealedCredentials::from_bytes(bytes)),
            Err(VaultError::WrongKey)
        ));
    }

    #[test]
    fn another_key_tampering_or_unknown_formats_cannot_open() {
        let connection = SyncConnectionId::new();
        let sealed = AesGcmVault::new(&SecretKey::generate())
            .seal(connection, &slack())
            .unwrap();
        let other = AesGcmVault::new(&SecretKey::generate());
        assert!(matches!(
            other.open(connection, &sealed),
            Err(VaultError::WrongKey)
        ));
        let vault = AesGcmVault::new(&SecretKey::generate());
        let mut bytes = vault
            .seal(connection, &slack())
            .unwrap()
            .as_bytes()
            .to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            vault.open(connection, &SealedCredentials::from_bytes(bytes.clone())),
            Err(VaultError::WrongKey)
        ));
        bytes[0] = 3;
        for bad in [bytes, vec![], vec![BOUND], vec![BOUND; 5]] {
            assert!(
                matches!(
                    vault.open(connection, &SealedCredentials::from_bytes(bad.clone())),
                    Err(VaultError::WrongKey)
                ),
                "{bad:?}"
            );
        }
    }
}
