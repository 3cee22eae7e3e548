//! The outbound port: acting on a chat platform on behalf of Hazel (the delivery workers' side).

use async_trait::async_trait;

use crate::model::Timestamp;
use crate::model::chat_sync::{ExternalMessageId, Provider};
use crate::model::sync::{
    DeliveryError, ExternalRefs, OutboundMessage, OutboundTarget, ReactionEmoji, ThreadRef,
};

/// One chat platform's write side. Every method answers a [`DeliveryError`] that says what to
/// do next; adapters classify the platform's answers with a pure function.
///
/// A message longer than the platform allows is split by the adapter into parts, every part is
/// answered in the [`ExternalRefs`], and a failure after some parts were created is
/// [`DeliveryError::Ambiguous`] (resolve through [`ChatOutbound::find_by_origin`]), so a retry
/// never posts a part twice.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ChatOutbound: Send + Sync {
    /// Which platform this is.
    fn provider(&self) -> Provider;

    /// Posts `message` in the target channel under the message's persona, carrying its origin
    /// marker; answers every part created.
    ///
    /// # Errors
    /// Any [`DeliveryError`].
    async fn post(
        &self,
        target: &OutboundTarget,
        message: &OutboundMessage,
    ) -> Result<ExternalRefs, DeliveryError>;

    /// Replaces the text of the message posted as `posted`, editing, adding or deleting parts
    /// as the new text needs; answers the parts as they are now.
    ///
    /// # Errors
    /// Any [`DeliveryError`]; [`DeliveryError::Gone`] when the message no longer exists.
    async fn edit(
        &self,
        target: &OutboundTarget,
        posted: &ExternalRefs,
        message: &OutboundMessage,
    ) -> Result<ExternalRefs, DeliveryError>;

    /// Deletes every part of the message posted as `posted`.
    ///
    /// # Errors
    /// Any [`DeliveryError`]; [`DeliveryError::Gone`] when it no longer exists.
    async fn delete(
        &self,
        target: &OutboundTarget,
        posted: &ExternalRefs,
    ) -> Result<(), DeliveryError>;

    /// Adds the bot's reaction `emoji` to `message`.
    ///
    /// # Errors
    /// Any [`DeliveryError`].
    async fn react(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
        emoji: &ReactionEmoji,
    ) -> Result<(), DeliveryError>;

    /// Removes the bot's reaction `emoji` from `message`.
    ///
    /// # Errors
    /// Any [`DeliveryError`].
    async fn unreact(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
        emoji: &ReactionEmoji,
    ) -> Result<(), DeliveryError>;

    /// Pins `message` in the target channel.
    ///
    /// # Errors
    /// Any [`DeliveryError`].
    async fn pin(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
    ) -> Result<(), DeliveryError>;

    /// Unpins `message`.
    ///
    /// # Errors
    /// Any [`DeliveryError`].
    async fn unpin(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
    ) -> Result<(), DeliveryError>;

    /// Starts a thread from `parent` (named `name` where threads have names) and answers it;
    /// on platforms whose threads need no creation (Slack) the thread is the parent's.
    ///
    /// # Errors
    /// Any [`DeliveryError`]; [`DeliveryError::Gone`] when the parent no longer exists.
    async fn start_thread(
        &self,
        target: &OutboundTarget,
        parent: &ExternalMessageId,
        name: &str,
    ) -> Result<ThreadRef, DeliveryError>;

    /// Looks for what an earlier [`ChatOutbound::post`] of `message` left in the target
    /// channel, or among the replies of its thread when it is a reply, around `sent_at`: how
    /// an ambiguous send is resolved before it is retried. The adapter recognises it by the
    /// message's origin marker where the platform carries one (Slack's metadata), else by
    /// what the send wrote (Discord: the link's webhook, the persona and the parts), so a
    /// restarted process finds it too. `None` when there is nothing, and the message may be
    /// sent again.
    ///
    /// # Errors
    /// Any [`DeliveryError`].
    async fn find_by_origin(
        &self,
        target: &OutboundTarget,
        message: &OutboundMessage,
        sent_at: Timestamp,
    ) -> Result<Option<ExternalRefs>, DeliveryError>;
}
