//! Sealing credentials, and the secrets adapters keep per channel link, for storage.

use async_trait::async_trait;
use secrecy::SecretString;

use crate::ids::{ChannelLinkId, SyncConnectionId};
use crate::model::chat_sync::{Credentials, SealedCredentials, SealedLinkSecret};

/// Why credentials could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The sealed bytes were not produced with the current key for this connection, or were
    /// tampered with.
    #[error("sealed credentials cannot be opened with the configured key")]
    WrongKey,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Encrypts credentials at rest and decrypts them for use. Sealed credentials are bound to
/// the connection they belong to: copied to another connection's row, they do not open.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait CredentialVault: Send + Sync {
    /// Serializes and encrypts the credentials of `connection`.
    ///
    /// # Errors
    /// [`VaultError::Unexpected`] when encryption fails.
    fn seal(
        &self,
        connection: SyncConnectionId,
        credentials: &Credentials,
    ) -> Result<SealedCredentials, VaultError>;

    /// Decrypts and parses the sealed credentials stored for `connection`.
    ///
    /// # Errors
    /// [`VaultError::WrongKey`] when the bytes do not authenticate under the configured key
    /// for this connection (another key, tampering, or credentials sealed for another
    /// connection).
    fn open(
        &self,
        connection: SyncConnectionId,
        sealed: &SealedCredentials,
    ) -> Result<Credentials, VaultError>;

    /// Encrypts a secret an adapter keeps for `link` (bound to the link, and to this purpose:
    /// it never opens as credentials, nor for another link).
    ///
    /// # Errors
    /// [`VaultError::Unexpected`] when encryption fails.
    fn seal_link_secret(
        &self,
        link: ChannelLinkId,
        secret: &SecretString,
    ) -> Result<SealedLinkSecret, VaultError>;

    /// Decrypts a secret sealed for `link`.
    ///
    /// # Errors
    /// [`VaultError::WrongKey`] when the bytes do not authenticate under the configured key
    /// for this link.
    fn open_link_secret(
        &self,
        link: ChannelLinkId,
        sealed: &SealedLinkSecret,
    ) -> Result<SecretString, VaultError>;
}

/// A failed read or write of a link's secret.
#[derive(Debug, thiserror::Error)]
pub enum LinkSecretError {
    /// The stored secret does not open with the configured key (another key, or tampering).
    #[error("the link's stored secret cannot be opened with the configured key")]
    WrongKey,
    /// The database or the vault failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Where sealed link secrets are stored: one per channel link, written over on change.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LinkSecretStore: Send + Sync {
    /// The sealed secret of `link`, if one is stored.
    ///
    /// # Errors
    /// [`LinkSecretError::Unexpected`] when the database fails.
    async fn sealed(
        &self,
        link: ChannelLinkId,
    ) -> Result<Option<SealedLinkSecret>, LinkSecretError>;

    /// Stores `sealed` as the secret of `link`, replacing any.
    ///
    /// # Errors
    /// [`LinkSecretError::Unexpected`] when the database fails.
    async fn put(
        &self,
        link: ChannelLinkId,
        sealed: SealedLinkSecret,
    ) -> Result<(), LinkSecretError>;

    /// Removes the secret of `link`, if any.
    ///
    /// # Errors
    /// [`LinkSecretError::Unexpected`] when the database fails.
    async fn remove(&self, link: ChannelLinkId) -> Result<(), LinkSecretError>;
}

/// What adapters use to keep one secret per channel link across restarts (the Discord
/// link's webhook): sealed at rest, never answered by the API or logged.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LinkSecrets: Send + Sync {
    /// The secret kept for `link`, if any.
    ///
    /// # Errors
    /// [`LinkSecretError::WrongKey`] when it cannot be opened; `Unexpected` otherwise.
    async fn get(&self, link: ChannelLinkId) -> Result<Option<SecretString>, LinkSecretError>;

    /// Keeps `secret` for `link`, replacing any.
    ///
    /// # Errors
    /// [`LinkSecretError::Unexpected`] when it cannot be sealed or stored.
    async fn set(&self, link: ChannelLinkId, secret: SecretString) -> Result<(), LinkSecretError>;

    /// Forgets the secret of `link` (it stopped working on the platform).
    ///
    /// # Errors
    /// [`LinkSecretError::Unexpected`] when the database fails.
    async fn forget(&self, link: ChannelLinkId) -> Result<(), LinkSecretError>;
}

