//! Chat Sync management: connections, credential validation, channel discovery, channel links.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::{Caller, Mutation, admin_membership, membership, unexpected};
use crate::error::{DomainError, DomainResult, NotFound, ValidationError};
use crate::ids::OrganizationId;
use crate::ids::{ChannelId, ChannelLinkId, SyncConnectionId, TransactionId};
use crate::model::Timestamp;
use crate::model::channel::{Channel, ChannelKind};
use crate::model::chat_sync::{
    ChannelLink, ConnectionSettings, ConnectionSettingsPatch, ConnectionStatus, Credentials,
    Direction, ExternalChannel, ExternalChannelId, ExternalWorkspaceId, JsonObject, LinkSettings,
    LinkSettingsPatch, PendingCredentials, Provider, ProviderError, SealedCredentials,
    SyncConnection, ValidatedWorkspace,
};
use crate::model::identity::Member;
use crate::model::page::{Page, PageRequest};
use crate::model::text::{Name, Opaque};
use crate::ports::repositories::ConnectionView;
use crate::ports::{
    Change, ChannelLinkRepository, ChannelRepository, ChatProvider, ChatProviders, Clock,
    ConnectionColumns, ConnectionRepository, CredentialVault, LinkColumns, MemberRepository, Store,
    StoreError, VaultError,
};

/// Input of [`ChatSyncService::create_connection`].
#[derive(Debug)]
pub struct NewConnection {
    /// The organization.
    pub organization_id: OrganizationId,
    /// The platform.
    pub provider: Provider,
    /// The workspace there.
    pub external_workspace_id: ExternalWorkspaceId,
    /// Its name there; taken from the provider when absent.
    pub external_workspace_name: Option<Name>,
    /// Display name; derived when absent.
    pub name: Option<Name>,
    /// Another connection of the same organization and provider whose credentials to reuse.
    pub integration_connection_id: Option<Opaque>,
    /// Credentials in clear text.
    pub credentials: Option<PendingCredentials>,
    /// Settings to change from the defaults.
    pub settings: ConnectionSettingsPatch,
    /// Client metadata.
    pub metadata: Option<JsonObject>,
}

/// The statuses a person may set directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestedStatus {
    /// Resume syncing (validates the credentials first).
    Connected,
    /// Pause syncing.
    Disconnected,
}

/// Input of [`ChatSyncService::update_connection`]; absent fields stay as they are.
#[derive(Debug, Default)]
pub struct ConnectionPatch {
    /// New display name.
    pub name: Option<Name>,
    /// New workspace name.
    pub external_workspace_name: Option<Name>,
    /// New credentials, parsed for the connection's provider once the caller's rights are
    /// checked, then validated with the provider before they are saved.
    pub credentials: Option<PendingCredentials>,
    /// Settings to change.
    pub settings: ConnectionSettingsPatch,
    /// New metadata.
    pub metadata: Option<JsonObject>,
    /// New status.
    pub status: Option<RequestedStatus>,
}

/// The answer of [`ChatSyncService::validate_connection`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidationOutcome {
    /// The provider accepted the credentials; the connection is `connected`.
    Valid {
        /// The connection.
        connection_id: SyncConnectionId,
        /// Its status now.
        status: ConnectionStatus,
        /// When it was validated.
        validated_at: Timestamp,
    },
    /// The provider refused; the connection's status is `error`.
    Invalid {
        /// Why.
        error: ProviderError,
    },
}

/// An external channel with whether a live, active link syncs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveredChannel {
    /// The channel.
    pub channel: ExternalChannel,
    /// Whether it is synced.
    pub sync_enabled: bool,
}

/// Input of [`ChatSyncService::create_link`].
#[derive(Clone, Debug)]
pub struct NewLink {
    /// The Hazel channel.
    pub hazel_channel_id: ChannelId,
    /// The external channel.
    pub external_channel_id: ExternalChannelId,
    /// Its name there.
    pub external_channel_name: Option<Name>,
    /// Direction; `both` when absent.
    pub direction: Option<Direction>,
    /// Settings to change from the defaults.
    pub settings: LinkSettingsPatch,
}

/// Input of [`ChatSyncService::update_link`].
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkPatch {
    /// New direction.
    pub direction: Option<Direction>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// Settings to change.
    pub settings: LinkSettingsPatch,
}

/// Chat Sync management use cases.
#[derive(Clone)]
pub struct ChatSyncService {
    members: Arc<dyn MemberRepository>,
    channels: Arc<dyn ChannelRepository>,
    connections: Arc<dyn ConnectionRepository>,
    links: Arc<dyn ChannelLinkRepository>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    vault: Arc<dyn CredentialVault>,
    providers: ChatProviders,
}

/// The ports [`ChatSyncService`] needs.
#[derive(Clone)]
pub struct ChatSyncPorts {
    /// Members.
    pub members: Arc<dyn MemberRepository>,
    /// Channels.
    pub channels: Arc<dyn ChannelRepository>,
    /// Connections.
    pub connections: Arc<dyn ConnectionRepository>,
    /// Links.
    pub links: Arc<dyn ChannelLinkRepository>,
    /// Writes.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Credential encryption.
    pub vault: Arc<dyn CredentialVault>,
    /// Provider adapters.
    pub providers: ChatProviders,
}

/// The workspace name a provider told while validating, when it is a valid [`Name`].
fn provider_workspace_name(validated: &ValidatedWorkspace) -> Option<Name> {
    validated
        .workspace_name
        .as_deref()
        .and_then(|n| Name::parse("externalWorkspaceName", n).ok())
}

