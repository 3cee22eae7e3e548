//! The write side: a changeset committed atomically.
//!
//! Services read through the repository ports, decide, and return a list of [`Change`]s. The
//! [`Store`] applies them in one database transaction and hands back the [`TransactionId`] taken
//! inside that transaction, so "the outbox row is written with the message" holds by construction.

use async_trait::async_trait;

use crate::ids::{
    ChannelLinkId, MemberId, MessageId, NotificationId, ReactionId, SyncConnectionId, TransactionId,
};
use crate::model::Timestamp;
use crate::model::channel::Channel;
use crate::model::chat_sync::{ChannelLink, SyncConnection};
use crate::model::identity::{ApiToken, Member, Organization, User};
use crate::model::message::{Message, Reaction};
use crate::model::notification::Notification;

/// One domain write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Insert a user; conflicts on email.
    InsertUser(User),
    /// Insert an API token hash.
    InsertApiToken(ApiToken),
    /// Insert an organization; conflicts on slug.
    InsertOrganization(Organization),
    /// Insert a member; conflicts on (organization, user) and (organization, provider, external user).
    InsertMember(Member),
    /// Insert a channel.
    InsertChannel(Channel),
    /// Insert a message.
    InsertMessage(Message),
    /// Overwrite a message's content, `edited_at` and `deleted_at`.
    UpdateMessage(Message),
    /// Insert a reaction; [`ChangeOutcome::Skipped`] when (message, member, emoji) exists.
    InsertReaction(Reaction),
    /// Delete a reaction.
    DeleteReaction(ReactionId),
    /// Insert a notification; [`ChangeOutcome::Skipped`] when its `dedupe_key` exists.
    InsertNotification(Notification),
    /// Mark a notification read (or unread with `None`).
    SetNotificationRead {
        /// The notification.
        id: NotificationId,
        /// The new `readAt`.
        read_at: Option<Timestamp>,
    },
    /// Delete a notification.
    DeleteNotification(NotificationId),
    /// Delete `member_id`'s notifications about any of `message_ids`: rows whose targeted
    /// resource is one of the messages, and rows whose resource is one of them with resource
    /// type `message`. Answers [`ChangeOutcome::Affected`].
    DeleteMessageNotifications {
        /// Whose notifications.
        member_id: MemberId,
        /// About which messages.
        message_ids: Vec<MessageId>,
    },
    /// Delete the notification about a reaction (when the reaction is removed).
    DeleteReactionNotifications(ReactionId),
    /// Insert a connection; conflicts when a live one exists for (organization, provider, workspace).
    InsertConnection(SyncConnection),
    /// Overwrite a live connection's mutable fields.
    UpdateConnection(SyncConnection),
    /// Soft-delete a connection and all its channel links.
    DeleteConnection {
        /// The connection.
        id: SyncConnectionId,
        /// Deletion time.
        at: Timestamp,
    },
    /// Insert a channel link; conflicts when the Hazel or external channel is already linked
    /// in the connection.
    InsertChannelLink(ChannelLink),
    /// Overwrite a live link's mutable fields.
    UpdateChannelLink(ChannelLink),
    /// Soft-delete a channel link.
    DeleteChannelLink {
        /// The link.
        id: ChannelLinkId,
        /// Deletion time.
        at: Timestamp,
    },
}

/// What one change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Written.
    Applied,
    /// Not written because an equivalent row exists (idempotent inserts).
    Skipped,
    /// A bulk change touched this many rows.
    Affected(u64),
}

/// The result of a committed changeset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The transaction's id.
    pub transaction_id: TransactionId,
    /// One outcome per change, in order.
    pub outcomes: Vec<ChangeOutcome>,
}

impl Committed {
    /// Rows touched by the change at `index` (1 for applied, 0 for skipped).
    #[must_use]
    pub fn affected(&self, index: usize) -> u64 {
        match self.outcomes.get(index) {
            Some(ChangeOutcome::Applied) => 1,
            Some(ChangeOutcome::Affected(n)) => *n,
            Some(ChangeOutcome::Skipped) | None => 0,
        }
    }
}

/// Why a changeset was not committed. Nothing is applied in either case.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The change at `change_index` violates a uniqueness rule.
    #[error("change {change_index} conflicts with an existing row")]
    Conflict {
        /// Index of the offending change.
        change_index: usize,
    },
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Commits changesets.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Store: Send + Sync {
    /// Applies every change in one database transaction and returns its id.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a uniqueness rule is violated; [`StoreError::Unexpected`]
    /// otherwise. Nothing is applied then.
    async fn commit(&self, changes: Vec<Change>) -> Result<Committed, StoreError>;
}
