//! The sync engine's ports: reads of routes, message links and deliveries
//! ([`SyncRepository`]), and the work queues with their leases ([`SyncQueue`]).
//!
//! Outcomes (a delivery delivered, a receipt processed) are written through
//! [`Store::commit`](crate::ports::Store::commit) with the changes of
//! [`SyncChange`](crate::ports::store::SyncChange), guarded by the worker's lease; the queue
//! port only takes and gives back leases, which are bookkeeping and answer no transaction id.

use std::time::Duration;

use async_trait::async_trait;

use super::repositories::RepoError;
use crate::ids::{
    ChannelId, ChannelLinkId, DeliveryId, MessageId, ReceiptId, SyncConnectionId, WorkerId,
};
use crate::model::Timestamp;
use crate::model::chat_sync::{ExternalChannelId, Provider, SyncConnection};
use crate::model::delivery::{
    DeliveryDirection, DeliveryKind, DeliveryState, DeliveryStatus, LinkClaim, MessageLink,
    QueuedDelivery, ReceiptLease,
};
use crate::model::external::{ExternalMessageId, ExternalUserId, ExternalWorkspaceId};
use crate::model::identity::Member;
use crate::model::message::MessageView;
use crate::model::page::{Page, PageRequest};
use crate::services::sync::Route;

/// Which item a delivery record is: an outbox row or an event receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryRef {
    /// An outbox row (outbound).
    Outbound(DeliveryId),
    /// An event receipt (inbound).
    Inbound(ReceiptId),
}

impl DeliveryRef {
    /// The id as answered.
    #[must_use]
    pub fn to_hyphenated(self) -> String {
        match self {
            Self::Outbound(id) => id.to_hyphenated(),
            Self::Inbound(id) => id.to_hyphenated(),
        }
    }

    /// The direction.
    #[must_use]
    pub fn direction(self) -> DeliveryDirection {
        match self {
            Self::Outbound(_) => DeliveryDirection::Outbound,
            Self::Inbound(_) => DeliveryDirection::Inbound,
        }
    }
}

/// A delivery as the observability API answers it, whichever way it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Which item.
    pub id: DeliveryRef,
    /// Its connection.
    pub connection_id: SyncConnectionId,
    /// Its link, once known.
    pub channel_link_id: Option<ChannelLinkId>,
    /// What it carries (`None` for inbound events the engine does not sync, such as thread starts).
    pub kind: Option<DeliveryKind>,
    /// The Hazel message, once known.
    pub hazel_message_id: Option<MessageId>,
    /// The external message, once known.
    pub external_message_id: Option<ExternalMessageId>,
    /// Where it is in its life.
    pub state: DeliveryState,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// Which deliveries to list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// Only with this status.
    pub status: Option<DeliveryStatus>,
    /// Only this way.
    pub direction: Option<DeliveryDirection>,
}

