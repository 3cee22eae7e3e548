//! Inbound: provider events recorded as receipts, then each receipt turned into one changeset
//! (the Hazel write, the shadow member, the message link, the outbox rows for every other
//! link, the notifications, the receipt's status).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::Context as _;

use super::policy::{edit_is_echo, inbound_refusal, own_echo};
use super::{RecentTouches, SyncPorts, jitter, outbox_changes};
use crate::ids::{ChannelLinkId, MemberId, MessageId, ReactionId, ReceiptId, SyncConnectionId};
use crate::model::Timestamp;
use crate::model::channel::Channel;
use crate::model::chat_sync::{ExternalChannelId, ExternalMessageId, Provider, SyncConnection};
use crate::model::delivery::{
    ContentHash, DeliveryKind, DeliveryState, EventReceipt, IgnoreReason, LastError, LinkSource,
    MessageLink, ReceiptLease, ReceiptSource, hazel_emoji,
};
use crate::model::external::ExternalUserId;
use crate::model::identity::{Member, MemberKind, Role};
use crate::model::mentions::Mentions;
use crate::model::message::{Message, MessageContent, Reaction};
use crate::model::notification::Notification;
use crate::model::sync::{ExternalMessage, ExternalRefs, InboundEvent, InboundEventKind};
use crate::model::text::{Name, Url};
use crate::ports::{Change, Changeset, StoreError, SyncChange, SyncOutcome, UniqueRule};
use crate::services::messages::{notifications_for_message, resolve_audience};
use crate::services::store_failure;
use crate::services::sync::Route;

/// How long a connection's `lastSyncAt` may lag before a sync moves it.
pub(crate) const LAST_SYNC_COALESCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Tries before an event about a message that is not linked is ignored as never synced.
const NOT_LINKED_TRIES: u32 = 3;

/// Failures of [`IngestService::record`].
#[derive(Debug, thiserror::Error)]
pub enum RecordEventsError {
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`IngestService::intake`]. Nothing is stored for refused input.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// This build has no inbound adapter for the platform.
    #[error("no inbound adapter for {0}")]
    UnsupportedProvider(&'static str),
    /// No live connection is linked to the workspace the input names (answer 401: the
    /// input cannot be verified).
    #[error("no connection for this workspace")]
    UnknownWorkspace,
    /// The input is not authentic, or signed outside the accepted window (answer 401).
    #[error("the input is not authentic: {0}")]
    Unauthenticated(String),
    /// Authentic input that cannot be read (answer 400).
    #[error("the input cannot be read: {0}")]
    Malformed(String),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

crate::error::unexpected_on_read_failure!(IntakeError);

/// What verified input asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntakeOutcome {
    /// Answer the platform's URL check with this challenge.
    Challenge(String),
    /// The events were recorded; this many were new (the rest were duplicates).
    Recorded(u64),
}

/// Failures of [`IngestService::catch_up`].
#[derive(Debug, thiserror::Error)]
pub enum CatchUpError {
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

crate::error::unexpected_on_read_failure!(CatchUpError);

/// What a catch-up did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatchUpReport {
    /// Links whose channel history was read.
    pub links_read: u64,
    /// New receipts recorded from what was read.
    pub recorded: u64,
    /// Links whose history could not be read, and why (no secrets).
    pub failed: Vec<(ChannelLinkId, String)>,
}

/// Failures of [`IngestService::process`] that left the receipt as it was (its lease expires
/// and another try takes it).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What processing a receipt did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptReport {
    /// Written into Hazel (and fanned out).
    Processed,
    /// Dropped on purpose, with the reason recorded.
    Ignored(IgnoreReason),
    /// It failed and will be tried again later.
    RetryScheduled,
    /// It failed too often and is now a dead letter.
    DeadLettered,
    /// Another worker took the lease over meanwhile; nothing was written.
    LeaseLost,
}

/// What a receipt asks to do, once decided.
enum Decision {
    /// Drop it.
    Ignore(IgnoreReason, Option<ChannelLinkId>),
    /// Write these changes.
    Write {
        changes: Vec<Change>,
        message: Option<MessageId>,
        link: ChannelLinkId,
        connection: SyncConnectionId,
    },
}

/// The inbound side of the engine.
#[derive(Clone)]
pub struct IngestService {
    ports: SyncPorts,
    touches: Arc<RecentTouches>,
}

impl IngestService {
    /// Wires the service.
    #[must_use]
    pub fn new(ports: SyncPorts) -> Self {
        Self::sharing(ports, Arc::default())
    }

    /// Wires the service, sharing the record of `lastSyncAt` touches with other services.
    pub(crate) fn sharing(ports: SyncPorts, touches: Arc<RecentTouches>) -> Self {
        Self { ports, touches }
    }

