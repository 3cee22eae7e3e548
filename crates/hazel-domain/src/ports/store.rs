//! The write side: a changeset committed atomically.
//!
//! Services read through the repository ports, decide, and return a [`Changeset`]: the list of
//! [`Change`]s, each with an optional [`Expectation`] about what it must match. The [`Store`]
//! applies them in one database transaction and hands back the [`TransactionId`] taken inside
//! that transaction, so "the outbox row is written with the message" holds by construction.
//!
//! A guarded change makes a later change depend on an earlier one's outcome: when an
//! expectation fails (the message was deleted meanwhile, the lease was taken by another worker,
//! the connection changed since it was read), nothing of the changeset is applied and the
//! service learns which change failed ([`StoreError::Precondition`]).

use std::collections::BTreeSet;

use async_trait::async_trait;

use crate::ids::{
    ChannelLinkId, DeliveryId, MemberId, MessageId, MessageLinkId, NotificationId, ReactionId,
    ReceiptId, SyncConnectionId, TransactionId, WorkerId,
};
use crate::model::Timestamp;
use crate::model::channel::Channel;
use crate::model::chat_sync::{
    BotIdentity, ChannelLink, ConnectionSettingsPatch, ConnectionStatus, Direction, JsonObject,
    LinkSettingsPatch, SealedCredentials, SyncConnection,
};
use crate::model::delivery::{ContentHash, Delivery, DeliveryState, EventReceipt, MessageLink};
use crate::model::external::ExternalMessageId;
use crate::model::identity::{ApiToken, Member, Organization, User};
use crate::model::message::{Message, MessageContent, Reaction};
use crate::model::notification::Notification;
use crate::model::sync::{ExternalRefs, ReactionEmoji, ThreadRef};
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
    /// Delete a reaction. Answers [`ChangeOutcome::Affected`]: 0 when it is unknown (removed
    /// meanwhile).
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
    /// Compare-and-set for background work: write `status` only while the live connection is
    /// still as the worker read it, i.e. its `updated_at` equals `seen_updated_at` (every write
    /// of credentials, status or settings moves `updated_at`). Answers
    /// [`ChangeOutcome::Affected`]: 0 when the connection changed since, or is unknown or
    /// deleted; guard it with [`Change::expect_one`] to learn which.
    SetConnectionStatusIfUnchanged {
        /// The connection.
        id: SyncConnectionId,
        /// The `updated_at` the worker read with the state it judged.
        seen_updated_at: Timestamp,
        /// The status to write.
        status: ConnectionStatus,
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
    /// A write of the sync engine's state (receipts, outbox, message links, leases).
    Sync(SyncChange),
}

/// The sync engine's writes. Guards (`Holds…`) change nothing and answer
/// [`ChangeOutcome::Affected`] 1 while the worker's lease is still its own and unexpired, 0
/// otherwise: put one first, with [`Change::expect_one`], so a worker whose lease was taken
/// over writes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncChange {
    /// Record an inbound event; [`ChangeOutcome::Skipped`] when a receipt with the same
    /// (connection, source, dedupe key) exists (a duplicate: do nothing).
    InsertReceipt(Box<EventReceipt>),
    /// Guard: `worker` still holds its lease on the receipt at `now`.
    HoldsReceiptLease {
        /// The receipt.
        id: ReceiptId,
        /// The lease holder.
        worker: WorkerId,
        /// The time the lease must still hold at.
        now: Timestamp,
    },
    /// Write a receipt's state and what it was routed to, and end its lease. Answers
    /// [`ChangeOutcome::Affected`].
    SetReceiptState {
        /// The receipt.
        id: ReceiptId,
        /// The new state.
        state: DeliveryState,
        /// The Hazel message it wrote or acted on.
        hazel_message_id: Option<MessageId>,
        /// The link it came through.
        channel_link_id: Option<ChannelLinkId>,
    },
    /// Re-queue a dead-lettered receipt (only while it is failed), due at `at`, attempts
    /// reset. Answers [`ChangeOutcome::Affected`].
    RequeueReceipt {
        /// The receipt.
        id: ReceiptId,
        /// Due then.
        at: Timestamp,
    },
    /// Enqueue an outbox row at the end of its link's queue.
    EnqueueDelivery(Box<Delivery>),
    /// Guard: `worker` still holds its claim on the link's queue at `now`.
    HoldsLinkClaim {
        /// The link.
        link: ChannelLinkId,
        /// The claim holder.
        worker: WorkerId,
        /// The time the claim must still hold at.
        now: Timestamp,
    },
    /// Write a delivery's state (and the external message it went to, when known). Answers
    /// [`ChangeOutcome::Affected`].
    SetDeliveryState {
        /// The delivery.
        id: DeliveryId,
        /// The new state.
        state: DeliveryState,
        /// The external message, once known.
        external_message_id: Option<ExternalMessageId>,
    },
    /// Mark pending deliveries "sent, outcome unknown" since `at`, leaving the rest of their
    /// state as it is (one statement for a queue's head). Answers [`ChangeOutcome::Affected`]
    /// with how many pending rows it marked.
    MarkUnresolved {
        /// The deliveries.
        ids: Vec<DeliveryId>,
        /// Sent then.
        at: Timestamp,
    },
    /// Re-queue a dead-lettered delivery (only while it is failed), due at `at`, attempts
    /// reset. Answers [`ChangeOutcome::Affected`].
    RequeueDelivery {
        /// The delivery.
        id: DeliveryId,
        /// Due then.
        at: Timestamp,
    },
    /// Insert a message link; conflicts on (link, Hazel message) and (link, external root).
    InsertMessageLink(Box<MessageLink>),
    /// Write what a message link holds now. Answers [`ChangeOutcome::Affected`].
    UpdateMessageLink {
        /// The message link.
        id: MessageLinkId,
        /// The parts as they are now.
        external: ExternalRefs,
        /// The thread it is in or roots.
        thread: Option<ThreadRef>,
        /// The hash of the content last written.
        content_hash: ContentHash,
        /// The reactions the bot holds.
        reactions: BTreeSet<ReactionEmoji>,
        /// Change time.
        updated_at: Timestamp,
    },
    /// Write whether a message link's external message is pinned. Answers
    /// [`ChangeOutcome::Affected`].
    SetMessageLinkPinned {
        /// The message link.
        id: MessageLinkId,
        /// Pinned now or not.
        pinned: bool,
        /// Change time.
        updated_at: Timestamp,
    },
    /// Move a connection's `lastSyncAt` forward to `at`, coalesced: only when it is older
    /// than `at` by more than `coalesce`, and without touching `updated_at` (so it never
    /// disturbs a compare-and-set on the connection). Answers [`ChangeOutcome::Affected`].
    TouchLastSync {
        /// The connection.
        connection: SyncConnectionId,
        /// The sync time.
        at: Timestamp,
        /// The slack below which the row is left alone.
        coalesce: std::time::Duration,
    },
}