/// Reads of the sync engine.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SyncRepository: Send + Sync {
    /// Every live link of a Hazel channel (active or not) with its live connection.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn routes_for_channel(&self, channel: ChannelId) -> Result<Vec<Route>, RepoError>;

    /// One live link with its live connection.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn route(&self, link: ChannelLinkId) -> Result<Option<Route>, RepoError>;

    /// The live link of `connection` to the external `channel`, with the connection.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn route_for_external(
        &self,
        connection: SyncConnectionId,
        channel: &ExternalChannelId,
    ) -> Result<Option<Route>, RepoError>;

    /// Every live connection to a workspace, across organizations (webhook intake).
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn connections_for_workspace(
        &self,
        provider: Provider,
        workspace: &ExternalWorkspaceId,
    ) -> Result<Vec<SyncConnection>, RepoError>;

    /// Every live connection of a provider, across organizations (input that names no
    /// workspace, such as Slack's `url_verification`, is verified with each one).
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn connections_for_provider(
        &self,
        provider: Provider,
    ) -> Result<Vec<SyncConnection>, RepoError>;

    /// The channels a catch-up reads: the live, active links that carry events in (direction
    /// `both` or `inbound`) of a provider's live, connected connections, each with its
    /// connection. Outbound-only, inactive and paused links are left in the database, however
    /// many there are.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn readable_routes(&self, provider: Provider) -> Result<Vec<Route>, RepoError>;

    /// The message link of `link` written last (either source): where a catch-up of the
    /// link's external channel starts reading.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn latest_message_link(
        &self,
        link: ChannelLinkId,
    ) -> Result<Option<MessageLink>, RepoError>;

    /// What `message` is through `link`.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn message_link(
        &self,
        link: ChannelLinkId,
        message: MessageId,
    ) -> Result<Option<MessageLink>, RepoError>;

    /// The message link of `link` whose external root (first part) is `external`.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn message_link_by_external(
        &self,
        link: ChannelLinkId,
        external: &ExternalMessageId,
    ) -> Result<Option<MessageLink>, RepoError>;

    /// The message links of `link` for any of `messages` (one read for a queue's head; ids
    /// without a link are absent from the answer, which is in no particular order).
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn message_links(
        &self,
        link: ChannelLinkId,
        messages: &[MessageId],
    ) -> Result<Vec<MessageLink>, RepoError>;

    /// The message links of `link` whose external root (first part) is any of `externals`
    /// (one read for a batch of receipts; in no particular order).
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn message_links_by_external(
        &self,
        link: ChannelLinkId,
        externals: &[ExternalMessageId],
    ) -> Result<Vec<MessageLink>, RepoError>;

    /// The message links of `link` whose message the service holds pinned on both sides
    /// (the pin state a platform that reports only "the pins changed" is compared with).
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn pinned_message_links(
        &self,
        link: ChannelLinkId,
    ) -> Result<Vec<MessageLink>, RepoError>;

    /// The messages among `messages` (deleted ones included) with their authors and
    /// reactions, read together whatever their number; ids that name no message are absent,
    /// and the answer is in no particular order.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn message_views(&self, messages: &[MessageId]) -> Result<Vec<MessageView>, RepoError>;

    /// The shadow members of any of `users` in an organization (one read for a batch of
    /// receipts; users without one are absent, in no particular order).
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn shadow_members(
        &self,
        organization: crate::ids::OrganizationId,
        provider: Provider,
        users: &[ExternalUserId],
    ) -> Result<Vec<Member>, RepoError>;

    /// The shadow member of an external author in an organization.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn shadow_member(
        &self,
        organization: crate::ids::OrganizationId,
        provider: Provider,
        user: &ExternalUserId,
    ) -> Result<Option<Member>, RepoError>;

    /// Whether any Hazel member still has a reaction `emoji` on `message`.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn has_reaction(
        &self,
        message: MessageId,
        emoji: &crate::model::message::Emoji,
    ) -> Result<bool, RepoError>;

    /// One delivery, either way.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn delivery(&self, id: DeliveryRef) -> Result<Option<DeliveryRecord>, RepoError>;

    /// Parses an answered delivery id into the item it names, when one exists.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn find_delivery(&self, raw_id: &str) -> Result<Option<DeliveryRecord>, RepoError>;

    /// A connection's deliveries, both ways unless filtered, newest first.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn list_deliveries(
        &self,
        connection: SyncConnectionId,
        filter: DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<DeliveryRecord>, RepoError>;

    /// The dead letters of a connection, both ways (at most `limit`).
    ///
    /// # Errors
    /// [`RepoError::Unexpected`].
    async fn failed_deliveries(
        &self,
        connection: SyncConnectionId,
        limit: u64,
    ) -> Result<Vec<DeliveryRef>, RepoError>;
}

/// Queue depth and age, for metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueStats {
    /// Per provider: pending outbox rows, pending receipts, age of the oldest pending item.
    pub per_provider: Vec<(Provider, u64, u64, Duration)>,
}

