//! Outbound: a claimed link's queue delivered in order through the provider's outbound port.
//!
//! Each step reads the delivery's message and link, calls the platform, and commits the
//! outcome guarded by the worker's claim on the link (so a worker whose claim expired and was
//! taken over writes nothing). A create is marked "sent, outcome unknown" before its call, so
//! that a process killed mid-send resolves it through [`ChatOutbound::find_by_origin`] on
//! restart instead of posting it twice.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::policy::{RetryDecision, Route, outbound_refusal};
use super::{RecentTouches, SyncPorts, jitter};
use crate::ids::{DeliveryId, MessageId};
use crate::model::Timestamp;
use crate::model::chat_sync::{ConnectionStatus, Provider};
use crate::model::delivery::{
    ContentHash, DeliveryKind, DeliveryState, IgnoreReason, LastError, LinkClaim, LinkSource,
    MessageLink, QueuedDelivery, reaction_emoji,
};
use crate::model::identity::MemberKind;
use crate::model::message::MessageView;
use crate::model::sync::{
    DeliveryError, ExternalRefs, OriginMarker, OutboundMention, OutboundMessage, OutboundTarget,
    Persona, ThreadRef, ThreadTarget,
};
use crate::ports::{Changeset, ChatOutbound, SyncChange, SyncOutcome};
use crate::services::store_failure;

/// How many queued deliveries one look at a link's queue reads.
const HEAD_BATCH: u32 = 64;

/// What one delivery step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryStep {
    /// Delivered.
    Delivered(DeliveryKind),
    /// Dropped on purpose.
    Ignored(IgnoreReason),
    /// Failed; tried again after a wait. The link's queue waits with it (order).
    RetryScheduled,
    /// Held: the connection is not `connected` (credentials refused, or paused).
    Held,
    /// Dead-lettered.
    DeadLettered,
    /// The claim on the link was lost; nothing more is written by this worker.
    ClaimLost,
}

impl DeliveryStep {
    /// Whether the link's queue cannot go on past this step now.
    #[must_use]
    pub fn blocks(&self) -> bool {
        matches!(self, Self::RetryScheduled | Self::Held | Self::ClaimLost)
    }
}

/// What a claim's run did, step by step, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimReport {
    /// Each step with its latency from enqueue to outcome.
    pub steps: Vec<(DeliveryStep, std::time::Duration)>,
}

/// What a create does before it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BeforeSending {
    /// This run marked it unresolved already: send it.
    Nothing,
    /// An earlier try's outcome is unknown: look for its origin marker (sent then) first,
    /// then mark it and send it only if it is not there.
    LookUp(Timestamp),
    /// Mark it unresolved, then send it.
    Mark,
}

/// What a provider call achieved.
enum Effect {
    /// A create posted these parts.
    Posted {
        refs: ExternalRefs,
        thread: Option<ThreadRef>,
        hash: ContentHash,
    },
    /// An edit left these parts.
    Edited {
        refs: ExternalRefs,
        hash: ContentHash,
    },
    /// A delete.
    Done,
    /// The message is pinned now, or not.
    Pinned(bool),
    /// The bot's reactions on the message are now these.
    Reacted(BTreeSet<crate::model::sync::ReactionEmoji>),
    /// Nothing to do, for this reason.
    Skip(IgnoreReason),
}

/// What one look at a link's queue read for its marked creates, together: each message
/// with its author and reactions, and whether the link has a message link for it already.
/// Two reads for the whole head instead of several per delivery.
#[derive(Default)]
struct ReadAhead {
    entries: HashMap<MessageId, Ahead>,
}

/// A message of [`ReadAhead`].
enum Ahead {
    /// Read with the head and not used yet: the message (`None` when there is none) and
    /// whether the link had a message link for it.
    Fresh {
        view: Option<Box<MessageView>>,
        linked: bool,
    },
    /// Used by an earlier delivery of this look, which may have written its message link
    /// since: a later delivery reads afresh.
    Taken,
}

impl ReadAhead {
    /// The read-ahead message and whether it was linked, once; `None` when it was not read
    /// ahead or was used already (read it afresh then).
    fn take(&mut self, message: MessageId) -> Option<(Option<MessageView>, bool)> {
        let entry = self.entries.get_mut(&message)?;
        match std::mem::replace(entry, Ahead::Taken) {
            Ahead::Fresh { view, linked } => Some((view.map(|v| *v), linked)),
            Ahead::Taken => None,
        }
    }