    /// Webhook and socket intake, stateless (any process may take it): finds the connections
    /// to the workspace `input` names, verifies it with each one's credentials, and records the
    /// events as receipts of every connection that verifies them, before they are
    /// acknowledged.
    ///
    /// # Errors
    /// [`IntakeError::UnsupportedProvider`], [`IntakeError::UnknownWorkspace`],
    /// [`IntakeError::Unauthenticated`] (answer 401; also for input naming no usable
    /// workspace, which cannot be verified), [`IntakeError::Malformed`] (authentic input that
    /// cannot be read: answer 400); nothing is stored then.
    pub async fn intake(
        &self,
        provider: Provider,
        source: ReceiptSource,
        input: &crate::model::sync::InboundInput,
    ) -> Result<IntakeOutcome, IntakeError> {
        use crate::model::sync::{InboundError, InboundOutcome};
        let adapter = self
            .ports
            .providers
            .inbound(provider)
            .ok_or(IntakeError::UnsupportedProvider(provider.as_str()))?
            .clone();
        let connections = match adapter.workspace_of(input) {
            Ok(workspace) => {
                self.ports
                    .sync
                    .connections_for_workspace(provider, &workspace)
                    .await?
            }
            // A challenge names no workspace: any of the platform's connections may verify it.
            Err(_) if adapter.names_no_workspace(input) => {
                self.ports.sync.connections_for_provider(provider).await?
            }
            // Input whose workspace cannot be read cannot be verified either: it is refused
            // as unauthenticated, never read further.
            Err(InboundError::Malformed { reason } | InboundError::Unauthenticated { reason }) => {
                return Err(IntakeError::Unauthenticated(reason));
            }
            Err(InboundError::Stale) => {
                return Err(IntakeError::Unauthenticated("stale".to_owned()));
            }
        };
        if connections.is_empty() {
            return Err(IntakeError::UnknownWorkspace);
        }
        let mut refusal = None;
        let mut recorded = None;
        for connection in connections {
            let Some(sealed) = &connection.credentials else {
                continue;
            };
            let Ok(credentials) = self.ports.vault.open(connection.id, sealed) else {
                continue;
            };
            match adapter
                .verify_and_decode(input, &credentials, self.ports.clock.now())
                .await
            {
                Ok(InboundOutcome::Challenge(challenge)) => {
                    return Ok(IntakeOutcome::Challenge(challenge));
                }
                Ok(InboundOutcome::Events(events)) => {
                    let new = self
                        .record(connection.id, provider, source, events)
                        .await
                        .map_err(|RecordEventsError::Unexpected(e)| IntakeError::Unexpected(e))?;
                    recorded = Some(recorded.unwrap_or(0) + new);
                }
                Err(InboundError::Malformed { reason }) => {
                    return Err(IntakeError::Malformed(reason));
                }
                Err(InboundError::Unauthenticated { reason }) => refusal = Some(reason),
                Err(InboundError::Stale) => refusal = Some("stale".to_owned()),
            }
        }
        match recorded {
            Some(new) => Ok(IntakeOutcome::Recorded(new)),
            None => Err(IntakeError::Unauthenticated(refusal.unwrap_or_else(|| {
                "no connection's credentials verify it".to_owned()
            }))),
        }
    }

    /// Records `events` that arrived on `connection` as receipts, in one commit, before they
    /// are acknowledged; answers how many were new (the others are duplicates and do nothing).
    ///
    /// # Errors
    /// [`RecordEventsError::Unexpected`] when nothing could be recorded.
    pub async fn record(
        &self,
        connection: SyncConnectionId,
        provider: Provider,
        source: ReceiptSource,
        events: Vec<InboundEvent>,
    ) -> Result<u64, RecordEventsError> {
        if events.is_empty() {
            return Ok(0);
        }
        self.ports
            .observer
            .events_received(provider, events.len() as u64);
        let now = self.ports.clock.now();
        let changes: Changeset = events
            .into_iter()
            .map(|event| {
                SyncChange::InsertReceipt(Box::new(EventReceipt {
                    id: ReceiptId::new(),
                    connection_id: connection,
                    source,
                    dedupe_key: event.dedupe_key.clone(),
                    event,
                    state: DeliveryState::due(now),
                    hazel_message_id: None,
                    channel_link_id: None,
                    created_at: now,
                }))
            })
            .collect();
        let committed = self
            .ports
            .store
            .commit(changes)
            .await
            .map_err(store_failure)?;
        Ok(committed.outcomes.iter().map(|o| o.rows()).sum())
    }

    /// Processes one leased receipt: writes it into Hazel and fans it out, or ignores it with
    /// its reason, or schedules a retry (a dead letter after the attempt limit). Every write
    /// is guarded by the lease, so a worker whose lease was taken over writes nothing.
    ///
    /// # Errors
    /// [`ProcessError::Unexpected`] when even the failure could not be recorded.
    pub async fn process(&self, lease: &ReceiptLease) -> Result<ReceiptReport, ProcessError> {
        let mut provider = None;
        let report = self.process_with(lease, &mut provider).await?;
        if let Some(provider) = provider {
            let outcome = match &report {
                ReceiptReport::Processed => Some(SyncOutcome::Delivered),
                ReceiptReport::Ignored(_) => Some(SyncOutcome::Ignored),
                ReceiptReport::RetryScheduled => Some(SyncOutcome::Retried),
                ReceiptReport::DeadLettered => Some(SyncOutcome::DeadLettered),
                ReceiptReport::LeaseLost => None,
            };
            if let Some(outcome) = outcome {
                self.ports.observer.receipt_finished(provider, outcome);
            }
        }
        Ok(report)
    }

    /// Whether a receipt may be processed with others in one changeset by
    /// [`IngestService::process_together`]: a new top-level message, which reads nothing
    /// another receipt of the batch writes as long as no other receipt of the batch is about
    /// the same message (the caller's promise).
    #[must_use]
    pub fn joins_batches(lease: &ReceiptLease) -> bool {
        matches!(&lease.receipt.event.kind, InboundEventKind::MessageCreated(m) if m.thread.is_none())
    }

