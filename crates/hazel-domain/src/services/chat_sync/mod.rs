//! Chat Sync management: connections, credential validation, channel discovery, channel links.
//!
//! The use cases are split by concern, each an `impl ChatSyncService` block of its own:
//! [`connections`] (create, change, validate, delete), [`credentials`] (sealing, opening and
//! reusing credentials), [`discovery`] (live channel lists and selection) and [`links`].

mod connections;
mod credentials;
mod discovery;
mod errors;
mod health;
mod links;
#[cfg(test)]
mod tests;

pub use errors::{
    ConnectionAccessError, ConnectionAdminError, CreateConnectionError, CreateLinkError,
    CredentialsError, DiscoveryError, LinkAdminError, ListExternalChannelsError,
    SelectChannelsError, UpdateConnectionError, ValidateConnectionError,
};
pub use health::StatusReport;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::{Caller, Mutation, admin_membership, gone_unless_applied, membership, store_failure};
use crate::error::{MembershipError, ValidationError};
use crate::ids::OrganizationId;
use crate::ids::{ChannelId, ChannelLinkId, SyncConnectionId, TransactionId};
use crate::model::Timestamp;
use crate::model::channel::{Channel, ChannelKind};
use crate::model::chat_sync::{
    ChannelEligibility, ChannelLink, ConnectionSettings, ConnectionSettingsPatch, ConnectionStatus,
    Credentials, Direction, ExternalChannel, ExternalChannelId, ExternalWorkspaceId, JsonObject,
    LinkSettings, LinkSettingsPatch, PendingCredentials, Provider, ProviderError,
    SealedCredentials, SyncConnection, ValidatedWorkspace,
};
use crate::model::identity::Member;
use crate::model::page::{Page, PageRequest};
use crate::model::text::{Name, Opaque};
use crate::ports::repositories::ConnectionView;
use crate::ports::{
    Change, Changeset, ChannelLinkRepository, ChannelRepository, ChatDirectory, ChatProviders,
    Clock, ConnectionColumns, ConnectionRepository, CredentialVault, LinkColumns, MemberRepository,
    Store, StoreError, UniqueRule, VaultError,
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

/// The uniqueness rules of channel links.
const LINK_RULES: &[UniqueRule] = &[
    UniqueRule::LinkHazelChannel,
    UniqueRule::LinkExternalChannel,
];

/// Maps a conflict on one of `rules` to `kind`; any other store error is unexpected.
fn conflict_to<E: From<anyhow::Error>>(
    rules: &'static [UniqueRule],
    kind: E,
) -> impl FnOnce(StoreError) -> E {
    move |e| match e {
        StoreError::Conflict { constraint, .. } if rules.contains(&constraint) => kind,
        other => E::from(store_failure(other)),
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

    fn adapter(&self, provider: Provider) -> Result<&Arc<dyn ChatDirectory>, ValidationError> {
        self.providers.directory(provider).ok_or_else(|| {
            ValidationError::new(
                "provider",
                format!("{provider} is not supported by this build yet"),
            )
        })
    }

    /// A live connection visible to the caller, with the caller's membership.
    async fn visible(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
    ) -> Result<(ConnectionView, Member), ConnectionAccessError> {
        let not_found = || ConnectionAccessError::ConnectionNotFound;
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
    ) -> Result<ConnectionView, ConnectionAdminError> {
        let (view, member) = self.visible(caller, id).await?;
        if member.role.is_admin() {
            Ok(view)
        } else {
            Err(ConnectionAdminError::Forbidden(
                "only owners and admins of the organization may change connections".to_owned(),
            ))
        }
    }

    async fn reread(
        &self,
        id: SyncConnectionId,
        transaction_id: TransactionId,
    ) -> Result<Mutation<ConnectionView>, UpdateConnectionError> {
        // Deleted by a concurrent request right after this one's write.
        let view = self
            .connections
            .find(id)
            .await?
            .ok_or(UpdateConnectionError::ConnectionNotFound)?;
        Ok(Mutation {
            data: view,
            transaction_id,
        })
    }
}
