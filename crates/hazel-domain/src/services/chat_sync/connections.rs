//! Connections: create, list, read, change, validate and delete.

use super::*;

impl ChatSyncService {
    /// Creates a connection after validating its credentials with the provider.
    ///
    /// # Errors
    /// [`CreateConnectionError::OrganizationNotFound`]/[`CreateConnectionError::Forbidden`]
    /// unless the caller administers the organization; [`CreateConnectionError::ConnectionExists`];
    /// [`CreateConnectionError::IntegrationNotConnected`] without credentials or a usable
    /// integration connection; [`CreateConnectionError::Provider`] when the provider refuses the
    /// credentials; [`CreateConnectionError::Validation`] on mismatched credentials.
    pub async fn create_connection(
        &self,
        caller: &Caller,
        new: NewConnection,
    ) -> Result<Mutation<ConnectionView>, CreateConnectionError> {
        admin_membership(&self.members, new.organization_id, caller).await?;
        let given = new
            .credentials
            .map(|c| c.for_provider(new.provider))
            .transpose()?;
        if self
            .connections
            .find_by_workspace(
                new.organization_id,
                new.provider,
                &new.external_workspace_id,
            )
            .await?
            .is_some()
        {
            return Err(CreateConnectionError::ConnectionExists);
        }
        let credentials = match (given, &new.integration_connection_id) {
            (Some(credentials), _) => credentials,
            (None, Some(integration)) => {
                self.integration_credentials(new.organization_id, new.provider, integration)
                    .await?
            }
            (None, None) => {
                return Err(CreateConnectionError::IntegrationNotConnected(
                    "give credentials or the id of a connected integration".to_owned(),
                ));
            }
        };
        let validated = self
            .adapter(new.provider)?
            .validate(&new.external_workspace_id, &credentials)
            .await
            .map_err(CreateConnectionError::Provider)?;
        let now = self.clock.now();
        let external_workspace_name = new
            .external_workspace_name
            .or_else(|| provider_workspace_name(&validated));
        let name = match new.name.or_else(|| external_workspace_name.clone()) {
            Some(name) => name,
            None => default_connection_name(new.provider, &new.external_workspace_id)?,
        };
        let id = SyncConnectionId::new();
        let connection = SyncConnection {
            id,
            organization_id: new.organization_id,
            provider: new.provider,
            external_workspace_id: new.external_workspace_id,
            external_workspace_name,
            name,
            status: ConnectionStatus::Connected,
            integration_connection_id: new.integration_connection_id,
            credentials: Some(self.seal(id, &credentials)?),
            bot: Some(validated.bot.clone()),
            settings: ConnectionSettings::default().patched(new.settings),
            metadata: new.metadata.unwrap_or_else(JsonObject::empty),
            last_sync_at: None,
            created_at: now,
            updated_at: now,
            created_by: caller.user.id,
        };
        let committed = self
            .store
            .commit(vec![Change::InsertConnection(connection.clone())].into())
            .await
            .map_err(conflict_to(
                &[UniqueRule::ConnectionWorkspace],
                CreateConnectionError::ConnectionExists,
            ))?;
        Ok(Mutation {
            data: ConnectionView {
                connection,
                channel_count: 0,
            },
            transaction_id: committed.transaction_id,
        })
    }