    /// Processes leased receipts that are each about a message of their own (no two about
    /// the same message or thread: the caller's promise), answering a report per lease in
    /// their order. The new top-level messages of one channel are decided together — one read
    /// of the route, of the message links and of the authors for all of them — and written in
    /// one changeset, each behind its own lease guard. Anything else, and every receipt of a
    /// batch that does not commit (a lost lease, a conflict, a failure), is processed on its
    /// own as [`IngestService::process`] does, so a failing receipt fails alone and a lost
    /// lease writes nothing.
    ///
    /// Each answer is [`ProcessError::Unexpected`] when that receipt, processed on its own,
    /// could not even record its failure (its lease then expires); the others go on.
    pub async fn process_together(
        &self,
        leases: &[ReceiptLease],
    ) -> Vec<Result<ReceiptReport, ProcessError>> {
        let mut reports: Vec<Option<Result<ReceiptReport, ProcessError>>> =
            leases.iter().map(|_| None).collect();
        // The batchable receipts of each (connection, channel), in their order.
        let mut channels: Vec<Vec<usize>> = Vec::new();
        for (index, lease) in leases.iter().enumerate() {
            if !Self::joins_batches(lease) {
                continue;
            }
            let receipt = &lease.receipt;
            match channels.iter_mut().find(|group| {
                let first = &leases[group[0]].receipt;
                first.connection_id == receipt.connection_id
                    && first.event.channel == receipt.event.channel
            }) {
                Some(group) => group.push(index),
                None => channels.push(vec![index]),
            }
        }
        for group in channels {
            if group.len() < 2 {
                continue;
            }
            let batch: Vec<&ReceiptLease> = group.iter().map(|&i| &leases[i]).collect();
            // Nothing written (or a failed read, which the one-by-one path meets again and
            // records per receipt): each receipt is processed on its own below.
            if let Ok(Some((provider, written))) = self.created_together(&batch).await {
                for (position, index) in group.into_iter().enumerate() {
                    if written.contains(&position) {
                        self.ports
                            .observer
                            .receipt_finished(provider, SyncOutcome::Delivered);
                        reports[index] = Some(Ok(ReceiptReport::Processed));
                    }
                }
            }
        }
        for (index, lease) in leases.iter().enumerate() {
            if reports[index].is_none() {
                reports[index] = Some(self.process(lease).await);
            }
        }
        reports.into_iter().flatten().collect()
    }

    /// Decides the new top-level messages of one channel together and commits them in one
    /// changeset. Answers the provider and the positions in `batch` written, or `None` when
    /// nothing was written (the link is gone, or the commit failed): those receipts are then
    /// processed one by one. Receipts that need anything but a plain write (an echo, a refused
    /// link, a message already linked) are left out for the one-by-one path too.
    async fn created_together(
        &self,
        batch: &[&ReceiptLease],
    ) -> anyhow::Result<Option<(Provider, HashSet<usize>)>> {
        let first = &batch[0].receipt;
        let Some(route) = self
            .ports
            .sync
            .route_for_external(first.connection_id, &first.event.channel)
            .await?
        else {
            return Ok(None);
        };
        let connection = &route.connection;
        if inbound_refusal(DeliveryKind::MessageCreate, &route).is_some() {
            return Ok(None);
        }
        let messages: Vec<(usize, &ExternalMessage)> = batch
            .iter()
            .enumerate()
            .filter_map(|(position, lease)| match &lease.receipt.event.kind {
                InboundEventKind::MessageCreated(m)
                    if own_echo(&lease.receipt.event, connection.bot.as_ref()).is_none() =>
                {
                    Some((position, m))
                }
                _ => None,
            })
            .collect();
        let externals: Vec<_> = messages.iter().map(|(_, m)| m.id.clone()).collect();
        let linked: HashSet<_> = self
            .ports
            .sync
            .message_links_by_external(route.link.id, &externals)
            .await?
            .into_iter()
            .map(|link| link.external.root().clone())
            .collect();
        // A redelivery is left to the one-by-one path, which ignores it with its reason.
        let messages: Vec<_> = messages
            .into_iter()
            .filter(|(_, m)| !linked.contains(&m.id))
            .collect();
        if messages.len() < 2 {
            return Ok(None);
        }
        let channel = self
            .ports
            .channels
            .find(route.link.hazel_channel_id)
            .await?
            .context("the linked Hazel channel is missing")?;
        let routes = self
            .ports
            .sync
            .routes_for_channel(route.link.hazel_channel_id)
            .await?;
        let mut users: Vec<ExternalUserId> =
            messages.iter().map(|(_, m)| m.author.id.clone()).collect();
        users.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        users.dedup();
        let mut authors: HashMap<ExternalUserId, Member> = self
            .ports
            .sync
            .shadow_members(connection.organization_id, connection.provider, &users)
            .await?
            .into_iter()
            .filter_map(|member| match &member.kind {
                MemberKind::Shadow {
                    external_user_id, ..
                } => Some((external_user_id.clone(), member.clone())),
                MemberKind::Native { .. } => None,
            })
            .collect();
        let now = self.ports.clock.now();
        let context = Context {
            route: &route,
            channel: &channel,
            now,
        };
        let mut changeset = Changeset::new();
        let mut writes: Vec<Change> = Vec::new();
        let mut written = HashSet::new();
        for (position, external) in messages {
            let receipt = &batch[position].receipt;
            let (author, create_author) = match authors.get(&external.author.id) {
                Some(member) => (member.clone(), None),
                None => {
                    let member = shadow_member(
                        connection,
                        &external.author.id,
                        &external.author.name,
                        external.author.avatar_url.as_ref(),
                        now,
                    )?;
                    authors.insert(external.author.id.clone(), member.clone());
                    (member.clone(), Some(Change::InsertMember(member)))
                }
            };
            let (changes, message) = self
                .build_created(&context, external, &author, create_author, None)
                .await?
                .fanned_out(&routes, route.link.id, now);
            changeset.push(
                SyncChange::HoldsReceiptLease {
                    id: receipt.id,
                    worker: batch[position].worker,
                    now,
                }
                .expect_one(),
            );
            writes.extend(changes);
            writes.push(Change::Sync(SyncChange::SetReceiptState {
                id: receipt.id,
                state: DeliveryState::Delivered {
                    attempts: receipt.state.attempts() + 1,
                    completed_at: now,
                },
                hazel_message_id: message,
                channel_link_id: Some(route.link.id),
            }));
            written.insert(position);
        }
        // Every lease guard first, then the writes grouped by kind (stable, so each kind keeps
        // the receipts' order; authors before their messages, messages before what refers to
        // them): the receipts' rows are independent, and a run of one kind is written with
        // one statement where the store can.
        writes.sort_by_key(|change| match change {
            Change::InsertMember(_) => 0,
            Change::InsertMessage(_) => 1,
            Change::Sync(SyncChange::InsertMessageLink(_)) => 2,
            Change::Sync(SyncChange::EnqueueDelivery(_)) => 3,
            Change::Sync(SyncChange::SetReceiptState { .. }) => 4,
            _ => 5,
        });
        changeset.extend(writes);
        changeset.extend(self.touches.touch(connection.id, now));
        match self.touches.commit(&*self.ports.store, changeset).await {
            Ok(_) => Ok(Some((connection.provider, written))),
            // A lost lease, a concurrent receipt creating the same author, anything else:
            // nothing was written, and each receipt is decided again on its own.
            Err(_) => Ok(None),
        }
    }