/// A failed queue operation.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The database failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The work queues and their leases. Several processes share them: each claim is exclusive
/// until it expires, so a crashed worker's work is taken over after its lease.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SyncQueue: Send + Sync {
    /// Claims up to `max` links whose queue head is due at `now` and whose connection is
    /// `connected`, and that no other worker holds, for `lease`. A link's queue is then
    /// delivered by `worker` alone, in order.
    ///
    /// # Errors
    /// [`QueueError::Unexpected`].
    async fn claim_links(
        &self,
        worker: WorkerId,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<LinkClaim>, QueueError>;

    /// The pending head of a link's queue, in sequence order (at most `limit`, due or not).
    ///
    /// # Errors
    /// [`QueueError::Unexpected`].
    async fn queue_head(
        &self,
        link: ChannelLinkId,
        limit: u32,
    ) -> Result<Vec<QueuedDelivery>, QueueError>;

    /// Extends a claim still held by its worker; `false` when it was lost.
    ///
    /// # Errors
    /// [`QueueError::Unexpected`].
    async fn renew_link(
        &self,
        claim: &LinkClaim,
        lease: Duration,
        now: Timestamp,
    ) -> Result<bool, QueueError>;

    /// Gives a claim back, so another worker may take the link at once.
    ///
    /// # Errors
    /// [`QueueError::Unexpected`].
    async fn release_link(&self, claim: &LinkClaim) -> Result<(), QueueError>;

    /// Leases up to `max` due pending receipts (oldest first) to `worker` for `lease`;
    /// receipts leased by another live worker are skipped (`FOR UPDATE SKIP LOCKED` on
    /// PostgreSQL).
    ///
    /// # Errors
    /// [`QueueError::Unexpected`].
    async fn claim_receipts(
        &self,
        worker: WorkerId,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<ReceiptLease>, QueueError>;

    /// Gives a receipt lease back unprocessed.
    ///
    /// # Errors
    /// [`QueueError::Unexpected`].
    async fn release_receipt(&self, lease: &ReceiptLease) -> Result<(), QueueError>;

    /// The earliest time any pending work becomes due, for sleeping until then.
    ///
    /// # Errors
    /// [`QueueError::Unexpected`].
    async fn next_due(&self) -> Result<Option<Timestamp>, QueueError>;

    /// Depth and age of the queues, per provider.
    ///
    /// # Errors
    /// [`QueueError::Unexpected`].
    async fn stats(&self, now: Timestamp) -> Result<QueueStats, QueueError>;
}

/// How one delivery or receipt ended, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncOutcome {
    /// Delivered, or written into Hazel.
    Delivered,
    /// Dropped on purpose.
    Ignored,
    /// Failed; it will be tried again.
    Retried,
    /// Held until the connection is connected again.
    Held,
    /// Dead-lettered.
    DeadLettered,
}

impl SyncOutcome {
    /// The metric label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Ignored => "ignored",
            Self::Retried => "retried",
            Self::Held => "held",
            Self::DeadLettered => "dead_lettered",
        }
    }
}

/// Where the sync engine reports what it does (Prometheus in the HTTP adapter). Every label
/// is bounded: a provider and an outcome, never an id.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SyncObserver: Send + Sync {
    /// `count` inbound events arrived from `provider` (duplicates included).
    fn events_received(&self, provider: Provider, count: u64);

    /// A receipt from `provider` was processed with `outcome`.
    fn receipt_finished(&self, provider: Provider, outcome: SyncOutcome);

    /// A delivery to `provider` ended a try with `outcome`, `latency` after it was enqueued.
    fn delivery_finished(&self, provider: Provider, outcome: SyncOutcome, latency: Duration);

    /// The queues as they are now.
    fn queue_observed(&self, stats: &QueueStats);
}

/// An observer that records nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl SyncObserver for NoObserver {
    fn events_received(&self, _provider: Provider, _count: u64) {}

    fn receipt_finished(&self, _provider: Provider, _outcome: SyncOutcome) {}

    fn delivery_finished(&self, _provider: Provider, _outcome: SyncOutcome, _latency: Duration) {}

    fn queue_observed(&self, _stats: &QueueStats) {}
}
