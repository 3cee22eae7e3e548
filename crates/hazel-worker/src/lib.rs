#![doc = include_str!("../README.md")]

mod sessions;

pub use sessions::{SessionSettings, SessionSupervisor};

use std::sync::Arc;
use std::time::Duration;

use hazel_domain::ids::WorkerId;
use std::collections::BTreeMap;

use hazel_domain::model::delivery::{LinkClaim, ReceiptLease, ReceiptSource};
use hazel_domain::model::sync::InboundEventKind;
use hazel_domain::ports::Clock;
use hazel_domain::services::SyncServices;
use hazel_domain::services::sync::{DeliveryStep, IngestService};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// Into how many changesets, committed side by side, a batch's receipts processed together
/// are split.
const TOGETHER_CHANGESETS: usize = 4;
/// The fewest receipts of one such changeset (smaller batches are not split).
const MIN_TOGETHER: usize = 8;

/// How the workers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How many links are delivered to at once (one task each).
    pub delivery_tasks: usize,
    /// How long a claim or lease holds without renewal.
    pub lease: Duration,
    /// The longest sleep when there is nothing to do.
    pub idle_poll: Duration,
    /// Receipts leased per round.
    pub receipt_batch: u32,
    /// Deliveries made per claim before the link is given back (fairness between links).
    pub steps_per_claim: usize,
    /// How often queue depth and age are reported.
    pub stats_interval: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            delivery_tasks: 4,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_millis(200),
            receipt_batch: 32,
            steps_per_claim: 64,
            stats_interval: Duration::from_secs(10),
        }
    }
}

/// What wakes idle workers before their next poll: the store of this process notifies
/// `receipts` when it committed new receipts and `deliveries` when it enqueued deliveries
/// (once per link), so work written here starts at once instead of after up to
/// [`WorkerSettings::idle_poll`]. Work written by other processes is found by polling.
#[derive(Clone, Debug, Default)]
pub struct Wakeups {
    /// New receipts.
    pub receipts: Arc<Notify>,
    /// New deliveries.
    pub deliveries: Arc<Notify>,
}

/// The running workers. [`Engine::shutdown`] stops them cleanly; dropping the value without
/// it aborts them, as a killed process would.
pub struct Engine {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Engine {
    /// Starts the receipt worker and the delivery workers over `services`, polling for
    /// work when idle.
    #[must_use]
    pub fn start(services: SyncServices, clock: Arc<dyn Clock>, settings: WorkerSettings) -> Self {
        Self::start_with_wakeups(services, clock, settings, Wakeups::default())
    }

    /// [`Engine::start`], with idle workers also woken by `wakeups`.
    #[must_use]
    pub fn start_with_wakeups(
        services: SyncServices,
        clock: Arc<dyn Clock>,
        settings: WorkerSettings,
        wakeups: Wakeups,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let worker = Worker {
            services,
            clock,
            settings,
            stopped,
            wake: Arc::clone(&wakeups.receipts),
        };
        tasks.spawn(worker.clone().catch_up());
        tasks.spawn(worker.clone().receipts(WorkerId::new()));
        tasks.spawn(worker.clone().stats());
        let delivering = Worker {
            wake: Arc::clone(&wakeups.deliveries),
            ..worker
        };
        for _ in 0..settings.delivery_tasks.max(1) {
            tasks.spawn(delivering.clone().deliveries(WorkerId::new()));
        }
        tracing::info!(
            delivery_tasks = settings.delivery_tasks,
            "sync workers started"
        );
        Self { stop, tasks }
    }

    /// Stops claiming new work, lets claimed work finish and gives back what is still held,
    /// then waits for every task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(err) = joined
                && err.is_panic()
            {
                tracing::error!("a sync worker panicked");
            }
        }
        tracing::info!("sync workers stopped");
    }
}

/// What a receipt must be processed in order with: the events of one external message, and
/// a thread's replies with their parent; a catch-up's whole gap of one channel, so the gap is
/// written in the order it was read.
fn order_key(lease: &ReceiptLease) -> String {
    let event = &lease.receipt.event;
    if lease.receipt.source == ReceiptSource::Backfill {
        return format!("{}/{}/backfill", lease.receipt.connection_id, event.channel);
    }
    let message = match &event.kind {
        InboundEventKind::MessageCreated(m) | InboundEventKind::MessageEdited(m) => m
            .thread
            .as_ref()
            .map_or_else(|| m.id.to_string(), |t| t.parent.to_string()),
        InboundEventKind::MessageDeleted { message }
        | InboundEventKind::ReactionAdded { message, .. }
        | InboundEventKind::ReactionRemoved { message, .. }
        | InboundEventKind::PinAdded { message, .. }
        | InboundEventKind::PinRemoved { message, .. } => message.to_string(),
        InboundEventKind::ThreadStarted { thread, .. } => thread.parent.to_string(),
    };
    format!(
        "{}/{}/{message}",
        lease.receipt.connection_id, event.channel
    )
}