    async fn process_with(
        &self,
        lease: &ReceiptLease,
        provider: &mut Option<Provider>,
    ) -> Result<ReceiptReport, ProcessError> {
        let receipt = &lease.receipt;
        let guard = SyncChange::HoldsReceiptLease {
            id: receipt.id,
            worker: lease.worker,
            now: self.ports.clock.now(),
        }
        .expect_one();
        let attempts = receipt.state.attempts() + 1;
        let mut raced = false;
        let failure = loop {
            break match self.decide(receipt, provider).await {
                // An edit, delete or reaction may arrive before the message it acts on was
                // written (events processed side by side, a backfill racing the live feed): it is
                // tried again a few times before it is taken for a message never synced.
                Ok(Decision::Ignore(IgnoreReason::MessageNotLinked, _))
                    if attempts < NOT_LINKED_TRIES =>
                {
                    anyhow::anyhow!("the message it acts on is not linked (yet)")
                }
                Ok(Decision::Ignore(reason, link)) => {
                    let state = DeliveryState::Ignored {
                        reason,
                        completed_at: self.ports.clock.now(),
                    };
                    let changes = Changeset::new()
                        .with(guard)
                        .with(SyncChange::SetReceiptState {
                            id: receipt.id,
                            state,
                            hazel_message_id: None,
                            channel_link_id: link,
                        });
                    return self.finish(changes, ReceiptReport::Ignored(reason)).await;
                }
                Ok(Decision::Write {
                    changes,
                    message,
                    link,
                    connection,
                }) => {
                    let now = self.ports.clock.now();
                    let mut changeset = Changeset::new().with(guard.clone());
                    changeset.extend(changes);
                    changeset.push(SyncChange::SetReceiptState {
                        id: receipt.id,
                        state: DeliveryState::Delivered {
                            attempts,
                            completed_at: now,
                        },
                        hazel_message_id: message,
                        channel_link_id: Some(link),
                    });
                    changeset.extend(self.touches.touch(connection, now));
                    match self.touches.commit(&*self.ports.store, changeset).await {
                        Ok(_) => return Ok(ReceiptReport::Processed),
                        Err(err) if err.is_precondition_of(0) => {
                            return Ok(ReceiptReport::LeaseLost);
                        }
                        // A concurrent receipt created the same author's shadow member: decide
                        // again at once, now finding it.
                        Err(StoreError::Conflict {
                            constraint: UniqueRule::MemberExternalUser,
                            ..
                        }) if !raced => {
                            raced = true;
                            continue;
                        }
                        // Any other failure: the receipt is tried again later, when the state it
                        // reads will have moved on.
                        Err(err) => {
                            anyhow::Error::new(err).context("writing the receipt's changes")
                        }
                    }
                }
                Err(err) => err,
            };
        };
        let now = self.ports.clock.now();
        let last_error = LastError {
            code: "PROCESSING_FAILED".to_owned(),
            message: format!("{failure:#}"),
        };
        let (state, report) = if attempts >= self.ports.retry.max_attempts {
            (
                DeliveryState::Failed {
                    attempts,
                    last_error,
                    completed_at: now,
                },
                ReceiptReport::DeadLettered,
            )
        } else {
            (
                DeliveryState::Pending {
                    attempts,
                    next_attempt_at: now + self.ports.retry.backoff(attempts, jitter()),
                    last_error: Some(last_error),
                    unresolved_since: None,
                },
                ReceiptReport::RetryScheduled,
            )
        };
        let changes = Changeset::new()
            .with(guard)
            .with(SyncChange::SetReceiptState {
                id: receipt.id,
                state,
                hazel_message_id: None,
                channel_link_id: None,
            });
        self.finish(changes, report).await
    }

    async fn finish(
        &self,
        changes: Changeset,
        report: ReceiptReport,
    ) -> Result<ReceiptReport, ProcessError> {
        match self.ports.store.commit(changes).await {
            Ok(_) => Ok(report),
            Err(err) if err.is_precondition_of(0) => Ok(ReceiptReport::LeaseLost),
            Err(err) => Err(ProcessError::Unexpected(store_failure(err))),
        }
    }