impl SyncChange {
    /// A name for the change, for logs and error context (never its data).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InsertReceipt(_) => "Sync::InsertReceipt",
            Self::HoldsReceiptLease { .. } => "Sync::HoldsReceiptLease",
            Self::SetReceiptState { .. } => "Sync::SetReceiptState",
            Self::RequeueReceipt { .. } => "Sync::RequeueReceipt",
            Self::EnqueueDelivery(_) => "Sync::EnqueueDelivery",
            Self::HoldsLinkClaim { .. } => "Sync::HoldsLinkClaim",
            Self::SetDeliveryState { .. } => "Sync::SetDeliveryState",
            Self::MarkUnresolved { .. } => "Sync::MarkUnresolved",
            Self::RequeueDelivery { .. } => "Sync::RequeueDelivery",
            Self::InsertMessageLink(_) => "Sync::InsertMessageLink",
            Self::UpdateMessageLink { .. } => "Sync::UpdateMessageLink",
            Self::SetMessageLinkPinned { .. } => "Sync::SetMessageLinkPinned",
            Self::TouchLastSync { .. } => "Sync::TouchLastSync",
        }
    }
}

impl From<SyncChange> for Guarded {
    fn from(change: SyncChange) -> Self {
        Change::Sync(change).into()
    }
}

impl SyncChange {
    /// This change, required to match exactly one row.
    #[must_use]
    pub fn expect_one(self) -> Guarded {
        Change::Sync(self).expect_one()
    }
}

/// What a guarded change must match for its changeset to commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// Exactly one row: the row the use case read is still there, live and as read.
    ExactlyOne,
}

impl Expectation {
    /// Whether `outcome` meets the expectation.
    #[must_use]
    pub fn is_met_by(self, outcome: ChangeOutcome) -> bool {
        match self {
            Self::ExactlyOne => outcome.rows() == 1,
        }
    }
}

/// A change and what it must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guarded {
    /// The change.
    pub change: Change,
    /// What it must match; `None` accepts any outcome.
    pub expectation: Option<Expectation>,
}

impl From<Change> for Guarded {
    fn from(change: Change) -> Self {
        Self {
            change,
            expectation: None,
        }
    }
}

impl Change {
    /// This change, required to match exactly one row ([`Expectation::ExactlyOne`]).
    #[must_use]
    pub fn expect_one(self) -> Guarded {
        Guarded {
            change: self,
            expectation: Some(Expectation::ExactlyOne),
        }
    }
}

/// The changes of one use case, in order, each with its optional expectation.
///
/// ```
/// # use hazel_domain::ports::{Change, Changeset};
/// # use hazel_domain::ids::{MessageId};
/// # use hazel_domain::model::Timestamp;
/// let changeset = Changeset::new()
///     .with(Change::DeleteMessage { id: MessageId::new(), at: Timestamp::UNIX_EPOCH }.expect_one());
/// assert_eq!(changeset.len(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changeset {
    changes: Vec<Change>,
    expectations: Vec<Option<Expectation>>,
}

