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
use crate::model::chat_sync::{
    BotIdentity, ChannelLink, ConnectionSettingsPatch, ConnectionStatus, Direction, JsonObject,
    LinkSettingsPatch, SealedCredentials, SyncConnection,
};
use crate::model::identity::{ApiToken, Member, Organization, User};
use crate::model::message::{Message, MessageContent, Reaction};
use crate::model::notification::Notification;
use crate::model::text::Name;

/// The columns a [`Change::PatchConnection`] writes. Each `None` leaves its column as stored,
/// so a use case writes only what it decided and never puts back a value it read earlier
/// (which a concurrent request may have changed since).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionColumns {
    /// New display name.
    pub name: Option<Name>,
    /// New workspace name, overwriting the stored one.
    pub external_workspace_name: Option<Name>,
    /// A workspace name written only where none is stored (the provider's name, learnt while
    /// validating, never overrides one a person set meanwhile).
    pub fallback_workspace_name: Option<Name>,
    /// New sealed credentials.
    pub credentials: Option<SealedCredentials>,
    /// The bot identity learnt while validating the credentials.
    pub bot: Option<BotIdentity>,
    /// New status.
    pub status: Option<ConnectionStatus>,
    /// Settings switches to set, each written to its own column; absent ones stay.
    pub settings: ConnectionSettingsPatch,
    /// New metadata.
    pub metadata: Option<JsonObject>,
}

/// The columns a [`Change::PatchChannelLink`] writes; each `None` leaves its column as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkColumns {
    /// New direction.
    pub direction: Option<Direction>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// Settings to set, each written to its own column (`syncPins`, `mentionMapping` and the
    /// per-link overrides); absent ones stay.
    pub settings: LinkSettingsPatch,
}

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
    /// Replace the text of a live (not deleted) message and set its `edited_at`. Answers
    /// [`ChangeOutcome::Affected`]: 0 when the message is unknown or was deleted meanwhile.
    EditMessage {
        /// The message.
        id: MessageId,
        /// The new text.
        content: MessageContent,
        /// Edit time.
        edited_at: Timestamp,
    },
    /// Soft-delete a live message. Answers [`ChangeOutcome::Affected`]: 0 when the message is
    /// unknown or already deleted.
    DeleteMessage {
        /// The message.
        id: MessageId,
        /// Deletion time.
        at: Timestamp,
    },
    /// Insert a reaction; [`ChangeOutcome::Skipped`] when (message, member, emoji) exists.
    InsertReaction(Reaction),
    /// Delete a reaction.
    DeleteReaction(ReactionId),
    /// Insert a notification; [`ChangeOutcome::Skipped`] when its `dedupe_key` exists.
    InsertNotification(Notification),
    /// Mark a notification read (or unread with `None`). Answers [`ChangeOutcome::Affected`]:
    /// 0 when the notification is unknown (deleted meanwhile).
    SetNotificationRead {
        /// The notification.
        id: NotificationId,
        /// The new `readAt`.
        read_at: Option<Timestamp>,
    },
    /// Delete a notification. Answers [`ChangeOutcome::Affected`]: 0 when it is unknown.
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
    /// Write the given columns of a live connection, and its `updated_at`. Answers
    /// [`ChangeOutcome::Affected`]: 0 when the connection is unknown or deleted.
    PatchConnection {
        /// The connection.
        id: SyncConnectionId,
        /// What to write.
        columns: ConnectionColumns,
        /// Change time.
        updated_at: Timestamp,
    },
    /// Soft-delete a live connection and all its channel links. Answers
    /// [`ChangeOutcome::Affected`] for the connection: 0 when it is unknown or already deleted.
    DeleteConnection {
        /// The connection.
        id: SyncConnectionId,
        /// Deletion time.
        at: Timestamp,
    },
    /// Insert a channel link; conflicts when the Hazel or external channel is already linked
    /// in the connection.
    InsertChannelLink(ChannelLink),
    /// Write the given columns of a live channel link, and its `updated_at`. Answers
    /// [`ChangeOutcome::Affected`]: 0 when the link is unknown or deleted.
    PatchChannelLink {
        /// The link.
        id: ChannelLinkId,
        /// What to write.
        columns: LinkColumns,
        /// Change time.
        updated_at: Timestamp,
    },
    /// Soft-delete a live channel link. Answers [`ChangeOutcome::Affected`]: 0 when it is
    /// unknown or already deleted.
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