    /// Routes the receipt and decides what it writes.
    async fn decide(
        &self,
        receipt: &EventReceipt,
        provider: &mut Option<Provider>,
    ) -> anyhow::Result<Decision> {
        let event = &receipt.event;
        let Some(route) = self
            .ports
            .sync
            .route_for_external(receipt.connection_id, &event.channel)
            .await?
        else {
            return Ok(Decision::Ignore(IgnoreReason::LinkNotFound, None));
        };
        *provider = Some(route.connection.provider);
        let link = route.link.id;
        if let Some(reason) = own_echo(event, route.connection.bot.as_ref()) {
            return Ok(Decision::Ignore(reason, Some(link)));
        }
        let kind = receipt.kind();
        if let Some(reason) = inbound_refusal(kind, &route) {
            return Ok(Decision::Ignore(reason, Some(link)));
        }
        let channel = self
            .ports
            .channels
            .find(route.link.hazel_channel_id)
            .await?
            .context("the linked Hazel channel is missing")?;
        let routes = self
            .ports
            .sync
            .routes_for_channel(route.link.hazel_channel_id)
            .await?;
        let context = Context {
            route: &route,
            channel: &channel,
            now: self.ports.clock.now(),
        };
        let written = match &event.kind {
            InboundEventKind::MessageCreated(message) => self.created(&context, message).await?,
            InboundEventKind::MessageEdited(message) => self.edited(&context, message).await?,
            InboundEventKind::MessageDeleted { message } => {
                match self.linked(&context, message).await? {
                    None => Err(IgnoreReason::MessageNotLinked),
                    // The echo of a delete this service made, or a repeated delete.
                    Some(linked)
                        if self
                            .ports
                            .messages
                            .find(linked.hazel_message_id)
                            .await?
                            .is_none_or(|m| m.deleted_at.is_some()) =>
                    {
                        Err(IgnoreReason::AlreadyInSync)
                    }
                    Some(linked) => Ok(Written {
                        message: Some(linked.hazel_message_id),
                        changes: vec![Change::DeleteMessage {
                            id: linked.hazel_message_id,
                            at: context.now,
                        }],
                        fan_out: Some((DeliveryKind::MessageDelete, linked.hazel_message_id, None)),
                    }),
                }
            }
            InboundEventKind::ReactionAdded {
                message,
                user,
                emoji,
            } => self.reaction(&context, message, user, emoji, true).await?,
            InboundEventKind::ReactionRemoved {
                message,
                user,
                emoji,
            } => self.reaction(&context, message, user, emoji, false).await?,
            // Hazel has no pins of its own: a pin is relayed to the channel's other links.
            InboundEventKind::PinAdded { message, .. } => {
                self.pinned(&context, message, DeliveryKind::PinAdd).await?
            }
            InboundEventKind::PinRemoved { message, .. } => {
                self.pinned(&context, message, DeliveryKind::PinRemove)
                    .await?
            }
            InboundEventKind::ThreadStarted {
                thread,
                name,
                owner,
            } => {
                self.thread_started(&context, thread, name.as_deref(), owner.as_ref())
                    .await?
            }
        };
        Ok(match written {
            Err(reason) => Decision::Ignore(reason, Some(link)),
            Ok(written) => {
                let (changes, message) = written.fanned_out(&routes, link, context.now);
                Decision::Write {
                    changes,
                    message,
                    link,
                    connection: route.connection.id,
                }
            }
        })
    }

    /// A pin or unpin (`kind`) of `message` on the platform: nothing is written into Hazel
    /// (it has no pins of its own); the change is relayed to the channel's other links that
    /// sync pins. A message never synced through the link is not relayed.
    async fn pinned(
        &self,
        context: &Context<'_>,
        message: &crate::model::external::ExternalMessageId,
        kind: DeliveryKind,
    ) -> anyhow::Result<Result<Written, IgnoreReason>> {
        let Some(linked) = self.linked(context, message).await? else {
            return Ok(Err(IgnoreReason::MessageNotLinked));
        };
        let live = self
            .ports
            .messages
            .find(linked.hazel_message_id)
            .await?
            .is_some_and(|m| m.deleted_at.is_none());
        if !live {
            return Ok(Err(IgnoreReason::MessageGone));
        }
        // The pin state as last synced through this link: a repeated pin (a second event for
        // it, a pin by someone else after it) changes nothing and is not relayed again.
        let pinned = kind == DeliveryKind::PinAdd;
        if linked.pinned == pinned {
            return Ok(Err(IgnoreReason::AlreadyInSync));
        }
        Ok(Ok(Written {
            message: Some(linked.hazel_message_id),
            changes: vec![Change::Sync(SyncChange::SetMessageLinkPinned {
                id: linked.id,
                pinned,
                updated_at: context.now,
            })],
            fan_out: Some((kind, linked.hazel_message_id, None)),
        }))
    }

    async fn linked(
        &self,
        context: &Context<'_>,
        message: &crate::model::external::ExternalMessageId,
    ) -> anyhow::Result<Option<MessageLink>> {
        Ok(self
            .ports
            .sync
            .message_link_by_external(context.route.link.id, message)
            .await?)
    }

    /// The shadow member of `user`, and the change that creates it when it is new.
    async fn shadow(
        &self,
        connection: &SyncConnection,
        user: &ExternalUserId,
        name: &str,
        avatar_url: Option<&Url>,
        now: Timestamp,
    ) -> anyhow::Result<(Member, Option<Change>)> {
        if let Some(member) = self
            .ports
            .sync
            .shadow_member(connection.organization_id, connection.provider, user)
            .await?
        {
            return Ok((member, None));
        }
        // The event may carry no profile (a reaction, a message without `user_profile`):
        // the platform is asked once for the user's display name and avatar.
        let profile = if avatar_url.is_none() || name.trim().is_empty() || name == user.as_str() {
            self.profile(connection, user).await
        } else {
            None
        };
        let (name, avatar_url) = match &profile {
            Some(profile) => (
                profile.name.as_str(),
                profile.avatar_url.as_ref().or(avatar_url),
            ),
            None => (name, avatar_url),
        };
        let member = shadow_member(connection, user, name, avatar_url, now)?;
        Ok((member.clone(), Some(Change::InsertMember(member))))
    }