fn conflict_to(kind: DomainError) -> impl FnOnce(StoreError) -> DomainError {
    move |e| match e {
        StoreError::Conflict { .. } => kind,
        other => unexpected(other),
    }
}

impl ChatSyncService {
    /// Wires the service to its ports.
    #[must_use]
    pub fn new(ports: ChatSyncPorts) -> Self {
        Self {
            members: ports.members,
            channels: ports.channels,
            connections: ports.connections,
            links: ports.links,
            store: ports.store,
            clock: ports.clock,
            vault: ports.vault,
            providers: ports.providers,
        }
    }

    fn adapter(&self, provider: Provider) -> DomainResult<&Arc<dyn ChatProvider>> {
        self.providers.get(provider).ok_or_else(|| {
            ValidationError::new(
                "provider",
                format!("{provider} is not supported by this build yet"),
            )
            .into()
        })
    }

    fn open(&self, sealed: &SealedCredentials) -> DomainResult<Credentials> {
        self.vault.open(sealed).map_err(|e| match e {
            VaultError::WrongKey => DomainError::IntegrationNotConnected(
                "the stored credentials cannot be decrypted with the configured secret key; send the credentials again"
                    .to_owned(),
            ),
            VaultError::Unexpected(e) => DomainError::Unexpected(e),
        })
    }

    fn seal(&self, credentials: &Credentials) -> DomainResult<SealedCredentials> {
        self.vault.seal(credentials).map_err(|e| match e {
            VaultError::WrongKey => DomainError::Unexpected(anyhow::anyhow!("sealing failed")),
            VaultError::Unexpected(e) => DomainError::Unexpected(e),
        })
    }

    /// The connection's credentials in clear text.
    fn credentials_of(&self, connection: &SyncConnection) -> DomainResult<Credentials> {
        let sealed = connection.credentials.as_ref().ok_or_else(|| {
            DomainError::IntegrationNotConnected("the connection has no credentials".to_owned())
        })?;
        self.open(sealed)
    }

    /// A live connection visible to the caller, with the caller's membership.
    async fn visible(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
    ) -> DomainResult<(ConnectionView, Member)> {
        let not_found = || DomainError::NotFound(NotFound::Connection);
        let view = self.connections.find(id).await?.ok_or_else(not_found)?;
        let member = self
            .members
            .find_for_user(view.connection.organization_id, caller.user.id)
            .await?
            .ok_or_else(not_found)?;
        Ok((view, member))
    }

    async fn administered(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
    ) -> DomainResult<ConnectionView> {
        let (view, member) = self.visible(caller, id).await?;
        if member.role.is_admin() {
            Ok(view)
        } else {
            Err(DomainError::forbidden(
                "only owners and admins of the organization may change connections",
            ))
        }
    }

    async fn reread(
        &self,
        id: SyncConnectionId,
        transaction_id: TransactionId,
    ) -> DomainResult<Mutation<ConnectionView>> {
        // Deleted by a concurrent request right after this one's write.
        let view = self
            .connections
            .find(id)
            .await?
            .ok_or(DomainError::NotFound(NotFound::Connection))?;
        Ok(Mutation {
            data: view,
            transaction_id,
        })
    }