    /// Live connections of an organization.
    ///
    /// # Errors
    /// [`MembershipError::OrganizationNotFound`] when the caller is not a member.
    pub async fn list_connections(
        &self,
        caller: &Caller,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<ConnectionView>, MembershipError> {
        membership(&self.members, organization, caller).await?;
        Ok(self.connections.list(organization, page).await?)
    }

    /// One live connection.
    ///
    /// # Errors
    /// [`ConnectionAccessError::ConnectionNotFound`] for unknown, deleted or invisible
    /// connections.
    pub async fn get_connection(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
    ) -> Result<ConnectionView, ConnectionAccessError> {
        Ok(self.visible(caller, id).await?.0)
    }

    /// Changes a connection. New credentials, and a request for `connected`, are validated with
    /// the provider first; on refusal nothing changes. Only the fields the patch names (and the
    /// status and workspace name that validation decides) are written, so a concurrent change
    /// of other fields is kept.
    ///
    /// # Errors
    /// As [`ChatSyncService::create_connection`] (but a workspace cannot be taken twice), and
    /// [`UpdateConnectionError::ConnectionNotFound`] for unknown connections, also when the
    /// connection is deleted while this request is under way.
    pub async fn update_connection(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
        patch: ConnectionPatch,
    ) -> Result<Mutation<ConnectionView>, UpdateConnectionError> {
        let connection = self.administered(caller, id).await?.connection;
        let new_credentials = patch
            .credentials
            .map(|c| c.for_provider(connection.provider))
            .transpose()?;
        let mut columns = ConnectionColumns {
            name: patch.name,
            external_workspace_name: patch.external_workspace_name,
            settings: patch.settings,
            metadata: patch.metadata,
            ..ConnectionColumns::default()
        };
        let wants_connected = patch.status == Some(RequestedStatus::Connected);
        if new_credentials.is_some() || wants_connected {
            let fresh = new_credentials.is_some();
            let credentials = match new_credentials {
                Some(c) => c,
                None => self.credentials_of(&connection)?,
            };
            let validated = self
                .adapter(connection.provider)?
                .validate(&connection.external_workspace_id, &credentials)
                .await
                .map_err(UpdateConnectionError::Provider)?;
            if fresh {
                columns.credentials = Some(self.seal(id, &credentials)?);
            }
            columns.bot = Some(validated.bot.clone());
            if columns.external_workspace_name.is_none() {
                columns.fallback_workspace_name = provider_workspace_name(&validated);
            }
            // Fresh credentials that work resume a connection unless the same request pauses it.
            if patch.status != Some(RequestedStatus::Disconnected) {
                columns.status = Some(ConnectionStatus::Connected);
            }
        }
        if patch.status == Some(RequestedStatus::Disconnected) {
            columns.status = Some(ConnectionStatus::Disconnected);
        }
        let committed = self
            .store
            .commit(
                Changeset::new().with(
                    Change::PatchConnection {
                        id,
                        columns,
                        updated_at: self.clock.now(),
                    }
                    .expect_one(),
                ),
            )
            .await
            .map_err(gone_unless_applied(
                0,
                UpdateConnectionError::ConnectionNotFound,
            ))?;
        self.reread(id, committed.transaction_id).await
    }

    /// Soft-deletes a connection and all its links in one transaction. Synced messages stay.
    ///
    /// # Errors
    /// [`ConnectionAdminError::ConnectionNotFound`] (also when a concurrent request deletes it
    /// first) / [`ConnectionAdminError::Forbidden`].
    pub async fn delete_connection(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
    ) -> Result<TransactionId, ConnectionAdminError> {
        self.administered(caller, id).await?;
        let committed = self
            .store
            .commit(
                Changeset::new().with(
                    Change::DeleteConnection {
                        id,
                        at: self.clock.now(),
                    }
                    .expect_one(),
                ),
            )
            .await
            .map_err(gone_unless_applied(
                0,
                ConnectionAdminError::ConnectionNotFound,
            ))?;
        Ok(committed.transaction_id)
    }

    /// Checks the stored credentials with the provider and records the result in the status
    /// (and the provider's workspace name, when the connection has none). Nothing else is
    /// written: the read is held across the provider round trip, and writing back what it
    /// read would undo a concurrent change of the credentials, name or settings.
    ///
    /// # Errors
    /// [`ValidateConnectionError::ConnectionNotFound`] (also when the connection is deleted while
    /// the provider is asked) / [`ValidateConnectionError::Forbidden`]; provider refusals are an
    /// `Ok(ValidationOutcome::Invalid)`, not an error.
    pub async fn validate_connection(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
    ) -> Result<Mutation<ValidationOutcome>, ValidateConnectionError> {
        let connection = self.administered(caller, id).await?.connection;
        let credentials = self.credentials_of(&connection)?;
        let result = self
            .adapter(connection.provider)?
            .validate(&connection.external_workspace_id, &credentials)
            .await;
        let now = self.clock.now();
        let mut columns = ConnectionColumns::default();
        let outcome = match result {
            Ok(validated) => {
                columns.status = Some(ConnectionStatus::Connected);
                columns.bot = Some(validated.bot.clone());
                if connection.external_workspace_name.is_none() {
                    columns.fallback_workspace_name = provider_workspace_name(&validated);
                }
                ValidationOutcome::Valid {
                    connection_id: id,
                    status: ConnectionStatus::Connected,
                    validated_at: now,
                }
            }
            Err(error) => {
                columns.status = Some(ConnectionStatus::Error {
                    code: error.code(),
                    message: error.to_string(),
                });
                ValidationOutcome::Invalid { error }
            }
        };
        let committed = self
            .store
            .commit(
                Changeset::new().with(
                    Change::PatchConnection {
                        id,
                        columns,
                        updated_at: now,
                    }
                    .expect_one(),
                ),
            )
            .await
            .map_err(gone_unless_applied(
                0,
                ValidateConnectionError::ConnectionNotFound,
            ))?;
        Ok(Mutation {
            data: outcome,
            transaction_id: committed.transaction_id,
        })
    }
}

/// `"<provider> <workspace id>"`, shortened to fit a [`Name`], for connections nobody named and
/// whose provider told no workspace name.
pub(super) fn default_connection_name(
    provider: Provider,
    workspace: &ExternalWorkspaceId,
) -> Result<Name, ValidationError> {
    let room = Name::MAX_CHARS - provider.as_str().len() - 1;
    let workspace: String = workspace.as_str().chars().take(room).collect();
    Name::parse("name", &format!("{provider} {workspace}"))
}