    /// An external message's text as Hazel stores it: converted by the platform's adapter
    /// to Hazel Markdown, with the users it mentions as their shadow members (or their
    /// names, from the platform's profile when they have no member).
    async fn hazel_text(
        &self,
        context: &Context<'_>,
        external: &ExternalMessage,
    ) -> anyhow::Result<MessageContent> {
        use crate::model::sync::{ExternalMention, KnownMention};
        let connection = &context.route.connection;
        let Some(adapter) = self.ports.providers.inbound(connection.provider).cloned() else {
            return inbound_content(&external.text);
        };
        let mention_mapping = context.route.link.settings.mention_mapping;
        let mut known: Vec<KnownMention> = Vec::new();
        for mention in &external.mentions {
            let ExternalMention::User(user) = mention else {
                continue;
            };
            if known.iter().any(|k| &k.user == user) {
                continue;
            }
            let member = self
                .ports
                .sync
                .shadow_member(connection.organization_id, connection.provider, user)
                .await?;
            let (member, display_name) = match member {
                Some(member) => (Some(member.id), Some(member.name.as_str().to_owned())),
                None => (None, self.profile(connection, user).await.map(|p| p.name)),
            };
            known.push(KnownMention {
                user: user.clone(),
                member,
                display_name,
            });
        }
        inbound_content(&adapter.to_hazel_markdown(&external.text, &known, mention_mapping))
    }

    /// The platform's profile of `user`, when this build reads the platform and it answers;
    /// a failure only costs the name and avatar (the event's own are used).
    async fn profile(
        &self,
        connection: &SyncConnection,
        user: &ExternalUserId,
    ) -> Option<crate::ports::ExternalProfile> {
        let reader = self.ports.providers.reader(connection.provider)?;
        let sealed = connection.credentials.as_ref()?;
        let credentials = self.ports.vault.open(connection.id, sealed).ok()?;
        reader
            .user_profile(&connection.external_workspace_id, &credentials, user)
            .await
            .ok()
            .flatten()
    }

    /// Catch-up after downtime: reads the history of every linked channel of every platform
    /// this build can read, from the last message synced through each link (or the link's
    /// creation), and records what it finds as receipts (source `backfill`), in order. The
    /// receipts' dedupe keys and the message links make a message also seen live one message.
    /// Links that are inactive, outbound only, or whose connection is not `connected` are
    /// skipped; a link whose read fails is reported and the others are read all the same.
    ///
    /// # Errors
    /// [`CatchUpError::Unexpected`] when the links cannot be read at all.
    pub async fn catch_up(&self) -> Result<CatchUpReport, CatchUpError> {
        self.catch_up_where(None).await
    }

    /// The catch-up of one connection's linked channels (its session reconnected after a gap
    /// the platform does not replay), as [`IngestService::catch_up`] does for all.
    ///
    /// # Errors
    /// [`CatchUpError::Unexpected`] when the links cannot be read at all.
    pub async fn catch_up_connection(
        &self,
        connection: SyncConnectionId,
    ) -> Result<CatchUpReport, CatchUpError> {
        self.catch_up_where(Some(connection)).await
    }

    /// The messages of the external `channel` of `connection` (its link's channel; thread
    /// messages named as the adapter names them) that are synced as pinned: what a platform
    /// that reports only "the pins changed" compares its pins with. Empty when no live link
    /// names the channel.
    ///
    /// # Errors
    /// [`crate::ports::RepoError::Unexpected`] when the database fails.
    pub async fn synced_pins(
        &self,
        connection: SyncConnectionId,
        channel: &ExternalChannelId,
    ) -> Result<Vec<ExternalMessageId>, crate::ports::RepoError> {
        let Some(route) = self
            .ports
            .sync
            .route_for_external(connection, channel)
            .await?
        else {
            return Ok(Vec::new());
        };
        Ok(self
            .ports
            .sync
            .pinned_message_links(route.link.id)
            .await?
            .into_iter()
            .map(|link| link.external.root().clone())
            .collect())
    }

    async fn catch_up_where(
        &self,
        only: Option<SyncConnectionId>,
    ) -> Result<CatchUpReport, CatchUpError> {
        use crate::model::chat_sync::{ConnectionStatus, Direction};
        let mut report = CatchUpReport::default();
        for provider in self.ports.providers.reader_providers() {
            let Some(reader) = self.ports.providers.reader(provider).cloned() else {
                continue;
            };
            let routes = self.ports.sync.readable_routes(provider).await?;
            for route in routes
                .into_iter()
                .filter(|route| only.is_none_or(|id| route.connection.id == id))
            {
                let readable = route.link.is_active
                    && route.link.direction != Direction::Outbound
                    && route.connection.status == ConnectionStatus::Connected;
                let Some(sealed) = route.connection.credentials.as_ref().filter(|_| readable)
                else {
                    continue;
                };
                let Ok(credentials) = self.ports.vault.open(route.connection.id, sealed) else {
                    report
                        .failed
                        .push((route.link.id, "credentials cannot be opened".to_owned()));
                    continue;
                };
                let after = self
                    .ports
                    .sync
                    .latest_message_link(route.link.id)
                    .await?
                    .and_then(|link| link.external.parts().last().cloned());
                let request = crate::ports::HistoryRequest {
                    workspace: route.connection.external_workspace_id.clone(),
                    channel: route.link.external_channel_id.clone(),
                    credentials,
                    bot: route.connection.bot.clone(),
                    after,
                    since: route.link.created_at,
                };
                let events = match reader.history_since(&request).await {
                    Ok(events) => events,
                    Err(err) => {
                        report.failed.push((route.link.id, err.to_string()));
                        continue;
                    }
                };
                report.links_read += 1;
                let new = self
                    .record(
                        route.connection.id,
                        provider,
                        ReceiptSource::Backfill,
                        events,
                    )
                    .await
                    .map_err(|RecordEventsError::Unexpected(e)| CatchUpError::Unexpected(e))?;
                report.recorded += new;
            }
        }
        Ok(report)
    }