    /// Creates a connection after validating its credentials with the provider.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]/[`DomainError::Forbidden`] unless the caller administers the
    /// organization; [`DomainError::ConnectionExists`]; [`DomainError::IntegrationNotConnected`]
    /// without credentials or a usable integration connection; [`DomainError::Provider`] when the
    /// provider refuses the credentials; [`DomainError::Validation`] on mismatched credentials.
    pub async fn create_connection(
        &self,
        caller: &Caller,
        new: NewConnection,
    ) -> DomainResult<Mutation<ConnectionView>> {
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
            return Err(DomainError::ConnectionExists);
        }
        let credentials = match (given, &new.integration_connection_id) {
            (Some(credentials), _) => credentials,
            (None, Some(integration)) => {
                self.integration_credentials(new.organization_id, new.provider, integration)
                    .await?
            }
            (None, None) => {
                return Err(DomainError::IntegrationNotConnected(
                    "give credentials or the id of a connected integration".to_owned(),
                ));
            }
        };
        let validated = self
            .adapter(new.provider)?
            .validate(&new.external_workspace_id, &credentials)
            .await
            .map_err(DomainError::Provider)?;
        let now = self.clock.now();
        let external_workspace_name = new
            .external_workspace_name
            .or_else(|| provider_workspace_name(&validated));
        let name = match new.name.or_else(|| external_workspace_name.clone()) {
            Some(name) => name,
            None => default_connection_name(new.provider, &new.external_workspace_id)?,
        };
        let connection = SyncConnection {
            id: SyncConnectionId::new(),
            organization_id: new.organization_id,
            provider: new.provider,
            external_workspace_id: new.external_workspace_id,
            external_workspace_name,
            name,
            status: ConnectionStatus::Connected,
            integration_connection_id: new.integration_connection_id,
            credentials: Some(self.seal(&credentials)?),
            settings: ConnectionSettings::default().patched(new.settings),
            metadata: new.metadata.unwrap_or_else(JsonObject::empty),
            last_sync_at: None,
            created_at: now,
            updated_at: now,
            created_by: caller.user.id,
        };
        let committed = self
            .store
            .commit(vec![Change::InsertConnection(connection.clone())])
            .await
            .map_err(conflict_to(DomainError::ConnectionExists))?;
        Ok(Mutation {
            data: ConnectionView {
                connection,
                channel_count: 0,
            },
            transaction_id: committed.transaction_id,
        })
    }

    /// The credentials of a live, credentialed connection of the same organization and provider.
    async fn integration_credentials(
        &self,
        organization: OrganizationId,
        provider: Provider,
        integration: &Opaque,
    ) -> DomainResult<Credentials> {
        let unusable = || {
            DomainError::IntegrationNotConnected(
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

    /// Live connections of an organization.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when the caller is not a member.
    pub async fn list_connections(
        &self,
        caller: &Caller,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> DomainResult<Page<ConnectionView>> {
        membership(&self.members, organization, caller).await?;
        Ok(self.connections.list(organization, page).await?)
    }

    /// One live connection.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for unknown, deleted or invisible connections.
    pub async fn get_connection(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
    ) -> DomainResult<ConnectionView> {
        Ok(self.visible(caller, id).await?.0)
    }

    /// Changes a connection. New credentials, and a request for `connected`, are validated with
    /// the provider first; on refusal nothing changes. Only the fields the patch names (and the
    /// status and workspace name that validation decides) are written, so a concurrent change
    /// of other fields is kept.
    ///
    /// # Errors
    /// As [`ChatSyncService::create_connection`], and [`DomainError::NotFound`] for unknown
    /// connections, also when the connection is deleted while this request is under way.
    pub async fn update_connection(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
        patch: ConnectionPatch,
    ) -> DomainResult<Mutation<ConnectionView>> {
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
                .map_err(DomainError::Provider)?;
            if fresh {
                columns.credentials = Some(self.seal(&credentials)?);
            }
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
            .commit(vec![Change::PatchConnection {
                id,
                columns,
                updated_at: self.clock.now(),
            }])
            .await
            .map_err(unexpected)?;
        if committed.affected(0) == 0 {
            return Err(DomainError::NotFound(NotFound::Connection));
        }
        self.reread(id, committed.transaction_id).await
    }

    /// Soft-deletes a connection and all its links in one transaction. Synced messages stay.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (also when a concurrent request deletes it first) /
    /// [`DomainError::Forbidden`].
    pub async fn delete_connection(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
    ) -> DomainResult<TransactionId> {
        self.administered(caller, id).await?;
        let committed = self
            .store
            .commit(vec![Change::DeleteConnection {
                id,
                at: self.clock.now(),
            }])
            .await
            .map_err(unexpected)?;
        if committed.affected(0) == 0 {
            return Err(DomainError::NotFound(NotFound::Connection));
        }
        Ok(committed.transaction_id)
    }

    /// Checks the stored credentials with the provider and records the result in the status
    /// (and the provider's workspace name, when the connection has none). Nothing else is
    /// written: the read is held across the provider round trip, and writing back what it
    /// read would undo a concurrent change of the credentials, name or settings.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (also when the connection is deleted while the provider is
    /// asked) / [`DomainError::Forbidden`]; provider refusals are an
    /// `Ok(ValidationOutcome::Invalid)`, not an error.
    pub async fn validate_connection(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
    ) -> DomainResult<Mutation<ValidationOutcome>> {
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
            .commit(vec![Change::PatchConnection {
                id,
                columns,
                updated_at: now,
            }])
            .await
            .map_err(unexpected)?;
        if committed.affected(0) == 0 {
            return Err(DomainError::NotFound(NotFound::Connection));
        }
        Ok(Mutation {
            data: outcome,
            transaction_id: committed.transaction_id,
        })
    }

    async fn discover(
        &self,
        connection: &SyncConnection,
    ) -> DomainResult<(Vec<ExternalChannel>, Vec<ChannelLink>)> {
        let credentials = self.credentials_of(connection)?;
        let channels = self
            .adapter(connection.provider)?
            .list_channels(&connection.external_workspace_id, &credentials)
            .await
            .map_err(DomainError::Provider)?;
        let links = self.links.list_all(connection.id).await?;
        Ok((channels, links))
    }

    fn mark(channels: Vec<ExternalChannel>, links: &[ChannelLink]) -> Vec<DiscoveredChannel> {
        let synced: BTreeSet<&str> = links
            .iter()
            .filter(|l| l.is_active)
            .map(|l| l.external_channel_id.as_str())
            .collect();
        channels
            .into_iter()
            .map(|channel| DiscoveredChannel {
                sync_enabled: synced.contains(channel.id.as_str()),
                channel,
            })
            .collect()
    }

    /// The provider's channels, live, marked with whether they are synced.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Provider`] when the provider refuses.
    pub async fn list_external_channels(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
    ) -> DomainResult<Vec<DiscoveredChannel>> {
        let (view, _) = self.visible(caller, id).await?;
        let (channels, links) = self.discover(&view.connection).await?;
        Ok(Self::mark(channels, &links))
    }

    /// Syncs exactly the selected external channels: creates a Hazel channel and a `both` link
    /// for each newly selected one, reactivates inactive links of selected ones, and deactivates
    /// links of unselected ones, in one transaction.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `channelIds` naming a channel the provider does not list;
    /// otherwise as [`ChatSyncService::list_external_channels`].
    pub async fn select_channels(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
        channel_ids: Vec<ExternalChannelId>,
        sync_all: bool,
    ) -> DomainResult<Mutation<Vec<DiscoveredChannel>>> {
        let connection = self.administered(caller, id).await?.connection;
        let (mut channels, links) = self.discover(&connection).await?;
        // Providers page their lists, and pages can overlap while channels are created: a
        // channel listed twice must be linked once, not inserted twice (which would conflict).
        let mut seen = HashSet::new();
        channels.retain(|c| seen.insert(c.id.clone()));
        let by_id: HashMap<&str, &ExternalChannel> =
            channels.iter().map(|c| (c.id.as_str(), c)).collect();
        if let Some(unknown) = channel_ids.iter().find(|c| !by_id.contains_key(c.as_str())) {
            return Err(ValidationError::new(
                "channelIds",
                format!(
                    "{} is not a channel of this workspace that the bot can see",
                    unknown.as_str()
                ),
            )
            .into());
        }
        let selected: BTreeSet<&str> = if sync_all {
            by_id.keys().copied().collect()
        } else {
            channel_ids.iter().map(Opaque::as_str).collect()
        };
        let now = self.clock.now();
        let mut changes = Vec::new();
        for link in &links {
            let wanted = selected.contains(link.external_channel_id.as_str());
            if wanted != link.is_active {
                // Only the flag: a concurrent `update_link` of direction or settings stays.
                changes.push(Change::PatchChannelLink {
                    id: link.id,
                    columns: LinkColumns {
                        is_active: Some(wanted),
                        ..LinkColumns::default()
                    },
                    updated_at: now,
                });
            }
        }
        let linked: BTreeSet<&str> = links
            .iter()
            .map(|l| l.external_channel_id.as_str())
            .collect();
        for external in channels
            .iter()
            .filter(|c| selected.contains(c.id.as_str()) && !linked.contains(c.id.as_str()))
        {
            let channel = Channel {
                id: ChannelId::new(),
                organization_id: connection.organization_id,
                name: Name::parse("name", &external.name)
                    .or_else(|_| Name::parse("name", external.id.as_str()))
                    .map_err(DomainError::Validation)?,
                kind: if external.is_private {
                    ChannelKind::Private
                } else {
                    ChannelKind::Public
                },
                created_at: now,
            };
            let link = ChannelLink {
                id: ChannelLinkId::new(),
                connection_id: connection.id,
                hazel_channel_id: channel.id,
                external_channel_id: external.id.clone(),
                external_channel_name: Name::parse("externalChannelName", &external.name).ok(),
                direction: Direction::Both,
                is_active: true,
                settings: LinkSettings::default(),
                created_at: now,
                updated_at: now,
            };
            changes.push(Change::InsertChannel(channel));
            changes.push(Change::InsertChannelLink(link));
        }
        let committed = self
            .store
            .commit(changes)
            .await
            .map_err(conflict_to(DomainError::ChannelLinkExists))?;
        let links = self.links.list_all(connection.id).await?;
        Ok(Mutation {
            data: Self::mark(channels, &links),
            transaction_id: committed.transaction_id,
        })
    }

    /// Links a Hazel channel of the connection's organization to an external channel.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an unknown connection or a Hazel channel of another
    /// organization; [`DomainError::ChannelLinkExists`]; [`DomainError::Forbidden`].
    pub async fn create_link(
        &self,
        caller: &Caller,
        connection_id: SyncConnectionId,
        new: NewLink,
    ) -> DomainResult<Mutation<ChannelLink>> {
        let connection = self.administered(caller, connection_id).await?.connection;
        self.channels
            .find(new.hazel_channel_id)
            .await?
            .filter(|c| c.organization_id == connection.organization_id)
            .ok_or(DomainError::NotFound(NotFound::Channel))?;
        let existing = self.links.list_all(connection_id).await?;
        if existing.iter().any(|l| {
            l.hazel_channel_id == new.hazel_channel_id
                || l.external_channel_id == new.external_channel_id
        }) {
            return Err(DomainError::ChannelLinkExists);
        }
        let now = self.clock.now();
        let link = ChannelLink {
            id: ChannelLinkId::new(),
            connection_id,
            hazel_channel_id: new.hazel_channel_id,
            external_channel_id: new.external_channel_id,
            external_channel_name: new.external_channel_name,
            direction: new.direction.unwrap_or_default(),
            is_active: true,
            settings: LinkSettings::default().patched(new.settings),
            created_at: now,
            updated_at: now,
        };
        let committed = self
            .store
            .commit(vec![Change::InsertChannelLink(link.clone())])
            .await
            .map_err(conflict_to(DomainError::ChannelLinkExists))?;
        Ok(Mutation {
            data: link,
            transaction_id: committed.transaction_id,
        })
    }

    /// Live links of a connection.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for unknown or invisible connections.
    pub async fn list_links(
        &self,
        caller: &Caller,
        connection_id: SyncConnectionId,
        page: &PageRequest,
    ) -> DomainResult<Page<ChannelLink>> {
        self.visible(caller, connection_id).await?;
        Ok(self.links.list(connection_id, page).await?)
    }

    async fn administered_link(
        &self,
        caller: &Caller,
        id: ChannelLinkId,
    ) -> DomainResult<ChannelLink> {
        let link = self
            .links
            .find(id)
            .await?
            .ok_or(DomainError::NotFound(NotFound::ChannelLink))?;
        self.administered(caller, link.connection_id)
            .await
            .map_err(|e| match e {
                DomainError::NotFound(_) => DomainError::NotFound(NotFound::ChannelLink),
                other => other,
            })?;
        Ok(link)
    }

    /// Changes a link's direction, activity or settings. Only the fields the patch names are
    /// written, so a concurrent change of the others (for example `select_channels` toggling
    /// the activity) is kept; the answer is the link as stored after the write.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (also when the link is deleted while this request is under
    /// way) / [`DomainError::Forbidden`].
    pub async fn update_link(
        &self,
        caller: &Caller,
        id: ChannelLinkId,
        patch: LinkPatch,
    ) -> DomainResult<Mutation<ChannelLink>> {
        self.administered_link(caller, id).await?;
        let not_found = || DomainError::NotFound(NotFound::ChannelLink);
        let committed = self
            .store
            .commit(vec![Change::PatchChannelLink {
                id,
                columns: LinkColumns {
                    direction: patch.direction,
                    is_active: patch.is_active,
                    settings: patch.settings,
                },
                updated_at: self.clock.now(),
            }])
            .await
            .map_err(unexpected)?;
        if committed.affected(0) == 0 {
            return Err(not_found());
        }
        let link = self.links.find(id).await?.ok_or_else(not_found)?;
        Ok(Mutation {
            data: link,
            transaction_id: committed.transaction_id,
        })
    }

    /// Soft-deletes a link.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (also when a concurrent request deletes it first) /
    /// [`DomainError::Forbidden`].
    pub async fn delete_link(
        &self,
        caller: &Caller,
        id: ChannelLinkId,
    ) -> DomainResult<TransactionId> {
        self.administered_link(caller, id).await?;
        let committed = self
            .store
            .commit(vec![Change::DeleteChannelLink {
                id,
                at: self.clock.now(),
            }])
            .await
            .map_err(unexpected)?;
        if committed.affected(0) == 0 {
            return Err(DomainError::NotFound(NotFound::ChannelLink));
        }
        Ok(committed.transaction_id)
    }
}

/// `"<provider> <workspace id>"`, shortened to fit a [`Name`], for connections nobody named and
/// whose provider told no workspace name.
fn default_connection_name(
    provider: Provider,
    workspace: &ExternalWorkspaceId,
) -> DomainResult<Name> {
    let room = Name::MAX_CHARS - provider.as_str().len() - 1;
    let workspace: String = workspace.as_str().chars().take(room).collect();
    Ok(Name::parse("name", &format!("{provider} {workspace}"))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::chat_sync::ProviderErrorCode;
    use crate::model::identity::Role;
    use crate::ports::{
        MockChannelLinkRepository, MockChannelRepository, MockChatProvider,
        MockConnectionRepository, MockCredentialVault, MockMemberRepository, MockStore,
    };
    use crate::services::test_support::{
        at, caller, clock, committed, matched_nothing, member_of, user,
    };
    use secrecy::SecretString;

    struct Mocks {
        members: MockMemberRepository,
        channels: MockChannelRepository,
        connections: MockConnectionRepository,
        links: MockChannelLinkRepository,
        store: MockStore,
        vault: MockCredentialVault,
        slack: MockChatProvider,
    }

    impl Mocks {
        fn new() -> Self {
            let mut slack = MockChatProvider::new();
            slack.expect_provider().return_const(Provider::Slack);
            let mut vault = MockCredentialVault::new();
            vault
                .expect_seal()
                .returning(|_| Ok(SealedCredentials::from_bytes(vec![1, 2, 3])));
            vault.expect_open().returning(|_| Ok(slack_credentials()));
            Self {
                members: MockMemberRepository::new(),
                channels: MockChannelRepository::new(),
                connections: MockConnectionRepository::new(),
                links: MockChannelLinkRepository::new(),
                store: MockStore::new(),
                vault,
                slack,
            }
        }

        fn service(self) -> ChatSyncService {
            ChatSyncService::new(ChatSyncPorts {
                members: Arc::new(self.members),
                channels: Arc::new(self.channels),
                connections: Arc::new(self.connections),
                links: Arc::new(self.links),
                store: Arc::new(self.store),
                clock: Arc::new(clock()),
                vault: Arc::new(self.vault),
                providers: ChatProviders::new().with(Arc::new(self.slack)),
            })
        }
    }

    fn slack_credentials() -> Credentials {
        Credentials::Slack {
            bot_token: SecretString::from("xoxb-test"),
            signing_secret: SecretString::from("sign"),
        }
    }

    fn new_connection(org: OrganizationId) -> NewConnection {
        NewConnection {
            organization_id: org,
            provider: Provider::Slack,
            external_workspace_id: Opaque::parse("w", "T1", 10).unwrap(),
            external_workspace_name: None,
            name: None,
            integration_connection_id: None,
            credentials: Some(PendingCredentials::known(slack_credentials())),
            settings: ConnectionSettingsPatch::default(),
            metadata: None,
        }
    }

    fn connection(org: OrganizationId) -> SyncConnection {
        SyncConnection {
            id: SyncConnectionId::new(),
            organization_id: org,
            provider: Provider::Slack,
            external_workspace_id: Opaque::parse("w", "T1", 10).unwrap(),
            external_workspace_name: None,
            name: Name::parse("n", "Slack").unwrap(),
            status: ConnectionStatus::Connected,
            integration_connection_id: None,
            credentials: Some(SealedCredentials::from_bytes(vec![9])),
            settings: ConnectionSettings::default(),
            metadata: JsonObject::empty(),
            last_sync_at: None,
            created_at: at(),
            updated_at: at(),
            created_by: crate::ids::UserId::new(),
        }
    }

    #[test]
    fn unnamed_connections_get_a_fitting_default_name() {
        let short = Opaque::parse("w", "T1", 255).unwrap();
        assert_eq!(
            default_connection_name(Provider::Slack, &short)
                .unwrap()
                .as_str(),
            "slack T1"
        );
        let long = Opaque::parse("w", &"9".repeat(255), 255).unwrap();
        let name = default_connection_name(Provider::Discord, &long).unwrap();
        assert_eq!(name.as_str().chars().count(), Name::MAX_CHARS);
        assert!(name.as_str().starts_with("discord 999"));
    }

    #[tokio::test]
    async fn refused_credentials_save_nothing() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let mut mocks = Mocks::new();
        let m = member_of(&ada, org, Role::Owner);
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        mocks
            .connections
            .expect_find_by_workspace()
            .returning(|_, _, _| Ok(None));
        mocks.slack.expect_validate().returning(|_, _| {
            Err(ProviderError::InsufficientPermissions {
                message: "missing_scope".into(),
                required_scopes: vec!["channels:history".into()],
            })
        });
        mocks.store.expect_commit().never();
        let err = mocks
            .service()
            .create_connection(&caller(&ada), new_connection(org))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DomainError::Provider(e) if e.code() == ProviderErrorCode::InsufficientPermissions),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_live_connection_to_the_same_workspace_conflicts() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let mut mocks = Mocks::new();
        let m = member_of(&ada, org, Role::Admin);
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        mocks
            .connections
            .expect_find_by_workspace()
            .returning(move |o, _, _| Ok(Some(connection(o))));
        mocks.slack.expect_validate().never();
        let err = mocks
            .service()
            .create_connection(&caller(&ada), new_connection(org))
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::ConnectionExists), "{err:?}");
    }

    #[tokio::test]
    async fn without_credentials_or_integration_the_integration_is_not_connected() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let mut mocks = Mocks::new();
        let m = member_of(&ada, org, Role::Owner);
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        mocks
            .connections
            .expect_find_by_workspace()
            .returning(|_, _, _| Ok(None));
        let err = mocks
            .service()
            .create_connection(
                &caller(&ada),
                NewConnection {
                    credentials: None,
                    ..new_connection(org)
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, DomainError::IntegrationNotConnected(_)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn members_may_not_create_connections() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let mut mocks = Mocks::new();
        let m = member_of(&ada, org, Role::Member);
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        mocks.store.expect_commit().never();
        let err = mocks
            .service()
            .create_connection(&caller(&ada), new_connection(org))
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
    }

    #[tokio::test]
    async fn members_are_refused_before_their_credentials_are_parsed() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let conn = connection(org);
        let id = conn.id;
        let mut mocks = Mocks::new();
        let m = member_of(&ada, org, Role::Member);
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        mocks.connections.expect_find().returning(move |_| {
            Ok(Some(ConnectionView {
                connection: conn.clone(),
                channel_count: 0,
            }))
        });
        mocks.store.expect_commit().never();
        let unparseable = || {
            Some(PendingCredentials::parse_with(|_| {
                Err(ValidationError::new(
                    "credentials.signingSecret",
                    "is required",
                ))
            }))
        };
        let service = mocks.service();
        let err = service
            .update_connection(
                &caller(&ada),
                id,
                ConnectionPatch {
                    credentials: unparseable(),
                    ..ConnectionPatch::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
        let err = service
            .create_connection(
                &caller(&ada),
                NewConnection {
                    credentials: unparseable(),
                    ..new_connection(org)
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
    }

    #[test]
    fn known_credentials_must_match_the_connections_provider() {
        let err = PendingCredentials::known(slack_credentials())
            .for_provider(Provider::Discord)
            .unwrap_err();
        assert_eq!(err.field(), "credentials");
        assert!(
            PendingCredentials::known(slack_credentials())
                .for_provider(Provider::Slack)
                .is_ok()
        );
    }

    #[tokio::test]
    async fn failed_validation_records_the_error_status() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let conn = connection(org);
        let id = conn.id;
        let mut mocks = Mocks::new();
        let m = member_of(&ada, org, Role::Owner);
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        mocks.connections.expect_find().returning(move |_| {
            Ok(Some(ConnectionView {
                connection: conn.clone(),
                channel_count: 0,
            }))
        });
        mocks.slack.expect_validate().returning(|_, _| {
            Err(ProviderError::AuthExpired {
                message: "token_revoked".into(),
            })
        });
        mocks
            .store
            .expect_commit()
            .withf(|c| {
                matches!(c.as_slice(), [Change::PatchConnection { columns, .. }]
                    if matches!(&columns.status, Some(ConnectionStatus::Error { code: ProviderErrorCode::AuthExpired, .. })))
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        let out = mocks
            .service()
            .validate_connection(&caller(&ada), id)
            .await
            .unwrap();
        assert!(matches!(out.data, ValidationOutcome::Invalid { .. }));
    }

    #[tokio::test]
    async fn selecting_channels_creates_links_and_deactivates_unselected_ones() {
        let ada = user("ada");
        let org = OrganizationId::new();
        let conn = connection(org);
        let id = conn.id;
        let mut mocks = Mocks::new();
        let m = member_of(&ada, org, Role::Owner);
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        mocks.connections.expect_find().returning(move |_| {
            Ok(Some(ConnectionView {
                connection: conn.clone(),
                channel_count: 1,
            }))
        });
        let ext = |id: &str, private: bool| ExternalChannel {
            id: Opaque::parse("id", id, 20).unwrap(),
            name: format!("chan-{id}"),
            is_private: private,
            member_count: Some(3),
        };
        let listed = vec![ext("C1", false), ext("C2", true)];
        mocks
            .slack
            .expect_list_channels()
            .returning(move |_, _| Ok(listed.clone()));
        let old_link = ChannelLink {
            id: ChannelLinkId::new(),
            connection_id: id,
            hazel_channel_id: ChannelId::new(),
            external_channel_id: Opaque::parse("id", "C1", 20).unwrap(),
            external_channel_name: None,
            direction: Direction::Both,
            is_active: true,
            settings: LinkSettings::default(),
            created_at: at(),
            updated_at: at(),
        };
        let old_link_id = old_link.id;
        mocks
            .links
            .expect_list_all()
            .returning(move |_| Ok(vec![old_link.clone()]));
        mocks
            .store
            .expect_commit()
            .withf(move |c| {
                matches!(c.as_slice(), [
                    Change::PatchChannelLink { id: off, columns, .. },
                    Change::InsertChannel(ch),
                    Change::InsertChannelLink(on),
                ] if *off == old_link_id
                    && *columns == LinkColumns { is_active: Some(false), ..LinkColumns::default() }
                    && ch.kind == ChannelKind::Private && on.hazel_channel_id == ch.id
                    && on.external_channel_id.as_str() == "C2" && on.direction == Direction::Both)
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        mocks
            .service()
            .select_channels(
                &caller(&ada),
                id,
                vec![Opaque::parse("id", "C2", 20).unwrap()],
                false,
            )
            .await
            .unwrap();
    }

    fn external(id: &str) -> ExternalChannel {
        ExternalChannel {
            id: Opaque::parse("id", id, 20).unwrap(),
            name: format!("chan-{id}"),
            is_private: false,
            member_count: None,
        }
    }

    fn live_link(connection: SyncConnectionId, external_id: &str) -> ChannelLink {
        ChannelLink {
            id: ChannelLinkId::new(),
            connection_id: connection,
            hazel_channel_id: ChannelId::new(),
            external_channel_id: Opaque::parse("id", external_id, 20).unwrap(),
            external_channel_name: None,
            direction: Direction::Both,
            is_active: true,
            settings: LinkSettings::default(),
            created_at: at(),
            updated_at: at(),
        }
    }

    /// Mocks where the caller administers `conn`, which `find` returns.
    fn administering(conn: &SyncConnection) -> (Mocks, Caller) {
        let ada = user("ada");
        let mut mocks = Mocks::new();
        let m = member_of(&ada, conn.organization_id, Role::Owner);
        mocks
            .members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        let found = conn.clone();
        mocks.connections.expect_find().returning(move |_| {
            Ok(Some(ConnectionView {
                connection: found.clone(),
                channel_count: 0,
            }))
        });
        (mocks, caller(&ada))
    }

    #[tokio::test]
    async fn successful_validation_writes_only_the_status_and_the_missing_workspace_name() {
        let conn = connection(OrganizationId::new());
        let (mut mocks, caller) = administering(&conn);
        mocks.slack.expect_validate().returning(|_, _| {
            Ok(ValidatedWorkspace {
                workspace_name: Some("Acme".into()),
                bot_user_id: None,
            })
        });
        // The credentials read before the provider round trip are never written back: a
        // concurrent PATCH of the credentials must survive this validation.
        mocks.vault.checkpoint();
        mocks.vault.expect_seal().never();
        mocks
            .vault
            .expect_open()
            .returning(|_| Ok(slack_credentials()));
        let expected = ConnectionColumns {
            status: Some(ConnectionStatus::Connected),
            fallback_workspace_name: Some(Name::parse("n", "Acme").unwrap()),
            ..ConnectionColumns::default()
        };
        let id = conn.id;
        mocks
            .store
            .expect_commit()
            .withf(move |c| {
                matches!(c.as_slice(), [Change::PatchConnection { id: patched, columns, updated_at }]
                    if *patched == id && *columns == expected && columns.credentials.is_none()
                        && *updated_at == at())
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        let out = mocks
            .service()
            .validate_connection(&caller, id)
            .await
            .unwrap();
        assert!(
            matches!(out.data, ValidationOutcome::Valid { .. }),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn validating_a_connection_deleted_meanwhile_is_not_found() {
        let conn = connection(OrganizationId::new());
        let (mut mocks, caller) = administering(&conn);
        mocks.slack.expect_validate().returning(|_, _| {
            Ok(ValidatedWorkspace {
                workspace_name: None,
                bot_user_id: None,
            })
        });
        mocks
            .store
            .expect_commit()
            .times(1)
            .returning(|c| Ok(matched_nothing(c.len())));
        let err = mocks
            .service()
            .validate_connection(&caller, conn.id)
            .await
            .unwrap_err();
        assert!(
            matches!(err, DomainError::NotFound(NotFound::Connection)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_rename_writes_only_the_name() {
        let conn = connection(OrganizationId::new());
        let (mut mocks, caller) = administering(&conn);
        mocks.slack.expect_validate().never();
        let expected = ConnectionColumns {
            name: Some(Name::parse("n", "Renamed").unwrap()),
            ..ConnectionColumns::default()
        };
        mocks
            .store
            .expect_commit()
            .withf(move |c| {
                matches!(c.as_slice(), [Change::PatchConnection { columns, .. }] if *columns == expected)
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        let updated = mocks
            .service()
            .update_connection(
                &caller,
                conn.id,
                ConnectionPatch {
                    name: Some(Name::parse("n", "Renamed").unwrap()),
                    ..ConnectionPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.data.connection.id, conn.id);
    }

    #[tokio::test]
    async fn new_credentials_are_sealed_and_resume_the_connection() {
        let mut conn = connection(OrganizationId::new());
        conn.status = ConnectionStatus::Disconnected;
        let (mut mocks, caller) = administering(&conn);
        mocks.slack.expect_validate().times(1).returning(|_, _| {
            Ok(ValidatedWorkspace {
                workspace_name: Some("Acme".into()),
                bot_user_id: None,
            })
        });
        let expected = ConnectionColumns {
            external_workspace_name: Some(Name::parse("n", "Mine").unwrap()),
            credentials: Some(SealedCredentials::from_bytes(vec![1, 2, 3])),
            status: Some(ConnectionStatus::Connected),
            settings: ConnectionSettingsPatch {
                sync_edits: Some(false),
                ..ConnectionSettingsPatch::default()
            },
            ..ConnectionColumns::default()
        };
        mocks
            .store
            .expect_commit()
            .withf(move |c| {
                matches!(c.as_slice(), [Change::PatchConnection { columns, .. }] if *columns == expected)
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        mocks
            .service()
            .update_connection(
                &caller,
                conn.id,
                ConnectionPatch {
                    external_workspace_name: Some(Name::parse("n", "Mine").unwrap()),
                    credentials: Some(PendingCredentials::known(slack_credentials())),
                    settings: ConnectionSettingsPatch {
                        sync_edits: Some(false),
                        ..ConnectionSettingsPatch::default()
                    },
                    ..ConnectionPatch::default()
                },
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn updating_a_connection_deleted_meanwhile_is_not_found() {
        let conn = connection(OrganizationId::new());
        let (mut mocks, caller) = administering(&conn);
        mocks
            .store
            .expect_commit()
            .times(1)
            .returning(|c| Ok(matched_nothing(c.len())));
        let err = mocks
            .service()
            .update_connection(
                &caller,
                conn.id,
                ConnectionPatch {
                    name: Some(Name::parse("n", "Renamed").unwrap()),
                    ..ConnectionPatch::default()
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, DomainError::NotFound(NotFound::Connection)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn deleting_a_connection_deleted_meanwhile_is_not_found() {
        let conn = connection(OrganizationId::new());
        let (mut mocks, caller) = administering(&conn);
        mocks
            .store
            .expect_commit()
            .withf(|c| matches!(c.as_slice(), [Change::DeleteConnection { .. }]))
            .times(1)
            .returning(|c| Ok(matched_nothing(c.len())));
        let err = mocks
            .service()
            .delete_connection(&caller, conn.id)
            .await
            .unwrap_err();
        assert!(
            matches!(err, DomainError::NotFound(NotFound::Connection)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_link_update_writes_only_the_patched_fields_and_answers_the_stored_link() {
        let conn = connection(OrganizationId::new());
        let (mut mocks, caller) = administering(&conn);
        let link = live_link(conn.id, "C1");
        let id = link.id;
        let stored = ChannelLink {
            direction: Direction::Inbound,
            ..link.clone()
        };
        let mut reads = mockall::Sequence::new();
        mocks
            .links
            .expect_find()
            .times(1)
            .in_sequence(&mut reads)
            .returning(move |_| Ok(Some(link.clone())));
        let answered = stored.clone();
        mocks
            .links
            .expect_find()
            .times(1)
            .in_sequence(&mut reads)
            .returning(move |_| Ok(Some(answered.clone())));
        let expected = LinkColumns {
            direction: Some(Direction::Inbound),
            ..LinkColumns::default()
        };
        mocks
            .store
            .expect_commit()
            .withf(move |c| {
                matches!(c.as_slice(), [Change::PatchChannelLink { id: patched, columns, .. }]
                    if *patched == id && *columns == expected)
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        let updated = mocks
            .service()
            .update_link(
                &caller,
                id,
                LinkPatch {
                    direction: Some(Direction::Inbound),
                    ..LinkPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.data, stored);
    }

    #[tokio::test]
    async fn changing_or_deleting_a_link_deleted_meanwhile_is_not_found() {
        for delete in [false, true] {
            let conn = connection(OrganizationId::new());
            let (mut mocks, caller) = administering(&conn);
            let link = live_link(conn.id, "C1");
            let id = link.id;
            mocks
                .links
                .expect_find()
                .times(1)
                .returning(move |_| Ok(Some(link.clone())));
            mocks
                .store
                .expect_commit()
                .times(1)
                .returning(|c| Ok(matched_nothing(c.len())));
            let service = mocks.service();
            let err = if delete {
                service.delete_link(&caller, id).await.unwrap_err()
            } else {
                service
                    .update_link(
                        &caller,
                        id,
                        LinkPatch {
                            is_active: Some(false),
                            ..LinkPatch::default()
                        },
                    )
                    .await
                    .unwrap_err()
            };
            assert!(
                matches!(err, DomainError::NotFound(NotFound::ChannelLink)),
                "delete: {delete}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_channel_listed_twice_by_the_provider_is_linked_once() {
        let conn = connection(OrganizationId::new());
        let (mut mocks, caller) = administering(&conn);
        // Overlapping pages: C1 appears on two of them.
        mocks
            .slack
            .expect_list_channels()
            .returning(|_, _| Ok(vec![external("C1"), external("C2"), external("C1")]));
        mocks.links.expect_list_all().returning(|_| Ok(Vec::new()));
        mocks
            .store
            .expect_commit()
            .withf(|c| {
                let linked: Vec<&str> = c
                    .iter()
                    .filter_map(|change| match change {
                        Change::InsertChannelLink(l) => Some(l.external_channel_id.as_str()),
                        _ => None,
                    })
                    .collect();
                let channels = c
                    .iter()
                    .filter(|change| matches!(change, Change::InsertChannel(_)))
                    .count();
                linked == ["C1", "C2"] && channels == 2
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        let selected = mocks
            .service()
            .select_channels(&caller, conn.id, Vec::new(), true)
            .await
            .unwrap();
        let listed: Vec<&str> = selected
            .data
            .iter()
            .map(|d| d.channel.id.as_str())
            .collect();
        assert_eq!(listed, ["C1", "C2"]);
    }
}
