//! The ports each chat platform adapter implements, split by role, and the registry that hands
//! them out by platform.
//!
//! - [`ChatDirectory`]: credentials, the bot's identity, channels and whether one can be synced
//!   (the management API).
//! - [`ChatOutbound`]: create, edit and delete messages,
//!   reactions, pins and threads on the platform (the delivery workers).
//! - [`ChatInbound`]: verify and decode the platform's input
//!   into normalized events (webhook intake, gateway sessions).
//! - [`ChatReader`]: read a channel's history (catch-up) and users' profiles.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::chat_inbound::ChatInbound;
use super::chat_outbound::ChatOutbound;
use super::chat_reader::ChatReader;
use super::session::ChatSession;
use crate::model::chat_sync::{
    ChannelEligibility, Credentials, ExternalChannel, ExternalChannelId, ExternalWorkspaceId,
    Provider, ProviderError, ValidatedWorkspace,
};

/// One chat platform's directory: who the bot is, which channels exist and which of them it
/// can sync. Answers [`ProviderError`]s, whose codes the management API documents.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ChatDirectory: Send + Sync {
    /// Which platform this is.
    fn provider(&self) -> Provider;

    /// Checks that `credentials` work for `workspace` and carry the permissions this service
    /// needs, and learns the bot's identity there.
    ///
    /// # Errors
    /// Any [`ProviderError`]: `InvalidCredentials`, `AuthExpired`, `InsufficientPermissions`
    /// (with the missing scopes), `RateLimited`, `Network`, `Platform`.
    async fn validate(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
    ) -> Result<ValidatedWorkspace, ProviderError>;

    /// Lists the workspace's channels the bot can sync (all pages).
    ///
    /// # Errors
    /// Any [`ProviderError`], as for [`ChatDirectory::validate`].
    async fn list_channels(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
    ) -> Result<Vec<ExternalChannel>, ProviderError>;

    /// Whether the bot can read and post in `channel`: it exists in `workspace`, is of a kind
    /// that holds messages, is not archived, and the bot's effective permissions there allow
    /// it. A channel the bot cannot see is [`ChannelEligibility::Ineligible`], not an error.
    ///
    /// # Errors
    /// Any [`ProviderError`], as for [`ChatDirectory::validate`], when the platform cannot
    /// be asked or refuses the credentials.
    async fn check_channel(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
        channel: &ExternalChannelId,
    ) -> Result<ChannelEligibility, ProviderError>;

    /// Makes the bot a member of `channel`, one that [`ChatDirectory::check_channel`] answered
    /// [`ChannelEligibility::Joinable`] for (Slack `conversations.join`). Joining a channel the
    /// bot is already in succeeds.
    ///
    /// Platforms whose channels are never `Joinable` keep this default, which refuses.
    ///
    /// # Errors
    /// Any [`ProviderError`], as for [`ChatDirectory::validate`];
    /// `InsufficientPermissions` when the bot may not join.
    async fn join_channel(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
        channel: &ExternalChannelId,
    ) -> Result<(), ProviderError> {
        let _ = (workspace, credentials);
        Err(ProviderError::InsufficientPermissions {
            message: format!(
                "{} bots cannot join channel {channel} by themselves; add the bot to it",
                self.provider()
            ),
            required_scopes: Vec::new(),
        })
    }
}

/// The chat provider adapters this build has, by platform and role. An adapter may fill some
/// roles only; the sync engine asks for the role it needs.
#[derive(Clone, Default)]
pub struct ChatProviders {
    directories: HashMap<Provider, Arc<dyn ChatDirectory>>,
    outbound: HashMap<Provider, Arc<dyn ChatOutbound>>,
    inbound: HashMap<Provider, Arc<dyn ChatInbound>>,
    readers: HashMap<Provider, Arc<dyn ChatReader>>,
    sessions: HashMap<Provider, Arc<dyn ChatSession>>,
}

impl ChatProviders {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a directory adapter under its platform.
    #[must_use]
    pub fn with_directory(mut self, adapter: Arc<dyn ChatDirectory>) -> Self {
        self.directories.insert(adapter.provider(), adapter);
        self
    }

    /// Registers an outbound adapter under its platform.
    #[must_use]
    pub fn with_outbound(mut self, adapter: Arc<dyn ChatOutbound>) -> Self {
        self.outbound.insert(adapter.provider(), adapter);
        self
    }

    /// Registers an inbound adapter under its platform.
    #[must_use]
    pub fn with_inbound(mut self, adapter: Arc<dyn ChatInbound>) -> Self {
        self.inbound.insert(adapter.provider(), adapter);
        self
    }