    /// A thread started on the platform. One started from a message needs nothing: its
    /// replies hang from that message's Hazel copy. One without a starter message (a
    /// Discord thread made on its own, whose parent is the thread itself) becomes a Hazel
    /// message of its own — its name, by its owner — so its replies have a parent; a thread
    /// whose owner is unknown is left out.
    async fn thread_started(
        &self,
        context: &Context<'_>,
        thread: &crate::model::sync::ThreadRef,
        name: Option<&str>,
        owner: Option<&ExternalUserId>,
    ) -> anyhow::Result<Result<Written, IgnoreReason>> {
        use crate::model::sync::{AuthorKind, ExternalAuthor};
        if self.linked(context, &thread.parent).await?.is_some() {
            // Started from a synced message (or seen before).
            return Ok(Err(IgnoreReason::AlreadyInSync));
        }
        let own_channel = thread
            .channel
            .as_ref()
            .is_some_and(|channel| channel.as_str() == thread.parent.as_str());
        let Some(owner) = owner.filter(|_| own_channel) else {
            return Ok(Err(IgnoreReason::Unsupported));
        };
        let name = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or("Thread");
        let root = ExternalMessage {
            id: thread.parent.clone(),
            author: ExternalAuthor {
                id: owner.clone(),
                // The owner's name and avatar come from the platform's profile.
                name: owner.as_str().to_owned(),
                avatar_url: None,
                kind: AuthorKind::Person,
            },
            text: name.to_owned(),
            mentions: Vec::new(),
            thread: None,
            attachments: Vec::new(),
            origin: None,
        };
        self.created(context, &root).await
    }

    async fn created(
        &self,
        context: &Context<'_>,
        external: &ExternalMessage,
    ) -> anyhow::Result<Result<Written, IgnoreReason>> {
        // A redelivery under another dedupe key finds the message link written the first time.
        if self.linked(context, &external.id).await?.is_some() {
            return Ok(Err(IgnoreReason::AlreadyInSync));
        }
        let connection = &context.route.connection;
        let (author, create_author) = self
            .shadow(
                connection,
                &external.author.id,
                &external.author.name,
                external.author.avatar_url.as_ref(),
                context.now,
            )
            .await?;
        let settings = context.route.link.settings.effective(connection.settings);
        let mut parent = None;
        if settings.sync_threads
            && let Some(thread) = &external.thread
            && let Some(parent_link) = self.linked(context, &thread.parent).await?
        {
            parent = self
                .ports
                .messages
                .find(parent_link.hazel_message_id)
                .await?;
        }
        Ok(Ok(self
            .build_created(context, external, &author, create_author, parent.as_ref())
            .await?))
    }

    /// The writes of a new external message by `author` (created by `create_author` when it
    /// is new), replying to `parent` when it is a synced thread reply.
    async fn build_created(
        &self,
        context: &Context<'_>,
        external: &ExternalMessage,
        author: &Member,
        create_author: Option<Change>,
        parent: Option<&Message>,
    ) -> anyhow::Result<Written> {
        let content = self.hazel_text(context, external).await?;
        let message = Message {
            id: MessageId::new(),
            channel_id: context.channel.id,
            author_id: author.id,
            content,
            parent_message_id: parent.map(|p| p.id),
            attachments: external.attachments.clone(),
            created_at: context.now,
            edited_at: None,
            deleted_at: None,
        };
        let audience = resolve_audience(
            &self.ports.members,
            context.channel,
            &message.content.mentions(),
            parent,
        )
        .await?;
        let mut changes: Vec<Change> = create_author.into_iter().collect();
        changes.push(Change::InsertMessage(message.clone()));
        changes.push(Change::Sync(SyncChange::InsertMessageLink(Box::new(
            MessageLink {
                id: crate::ids::MessageLinkId::new(),
                channel_link_id: context.route.link.id,
                hazel_message_id: message.id,
                external: ExternalRefs::single(external.id.clone()),
                source: LinkSource::External,
                thread: external.thread.clone(),
                content_hash: ContentHash::of(message.content.as_str()),
                reactions: Default::default(),
                pinned: false,
                created_at: context.now,
                updated_at: context.now,
            },
        ))));
        changes.extend(
            notifications_for_message(&message, context.channel, &audience, context.now)
                .into_iter()
                .map(Change::InsertNotification),
        );
        Ok(Written {
            message: Some(message.id),
            changes,
            fan_out: Some((DeliveryKind::MessageCreate, message.id, None)),
        })
    }

    async fn edited(
        &self,
        context: &Context<'_>,
        external: &ExternalMessage,
    ) -> anyhow::Result<Result<Written, IgnoreReason>> {
        let Some(linked) = self.linked(context, &external.id).await? else {
            return Ok(Err(IgnoreReason::MessageNotLinked));
        };
        let content = self.hazel_text(context, external).await?;
        // The echo of an edit this service made through the link: nothing to write.
        if edit_is_echo(&linked, content.as_str()) {
            return Ok(Err(IgnoreReason::AlreadyInSync));
        }
        let Some(mut message) = self
            .ports
            .messages
            .find(linked.hazel_message_id)
            .await?
            .filter(|m| m.deleted_at.is_none())
        else {
            return Ok(Err(IgnoreReason::MessageGone));
        };
        let added = Mentions::newly_added(&message.content.mentions(), &content.mentions());
        let audience = resolve_audience(&self.ports.members, context.channel, &added, None).await?;
        message.content = content;
        message.edited_at = Some(context.now);
        let mut changes = vec![
            Change::EditMessage {
                id: message.id,
                content: message.content.clone(),
                edited_at: context.now,
            },
            Change::Sync(SyncChange::UpdateMessageLink {
                id: linked.id,
                external: linked.external.clone(),
                thread: linked.thread.clone(),
                content_hash: ContentHash::of(message.content.as_str()),
                reactions: linked.reactions.clone(),
                updated_at: context.now,
            }),
        ];
        changes.extend(
            notifications_for_message(&message, context.channel, &audience, context.now)
                .into_iter()
                .map(Change::InsertNotification),
        );
        Ok(Ok(Written {
            message: Some(message.id),
            changes,
            fan_out: Some((DeliveryKind::MessageEdit, message.id, None)),
        }))
    }

