//! Sealing credentials for storage.

use crate::ids::SyncConnectionId;
use crate::model::chat_sync::{Credentials, SealedCredentials};

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
}
