//! The sync engine's use cases: inbound ingest (receipts → Hazel writes and fan-out),
//! outbound delivery (outbox rows → provider calls), and the observability API over both.
//!
//! Policy lives in [`policy`] (pure, unit-tested); the services read through ports, decide,
//! and commit one changeset per step, guarded by the worker's lease.

mod deliver;
mod deliveries;
mod ingest;
pub mod policy;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use deliver::{ClaimReport, DeliveryService, DeliveryStep};
pub use deliveries::{DeliveriesService, DeliveryAccessError, RetryDeliveryError};
pub use ingest::{
    CatchUpError, CatchUpReport, IngestService, IntakeError, IntakeOutcome, ProcessError,
    ReceiptReport, RecordEventsError,
};
pub use policy::{RetryDecision, RetryPolicy, Route};

use crate::ids::{ChannelLinkId, DeliveryId, MessageId};
use crate::model::Timestamp;
use crate::model::delivery::{Delivery, DeliveryKind, DeliveryState};
use crate::model::message::Emoji;
use crate::ports::{
    ChannelRepository, ChatProviders, Clock, CredentialVault, MemberRepository, MessageRepository,
    Store, SyncChange, SyncObserver, SyncQueue, SyncRepository,
};
use crate::services::chat_sync::ChatSyncService;

/// The outbox rows a change of `kind` to `message` enqueues: one per target link of the
/// message's channel ([`policy::outbound_targets`]), never `from`, the link it came in through.
#[must_use]
pub fn outbox_changes(
    kind: DeliveryKind,
    routes: &[Route],
    from: Option<ChannelLinkId>,
    message: MessageId,
    emoji: Option<&Emoji>,
    now: Timestamp,
) -> Vec<SyncChange> {
    policy::outbound_targets(kind, routes, from)
        .into_iter()
        .map(|route| {
            SyncChange::EnqueueDelivery(Box::new(Delivery {
                id: DeliveryId::new(),
                connection_id: route.connection.id,
                channel_link_id: route.link.id,
                kind,
                hazel_message_id: message,
                emoji: emoji.cloned(),
                state: DeliveryState::due(now),
                created_at: now,
            }))
        })
        .collect()
}

/// The ports the sync engine's services use.
#[derive(Clone)]
pub struct SyncPorts {
    /// Members (shadow members, mentions).
    pub members: Arc<dyn MemberRepository>,
    /// Channels.
    pub channels: Arc<dyn ChannelRepository>,
    /// Messages.
    pub messages: Arc<dyn MessageRepository>,
    /// Routes, message links, deliveries.
    pub sync: Arc<dyn SyncRepository>,
    /// Work queues and leases.
    pub queue: Arc<dyn SyncQueue>,
    /// Writes.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Credential encryption.
    pub vault: Arc<dyn CredentialVault>,
    /// Provider adapters.
    pub providers: ChatProviders,
    /// Connection health (auth failures set the connection to `error`).
    pub chat_sync: ChatSyncService,
    /// Retries.
    pub retry: RetryPolicy,
    /// Where outcomes are reported (metrics).
    pub observer: Arc<dyn SyncObserver>,
}

/// A number in `[0, 1)` for backoff jitter.
fn jitter() -> f64 {
    rand::random::<f64>()
}
