//! The port each chat platform adapter implements.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::model::chat_sync::{
    Credentials, ExternalChannel, ExternalWorkspaceId, Provider, ProviderError, ValidatedWorkspace,
};

/// One chat platform's API, as far as the domain needs it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ChatProvider: Send + Sync {
    /// Which platform this is.
    fn provider(&self) -> Provider;

    /// Checks that `credentials` work for `workspace` and carry the permissions this service
    /// needs.
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
    /// Any [`ProviderError`], as for [`ChatProvider::validate`].
    async fn list_channels(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
    ) -> Result<Vec<ExternalChannel>, ProviderError>;
}

/// The chat providers this build can talk to, by platform.
#[derive(Clone, Default)]
pub struct ChatProviders(HashMap<Provider, Arc<dyn ChatProvider>>);

impl ChatProviders {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a provider adapter under its platform.
    #[must_use]
    pub fn with(mut self, adapter: Arc<dyn ChatProvider>) -> Self {
        self.0.insert(adapter.provider(), adapter);
        self
    }

    /// The adapter for `provider`, if this build has one.
    #[must_use]
    pub fn get(&self, provider: Provider) -> Option<&Arc<dyn ChatProvider>> {
        self.0.get(&provider)
    }
}

impl std::fmt::Debug for ChatProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}