#[derive(Clone)]
struct Worker {
    services: SyncServices,
    clock: Arc<dyn Clock>,
    settings: WorkerSettings,
    stopped: watch::Receiver<bool>,
    /// Rung when work of this worker's kind was committed in this process.
    wake: Arc<Notify>,
}

impl Worker {
    /// Once at start: reads what every linked channel got while the service was down and
    /// records it as receipts, which the receipt worker then processes like live events.
    async fn catch_up(self) {
        if *self.stopped.borrow() {
            return;
        }
        match self.services.ingest.catch_up().await {
            Ok(report) => {
                for (link, reason) in &report.failed {
                    tracing::warn!(channel_link = %link, reason = %reason, "catch-up could not read a channel");
                }
                tracing::info!(
                    links = report.links_read,
                    recorded = report.recorded,
                    failed = report.failed.len(),
                    "catch-up done"
                );
            }
            Err(err) => tracing::warn!(error = %err, "catch-up failed"),
        }
    }

    fn stopping(&self) -> bool {
        *self.stopped.borrow()
    }

    /// Sleeps `for_at_most` (shorter when work falls due sooner), until new work of its kind
    /// is committed in this process, or until shutdown.
    async fn idle(&mut self, for_at_most: Duration) {
        let mut wait = for_at_most;
        // Only work falling due later shortens the sleep: work due already that the last
        // claim did not take is held (its connection is not connected) or leased elsewhere,
        // and polling faster would not take it sooner.
        if let Ok(Some(due)) = self.services.queue.next_due().await
            && let Ok(until) = Duration::try_from(due - self.clock.now())
            && !until.is_zero()
        {
            wait = wait.min(until.max(Duration::from_millis(5)));
        }
        let mut stopped = self.stopped.clone();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = self.wake.notified() => {}
            _ = stopped.changed() => {}
        }
    }

    /// Reports queue depth and age every `stats_interval`.
    async fn stats(self) {
        let mut stopped = self.stopped.clone();
        while !self.stopping() {
            match self.services.queue.stats(self.clock.now()).await {
                Ok(stats) => self.services.observer.queue_observed(&stats),
                Err(err) => tracing::warn!(error = %err, "reading queue statistics failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.stats_interval) => {}
                _ = stopped.changed() => {}
            }
        }
    }

    async fn receipts(mut self, id: WorkerId) {
        while !self.stopping() {
            let leases = match self
                .services
                .queue
                .claim_receipts(
                    id,
                    self.settings.receipt_batch,
                    self.settings.lease,
                    self.clock.now(),
                )
                .await
            {
                Ok(leases) => leases,
                Err(err) => {
                    tracing::warn!(error = %err, "claiming receipts failed");
                    self.idle(self.settings.idle_poll).await;
                    continue;
                }
            };
            if leases.is_empty() {
                self.idle(self.settings.idle_poll).await;
                continue;
            }
            self.process_batch(leases).await;
        }
    }

    /// Processes a batch of leased receipts: the receipts about one message (or one thread)
    /// in order, one after another; different messages side by side. New top-level messages
    /// that are alone in the batch with their message are processed together, in one
    /// changeset per channel ([`IngestService::process_together`]).
    ///
    /// [`IngestService::process_together`]: hazel_domain::services::sync::IngestService::process_together
    async fn process_batch(&self, leases: Vec<ReceiptLease>) {
        let mut groups: BTreeMap<String, Vec<ReceiptLease>> = BTreeMap::new();
        for lease in leases {
            groups.entry(order_key(&lease)).or_default().push(lease);
        }
        let mut together = Vec::new();
        groups.retain(|_, group| match group.as_slice() {
            [lease] if IngestService::joins_batches(lease) => {
                together.append(group);
                false
            }
            _ => true,
        });
        let mut running = JoinSet::new();
        // In a few changesets committed side by side rather than one: on PostgreSQL each is a
        // chain of round trips, and writers commit in parallel. They are independent (each
        // receipt is about a message of its own).
        let chunk = together
            .len()
            .div_ceil(TOGETHER_CHANGESETS)
            .max(MIN_TOGETHER);
        let mut chunks = Vec::new();
        while together.len() > chunk {
            let rest = together.split_off(chunk);
            chunks.push(std::mem::replace(&mut together, rest));
        }
        chunks.push(together);
        for together in chunks.into_iter().filter(|c| !c.is_empty()) {
            let worker = self.clone();
            running.spawn(async move {
                let reports = worker.services.ingest.process_together(&together).await;
                for (lease, report) in together.iter().zip(reports) {
                    match report {
                        Ok(report) => {
                            tracing::debug!(receipt = %lease.receipt.id, ?report, "receipt");
                        }
                        Err(err) => {
                            tracing::warn!(receipt = %lease.receipt.id, error = %err, "processing a receipt failed");
                        }
                    }
                }
            });
        }
        for group in groups.into_values() {
            let worker = self.clone();
            running.spawn(async move {
                let mut group = group.into_iter();
                for lease in group.by_ref() {
                    match worker.services.ingest.process(&lease).await {
                        Ok(report) => {
                            tracing::debug!(receipt = %lease.receipt.id, ?report, "receipt");
                        }
                        Err(err) => {
                            tracing::warn!(receipt = %lease.receipt.id, error = %err, "processing a receipt failed");
                        }
                    }
                    if worker.stopping() {
                        break;
                    }
                }
                // Leases not processed before shutdown are given back at once.
                for lease in group {
                    if let Err(err) = worker.services.queue.release_receipt(&lease).await {
                        tracing::warn!(error = %err, "releasing a receipt failed");
                    }
                }
            });
        }
        while let Some(joined) = running.join_next().await {
            if let Err(err) = joined
                && err.is_panic()
            {
                tracing::error!("a receipt task panicked");
            }
        }
    }

    async fn deliveries(mut self, id: WorkerId) {
        while !self.stopping() {
            let claims = match self
                .services
                .queue
                .claim_links(id, 1, self.settings.lease, self.clock.now())
                .await
            {
                Ok(claims) => claims,
                Err(err) => {
                    tracing::warn!(error = %err, "claiming links failed");
                    self.idle(self.settings.idle_poll).await;
                    continue;
                }
            };
            if claims.is_empty() {
                self.idle(self.settings.idle_poll).await;
                continue;
            }
            for claim in claims {
                self.run_claim(&claim).await;
            }
        }
    }

    /// Delivers one claimed link's queue, renewing the claim meanwhile, then gives it back.
    async fn run_claim(&self, claim: &LinkClaim) {
        let run = self
            .services
            .delivery
            .run_claim(claim, self.settings.steps_per_claim);
        tokio::pin!(run);
        let mut renew = tokio::time::interval(self.settings.lease / 3);
        renew.tick().await;
        let outcome = loop {
            tokio::select! {
                outcome = &mut run => break outcome,
                _ = renew.tick() => {
                    match self.services.queue.renew_link(claim, self.settings.lease, self.clock.now()).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(link = %claim.channel_link_id, "a link claim was lost"),
                        Err(err) => tracing::warn!(error = %err, "renewing a link claim failed"),
                    }
                }
            }
        };
        match outcome {
            Ok(report) => {
                for (step, latency) in &report.steps {
                    match step {
                        DeliveryStep::DeadLettered => {
                            tracing::warn!(link = %claim.channel_link_id, "a delivery was dead-lettered");
                        }
                        DeliveryStep::Held => {
                            tracing::info!(link = %claim.channel_link_id, "deliveries held until the connection is connected");
                        }
                        DeliveryStep::Delivered(_)
                        | DeliveryStep::Ignored(_)
                        | DeliveryStep::RetryScheduled
                        | DeliveryStep::ClaimLost => {
                            tracing::debug!(link = %claim.channel_link_id, ?step, ?latency, "delivery");
                        }
                    }
                }
            }
            Err(err) => {
                tracing::warn!(link = %claim.channel_link_id, error = %format!("{err:#}"), "delivering a link's queue failed");
            }
        }
        if let Err(err) = self.services.queue.release_link(claim).await {
            tracing::warn!(error = %err, "releasing a link claim failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use hazel_domain::ids::{ReceiptId, SyncConnectionId};
    use hazel_domain::model::Timestamp;
    use hazel_domain::model::chat_sync::{ExternalChannelId, ExternalWorkspaceId};
    use hazel_domain::model::delivery::{DeliveryState, EventReceipt, ReceiptSource};
    use hazel_domain::model::external::{ExternalMessageId, ExternalUserId};
    use hazel_domain::model::sync::{
        AuthorKind, DedupeKey, ExternalAuthor, ExternalMessage, InboundEvent, ReactionEmoji,
        ThreadRef,
    };

    use super::*;

    fn id(raw: &str) -> ExternalMessageId {
        ExternalMessageId::parse("m", raw).expect("a valid id")
    }

    fn message(raw: &str, parent: Option<&str>) -> InboundEventKind {
        InboundEventKind::MessageCreated(ExternalMessage {
            id: id(raw),
            author: ExternalAuthor {
                id: ExternalUserId::parse("u", "U1").expect("a valid id"),
                name: "Sam".to_owned(),
                avatar_url: None,
                kind: AuthorKind::Person,
            },
            text: "hi".to_owned(),
            thread: parent.map(|p| ThreadRef {
                parent: id(p),
                channel: None,
            }),
            attachments: Vec::new(),
            mentions: Vec::new(),
            origin: None,
        })
    }

    fn lease(connection: SyncConnectionId, channel: &str, kind: InboundEventKind) -> ReceiptLease {
        let event = InboundEvent {
            dedupe_key: DedupeKey::new("k"),
            workspace: ExternalWorkspaceId::parse("w", "T1").expect("a valid id"),
            channel: ExternalChannelId::parse("c", channel).expect("a valid id"),
            occurred_at: Timestamp::UNIX_EPOCH,
            kind,
        };
        ReceiptLease {
            receipt: EventReceipt {
                id: ReceiptId::new(),
                connection_id: connection,
                source: ReceiptSource::Webhook,
                dedupe_key: event.dedupe_key.clone(),
                event,
                state: DeliveryState::due(Timestamp::UNIX_EPOCH),
                hazel_message_id: None,
                channel_link_id: None,
                created_at: Timestamp::UNIX_EPOCH,
            },
            worker: WorkerId::new(),
            expires_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_catch_ups_gap_of_one_channel_shares_one_order_key() {
        let conn = SyncConnectionId::new();
        let backfill = |channel: &str, raw: &str| {
            let mut lease = lease(conn, channel, message(raw, None));
            lease.receipt.source = ReceiptSource::Backfill;
            order_key(&lease)
        };
        assert_eq!(backfill("C1", "1.1"), backfill("C1", "1.2"));
        assert_ne!(backfill("C1", "1.1"), backfill("C2", "1.1"));
        // Live events of different messages still run side by side.
        assert_ne!(
            order_key(&lease(conn, "C1", message("1.1", None))),
            order_key(&lease(conn, "C1", message("1.2", None)))
        );
    }

    #[test]
    fn a_messages_events_and_a_threads_replies_share_one_order_key() {
        let conn = SyncConnectionId::new();
        let key = |channel: &str, kind| order_key(&lease(conn, channel, kind));
        let root = key("C1", message("1.1", None));
        assert_eq!(root, key("C1", message("1.2", Some("1.1"))));
        assert_eq!(
            root,
            key(
                "C1",
                InboundEventKind::ReactionAdded {
                    message: id("1.1"),
                    user: ExternalUserId::parse("u", "U2").expect("a valid id"),
                    emoji: ReactionEmoji::Unicode("👍".to_owned()),
                }
            )
        );
        assert_eq!(
            root,
            key(
                "C1",
                InboundEventKind::MessageDeleted { message: id("1.1") }
            )
        );
        // Other messages, channels and connections are processed side by side.
        assert_ne!(root, key("C1", message("2.1", None)));
        assert_ne!(root, key("C2", message("1.1", None)));
        assert_ne!(
            root,
            order_key(&lease(SyncConnectionId::new(), "C1", message("1.1", None)))
        );
    }

    #[test]
    fn default_leases_outlast_many_polls() {
        let settings = WorkerSettings::default();
        assert!(settings.delivery_tasks >= 1);
        assert!(settings.lease > settings.idle_poll * 10);
        assert!(settings.steps_per_claim >= 1);
    }
}
