//! A scriptable in-process chat provider: the outbound and inbound ports without any network,
//! so the sync engine is tested without Slack or Discord.
//!
//! It keeps the messages it was asked to post per channel (split at its length limit with
//! the domain's splitter, as a real adapter does), records every call, fails on demand with
//! any [`DeliveryError`], and can feed inbound events to the service.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use hazel_domain::model::Timestamp;
use hazel_domain::model::chat_sync::{Credentials, ExternalWorkspaceId, Provider};
use hazel_domain::model::external::ExternalMessageId;
use hazel_domain::model::split::split_message;
use hazel_domain::model::sync::{
    DeliveryError, ExternalRefs, InboundError, InboundEvent, InboundInput, InboundOutcome,
    OriginMarker, OutboundMessage, OutboundTarget, ReactionEmoji, ThreadRef, ThreadTarget,
};
use hazel_domain::ports::{ChatInbound, ChatOutbound};

/// Which port method a call or a scripted failure is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `post`.
    Post,
    /// `edit`.
    Edit,
    /// `delete`.
    Delete,
    /// `react`.
    React,
    /// `unreact`.
    Unreact,
    /// `pin` and `unpin`.
    Pin,
    /// `find_by_origin`.
    FindByOrigin,
}

/// One recorded call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Which method.
    pub op: Op,
    /// The channel acted in.
    pub channel: String,
    /// The text sent (posts and edits).
    pub content: Option<String>,
    /// The message acted on (edits, deletes, reactions: the root part).
    pub message: Option<String>,
    /// The thread parent a post replied to.
    pub thread_parent: Option<String>,
    /// The reaction.
    pub emoji: Option<ReactionEmoji>,
}

/// A message as the fake platform holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeMessage {
    /// Its id on the platform.
    pub id: String,
    /// Its channel.
    pub channel: String,
    /// Its text (one part).
    pub text: String,
    /// The origin marker it carries.
    pub origin: Option<OriginMarker>,
    /// The thread parent it replies to.
    pub thread_parent: Option<String>,
    /// The bot's reactions on it.
    pub reactions: BTreeSet<ReactionEmoji>,
    /// Which part of its Hazel message it is (0 for the first).
    pub part: usize,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    messages: Vec<FakeMessage>,
    next_id: u64,
    failures: HashMap<Op, VecDeque<DeliveryError>>,
    /// Posts that take effect and then answer "outcome unknown".
    lost_answers: u32,
    /// Posts that take effect and then never answer (the process is killed meanwhile).
    stalled: u32,
    length_limit: Option<usize>,
    inbound: VecDeque<InboundEvent>,
}

/// The fake provider. Cheap to clone; clones share their state.
#[derive(Clone)]
pub struct FakeProvider {
    provider: Provider,
    state: Arc<Mutex<State>>,
}

impl FakeProvider {
    /// A fake of `provider`'s platform, without a length limit.
    #[must_use]
    pub fn new(provider: Provider) -> Self {
        Self {
            provider,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Splits posted and edited text into parts of at most `limit` characters.
    pub fn set_length_limit(&self, limit: usize) {
        self.state().length_limit = Some(limit);
    }

    /// The next `times` calls of `op` fail with `error`.
    pub fn fail_next(&self, op: Op, error: DeliveryError, times: usize) {
        let mut state = self.state();
        let queue = state.failures.entry(op).or_default();
        for _ in 0..times {
            queue.push_back(error.clone());
        }
    }

    /// The next post takes effect on the platform, but its answer is lost: the caller is
    /// told the outcome is unknown.
    pub fn lose_next_post_answer(&self) {
        self.state().lost_answers += 1;
    }

    /// The next post takes effect on the platform and then never answers, as when the
    /// process making it is killed mid-call.
    pub fn stall_next_post(&self) {
        self.state().stalled += 1;
    }

    /// Every call so far, in order.
    #[must_use]
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The calls of `op` so far.
    #[must_use]
    pub fn calls_of(&self, op: Op) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.op == op).collect()
    }

    /// The live messages of `channel`, in posting order.
    #[must_use]
    pub fn messages(&self, channel: &str) -> Vec<FakeMessage> {
        self.state()
            .messages
            .iter()
            .filter(|m| m.channel == channel)
            .cloned()
            .collect()
    }

    /// How many live messages `channel` holds, without copying them (for polling).
    #[must_use]
    pub fn message_count(&self, channel: &str) -> usize {
        self.state()
            .messages
            .iter()
            .filter(|m| m.channel == channel)
            .count()
    }

    /// Queues inbound events for the next [`ChatInbound::verify_and_decode`].
    pub fn queue_inbound(&self, events: Vec<InboundEvent>) {
        self.state().inbound.extend(events);
    }