impl Changeset {
    /// An empty changeset.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a change (a plain [`Change`] or a [`Guarded`] one).
    pub fn push(&mut self, change: impl Into<Guarded>) {
        let Guarded {
            change,
            expectation,
        } = change.into();
        self.changes.push(change);
        self.expectations.push(expectation);
    }

    /// This changeset with `change` appended.
    #[must_use]
    pub fn with(mut self, change: impl Into<Guarded>) -> Self {
        self.push(change);
        self
    }

    /// The changes, in order.
    #[must_use]
    pub fn as_slice(&self) -> &[Change] {
        &self.changes
    }

    /// The changes, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Change> {
        self.changes.iter()
    }

    /// The first change.
    #[must_use]
    pub fn first(&self) -> Option<&Change> {
        self.changes.first()
    }

    /// The number of changes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether there is no change.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The expectation on the change at `index`.
    #[must_use]
    pub fn expectation(&self, index: usize) -> Option<Expectation> {
        self.expectations.get(index).copied().flatten()
    }

    /// The changes with their expectations, in order.
    pub fn into_guarded(self) -> impl Iterator<Item = Guarded> {
        self.changes
            .into_iter()
            .zip(self.expectations)
            .map(|(change, expectation)| Guarded {
                change,
                expectation,
            })
    }
}

impl From<Vec<Change>> for Changeset {
    fn from(changes: Vec<Change>) -> Self {
        changes.into_iter().collect()
    }
}

impl<G: Into<Guarded>> FromIterator<G> for Changeset {
    fn from_iter<I: IntoIterator<Item = G>>(iter: I) -> Self {
        let mut changeset = Self::new();
        changeset.extend(iter);
        changeset
    }
}

impl<G: Into<Guarded>> Extend<G> for Changeset {
    fn extend<I: IntoIterator<Item = G>>(&mut self, iter: I) {
        for change in iter {
            self.push(change);
        }
    }
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

impl ChangeOutcome {
    /// Rows touched: 1 for applied, 0 for skipped.
    #[must_use]
    pub fn rows(self) -> u64 {
        match self {
            Self::Applied => 1,
            Self::Skipped => 0,
            Self::Affected(n) => n,
        }
    }
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
        self.outcomes.get(index).map_or(0, |o| o.rows())
    }
}

/// A uniqueness rule of the data model, as a [`StoreError::Conflict`] names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UniqueRule {
    /// A row with this primary key (id) exists.
    PrimaryKey,
    /// One user per email.
    UserEmail,
    /// One API token per hash.
    ApiTokenHash,
    /// One organization per slug.
    OrganizationSlug,
    /// One membership per (organization, user).
    MemberUser,
    /// One shadow member per (organization, provider, external user).
    MemberExternalUser,
    /// One reaction per (message, member, emoji).
    Reaction,
    /// One notification per dedupe key.
    NotificationDedupeKey,
    /// One live connection per (organization, provider, external workspace).
    ConnectionWorkspace,
    /// A Hazel channel is linked at most once per connection (live links).
    LinkHazelChannel,
    /// An external channel is linked at most once per connection (live links).
    LinkExternalChannel,
    /// One receipt per (connection, source, dedupe key).
    ReceiptDedupeKey,
    /// A Hazel message is linked at most once per channel link.
    MessageLinkHazel,
    /// An external message is linked at most once per channel link.
    MessageLinkExternal,
}

/// Why a guarded change refused its changeset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreconditionFailure {
    /// What the change had to match.
    pub expected: Expectation,
    /// What it matched.
    pub outcome: ChangeOutcome,
}

/// Why a changeset was not committed. Nothing is applied in any case.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The change at `change_index` violates the uniqueness rule `constraint`.
    #[error("change {change_index} conflicts with an existing row ({constraint:?})")]
    Conflict {
        /// Index of the offending change.
        change_index: usize,
        /// The rule it broke.
        constraint: UniqueRule,
    },
    /// The change at `change_index` did not match what its [`Expectation`] required.
    #[error("change {change_index} failed its precondition: {failure:?}")]
    Precondition {
        /// Index of the refusing change.
        change_index: usize,
        /// What was expected and what happened.
        failure: PreconditionFailure,
    },
    /// Anything else, including a deadlock or serialization failure that persisted through
    /// the store's bounded retries.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl StoreError {
    /// Whether this is a failed precondition of the change at `index`.
    #[must_use]
    pub fn is_precondition_of(&self, index: usize) -> bool {
        matches!(self, Self::Precondition { change_index, .. } if *change_index == index)
    }
}

/// Commits changesets.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Store: Send + Sync {
    /// Applies every change in one database transaction, checking each guarded change's
    /// expectation right after applying it, and returns the transaction's id. A deadlock or
    /// serialization failure retries the whole changeset, in a new transaction, a bounded
    /// number of times.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a uniqueness rule is violated;
    /// [`StoreError::Precondition`] when a guarded change's expectation fails;
    /// [`StoreError::Unexpected`] otherwise. Nothing is applied then.
    async fn commit(&self, changeset: Changeset) -> Result<Committed, StoreError>;
}
