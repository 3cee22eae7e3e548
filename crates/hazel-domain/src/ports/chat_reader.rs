//! The reader port: what the sync engine reads from a chat platform besides its events — a
//! channel's history (catch-up after downtime) and a user's profile (shadow members).

use async_trait::async_trait;

use crate::model::Timestamp;
use crate::model::chat_sync::{BotIdentity, Credentials, Provider};
use crate::model::external::{
    ExternalChannelId, ExternalMessageId, ExternalUserId, ExternalWorkspaceId,
};
use crate::model::sync::{DeliveryError, InboundEvent};
use crate::model::text::Url;

/// One channel's history to read: everything after `after` (the last message synced through
/// the link), or, when nothing was synced yet, everything since `since`.
#[derive(Clone, Debug)]
pub struct HistoryRequest {
    /// The workspace.
    pub workspace: ExternalWorkspaceId,
    /// The channel.
    pub channel: ExternalChannelId,
    /// The connection's credentials, in memory only.
    pub credentials: Credentials,
    /// The bot the credentials belong to, as learnt when they were validated: readers that
    /// leave the bot's own messages out by its ids (Discord) need it; `None` when it was
    /// never learnt.
    pub bot: Option<BotIdentity>,
    /// The last message synced through the link; the read starts right after it.
    pub after: Option<ExternalMessageId>,
    /// Where the read starts when `after` is `None` (the link's creation).
    pub since: Timestamp,
}

/// A platform user as shown there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalProfile {
    /// The display name (else the real name).
    pub name: String,
    /// The avatar.
    pub avatar_url: Option<Url>,
}

/// One chat platform's reads for the sync engine. Answers [`DeliveryError`]s, classified as
/// for deliveries (a rate limit, refused credentials, a transient failure).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ChatReader: Send + Sync {
    /// Which platform this is.
    fn provider(&self) -> Provider;

    /// The messages posted in a channel after `request.after` (or since `request.since`),
    /// oldest first, thread replies included, as the inbound events their live delivery
    /// would have been — with the same dedupe keys, so a message seen by both a catch-up and
    /// the live feed is one message.
    ///
    /// # Errors
    /// Any [`DeliveryError`].
    async fn history_since(
        &self,
        request: &HistoryRequest,
    ) -> Result<Vec<InboundEvent>, DeliveryError>;

    /// The profile of `user` (display name and avatar); `None` when the platform does not
    /// know the user.
    ///
    /// # Errors
    /// Any [`DeliveryError`].
    async fn user_profile(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
        user: &ExternalUserId,
    ) -> Result<Option<ExternalProfile>, DeliveryError>;
}