    fn scripted(&self, op: Op) -> Option<DeliveryError> {
        self.state()
            .failures
            .get_mut(&op)
            .and_then(VecDeque::pop_front)
    }

    fn record(&self, call: Call) {
        self.state().calls.push(call);
    }

    fn parts(&self, text: &str) -> Vec<String> {
        match self.state().length_limit {
            Some(limit) => split_message(text, limit),
            None => vec![text.to_owned()],
        }
    }

    fn new_id(state: &mut State) -> String {
        state.next_id += 1;
        format!("{}.{:06}", 1_700_000_000 + state.next_id, state.next_id)
    }

    fn refs(ids: Vec<String>) -> Result<ExternalRefs, DeliveryError> {
        let ids = ids
            .iter()
            .map(|id| ExternalMessageId::parse("id", id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DeliveryError::Rejected {
                reason: e.to_string(),
            })?;
        ExternalRefs::new(ids).ok_or_else(|| DeliveryError::Rejected {
            reason: "no parts".to_owned(),
        })
    }

    fn thread_parent(message: &OutboundMessage) -> Option<String> {
        match &message.thread {
            ThreadTarget::TopLevel => None,
            ThreadTarget::Reply(thread) => Some(thread.parent.to_string()),
        }
    }
}

#[async_trait]
impl ChatOutbound for FakeProvider {
    fn provider(&self) -> Provider {
        self.provider
    }

    async fn post(
        &self,
        target: &OutboundTarget,
        message: &OutboundMessage,
    ) -> Result<ExternalRefs, DeliveryError> {
        let channel = target.channel.to_string();
        self.record(Call {
            op: Op::Post,
            channel: channel.clone(),
            content: Some(message.content.clone()),
            message: None,
            thread_parent: Self::thread_parent(message),
            emoji: None,
        });
        if let Some(error) = self.scripted(Op::Post) {
            return Err(error);
        }
        let parts = self.parts(&message.content);
        let (ids, stall, lost) = {
            let mut state = self.state();
            let mut ids = Vec::new();
            for (part, text) in parts.into_iter().enumerate() {
                let id = Self::new_id(&mut state);
                state.messages.push(FakeMessage {
                    id: id.clone(),
                    channel: channel.clone(),
                    text,
                    origin: Some(message.origin),
                    thread_parent: Self::thread_parent(message),
                    reactions: BTreeSet::new(),
                    part,
                });
                ids.push(id);
            }
            let stall = state.stalled > 0;
            if stall {
                state.stalled -= 1;
            }
            let lost = !stall && state.lost_answers > 0;
            if lost {
                state.lost_answers -= 1;
            }
            (ids, stall, lost)
        };
        if stall {
            return std::future::pending().await;
        }
        if lost {
            return Err(DeliveryError::Ambiguous {
                reason: "the connection dropped before the answer".to_owned(),
            });
        }
        Self::refs(ids)
    }

    async fn edit(
        &self,
        target: &OutboundTarget,
        posted: &ExternalRefs,
        message: &OutboundMessage,
    ) -> Result<ExternalRefs, DeliveryError> {
        let channel = target.channel.to_string();
        self.record(Call {
            op: Op::Edit,
            channel: channel.clone(),
            content: Some(message.content.clone()),
            message: Some(posted.root().to_string()),
            thread_parent: None,
            emoji: None,
        });
        if let Some(error) = self.scripted(Op::Edit) {
            return Err(error);
        }
        let parts = self.parts(&message.content);
        let mut state = self.state();
        let old: Vec<String> = posted.parts().iter().map(ToString::to_string).collect();
        if !state.messages.iter().any(|m| m.id == old[0]) {
            return Err(DeliveryError::Gone {
                reason: "message_not_found".to_owned(),
            });
        }
        let mut ids = Vec::new();
        for (index, text) in parts.iter().enumerate() {
            match old.get(index) {
                Some(id) => {
                    if let Some(existing) = state.messages.iter_mut().find(|m| &m.id == id) {
                        existing.text = text.clone();
                    }
                    ids.push(id.clone());
                }
                None => {
                    let id = Self::new_id(&mut state);
                    state.messages.push(FakeMessage {
                        id: id.clone(),
                        channel: channel.clone(),
                        text: text.clone(),
                        origin: Some(message.origin),
                        thread_parent: None,
                        reactions: BTreeSet::new(),
                        part: index,
                    });
                    ids.push(id);
                }
            }
        }
        let extra: Vec<String> = old.iter().skip(parts.len()).cloned().collect();
        state.messages.retain(|m| !extra.contains(&m.id));
        drop(state);
        Self::refs(ids)
    }

