//! Sealing credentials for storage.

use crate::model::chat_sync::{Credentials, SealedCredentials};

/// Why credentials could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The sealed bytes were not produced with the current key, or were tampered with.
    #[error("sealed credentials cannot be opened with the configured key")]
    WrongKey,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Encrypts credentials at rest and decrypts them for use.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait CredentialVault: Send + Sync {
    /// Serializes and encrypts credentials.
    ///
    /// # Errors
    /// [`VaultError::Unexpected`] when encryption fails.
    fn seal(&self, credentials: &Credentials) -> Result<SealedCredentials, VaultError>;

    /// Decrypts and parses sealed credentials.
    ///
    /// # Errors
    /// [`VaultError::WrongKey`] when the bytes do not authenticate under the configured key.
    fn open(&self, sealed: &SealedCredentials) -> Result<Credentials, VaultError>;
}