    /// Whether the read-ahead message replies to another; `None` when it was not read ahead.
    fn is_reply(&self, message: MessageId) -> Option<bool> {
        match self.entries.get(&message)? {
            Ahead::Fresh { view, .. } => Some(
                view.as_ref()
                    .is_some_and(|v| v.message.parent_message_id.is_some()),
            ),
            Ahead::Taken => None,
        }
    }
}

/// The outbound side of the engine.
#[derive(Clone)]
pub struct DeliveryService {
    ports: SyncPorts,
    touches: Arc<RecentTouches>,
}

impl DeliveryService {
    /// Wires the service.
    #[must_use]
    pub fn new(ports: SyncPorts) -> Self {
        Self::sharing(ports, Arc::default())
    }

    /// Wires the service, sharing the record of `lastSyncAt` touches with other services.
    pub(crate) fn sharing(ports: SyncPorts, touches: Arc<RecentTouches>) -> Self {
        Self { ports, touches }
    }

    /// Delivers the claimed link's queue in order, up to `max_steps` deliveries, stopping at
    /// the first that must wait (a retry later, a held connection, a lost claim) or is not
    /// due yet: a later delivery never overtakes an earlier one.
    ///
    /// # Errors
    /// When the queue cannot be read or an outcome cannot be recorded; the claim's lease then
    /// expires and the work is taken up again.
    pub async fn run_claim(
        &self,
        claim: &LinkClaim,
        max_steps: usize,
    ) -> anyhow::Result<ClaimReport> {
        let mut report = ClaimReport::default();
        // The recorded outcomes of consecutive marked creates, committed together: each is
        // marked unresolved already, so a crash before this commit is resolved through its
        // origin marker, never posted twice.
        let mut deferred: Vec<SyncChange> = Vec::new();
        'queue: while report.steps.len() < max_steps {
            let head = self
                .ports
                .queue
                .queue_head(claim.channel_link_id, HEAD_BATCH)
                .await
                .context("reading a link's queue")?;
            if head.is_empty() {
                break;
            }
            // A head shorter than asked for was the whole queue: what was enqueued since is
            // left to the next claim (the worker claims again at once), which saves reading
            // an empty head after every look.
            let whole_queue = head.len() < HEAD_BATCH as usize;
            // One read of the link per look at its queue, and one commit marking every due
            // create of it "sent, outcome unknown" before any is sent (instead of one commit
            // per create): a crash then costs a lookup of the origin marker per marked create,
            // never a second post.
            let route = self.ports.sync.route(claim.channel_link_id).await?;
            let fresh = match self.mark_creates(claim, route.as_ref(), &head).await? {
                Some(fresh) => fresh,
                None => {
                    report.steps.push((DeliveryStep::ClaimLost, Duration::ZERO));
                    break;
                }
            };
            let mut ahead = self
                .read_ahead(claim, route.as_ref(), &head, &fresh)
                .await?;
            for item in head {
                if let DeliveryState::Pending {
                    next_attempt_at, ..
                } = &item.delivery.state
                    && *next_attempt_at > self.ports.clock.now()
                {
                    break 'queue;
                }
                let marked = fresh.contains(&item.delivery.id);
                // A reply waits for the deferred creates too: its parent may be among them.
                let batchable = marked
                    && item.delivery.kind == DeliveryKind::MessageCreate
                    && (deferred.is_empty() || !self.is_reply(&item, &ahead).await?);
                // Anything else may read what the deferred creates wrote (their message
                // links): it waits for their commit.
                if !batchable && !self.flush(claim, &mut deferred).await? {
                    report.steps.push((DeliveryStep::ClaimLost, Duration::ZERO));
                    break 'queue;
                }
                let (step, provider) = self
                    .deliver(
                        claim,
                        &item,
                        route.as_ref(),
                        marked,
                        &mut ahead,
                        batchable.then_some(&mut deferred),
                    )
                    .await?;
                let latency = (self.ports.clock.now() - item.delivery.created_at)
                    .try_into()
                    .unwrap_or_default();
                let outcome = match &step {
                    DeliveryStep::Delivered(_) => Some(SyncOutcome::Delivered),
                    DeliveryStep::Ignored(_) => Some(SyncOutcome::Ignored),
                    DeliveryStep::RetryScheduled => Some(SyncOutcome::Retried),
                    DeliveryStep::Held => Some(SyncOutcome::Held),
                    DeliveryStep::DeadLettered => Some(SyncOutcome::DeadLettered),
                    DeliveryStep::ClaimLost => None,
                };
                if let (Some(provider), Some(outcome)) = (provider, outcome) {
                    self.ports
                        .observer
                        .delivery_finished(provider, outcome, latency);
                }
                let blocks = step.blocks();
                report.steps.push((step, latency));
                if blocks || report.steps.len() >= max_steps {
                    break 'queue;
                }
            }
            // The next look at the queue must see these outcomes.
            if !self.flush(claim, &mut deferred).await? {
                report.steps.push((DeliveryStep::ClaimLost, Duration::ZERO));
                break;
            }
            if whole_queue {
                break;
            }
        }
        if !self.flush(claim, &mut deferred).await? {
            report.steps.push((DeliveryStep::ClaimLost, Duration::ZERO));
        }
        Ok(report)
    }

    /// Reads the messages of the head's marked creates, and the link's message links for
    /// them, in one go. Only the creates this run marked are read ahead: they are the ones
    /// delivered back to back (their outcomes committed together), and no other writer
    /// links their messages to this link meanwhile (the claim is this worker's, and a
    /// message is never queued back to the link it came in through).
    async fn read_ahead(
        &self,
        claim: &LinkClaim,
        route: Option<&Route>,
        head: &[QueuedDelivery],
        fresh: &HashSet<DeliveryId>,
    ) -> anyhow::Result<ReadAhead> {
        let mut ids: Vec<MessageId> = head
            .iter()
            .filter(|item| fresh.contains(&item.delivery.id))
            .map(|item| item.delivery.hazel_message_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() || route.is_none() {
            return Ok(ReadAhead::default());
        }
        let views = self.ports.sync.message_views(&ids).await?;
        let linked: HashSet<MessageId> = self
            .ports
            .sync
            .message_links(claim.channel_link_id, &ids)
            .await?
            .into_iter()
            .map(|link| link.hazel_message_id)
            .collect();
        let mut views: HashMap<MessageId, MessageView> =
            views.into_iter().map(|v| (v.message.id, v)).collect();
        let entries = ids
            .into_iter()
            .map(|id| {
                let view = views
                    .remove(&id)
                    .filter(|v| v.message.deleted_at.is_none())
                    .map(Box::new);
                let linked = linked.contains(&id);
                (id, Ahead::Fresh { view, linked })
            })
            .collect();
        Ok(ReadAhead { entries })
    }

    /// Whether the delivery's message replies to another.
    async fn is_reply(&self, item: &QueuedDelivery, ahead: &ReadAhead) -> anyhow::Result<bool> {
        if let Some(reply) = ahead.is_reply(item.delivery.hazel_message_id) {
            return Ok(reply);
        }
        Ok(self
            .ports
            .messages
            .find(item.delivery.hazel_message_id)
            .await?
            .is_some_and(|m| m.parent_message_id.is_some()))
    }

    /// Commits the deferred outcomes behind the claim guard; `false` when the claim was lost
    /// (the creates stay marked unresolved and are resolved by the next holder).
    async fn flush(
        &self,
        claim: &LinkClaim,
        deferred: &mut Vec<SyncChange>,
    ) -> anyhow::Result<bool> {
        if deferred.is_empty() {
            return Ok(true);
        }
        let mut changes: Vec<SyncChange> = std::mem::take(deferred);
        // The outcomes of different deliveries are independent: grouped by kind, the store
        // writes each group with one statement (stable, so each group keeps its order).
        changes.sort_by_key(|change| match change {
            SyncChange::SetDeliveryState { .. } => 0,
            SyncChange::InsertMessageLink(_) => 1,
            _ => 2,
        });
        let mut changeset = Changeset::new().with(self.guard(claim));
        changeset.extend(changes);
        match self.touches.commit(&*self.ports.store, changeset).await {
            Ok(_) => Ok(true),
            Err(err) if err.is_precondition_of(0) => Ok(false),
            Err(err) => Err(store_failure(err)),
        }
    }

    /// Marks the due creates at the head of the queue (up to the first delivery that is not
    /// due) "sent, outcome unknown", in one commit; answers which were marked, or `None` when
    /// the claim was lost. Creates already unresolved keep their time (they are looked up
    /// first).
    async fn mark_creates(
        &self,
        claim: &LinkClaim,
        route: Option<&Route>,
        head: &[QueuedDelivery],
    ) -> anyhow::Result<Option<HashSet<DeliveryId>>> {
        let mut marked = HashSet::new();
        if route.is_none_or(|route| outbound_refusal(DeliveryKind::MessageCreate, route).is_some())
        {
            return Ok(Some(marked));
        }
        let now = self.ports.clock.now();
        let mut ids = Vec::new();
        for item in head {
            let DeliveryState::Pending {
                next_attempt_at,
                unresolved_since,
                ..
            } = &item.delivery.state
            else {
                continue;
            };
            if *next_attempt_at > now {
                break;
            }
            if item.delivery.kind != DeliveryKind::MessageCreate || unresolved_since.is_some() {
                continue;
            }
            ids.push(item.delivery.id);
            marked.insert(item.delivery.id);
        }
        if marked.is_empty() {
            return Ok(Some(marked));
        }
        // One statement for all of them; the claim guard keeps any other worker off them.
        let changes = Changeset::new()
            .with(self.guard(claim))
            .with(SyncChange::MarkUnresolved { ids, at: now });
        match self.ports.store.commit(changes).await {
            Ok(_) => Ok(Some(marked)),
            Err(err) if err.is_precondition_of(0) => Ok(None),
            Err(err) => Err(store_failure(err)),
        }
    }

    /// One delivery, with the platform it went to (when its link still exists). `marked`: the
    /// create was marked unresolved by this run, so it is sent without a lookup.
    async fn deliver(
        &self,
        claim: &LinkClaim,
        item: &QueuedDelivery,
        route: Option<&Route>,
        marked: bool,
        ahead: &mut ReadAhead,
        deferred: Option<&mut Vec<SyncChange>>,
    ) -> anyhow::Result<(DeliveryStep, Option<Provider>)> {
        let Some(route) = route else {
            let step = self.ignore(claim, item, IgnoreReason::LinkNotFound).await?;
            return Ok((step, None));
        };
        let step = self
            .deliver_to(claim, item, route, marked, ahead, deferred)
            .await?;
        Ok((step, Some(route.connection.provider)))
    }

    /// One delivery to a live link: decide, call the platform, record the outcome.
    async fn deliver_to(
        &self,
        claim: &LinkClaim,
        item: &QueuedDelivery,
        route: &Route,
        marked: bool,
        ahead: &mut ReadAhead,
        deferred: Option<&mut Vec<SyncChange>>,
    ) -> anyhow::Result<DeliveryStep> {
        let delivery = &item.delivery;
        match outbound_refusal(delivery.kind, route) {
            // Held, not dropped: delivered once the connection is connected again.
            Some(IgnoreReason::ConnectionNotConnected) => return Ok(DeliveryStep::Held),
            Some(reason) => return self.ignore(claim, item, reason).await,
            None => {}
        }
        let Some(adapter) = self
            .ports
            .providers
            .outbound(route.connection.provider)
            .cloned()
        else {
            return self
                .dead_letter(
                    claim,
                    item,
                    LastError {
                        code: "UNSUPPORTED_PROVIDER".to_owned(),
                        message: format!(
                            "this build cannot deliver to {}",
                            route.connection.provider.as_str()
                        ),
                    },
                )
                .await;
        };
        let target = match self.target(route) {
            Ok(target) => target,
            Err(error) => return self.dead_letter(claim, item, error).await,
        };
        let attempts = delivery.state.attempts() + 1;
        let before_sending = match &delivery.state {
            _ if marked => BeforeSending::Nothing,
            DeliveryState::Pending {
                unresolved_since: Some(sent_at),
                ..
            } => BeforeSending::LookUp(*sent_at),
            DeliveryState::Pending { .. }
            | DeliveryState::Delivered { .. }
            | DeliveryState::Failed { .. }
            | DeliveryState::Ignored { .. } => BeforeSending::Mark,
        };
        let effect = match delivery.kind {
            DeliveryKind::MessageCreate => {
                match self
                    .create(
                        claim,
                        item,
                        route,
                        adapter.as_ref(),
                        &target,
                        before_sending,
                        ahead,
                    )
                    .await?
                {
                    Some(effect) => effect,
                    None => return Ok(DeliveryStep::ClaimLost),
                }
            }
            DeliveryKind::MessageEdit => self.edit(route, item, adapter.as_ref(), &target).await?,
            DeliveryKind::MessageDelete => {
                self.delete(route, item, adapter.as_ref(), &target).await?
            }
            DeliveryKind::ReactionAdd | DeliveryKind::ReactionRemove => {
                self.react(route, item, adapter.as_ref(), &target).await?
            }
            DeliveryKind::PinAdd | DeliveryKind::PinRemove => {
                self.pin(route, item, adapter.as_ref(), &target).await?
            }
        };
        match effect {
            Ok(effect) => {
                self.record(claim, item, route, attempts, effect, deferred)
                    .await
            }
            Err(error) => self.failed(claim, item, route, attempts, &error).await,
        }
    }

    /// Where the link's messages go, with the connection's credentials opened in memory.
    fn target(&self, route: &Route) -> Result<OutboundTarget, LastError> {
        let sealed = route
            .connection
            .credentials
            .as_ref()
            .ok_or_else(|| LastError {
                code: "NO_CREDENTIALS".to_owned(),
                message: "the connection has no credentials of its own".to_owned(),
            })?;
        let credentials = self
            .ports
            .vault
            .open(route.connection.id, sealed)
            .map_err(|_| LastError {
                code: "CREDENTIALS_UNREADABLE".to_owned(),
                message: "the stored credentials cannot be opened with the configured key"
                    .to_owned(),
            })?;
        Ok(OutboundTarget {
            link: route.link.id,
            workspace: route.connection.external_workspace_id.clone(),
            channel: route.link.external_channel_id.clone(),
            credentials,
            bot: route.connection.bot.clone(),
        })
    }

    /// The live message a delivery is about, with its author.
    async fn live_message(&self, item: &QueuedDelivery) -> anyhow::Result<Option<MessageView>> {
        Ok(self
            .ports
            .messages
            .view(item.delivery.hazel_message_id)
            .await?
            .filter(|view| view.message.deleted_at.is_none()))
    }

    async fn message_link(
        &self,
        route: &Route,
        item: &QueuedDelivery,
    ) -> anyhow::Result<Option<MessageLink>> {
        Ok(self
            .ports
            .sync
            .message_link(route.link.id, item.delivery.hazel_message_id)
            .await?)
    }

    /// The message as the platform is sent it.
    async fn outbound_message(
        &self,
        route: &Route,
        view: &MessageView,
    ) -> anyhow::Result<OutboundMessage> {
        let settings = route.link.settings.effective(route.connection.settings);
        let mut thread = ThreadTarget::TopLevel;
        if settings.sync_threads
            && let Some(parent) = view.message.parent_message_id
            && let Some(parent_link) = self.ports.sync.message_link(route.link.id, parent).await?
        {
            thread = ThreadTarget::Reply(ThreadRef {
                parent: parent_link.external.root().clone(),
                channel: parent_link.thread.and_then(|t| t.channel),
            });
        }
        let mentioned: Vec<_> = view
            .message
            .content
            .mentions()
            .members
            .into_iter()
            .collect();
        let mut mentions = Vec::new();
        if !mentioned.is_empty() {
            for member in self
                .ports
                .members
                .find_many(route.connection.organization_id, &mentioned)
                .await?
            {
                let external_user_id = match &member.kind {
                    MemberKind::Shadow {
                        provider,
                        external_user_id,
                    } if *provider == route.connection.provider
                        && route.link.settings.mention_mapping =>
                    {
                        Some(external_user_id.clone())
                    }
                    MemberKind::Shadow { .. } | MemberKind::Native { .. } => None,
                };
                mentions.push(OutboundMention {
                    member_id: member.id,
                    external_user_id,
                    display_name: member.name,
                });
            }
        }
        Ok(OutboundMessage {
            persona: Persona {
                name: view.author.name.clone(),
                avatar_url: view.author.avatar_url.clone(),
            },
            content: view.message.content.as_str().to_owned(),
            thread,
            origin: OriginMarker {
                hazel_message_id: view.message.id,
            },
            attachments: view.message.attachments.clone(),
            mentions,
        })
    }

    /// A create: resolved first when an earlier try's outcome is unknown; marked unresolved
    /// (durably) before the call, unless `marked` says this run did so already. `None` when
    /// the claim was lost.
    #[expect(
        clippy::too_many_arguments,
        reason = "one delivery's context: its claim, row, route, adapter, target and reads"
    )]
    async fn create(
        &self,
        claim: &LinkClaim,
        item: &QueuedDelivery,
        route: &Route,
        adapter: &dyn ChatOutbound,
        target: &OutboundTarget,
        before_sending: BeforeSending,
        ahead: &mut ReadAhead,
    ) -> anyhow::Result<Option<Result<Effect, DeliveryError>>> {
        let (view, linked) = match ahead.take(item.delivery.hazel_message_id) {
            Some(read) => read,
            None => (
                self.live_message(item).await?,
                self.message_link(route, item).await?.is_some(),
            ),
        };
        let Some(view) = view else {
            return Ok(Some(Ok(Effect::Skip(IgnoreReason::MessageGone))));
        };
        if linked {
            return Ok(Some(Ok(Effect::Skip(IgnoreReason::AlreadyInSync))));
        }
        let message = self.outbound_message(route, &view).await?;
        let hash = ContentHash::of(&message.content);
        let thread = match &message.thread {
            ThreadTarget::Reply(thread) => Some(thread.clone()),
            ThreadTarget::TopLevel => None,
        };
        if let BeforeSending::LookUp(sent_at) = before_sending {
            match adapter.find_by_origin(target, &message, sent_at).await {
                Ok(Some(refs)) => return Ok(Some(Ok(Effect::Posted { refs, thread, hash }))),
                Ok(None) => {}
                Err(error) => return Ok(Some(Err(error))),
            }
        }
        if before_sending == BeforeSending::Nothing {
            return Ok(Some(
                adapter
                    .post(target, &message)
                    .await
                    .map(|refs| Effect::Posted { refs, thread, hash }),
            ));
        }
        // Durably "sent, outcome unknown" before the call: a crash between the call and the
        // record below is resolved on the next try instead of posting twice.
        let now = self.ports.clock.now();
        let (attempts, last_error) = match &item.delivery.state {
            DeliveryState::Pending {
                attempts,
                last_error,
                ..
            } => (*attempts, last_error.clone()),
            DeliveryState::Delivered { .. }
            | DeliveryState::Failed { .. }
            | DeliveryState::Ignored { .. } => (0, None),
        };
        let mark = Changeset::new()
            .with(self.guard(claim))
            .with(SyncChange::SetDeliveryState {
                id: item.delivery.id,
                state: DeliveryState::Pending {
                    attempts,
                    next_attempt_at: now,
                    last_error,
                    unresolved_since: Some(now),
                },
                external_message_id: None,
            });
        match self.ports.store.commit(mark).await {
            Ok(_) => {}
            Err(err) if err.is_precondition_of(0) => return Ok(None),
            Err(err) => return Err(store_failure(err)),
        }
        Ok(Some(
            adapter
                .post(target, &message)
                .await
                .map(|refs| Effect::Posted { refs, thread, hash }),
        ))
    }

    async fn edit(
        &self,
        route: &Route,
        item: &QueuedDelivery,
        adapter: &dyn ChatOutbound,
        target: &OutboundTarget,
    ) -> anyhow::Result<Result<Effect, DeliveryError>> {
        let Some(linked) = self.message_link(route, item).await? else {
            return Ok(Ok(Effect::Skip(IgnoreReason::MessageNotLinked)));
        };
        let Some(view) = self.live_message(item).await? else {
            return Ok(Ok(Effect::Skip(IgnoreReason::MessageGone)));
        };
        let message = self.outbound_message(route, &view).await?;
        let hash = ContentHash::of(&message.content);
        if hash == linked.content_hash {
            return Ok(Ok(Effect::Skip(IgnoreReason::AlreadyInSync)));
        }
        Ok(adapter
            .edit(target, &linked.external, &message)
            .await
            .map(|refs| Effect::Edited { refs, hash }))
    }

    async fn delete(
        &self,
        route: &Route,
        item: &QueuedDelivery,
        adapter: &dyn ChatOutbound,
        target: &OutboundTarget,
    ) -> anyhow::Result<Result<Effect, DeliveryError>> {
        let Some(linked) = self.message_link(route, item).await? else {
            return Ok(Ok(Effect::Skip(IgnoreReason::MessageNotLinked)));
        };
        Ok(match adapter.delete(target, &linked.external).await {
            // Already gone is what a delete wants.
            Ok(()) | Err(DeliveryError::Gone { .. }) => Ok(Effect::Done),
            Err(error) => Err(error),
        })
    }

    /// Reactions collapse: the bot holds one reaction per emoji, added when the first Hazel
    /// member reacts and removed only when none still has it.
    async fn react(
        &self,
        route: &Route,
        item: &QueuedDelivery,
        adapter: &dyn ChatOutbound,
        target: &OutboundTarget,
    ) -> anyhow::Result<Result<Effect, DeliveryError>> {
        let Some(emoji) = item.delivery.emoji.as_ref() else {
            return Ok(Ok(Effect::Skip(IgnoreReason::Unsupported)));
        };
        let Some(linked) = self.message_link(route, item).await? else {
            return Ok(Ok(Effect::Skip(IgnoreReason::MessageNotLinked)));
        };
        let external = reaction_emoji(emoji);
        let root = linked.external.root();
        let mut reactions = linked.reactions.clone();
        let still_held = self
            .ports
            .sync
            .has_reaction(item.delivery.hazel_message_id, emoji)
            .await?;
        if item.delivery.kind == DeliveryKind::ReactionAdd {
            if reactions.contains(&external) {
                return Ok(Ok(Effect::Skip(IgnoreReason::ReactionStillHeld)));
            }
            if !still_held {
                // Removed again before it went out.
                return Ok(Ok(Effect::Skip(IgnoreReason::AlreadyInSync)));
            }
            let result = adapter.react(target, root, &external).await;
            reactions.insert(external);
            Ok(result.map(|()| Effect::Reacted(reactions)))
        } else {
            if still_held {
                return Ok(Ok(Effect::Skip(IgnoreReason::ReactionStillHeld)));
            }
            if !reactions.contains(&external) {
                return Ok(Ok(Effect::Skip(IgnoreReason::AlreadyInSync)));
            }
            let result = match adapter.unreact(target, root, &external).await {
                Err(DeliveryError::Gone { .. }) => Ok(()),
                other => other,
            };
            reactions.remove(&external);
            Ok(result.map(|()| Effect::Reacted(reactions)))
        }
    }

    async fn pin(
        &self,
        route: &Route,
        item: &QueuedDelivery,
        adapter: &dyn ChatOutbound,
        target: &OutboundTarget,
    ) -> anyhow::Result<Result<Effect, DeliveryError>> {
        let Some(linked) = self.message_link(route, item).await? else {
            return Ok(Ok(Effect::Skip(IgnoreReason::MessageNotLinked)));
        };
        let pinned = item.delivery.kind == DeliveryKind::PinAdd;
        if linked.pinned == pinned {
            // Already so on the platform, as last synced: nothing to call.
            return Ok(Ok(Effect::Skip(IgnoreReason::AlreadyInSync)));
        }
        let root = linked.external.root();
        let result = if pinned {
            adapter.pin(target, root).await
        } else {
            adapter.unpin(target, root).await
        };
        Ok(result.map(|()| Effect::Pinned(pinned)))
    }

    fn guard(&self, claim: &LinkClaim) -> crate::ports::Guarded {
        SyncChange::HoldsLinkClaim {
            link: claim.channel_link_id,
            worker: claim.worker,
            now: self.ports.clock.now(),
        }
        .expect_one()
    }

    /// Commits a step's changes behind the claim guard.
    async fn commit(
        &self,
        claim: &LinkClaim,
        changes: Vec<SyncChange>,
        step: DeliveryStep,
    ) -> anyhow::Result<DeliveryStep> {
        let mut changeset = Changeset::new().with(self.guard(claim));
        changeset.extend(changes);
        match self.touches.commit(&*self.ports.store, changeset).await {
            Ok(_) => Ok(step),
            Err(err) if err.is_precondition_of(0) => Ok(DeliveryStep::ClaimLost),
            Err(err) => Err(store_failure(err)),
        }
    }

    async fn ignore(
        &self,
        claim: &LinkClaim,
        item: &QueuedDelivery,
        reason: IgnoreReason,
    ) -> anyhow::Result<DeliveryStep> {
        let change = SyncChange::SetDeliveryState {
            id: item.delivery.id,
            state: DeliveryState::Ignored {
                reason,
                completed_at: self.ports.clock.now(),
            },
            external_message_id: None,
        };
        self.commit(claim, vec![change], DeliveryStep::Ignored(reason))
            .await
    }

    async fn dead_letter(
        &self,
        claim: &LinkClaim,
        item: &QueuedDelivery,
        last_error: LastError,
    ) -> anyhow::Result<DeliveryStep> {
        let change = SyncChange::SetDeliveryState {
            id: item.delivery.id,
            state: DeliveryState::Failed {
                attempts: item.delivery.state.attempts() + 1,
                last_error,
                completed_at: self.ports.clock.now(),
            },
            external_message_id: None,
        };
        self.commit(claim, vec![change], DeliveryStep::DeadLettered)
            .await
    }

    /// Records what a successful call achieved.
    async fn record(
        &self,
        claim: &LinkClaim,
        item: &QueuedDelivery,
        route: &Route,
        attempts: u32,
        effect: Effect,
        deferred: Option<&mut Vec<SyncChange>>,
    ) -> anyhow::Result<DeliveryStep> {
        let now = self.ports.clock.now();
        let delivered = |external: Option<&ExternalRefs>| SyncChange::SetDeliveryState {
            id: item.delivery.id,
            state: DeliveryState::Delivered {
                attempts,
                completed_at: now,
            },
            external_message_id: external.map(|refs| refs.root().clone()),
        };
        let touch = self.touches.touch(route.connection.id, now);
        let linked = match &effect {
            Effect::Posted { .. } | Effect::Skip(_) => None,
            Effect::Edited { .. } | Effect::Done | Effect::Reacted(_) | Effect::Pinned(_) => {
                self.message_link(route, item).await?
            }
        };
        let changes = match effect {
            Effect::Skip(reason) => return self.ignore(claim, item, reason).await,
            Effect::Posted { refs, thread, hash } => vec![
                delivered(Some(&refs)),
                // Recorded at once, so later edits, deletes, reactions and replies find it.
                SyncChange::InsertMessageLink(Box::new(MessageLink {
                    id: crate::ids::MessageLinkId::new(),
                    channel_link_id: route.link.id,
                    hazel_message_id: item.delivery.hazel_message_id,
                    external: refs,
                    source: LinkSource::Hazel,
                    thread,
                    content_hash: hash,
                    reactions: BTreeSet::new(),
                    pinned: false,
                    created_at: now,
                    updated_at: now,
                })),
            ]
            .into_iter()
            .chain(touch)
            .collect(),
            Effect::Edited { refs, hash } => {
                let mut changes = vec![delivered(Some(&refs))];
                if let Some(linked) = linked {
                    changes.push(SyncChange::UpdateMessageLink {
                        id: linked.id,
                        external: refs,
                        thread: linked.thread,
                        content_hash: hash,
                        reactions: linked.reactions,
                        updated_at: now,
                    });
                }
                changes.extend(touch);
                changes
            }
            Effect::Reacted(reactions) => {
                let mut changes = vec![delivered(linked.as_ref().map(|l| &l.external))];
                if let Some(linked) = linked {
                    changes.push(SyncChange::UpdateMessageLink {
                        id: linked.id,
                        external: linked.external,
                        thread: linked.thread,
                        content_hash: linked.content_hash,
                        reactions,
                        updated_at: now,
                    });
                }
                changes.extend(touch);
                changes
            }
            Effect::Done => std::iter::once(delivered(linked.as_ref().map(|l| &l.external)))
                .chain(touch)
                .collect(),
            Effect::Pinned(pinned) => {
                let mut changes = vec![delivered(linked.as_ref().map(|l| &l.external))];
                if let Some(linked) = linked {
                    changes.push(SyncChange::SetMessageLinkPinned {
                        id: linked.id,
                        pinned,
                        updated_at: now,
                    });
                }
                changes.extend(touch);
                changes
            }
        };
        match deferred {
            Some(deferred) => {
                // One touch of the connection's `lastSyncAt` per commit is enough: the latest.
                deferred.retain(|change| {
                    !matches!(change, SyncChange::TouchLastSync { connection, .. }
                        if *connection == route.connection.id)
                });
                deferred.extend(changes);
                Ok(DeliveryStep::Delivered(item.delivery.kind))
            }
            None => {
                self.commit(claim, changes, DeliveryStep::Delivered(item.delivery.kind))
                    .await
            }
        }
    }

    /// Records a failed call as the retry policy decides.
    async fn failed(
        &self,
        claim: &LinkClaim,
        item: &QueuedDelivery,
        route: &Route,
        attempts: u32,
        error: &DeliveryError,
    ) -> anyhow::Result<DeliveryStep> {
        let now = self.ports.clock.now();
        let last_error = LastError::from(error);
        let (state, step) = match self.ports.retry.decide(error, attempts, jitter()) {
            RetryDecision::Retry {
                after,
                resolve_first,
            } => (
                DeliveryState::Pending {
                    attempts,
                    next_attempt_at: now + after,
                    last_error: Some(last_error),
                    unresolved_since: resolve_first.then_some(now),
                },
                DeliveryStep::RetryScheduled,
            ),
            RetryDecision::HoldForCredentials(code) => {
                if route.connection.status == ConnectionStatus::Connected {
                    self.ports
                        .chat_sync
                        .record_connection_failure(
                            &route.connection,
                            code.code(),
                            error.to_string(),
                        )
                        .await?;
                }
                (
                    DeliveryState::Pending {
                        attempts,
                        next_attempt_at: now,
                        last_error: Some(last_error),
                        unresolved_since: None,
                    },
                    DeliveryStep::Held,
                )
            }
            RetryDecision::Gone => {
                return self.ignore(claim, item, IgnoreReason::MessageGone).await;
            }
            RetryDecision::DeadLetter => (
                DeliveryState::Failed {
                    attempts,
                    last_error,
                    completed_at: now,
                },
                DeliveryStep::DeadLettered,
            ),
        };
        let change = SyncChange::SetDeliveryState {
            id: item.delivery.id,
            state,
            external_message_id: None,
        };
        self.commit(claim, vec![change], step).await
    }
}
