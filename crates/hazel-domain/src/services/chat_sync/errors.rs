//! The failures of the chat-sync use cases: shared building blocks (reaching a connection,
//! opening credentials, asking the provider) and one enum per use case naming exactly what it
//! can return.

use crate::error::{AdminError, ValidationError, from_variants, unexpected_on_read_failure};
use crate::model::chat_sync::ProviderError;

/// Why a connection cannot be reached by the caller: the failures of the use cases that only
/// read a connection (reading it, listing its links).
#[derive(Debug, thiserror::Error)]
pub enum ConnectionAccessError {
    /// The connection does not exist, is deleted, or belongs to an organization the caller is
    /// not a member of.
    #[error("connection not found")]
    ConnectionNotFound,
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why the caller may not change a connection: the failures of deleting one.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionAdminError {
    /// The connection does not exist (also when deleted while the request is under way), or is
    /// invisible to the caller.
    #[error("connection not found")]
    ConnectionNotFound,
    /// The caller is neither an owner nor an admin of the organization.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why stored or reused credentials cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// No credentials, credentials the configured key does not open, or an integration
    /// connection that is not a connected one of the same organization and provider.
    #[error("{0}")]
    IntegrationNotConnected(String),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why the provider's channels of a connection cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The connection's credentials cannot be used.
    #[error("{0}")]
    IntegrationNotConnected(String),
    /// The provider is not supported by this build (on `provider`).
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// The provider refused or failed.
    #[error("provider error: {0}")]
    Provider(ProviderError),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`ChatSyncService::create_connection`](super::ChatSyncService::create_connection).
#[derive(Debug, thiserror::Error)]
pub enum CreateConnectionError {
    /// The organization does not exist or the caller is not a member.
    #[error("organization not found")]
    OrganizationNotFound,
    /// The caller is neither an owner nor an admin of the organization.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Credentials of another provider, an unsupported provider, or no usable name.
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// A live connection already exists for (organization, provider, external workspace).
    #[error("a live connection already exists for this organization, provider and workspace")]
    ConnectionExists,
    /// Neither credentials nor a usable integration connection.
    #[error("{0}")]
    IntegrationNotConnected(String),
    /// The provider refused the credentials or failed.
    #[error("provider error: {0}")]
    Provider(ProviderError),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`ChatSyncService::update_connection`](super::ChatSyncService::update_connection).
#[derive(Debug, thiserror::Error)]
pub enum UpdateConnectionError {
    /// The connection does not exist (also when deleted while the request is under way), or is
    /// invisible to the caller.
    #[error("connection not found")]
    ConnectionNotFound,
    /// The caller is neither an owner nor an admin of the organization.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Credentials of another provider, or an unsupported provider.
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// Resuming a connection whose stored credentials cannot be used.
    #[error("{0}")]
    IntegrationNotConnected(String),
    /// The provider refused the credentials or failed.
    #[error("provider error: {0}")]
    Provider(ProviderError),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of
/// [`ChatSyncService::validate_connection`](super::ChatSyncService::validate_connection);
/// a provider's refusal is an outcome, not a failure.
#[derive(Debug, thiserror::Error)]
pub enum ValidateConnectionError {
    /// The connection does not exist (also when deleted while the provider is asked), or is
    /// invisible to the caller.
    #[error("connection not found")]
    ConnectionNotFound,
    /// The caller is neither an owner nor an admin of the organization.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The provider is not supported by this build (on `provider`).
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// The stored credentials cannot be used.
    #[error("{0}")]
    IntegrationNotConnected(String),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of
/// [`ChatSyncService::list_external_channels`](super::ChatSyncService::list_external_channels).
#[derive(Debug, thiserror::Error)]
pub enum ListExternalChannelsError {
    /// The connection does not exist or is invisible to the caller.
    #[error("connection not found")]
    ConnectionNotFound,
    /// The provider is not supported by this build (on `provider`).
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// The stored credentials cannot be used.
    #[error("{0}")]
    IntegrationNotConnected(String),
    /// The provider refused or failed.
    #[error("provider error: {0}")]
    Provider(ProviderError),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`ChatSyncService::select_channels`](super::ChatSyncService::select_channels).
#[derive(Debug, thiserror::Error)]
pub enum SelectChannelsError {
    /// The connection does not exist or is invisible to the caller.
    #[error("connection not found")]
    ConnectionNotFound,
    /// The caller is neither an owner nor an admin of the organization.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A selected channel the provider does not list (on `channelIds`), or an unsupported
    /// provider.
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// The stored credentials cannot be used.
    #[error("{0}")]
    IntegrationNotConnected(String),
    /// The provider refused or failed.
    #[error("provider error: {0}")]
    Provider(ProviderError),
    /// A concurrent selection linked one of the channels first.
    #[error("the Hazel channel or the external channel is already linked in this connection")]
    ChannelLinkExists,
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`ChatSyncService::create_link`](super::ChatSyncService::create_link).
#[derive(Debug, thiserror::Error)]
pub enum CreateLinkError {
    /// The connection does not exist or is invisible to the caller.
    #[error("connection not found")]
    ConnectionNotFound,
    /// The caller is neither an owner nor an admin of the organization.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The Hazel channel does not exist in the connection's organization.
    #[error("channel not found")]
    ChannelNotFound,
    /// The Hazel channel or the external channel is already linked in this connection.
    #[error("the Hazel channel or the external channel is already linked in this connection")]
    ChannelLinkExists,
    /// The connection's provider is not supported by this build (on `provider`).
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// The connection's credentials cannot be used to check the external channel.
    #[error("{0}")]
    IntegrationNotConnected(String),
    /// The provider refused or failed, or the bot cannot sync the external channel
    /// (`InsufficientPermissions` naming what is missing, or why the channel cannot be synced).
    #[error("provider error: {0}")]
    Provider(ProviderError),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why the caller may not change a channel link: the failures of changing or deleting one.
#[derive(Debug, thiserror::Error)]
pub enum LinkAdminError {
    /// The link does not exist (also when deleted while the request is under way), or its
    /// connection is invisible to the caller.
    #[error("channel link not found")]
    ChannelLinkNotFound,
    /// The caller is neither an owner nor an admin of the organization.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

unexpected_on_read_failure!(
    ConnectionAccessError,
    ConnectionAdminError,
    CredentialsError,
    DiscoveryError,
    CreateConnectionError,
    UpdateConnectionError,
    ValidateConnectionError,
    ListExternalChannelsError,
    SelectChannelsError,
    CreateLinkError,
    LinkAdminError,
);

from_variants!(ConnectionAccessError => [ConnectionAdminError, ListExternalChannelsError] {
    ConnectionNotFound,
    Unexpected(e),
});
from_variants!(ConnectionAdminError => [UpdateConnectionError, ValidateConnectionError, SelectChannelsError, CreateLinkError] {
    ConnectionNotFound,
    Forbidden(reason),
    Unexpected(e),
});
from_variants!(AdminError => [CreateConnectionError] {
    OrganizationNotFound,
    Forbidden(reason),
    Unexpected(e),
});
from_variants!(CredentialsError => [DiscoveryError, CreateConnectionError, UpdateConnectionError, ValidateConnectionError, CreateLinkError] {
    IntegrationNotConnected(reason),
    Unexpected(e),
});
from_variants!(DiscoveryError => [ListExternalChannelsError, SelectChannelsError] {
    IntegrationNotConnected(reason),
    Validation(invalid),
    Provider(error),
    Unexpected(e),
});