    /// Registers a reader adapter under its platform.
    #[must_use]
    pub fn with_reader(mut self, adapter: Arc<dyn ChatReader>) -> Self {
        self.readers.insert(adapter.provider(), adapter);
        self
    }

    /// Removes the reader of `provider` (tests whose fake provider has none of its own).
    #[must_use]
    pub fn without_reader(mut self, provider: Provider) -> Self {
        self.readers.remove(&provider);
        self
    }

    /// Registers a session adapter (Socket Mode, a gateway) under its platform.
    #[must_use]
    pub fn with_session(mut self, adapter: Arc<dyn ChatSession>) -> Self {
        self.sessions.insert(adapter.provider(), adapter);
        self
    }

    /// Removes the session adapter of `provider` (tests whose fake provider has none).
    #[must_use]
    pub fn without_session(mut self, provider: Provider) -> Self {
        self.sessions.remove(&provider);
        self
    }

    /// The session adapter of `provider`, if this build has one.
    #[must_use]
    pub fn session(&self, provider: Provider) -> Option<&Arc<dyn ChatSession>> {
        self.sessions.get(&provider)
    }

    /// Every session adapter of this build.
    pub fn sessions(&self) -> impl Iterator<Item = &Arc<dyn ChatSession>> {
        self.sessions.values()
    }

    /// The directory of `provider`, if this build has one.
    #[must_use]
    pub fn directory(&self, provider: Provider) -> Option<&Arc<dyn ChatDirectory>> {
        self.directories.get(&provider)
    }

    /// The outbound adapter of `provider`, if this build has one.
    #[must_use]
    pub fn outbound(&self, provider: Provider) -> Option<&Arc<dyn ChatOutbound>> {
        self.outbound.get(&provider)
    }

    /// The inbound adapter of `provider`, if this build has one.
    #[must_use]
    pub fn inbound(&self, provider: Provider) -> Option<&Arc<dyn ChatInbound>> {
        self.inbound.get(&provider)
    }

    /// The reader of `provider`, if this build has one.
    #[must_use]
    pub fn reader(&self, provider: Provider) -> Option<&Arc<dyn ChatReader>> {
        self.readers.get(&provider)
    }

    /// The platforms this build has a reader for, in a stable order.
    #[must_use]
    pub fn reader_providers(&self) -> Vec<Provider> {
        let mut providers: Vec<Provider> = self.readers.keys().copied().collect();
        providers.sort_by_key(|p| p.as_str());
        providers
    }
}

impl std::fmt::Debug for ChatProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = |map: Vec<&Provider>| {
            let mut names: Vec<&str> = map.into_iter().map(|p| p.as_str()).collect();
            names.sort_unstable();
            names
        };
        f.debug_struct("ChatProviders")
            .field("directories", &keys(self.directories.keys().collect()))
            .field("outbound", &keys(self.outbound.keys().collect()))
            .field("inbound", &keys(self.inbound.keys().collect()))
            .field("readers", &keys(self.readers.keys().collect()))
            .field("sessions", &keys(self.sessions.keys().collect()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockChatInbound, MockChatOutbound};

    fn directory(provider: Provider) -> Arc<dyn ChatDirectory> {
        let mut mock = MockChatDirectory::new();
        mock.expect_provider().return_const(provider);
        Arc::new(mock)
    }

    #[test]
    fn each_role_is_registered_and_found_by_platform() {
        let mut outbound = MockChatOutbound::new();
        outbound.expect_provider().return_const(Provider::Discord);
        let mut inbound = MockChatInbound::new();
        inbound.expect_provider().return_const(Provider::Slack);
        let providers = ChatProviders::new()
            .with_directory(directory(Provider::Slack))
            .with_directory(directory(Provider::Discord))
            .with_outbound(Arc::new(outbound))
            .with_inbound(Arc::new(inbound));

        assert_eq!(
            providers.directory(Provider::Slack).map(|d| d.provider()),
            Some(Provider::Slack)
        );
        assert!(providers.directory(Provider::Teams).is_none());
        assert!(providers.outbound(Provider::Discord).is_some());
        assert!(providers.outbound(Provider::Slack).is_none());
        assert!(providers.inbound(Provider::Slack).is_some());
        assert!(providers.inbound(Provider::Discord).is_none());
        assert_eq!(
            format!("{providers:?}"),
            "ChatProviders { directories: [\"discord\", \"slack\"], outbound: [\"discord\"], \
             inbound: [\"slack\"], readers: [], sessions: [] }"
        );
    }
}
