//! Credentials: sealed at rest, opened in memory only, reused from an integration connection.

use super::*;

impl ChatSyncService {
    pub(super) fn open(
        &self,
        connection: SyncConnectionId,
        sealed: &SealedCredentials,
    ) -> Result<Credentials, CredentialsError> {
        self.vault.open(connection, sealed).map_err(|e| match e {
            VaultError::WrongKey => CredentialsError::IntegrationNotConnected(
                "the stored credentials cannot be decrypted with the configured secret key; send the credentials again"
                    .to_owned(),
            ),
            VaultError::Unexpected(e) => CredentialsError::Unexpected(e),
        })
    }

    /// Seals credentials for `connection`; they open for that connection only.
    pub(super) fn seal(
        &self,
        connection: SyncConnectionId,
        credentials: &Credentials,
    ) -> anyhow::Result<SealedCredentials> {
        self.vault
            .seal(connection, credentials)
            .map_err(|e| match e {
                VaultError::WrongKey => anyhow::anyhow!("sealing failed"),
                VaultError::Unexpected(e) => e,
            })
    }

    /// The connection's credentials in clear text.
    pub(super) fn credentials_of(
        &self,
        connection: &SyncConnection,
    ) -> Result<Credentials, CredentialsError> {
        let sealed = connection.credentials.as_ref().ok_or_else(|| {
            CredentialsError::IntegrationNotConnected(
                "the connection has no credentials".to_owned(),
            )
        })?;
        self.open(connection.id, sealed)
    }

    /// The credentials of a live, credentialed connection of the same organization and provider.
    pub(super) async fn integration_credentials(
        &self,
        organization: OrganizationId,
        provider: Provider,
        integration: &Opaque,
    ) -> Result<Credentials, CredentialsError> {
        let unusable = || {
            CredentialsError::IntegrationNotConnected(
                "integrationConnectionId does not name a connected integration of this organization and provider"
                    .to_owned(),
            )
        };
        let id = SyncConnectionId::parse("integrationConnectionId", integration.as_str())
            .map_err(|_| unusable())?;
        let view = self.connections.find(id).await?.ok_or_else(unusable)?;
        let source = view.connection;
        if source.organization_id != organization
            || source.provider != provider
            || source.status != ConnectionStatus::Connected
        {
            return Err(unusable());
        }
        self.credentials_of(&source)
    }
}