    async fn reaction(
        &self,
        context: &Context<'_>,
        message: &crate::model::external::ExternalMessageId,
        user: &ExternalUserId,
        emoji: &crate::model::sync::ReactionEmoji,
        added: bool,
    ) -> anyhow::Result<Result<Written, IgnoreReason>> {
        let Some(linked) = self.linked(context, message).await? else {
            return Ok(Err(IgnoreReason::MessageNotLinked));
        };
        let Some(emoji) = hazel_emoji(emoji) else {
            return Ok(Err(IgnoreReason::Unsupported));
        };
        let Some(target) = self
            .ports
            .messages
            .find(linked.hazel_message_id)
            .await?
            .filter(|m| m.deleted_at.is_none())
        else {
            return Ok(Err(IgnoreReason::MessageGone));
        };
        let connection = &context.route.connection;
        let kind = if added {
            DeliveryKind::ReactionAdd
        } else {
            DeliveryKind::ReactionRemove
        };
        let mut changes = Vec::new();
        let reactor = if added {
            let (member, create) = self
                .shadow(connection, user, user.as_str(), None, context.now)
                .await?;
            changes.extend(create);
            member
        } else {
            match self
                .ports
                .sync
                .shadow_member(connection.organization_id, connection.provider, user)
                .await?
            {
                Some(member) => member,
                None => return Ok(Err(IgnoreReason::AlreadyInSync)),
            }
        };
        let existing = self
            .ports
            .messages
            .find_reaction(target.id, reactor.id, &emoji)
            .await?;
        match (added, existing) {
            (true, Some(_)) | (false, None) => return Ok(Err(IgnoreReason::AlreadyInSync)),
            (true, None) => {
                let reaction = Reaction {
                    id: ReactionId::new(),
                    message_id: target.id,
                    member_id: reactor.id,
                    emoji: emoji.clone(),
                    created_at: context.now,
                };
                changes.push(Change::InsertReaction(reaction.clone()));
                if target.author_id != reactor.id
                    && let Some(author) = self.ports.members.find(target.author_id).await?
                    && author.is_native()
                {
                    changes.push(Change::InsertNotification(Notification::for_reaction(
                        author.id,
                        context.channel.organization_id,
                        &reaction,
                        context.now,
                    )));
                }
            }
            (false, Some(reaction)) => {
                changes.push(Change::DeleteReaction(reaction.id));
                changes.push(Change::DeleteReactionNotifications(reaction.id));
            }
        }
        Ok(Ok(Written {
            message: Some(target.id),
            changes,
            fan_out: Some((kind, target.id, Some(emoji))),
        }))
    }
}

/// What one receipt reads while it is decided.
struct Context<'a> {
    route: &'a Route,
    channel: &'a Channel,
    now: Timestamp,
}

/// The Hazel writes of a receipt and the change to fan out.
struct Written {
    message: Option<MessageId>,
    changes: Vec<Change>,
    fan_out: Option<(
        DeliveryKind,
        MessageId,
        Option<crate::model::message::Emoji>,
    )>,
}

impl Written {
    /// The changes with the outbox rows of the fan-out to every other link of `routes`, and
    /// the Hazel message they are about.
    fn fanned_out(
        self,
        routes: &[Route],
        from: ChannelLinkId,
        now: Timestamp,
    ) -> (Vec<Change>, Option<MessageId>) {
        let Self {
            mut changes,
            message,
            fan_out,
        } = self;
        if let Some((kind, message, emoji)) = fan_out {
            changes.extend(
                outbox_changes(kind, routes, Some(from), message, emoji.as_ref(), now)
                    .into_iter()
                    .map(Change::Sync),
            );
        }
        (changes, message)
    }
}

/// Synced text as Hazel stores it; text longer than Hazel allows is cut (Hazel's limit is the
/// largest of the platforms', so this only guards against a misbehaving adapter).
fn inbound_content(text: &str) -> anyhow::Result<MessageContent> {
    let text: String = text
        .chars()
        .filter(|c| *c != '\0')
        .take(MessageContent::MAX_CHARS)
        .collect();
    Ok(MessageContent::parse("content", &text)?)
}

/// A new shadow member for an external author: the platform's display name (else the
/// user's id) and avatar.
fn shadow_member(
    connection: &SyncConnection,
    user: &ExternalUserId,
    name: &str,
    avatar_url: Option<&Url>,
    now: Timestamp,
) -> anyhow::Result<Member> {
    let shown: String = name.chars().take(Name::MAX_CHARS).collect();
    let name = Name::parse("name", shown.trim())
        .or_else(|_| Name::parse("name", user.as_str()))
        .context("an external author without a usable name")?;
    Ok(Member {
        id: MemberId::new(),
        organization_id: connection.organization_id,
        kind: MemberKind::Shadow {
            provider: connection.provider,
            external_user_id: user.clone(),
        },
        name,
        avatar_url: avatar_url.cloned(),
        role: Role::Member,
        created_at: now,
    })
}