    async fn delete(
        &self,
        target: &OutboundTarget,
        posted: &ExternalRefs,
    ) -> Result<(), DeliveryError> {
        self.record(Call {
            op: Op::Delete,
            channel: target.channel.to_string(),
            content: None,
            message: Some(posted.root().to_string()),
            thread_parent: None,
            emoji: None,
        });
        if let Some(error) = self.scripted(Op::Delete) {
            return Err(error);
        }
        let ids: Vec<String> = posted.parts().iter().map(ToString::to_string).collect();
        self.state().messages.retain(|m| !ids.contains(&m.id));
        Ok(())
    }

    async fn react(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
        emoji: &ReactionEmoji,
    ) -> Result<(), DeliveryError> {
        self.record(Call {
            op: Op::React,
            channel: target.channel.to_string(),
            content: None,
            message: Some(message.to_string()),
            thread_parent: None,
            emoji: Some(emoji.clone()),
        });
        if let Some(error) = self.scripted(Op::React) {
            return Err(error);
        }
        let mut state = self.state();
        match state.messages.iter_mut().find(|m| m.id == message.as_str()) {
            Some(found) => {
                found.reactions.insert(emoji.clone());
                Ok(())
            }
            None => Err(DeliveryError::Gone {
                reason: "message_not_found".to_owned(),
            }),
        }
    }

    async fn unreact(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
        emoji: &ReactionEmoji,
    ) -> Result<(), DeliveryError> {
        self.record(Call {
            op: Op::Unreact,
            channel: target.channel.to_string(),
            content: None,
            message: Some(message.to_string()),
            thread_parent: None,
            emoji: Some(emoji.clone()),
        });
        if let Some(error) = self.scripted(Op::Unreact) {
            return Err(error);
        }
        if let Some(found) = self
            .state()
            .messages
            .iter_mut()
            .find(|m| m.id == message.as_str())
        {
            found.reactions.remove(emoji);
        }
        Ok(())
    }

    async fn pin(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
    ) -> Result<(), DeliveryError> {
        self.record(Call {
            op: Op::Pin,
            channel: target.channel.to_string(),
            content: None,
            message: Some(message.to_string()),
            thread_parent: None,
            emoji: None,
        });
        self.scripted(Op::Pin).map_or(Ok(()), Err)
    }

    async fn unpin(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
    ) -> Result<(), DeliveryError> {
        self.pin(target, message).await
    }

    async fn start_thread(
        &self,
        _target: &OutboundTarget,
        parent: &ExternalMessageId,
        _name: &str,
    ) -> Result<ThreadRef, DeliveryError> {
        Ok(ThreadRef {
            parent: parent.clone(),
            channel: None,
        })
    }

    async fn find_by_origin(
        &self,
        target: &OutboundTarget,
        message: &OutboundMessage,
        _sent_at: Timestamp,
    ) -> Result<Option<ExternalRefs>, DeliveryError> {
        let origin = &message.origin;
        let thread = match &message.thread {
            ThreadTarget::Reply(thread) => Some(thread),
            ThreadTarget::TopLevel => None,
        };
        let channel = target.channel.to_string();
        self.record(Call {
            op: Op::FindByOrigin,
            channel: channel.clone(),
            content: None,
            message: None,
            thread_parent: thread.map(|t| t.parent.to_string()),
            emoji: None,
        });
        if let Some(error) = self.scripted(Op::FindByOrigin) {
            return Err(error);
        }
        let ids: Vec<String> = self
            .state()
            .messages
            .iter()
            .filter(|m| m.channel == channel && m.origin.as_ref() == Some(origin))
            .map(|m| m.id.clone())
            .collect();
        if ids.is_empty() {
            Ok(None)
        } else {
            Self::refs(ids).map(Some)
        }
    }
}

#[async_trait]
impl ChatInbound for FakeProvider {
    fn provider(&self) -> Provider {
        self.provider
    }

    fn workspace_of(&self, input: &InboundInput) -> Result<ExternalWorkspaceId, InboundError> {
        let raw = input
            .header("x-fake-workspace")
            .ok_or_else(|| InboundError::Malformed {
                reason: "no workspace".to_owned(),
            })?;
        ExternalWorkspaceId::parse("workspace", raw).map_err(|e| InboundError::Malformed {
            reason: e.to_string(),
        })
    }

    async fn verify_and_decode(
        &self,
        input: &InboundInput,
        _credentials: &Credentials,
        _now: Timestamp,
    ) -> Result<InboundOutcome, InboundError> {
        if input.header("x-fake-signature") != Some("valid") {
            return Err(InboundError::Unauthenticated {
                reason: "bad signature".to_owned(),
            });
        }
        Ok(InboundOutcome::Events(
            self.state().inbound.drain(..).collect(),
        ))
    }
}