/// [`LinkSecrets`] over a [`LinkSecretStore`], sealing with a [`CredentialVault`].
pub struct SealedLinkSecrets {
    store: std::sync::Arc<dyn LinkSecretStore>,
    vault: std::sync::Arc<dyn CredentialVault>,
}

impl SealedLinkSecrets {
    /// Secrets stored in `store`, sealed by `vault`.
    #[must_use]
    pub fn new(
        store: std::sync::Arc<dyn LinkSecretStore>,
        vault: std::sync::Arc<dyn CredentialVault>,
    ) -> Self {
        Self { store, vault }
    }
}

#[async_trait]
impl LinkSecrets for SealedLinkSecrets {
    async fn get(&self, link: ChannelLinkId) -> Result<Option<SecretString>, LinkSecretError> {
        let Some(sealed) = self.store.sealed(link).await? else {
            return Ok(None);
        };
        match self.vault.open_link_secret(link, &sealed) {
            Ok(secret) => Ok(Some(secret)),
            Err(VaultError::WrongKey) => Err(LinkSecretError::WrongKey),
            Err(VaultError::Unexpected(error)) => Err(LinkSecretError::Unexpected(error)),
        }
    }

    async fn set(&self, link: ChannelLinkId, secret: SecretString) -> Result<(), LinkSecretError> {
        let sealed = self
            .vault
            .seal_link_secret(link, &secret)
            .map_err(|error| LinkSecretError::Unexpected(anyhow::Error::new(error)))?;
        self.store.put(link, sealed).await
    }

    async fn forget(&self, link: ChannelLinkId) -> Result<(), LinkSecretError> {
        self.store.remove(link).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use secrecy::ExposeSecret as _;

    use super::*;

    #[tokio::test]
    async fn link_secrets_are_stored_sealed_and_opened_for_their_link() {
        let link = ChannelLinkId::new();
        let mut vault = MockCredentialVault::new();
        vault
            .expect_seal_link_secret()
            .withf(move |l, secret| *l == link && secret.expose_secret() == "1:token")
            .returning(|_, _| Ok(SealedLinkSecret::from_bytes(vec![7, 7])));
        vault
            .expect_open_link_secret()
            .withf(move |l, sealed| *l == link && sealed.as_bytes() == [7, 7])
            .returning(|_, _| Ok(SecretString::from("1:token")));
        let mut store = MockLinkSecretStore::new();
        store
            .expect_put()
            .withf(move |l, sealed| *l == link && sealed.as_bytes() == [7, 7])
            .times(1)
            .returning(|_, _| Ok(()));
        store
            .expect_sealed()
            .returning(|_| Ok(Some(SealedLinkSecret::from_bytes(vec![7, 7]))));
        let secrets = SealedLinkSecrets::new(Arc::new(store), Arc::new(vault));

        secrets
            .set(link, SecretString::from("1:token"))
            .await
            .unwrap();
        let read = secrets.get(link).await.unwrap().unwrap();

        assert_eq!(read.expose_secret(), "1:token");
    }

    #[tokio::test]
    async fn a_secret_that_does_not_open_is_a_wrong_key() {
        let mut vault = MockCredentialVault::new();
        vault
            .expect_open_link_secret()
            .returning(|_, _| Err(VaultError::WrongKey));
        let mut store = MockLinkSecretStore::new();
        store
            .expect_sealed()
            .returning(|_| Ok(Some(SealedLinkSecret::from_bytes(vec![1]))));
        let secrets = SealedLinkSecrets::new(Arc::new(store), Arc::new(vault));

        let error = secrets.get(ChannelLinkId::new()).await.unwrap_err();

        assert!(matches!(error, LinkSecretError::WrongKey), "{error:?}");
    }
}
