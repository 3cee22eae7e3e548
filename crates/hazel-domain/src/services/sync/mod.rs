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

use crate::ids::{ChannelLinkId, DeliveryId, MessageId, SyncConnectionId};
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

/// The `lastSyncAt` touches this process committed, by connection: a touch within
/// [`ingest::LAST_SYNC_COALESCE`] of the last one committed here is not sent to the database
/// at all (the database still coalesces touches from several processes). Shared by the
/// services of one [`SyncServices`](crate::services::SyncServices).
#[derive(Debug, Default)]
pub(crate) struct RecentTouches(
    std::sync::Mutex<std::collections::HashMap<SyncConnectionId, Timestamp>>,
);

impl RecentTouches {
    fn touched(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<SyncConnectionId, Timestamp>> {
        // A map of times, never left half written: usable after a panic elsewhere.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a touch of `connection` at `now` may change its `lastSyncAt`.
    fn due(&self, connection: SyncConnectionId, now: Timestamp) -> bool {
        self.touched()
            .get(&connection)
            .is_none_or(|last| now - *last >= ingest::LAST_SYNC_COALESCE)
    }

    /// The `lastSyncAt` touch of `connection` at `now`, when one is due.
    pub(crate) fn touch(&self, connection: SyncConnectionId, now: Timestamp) -> Option<SyncChange> {
        self.due(connection, now)
            .then_some(SyncChange::TouchLastSync {
                connection,
                at: now,
                coalesce: ingest::LAST_SYNC_COALESCE,
            })
    }

    /// Commits `changeset` through `store` and, once it committed, records the touches it
    /// carried.
    pub(crate) async fn commit(
        &self,
        store: &dyn crate::ports::Store,
        changeset: crate::ports::Changeset,
    ) -> Result<crate::ports::Committed, crate::ports::StoreError> {
        let touches = Self::of(changeset.iter());
        let committed = store.commit(changeset).await?;
        self.committed(&touches);
        Ok(committed)
    }

    /// Records the touches of a changeset that committed.
    fn committed(&self, touches: &[(SyncConnectionId, Timestamp)]) {
        let mut touched = self.touched();
        for (connection, at) in touches {
            let last = touched.entry(*connection).or_insert(*at);
            *last = (*last).max(*at);
        }
    }

    /// The touches in `changes`, to record once they committed.
    fn of<'a>(
        changes: impl IntoIterator<Item = &'a crate::ports::Change>,
    ) -> Vec<(SyncConnectionId, Timestamp)> {
        changes
            .into_iter()
            .filter_map(|change| match change {
                crate::ports::Change::Sync(SyncChange::TouchLastSync {
                    connection, at, ..
                }) => Some((*connection, *at)),
                _ => None,
            })
            .collect()
    }
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

#[cfg(test)]
mod recent_touches_tests {
    use super::*;

    #[test]
    fn a_touch_within_the_window_of_one_committed_here_is_not_sent() {
        let touches = RecentTouches::default();
        let (a, b) = (SyncConnectionId::new(), SyncConnectionId::new());
        let start = Timestamp::UNIX_EPOCH + time::Duration::days(20_000);
        assert!(touches.due(a, start), "never touched: due");
        // Deciding to touch is not touching: only a commit counts.
        assert!(touches.due(a, start));
        touches.committed(&[(a, start)]);
        let within = start + time::Duration::seconds(1);
        assert!(!touches.due(a, within));
        assert!(touches.due(b, within), "other connections are apart");
        let after = start + ingest::LAST_SYNC_COALESCE;
        assert!(touches.due(a, after));
        // An older touch committed late does not move the record back.
        touches.committed(&[(a, after), (a, start)]);
        assert!(!touches.due(a, after + time::Duration::seconds(1)));
    }
}
