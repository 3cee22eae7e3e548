//! Messages and reactions, and the notifications they cause.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::channels::{ChannelAccessError, visible_channel};
use super::{Caller, Mutation, gone_unless_applied, store_failure};
use crate::error::{ValidationError, unexpected_on_read_failure};
use crate::ids::{ChannelId, MemberId, MessageId, ReactionId, TransactionId};
use crate::model::Timestamp;
use crate::model::channel::Channel;
use crate::model::delivery::DeliveryKind;
use crate::model::identity::Member;
use crate::model::message::{
    Attachment, Emoji, Mentions, Message, MessageContent, MessageView, Reaction,
};
use crate::model::notification::{MessageNotice, Notification};
use crate::model::page::{Page, PageRequest};
use crate::ports::{
    Change, Changeset, ChannelRepository, Clock, MemberRepository, MessageRepository, RepoError,
    Store, SyncRepository,
};
use crate::services::sync::outbox_changes;

/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 20;
/// Most distinct members one message can notify by id; further mentions stay plain text.
pub const MAX_MEMBER_MENTIONS: usize = 100;

/// Failures of [`MessageService::post`].
#[derive(Debug, thiserror::Error)]
pub enum PostMessageError {
    /// The channel does not exist or the caller cannot see it.
    #[error("channel not found")]
    ChannelNotFound,
    /// No text nor attachments, too many attachments, or a parent that is not a live message of
    /// the channel.
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<ChannelAccessError> for PostMessageError {
    fn from(err: ChannelAccessError) -> Self {
        match err {
            ChannelAccessError::ChannelNotFound => Self::ChannelNotFound,
            ChannelAccessError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

/// Why a message cannot be reached by the caller: the failures of every use case that only
/// needs to see a live message (adding a reaction).
#[derive(Debug, thiserror::Error)]
pub enum MessageAccessError {
    /// The message does not exist, is deleted, or the caller cannot see its channel.
    #[error("message not found")]
    MessageNotFound,
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`MessageService::edit`].
#[derive(Debug, thiserror::Error)]
pub enum EditMessageError {
    /// The message does not exist, is deleted (also while the edit is under way), or is invisible.
    #[error("message not found")]
    MessageNotFound,
    /// The caller is not the author.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The message would become empty (on `content`).
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`MessageService::delete`].
#[derive(Debug, thiserror::Error)]
pub enum DeleteMessageError {
    /// The message does not exist, is deleted (also by a concurrent request), or is invisible.
    #[error("message not found")]
    MessageNotFound,
    /// The caller is neither the author nor an owner or admin.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`MessageService::remove_reaction`].
#[derive(Debug, thiserror::Error)]
pub enum RemoveReactionError {
    /// The message does not exist, is deleted, or is invisible.
    #[error("message not found")]
    MessageNotFound,
    /// The caller has no such reaction on the message (also when a concurrent request removed it).
    #[error("reaction not found")]
    ReactionNotFound,
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Each use case that starts from a visible message turns "no such message" into its own
/// variant.
macro_rules! from_message_access {
    ($($error:ty),+ $(,)?) => {
        $(
            impl From<MessageAccessError> for $error {
                fn from(err: MessageAccessError) -> Self {
                    match err {
                        MessageAccessError::MessageNotFound => Self::MessageNotFound,
                        MessageAccessError::Unexpected(e) => Self::Unexpected(e),
                    }
                }
            }
        )+
    };
}

from_message_access!(EditMessageError, DeleteMessageError, RemoveReactionError);

unexpected_on_read_failure!(
    PostMessageError,
    MessageAccessError,
    EditMessageError,
    DeleteMessageError,
    RemoveReactionError,
);

/// Input of [`MessageService::post`].
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// Text.
    pub content: MessageContent,
    /// The message this replies to.
    pub parent_message_id: Option<MessageId>,
    /// Files carried as links.
    pub attachments: Vec<Attachment>,
}

/// Who a message notifies, before the notifications are built.
#[derive(Clone, Debug, Default)]
pub struct Audience {
    /// Members mentioned by id (already checked to belong to the organization).
    pub mentioned: Vec<Member>,
    /// Members reached by `@channel`/`@here`.
    pub broadcast: Vec<Member>,
    /// The author of the message replied to.
    pub parent_author: Option<Member>,
}

/// The automatic notifications of a message: one per member at most (a mention wins over a
/// reply), never for the author, never for shadow members (nobody reads theirs).
#[must_use]
pub fn notifications_for_message(
    message: &Message,
    channel: &Channel,
    audience: &Audience,
    now: Timestamp,
) -> Vec<Notification> {
    let mut notices: BTreeMap<MemberId, MessageNotice> = BTreeMap::new();
    let eligible = |m: &&Member| {
        m.id != message.author_id && m.is_native() && m.organization_id == channel.organization_id
    };
    for member in audience
        .mentioned
        .iter()
        .chain(&audience.broadcast)
        .filter(eligible)
    {
        notices.insert(member.id, MessageNotice::Mention);
    }
    if let Some(parent_author) = audience.parent_author.as_ref().filter(eligible) {
        notices
            .entry(parent_author.id)
            .or_insert(MessageNotice::Reply);
    }
    notices
        .into_iter()
        .map(|(member, notice)| {
            Notification::for_message(
                member,
                channel.organization_id,
                message.id,
                channel.id,
                notice,
                now,
            )
        })
        .collect()
}

/// Resolves who a message's text and parent notify: the one rule native and synced messages
/// share.
///
/// # Errors
/// [`RepoError`] on storage failures.
pub async fn resolve_audience(
    members: &Arc<dyn MemberRepository>,
    channel: &Channel,
    mentions: &Mentions,
    parent: Option<&Message>,
) -> Result<Audience, RepoError> {
    let mut audience = Audience::default();
    let mentioned: Vec<MemberId> = mentions
        .members
        .iter()
        .take(MAX_MEMBER_MENTIONS)
        .copied()
        .collect();
    if !mentioned.is_empty() {
        // One query for all of them; ids of other organizations' members are dropped there.
        audience.mentioned = members
            .find_many(channel.organization_id, &mentioned)
            .await?;
    }
    if mentions.broadcast {
        audience.broadcast = members.list_native(channel.organization_id).await?;
    }
    if let Some(parent) = parent {
        audience.parent_author = members.find(parent.author_id).await?;
    }
    Ok(audience)
}

/// A message needs visible text or at least one attachment.
fn require_text_or_attachments(
    content: &MessageContent,
    attachments: &[Attachment],
) -> Result<(), ValidationError> {
    if content.is_blank() && attachments.is_empty() {
        Err(ValidationError::new(
            "content",
            "must not be empty when there are no attachments",
        ))
    } else {
        Ok(())
    }
}

/// Message and reaction use cases.
#[derive(Clone)]
pub struct MessageService {
    members: Arc<dyn MemberRepository>,
    channels: Arc<dyn ChannelRepository>,
    messages: Arc<dyn MessageRepository>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    routes: Option<Arc<dyn SyncRepository>>,
}

impl MessageService {
    /// Wires the service to its ports.
    #[must_use]
    pub fn new(
        members: Arc<dyn MemberRepository>,
        channels: Arc<dyn ChannelRepository>,
        messages: Arc<dyn MessageRepository>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            members,
            channels,
            messages,
            store,
            clock,
            routes: None,
        }
    }

    /// The service writing outbox rows for the sync engine: every write that must sync
    /// enqueues one delivery per target link of its channel, in the same changeset.
    #[must_use]
    pub fn with_outbox(mut self, routes: Arc<dyn SyncRepository>) -> Self {
        self.routes = Some(routes);
        self
    }

    /// The outbox rows of a native change of `kind` to `message` in `channel`.
    async fn outbox(
        &self,
        kind: DeliveryKind,
        channel: ChannelId,
        message: MessageId,
        emoji: Option<&Emoji>,
        now: Timestamp,
    ) -> Result<Vec<Change>, RepoError> {
        let Some(routes) = &self.routes else {
            return Ok(Vec::new());
        };
        let routes = routes.routes_for_channel(channel).await?;
        Ok(outbox_changes(kind, &routes, None, message, emoji, now)
            .into_iter()
            .map(Change::Sync)
            .collect())
    }

    /// Resolves who a message's text and parent notify.
    ///
    /// # Errors
    /// [`RepoError`] on storage failures.
    pub async fn audience(
        &self,
        channel: &Channel,
        mentions: &Mentions,
        parent: Option<&Message>,
    ) -> Result<Audience, RepoError> {
        resolve_audience(&self.members, channel, mentions, parent).await
    }

    /// Posts a message as the caller.
    ///
    /// # Errors
    /// [`PostMessageError::ChannelNotFound`] for an unknown or invisible channel;
    /// [`PostMessageError::Validation`] on `content` when neither text nor attachments are given,
    /// on `attachments` when there are too many, on `parentMessageId` when the parent is not a
    /// live message of the channel.
    pub async fn post(
        &self,
        caller: &Caller,
        channel_id: ChannelId,
        new: NewMessage,
    ) -> Result<Mutation<MessageView>, PostMessageError> {
        let (channel, author) =
            visible_channel(&self.channels, &self.members, caller, channel_id).await?;
        require_text_or_attachments(&new.content, &new.attachments)?;
        if new.attachments.len() > MAX_ATTACHMENTS {
            return Err(ValidationError::new(
                "attachments",
                format!("must have at most {MAX_ATTACHMENTS} items"),
            )
            .into());
        }
        let parent = match new.parent_message_id {
            None => None,
            Some(id) => Some(
                self.messages
                    .find(id)
                    .await?
                    .filter(|p| p.channel_id == channel.id && p.deleted_at.is_none())
                    .ok_or_else(|| {
                        ValidationError::new("parentMessageId", "is not a message of this channel")
                    })?,
            ),
        };
        let now = self.clock.now();
        let message = Message {
            id: MessageId::new(),
            channel_id: channel.id,
            author_id: author.id,
            content: new.content,
            parent_message_id: parent.as_ref().map(|p| p.id),
            attachments: new.attachments,
            created_at: now,
            edited_at: None,
            deleted_at: None,
        };
        let audience = self
            .audience(&channel, &message.content.mentions(), parent.as_ref())
            .await?;
        let mut changes = vec![Change::InsertMessage(message.clone())];
        changes.extend(
            notifications_for_message(&message, &channel, &audience, now)
                .into_iter()
                .map(Change::InsertNotification),
        );
        changes.extend(
            self.outbox(
                DeliveryKind::MessageCreate,
                channel.id,
                message.id,
                None,
                now,
            )
            .await?,
        );
        let committed = self
            .store
            .commit(changes.into())
            .await
            .map_err(store_failure)?;
        Ok(Mutation {
            data: MessageView {
                message,
                author,
                reactions: Vec::new(),
            },
            transaction_id: committed.transaction_id,
        })
    }

    /// Messages of a channel, newest first.
    ///
    /// # Errors
    /// [`ChannelAccessError::ChannelNotFound`] for an unknown or invisible channel.
    pub async fn list(
        &self,
        caller: &Caller,
        channel_id: ChannelId,
        page: &PageRequest,
    ) -> Result<Page<MessageView>, ChannelAccessError> {
        visible_channel(&self.channels, &self.members, caller, channel_id).await?;
        Ok(self.messages.list(channel_id, page).await?)
    }

    /// A live message the caller may see, with its channel and the caller's membership.
    async fn visible_message(
        &self,
        caller: &Caller,
        id: MessageId,
    ) -> Result<(Message, Channel, Member), MessageAccessError> {
        let message = self
            .messages
            .find(id)
            .await?
            .filter(|m| m.deleted_at.is_none())
            .ok_or(MessageAccessError::MessageNotFound)?;
        let (channel, member) =
            visible_channel(&self.channels, &self.members, caller, message.channel_id)
                .await
                .map_err(|e| match e {
                    ChannelAccessError::ChannelNotFound => MessageAccessError::MessageNotFound,
                    ChannelAccessError::Unexpected(e) => MessageAccessError::Unexpected(e),
                })?;
        Ok((message, channel, member))
    }

    async fn reread(
        &self,
        id: MessageId,
        transaction_id: TransactionId,
    ) -> anyhow::Result<Mutation<MessageView>> {
        let view = self
            .messages
            .view(id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("message {id} vanished after a write"))?;
        Ok(Mutation {
            data: view,
            transaction_id,
        })
    }

    /// Replaces a message's text. Only its author may; the members the new text mentions and the
    /// old one did not are notified (see [`Mentions::newly_added`]).
    ///
    /// # Errors
    /// [`EditMessageError::MessageNotFound`] for an unknown, deleted or invisible message, also
    /// when it is deleted while the edit is under way; [`EditMessageError::Forbidden`] for anyone
    /// but the author; [`EditMessageError::Validation`] on `content` when the message would
    /// become empty.
    pub async fn edit(
        &self,
        caller: &Caller,
        id: MessageId,
        content: MessageContent,
    ) -> Result<Mutation<MessageView>, EditMessageError> {
        let (mut message, channel, member) = self.visible_message(caller, id).await?;
        if message.author_id != member.id {
            return Err(EditMessageError::Forbidden(
                "only the author may edit a message".to_owned(),
            ));
        }
        require_text_or_attachments(&content, &message.attachments)?;
        let now = self.clock.now();
        // A reply's parent author was notified when the reply was posted; an edit notifies only
        // what its text newly mentions compared with the text before it, whether or not the
        // notifications of earlier mentions still exist.
        let added = Mentions::newly_added(&message.content.mentions(), &content.mentions());
        let audience = self.audience(&channel, &added, None).await?;
        message.content = content;
        message.edited_at = Some(now);
        // The edit writes only the text and its time, and only while the message is live: a
        // delete that wins the race is never undone by this write.
        // Guarded: when a concurrent delete wins, the notifications are not written either.
        let mut changes = Changeset::new().with(
            Change::EditMessage {
                id,
                content: message.content.clone(),
                edited_at: now,
            }
            .expect_one(),
        );
        changes.extend(
            notifications_for_message(&message, &channel, &audience, now)
                .into_iter()
                .map(Change::InsertNotification),
        );
        changes.extend(
            self.outbox(DeliveryKind::MessageEdit, channel.id, id, None, now)
                .await?,
        );
        let committed = self
            .store
            .commit(changes)
            .await
            .map_err(gone_unless_applied(0, EditMessageError::MessageNotFound))?;
        Ok(self.reread(id, committed.transaction_id).await?)
    }

    /// Soft-deletes a message. Its author and the organization's owners and admins may.
    ///
    /// # Errors
    /// [`DeleteMessageError::MessageNotFound`] for an unknown, deleted or invisible message,
    /// also when a concurrent request deletes it first; [`DeleteMessageError::Forbidden`] for
    /// other members.
    pub async fn delete(
        &self,
        caller: &Caller,
        id: MessageId,
    ) -> Result<TransactionId, DeleteMessageError> {
        let (message, channel, member) = self.visible_message(caller, id).await?;
        if message.author_id != member.id && !member.role.is_admin() {
            return Err(DeleteMessageError::Forbidden(
                "only the author or an admin may delete a message".to_owned(),
            ));
        }
        let now = self.clock.now();
        // Guarded: a concurrent request may delete it after it was read.
        let mut changes = Changeset::new().with(Change::DeleteMessage { id, at: now }.expect_one());
        changes.extend(
            self.outbox(DeliveryKind::MessageDelete, channel.id, id, None, now)
                .await?,
        );
        let committed = self
            .store
            .commit(changes)
            .await
            .map_err(gone_unless_applied(0, DeleteMessageError::MessageNotFound))?;
        Ok(committed.transaction_id)
    }

    /// Adds the caller's reaction (idempotent) and notifies the message's author.
    ///
    /// # Errors
    /// [`MessageAccessError::MessageNotFound`] for an unknown, deleted or invisible message.
    pub async fn add_reaction(
        &self,
        caller: &Caller,
        id: MessageId,
        emoji: Emoji,
    ) -> Result<Mutation<MessageView>, MessageAccessError> {
        let (message, channel, member) = self.visible_message(caller, id).await?;
        let mut changes = Vec::with_capacity(2);
        if self
            .messages
            .find_reaction(id, member.id, &emoji)
            .await?
            .is_none()
        {
            let now = self.clock.now();
            let reaction = Reaction {
                id: ReactionId::new(),
                message_id: id,
                member_id: member.id,
                emoji,
                created_at: now,
            };
            if message.author_id != member.id
                && let Some(author) = self.members.find(message.author_id).await?
                && author.is_native()
            {
                changes.push(Change::InsertNotification(Notification::for_reaction(
                    author.id,
                    channel.organization_id,
                    &reaction,
                    now,
                )));
            }
            changes.extend(
                self.outbox(
                    DeliveryKind::ReactionAdd,
                    channel.id,
                    id,
                    Some(&reaction.emoji),
                    now,
                )
                .await?,
            );
            changes.insert(0, Change::InsertReaction(reaction));
        }
        let committed = self
            .store
            .commit(changes.into())
            .await
            .map_err(store_failure)?;
        Ok(self.reread(id, committed.transaction_id).await?)
    }

    /// Removes the caller's reaction and the notification it caused.
    ///
    /// # Errors
    /// [`RemoveReactionError::MessageNotFound`] for an unknown, deleted or invisible message;
    /// [`RemoveReactionError::ReactionNotFound`] when the caller has no such reaction.
    pub async fn remove_reaction(
        &self,
        caller: &Caller,
        id: MessageId,
        emoji: &Emoji,
    ) -> Result<TransactionId, RemoveReactionError> {
        let (_, channel, member) = self.visible_message(caller, id).await?;
        let reaction = self
            .messages
            .find_reaction(id, member.id, emoji)
            .await?
            .ok_or(RemoveReactionError::ReactionNotFound)?;
        // Guarded: a concurrent request may remove the same reaction after it was read.
        let mut changes = Changeset::new()
            .with(Change::DeleteReaction(reaction.id).expect_one())
            .with(Change::DeleteReactionNotifications(reaction.id));
        changes.extend(
            self.outbox(
                DeliveryKind::ReactionRemove,
                channel.id,
                id,
                Some(emoji),
                self.clock.now(),
            )
            .await?,
        );
        let committed = self
            .store
            .commit(changes)
            .await
            .map_err(gone_unless_applied(
                0,
                RemoveReactionError::ReactionNotFound,
            ))?;
        Ok(committed.transaction_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{MemberId, OrganizationId};
    use crate::model::channel::ChannelKind;
    use crate::model::chat_sync::Provider;
    use crate::model::identity::{MemberKind, Role};
    use crate::model::text::{Name, Opaque};
    use crate::ports::{
        Expectation, MockChannelRepository, MockMemberRepository, MockMessageRepository, MockStore,
    };
    use crate::services::test_support::{
        at, caller, clock, committed, matched_nothing, member_of, user,
    };

    fn channel(org: OrganizationId) -> Channel {
        Channel {
            id: ChannelId::new(),
            organization_id: org,
            name: Name::parse("n", "general").unwrap(),
            kind: ChannelKind::Public,
            created_at: at(),
        }
    }

    /// Channel and member repositories under which `member` sees `ch`.
    fn visible_to(ch: &Channel, member: &Member) -> (MockChannelRepository, MockMemberRepository) {
        let mut channels = MockChannelRepository::new();
        let c = ch.clone();
        channels
            .expect_find()
            .returning(move |_| Ok(Some(c.clone())));
        let mut members = MockMemberRepository::new();
        let m = member.clone();
        members
            .expect_find_for_user()
            .returning(move |_, _| Ok(Some(m.clone())));
        (channels, members)
    }

    fn message(channel: &Channel, author: MemberId, text: &str) -> Message {
        Message {
            id: MessageId::new(),
            channel_id: channel.id,
            author_id: author,
            content: MessageContent::parse("content", text).unwrap(),
            parent_message_id: None,
            attachments: vec![],
            created_at: at(),
            edited_at: None,
            deleted_at: None,
        }
    }

    fn shadow(org: OrganizationId) -> Member {
        Member {
            id: MemberId::new(),
            organization_id: org,
            kind: MemberKind::Shadow {
                provider: Provider::Slack,
                external_user_id: crate::model::external::ExternalUserId::parse("id", "U1")
                    .unwrap(),
            },
            name: Name::parse("n", "Slacker").unwrap(),
            avatar_url: None,
            role: Role::Member,
            created_at: at(),
        }
    }

    #[test]
    fn notifications_skip_the_author_and_shadows_and_prefer_mentions_over_replies() {
        let org = OrganizationId::new();
        let ch = channel(org);
        let (ada, bob, cy) = (user("ada"), user("bob"), user("cy"));
        let (ada_m, bob_m, cy_m) = (
            member_of(&ada, org, Role::Member),
            member_of(&bob, org, Role::Member),
            member_of(&cy, org, Role::Member),
        );
        let msg = message(&ch, ada_m.id, "hi");
        let audience = Audience {
            mentioned: vec![ada_m.clone(), bob_m.clone(), shadow(org)],
            broadcast: vec![ada_m.clone(), bob_m.clone(), cy_m.clone()],
            parent_author: Some(bob_m.clone()),
        };
        let notes = notifications_for_message(&msg, &ch, &audience, at());
        let mut targets: Vec<(MemberId, String)> = notes
            .iter()
            .map(|n| {
                (
                    n.member_id,
                    n.targeted_resource_type
                        .as_ref()
                        .unwrap()
                        .as_str()
                        .to_owned(),
                )
            })
            .collect();
        targets.sort();
        let mut expected = vec![
            (bob_m.id, "mention".to_owned()),
            (cy_m.id, "mention".to_owned()),
        ];
        expected.sort();
        assert_eq!(targets, expected);
    }

    #[test]
    fn a_reply_notifies_the_parent_author_once() {
        let org = OrganizationId::new();
        let ch = channel(org);
        let (ada, bob) = (user("ada"), user("bob"));
        let (ada_m, bob_m) = (
            member_of(&ada, org, Role::Member),
            member_of(&bob, org, Role::Member),
        );
        let msg = message(&ch, ada_m.id, "agreed");
        let audience = Audience {
            parent_author: Some(bob_m.clone()),
            ..Audience::default()
        };
        let notes = notifications_for_message(&msg, &ch, &audience, at());
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].member_id, bob_m.id);
        assert_eq!(
            notes[0].targeted_resource_type.as_ref().map(Opaque::as_str),
            Some("reply")
        );
    }

    #[test]
    fn members_of_other_organizations_are_never_notified() {
        let org = OrganizationId::new();
        let ch = channel(org);
        let (ada, eve) = (user("ada"), user("eve"));
        let ada_m = member_of(&ada, org, Role::Member);
        let msg = message(&ch, ada_m.id, "hi");
        let audience = Audience {
            mentioned: vec![member_of(&eve, OrganizationId::new(), Role::Member)],
            ..Audience::default()
        };
        assert!(notifications_for_message(&msg, &ch, &audience, at()).is_empty());
    }

    #[tokio::test]
    async fn only_the_author_may_edit() {
        let org = OrganizationId::new();
        let ch = channel(org);
        let (ada, bob) = (user("ada"), user("bob"));
        let ada_m = member_of(&ada, org, Role::Member);
        let bob_m = member_of(&bob, org, Role::Owner);
        let msg = message(&ch, ada_m.id, "hi");
        let mut messages = MockMessageRepository::new();
        let found = msg.clone();
        messages
            .expect_find()
            .returning(move |_| Ok(Some(found.clone())));
        let (channels, members) = visible_to(&ch, &bob_m);
        let mut store = MockStore::new();
        store.expect_commit().never();
        let service = MessageService::new(
            Arc::new(members),
            Arc::new(channels),
            Arc::new(messages),
            Arc::new(store),
            Arc::new(clock()),
        );
        let err = service
            .edit(
                &caller(&bob),
                msg.id,
                MessageContent::parse("content", "x").unwrap(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, EditMessageError::Forbidden(_)), "{err:?}");
    }

    #[tokio::test]
    async fn posting_writes_the_message_and_its_notifications_together() {
        let org = OrganizationId::new();
        let ch = channel(org);
        let (ada, bob) = (user("ada"), user("bob"));
        let ada_m = member_of(&ada, org, Role::Member);
        let bob_m = member_of(&bob, org, Role::Member);
        let (channels, mut members) = visible_to(&ch, &ada_m);
        let b = bob_m.clone();
        members
            .expect_find_many()
            .returning(move |_, _| Ok(vec![b.clone()]));
        let bob_id = bob_m.id;
        let mut store = MockStore::new();
        store
            .expect_commit()
            .withf(move |c| {
                matches!(c.as_slice(), [Change::InsertMessage(_), Change::InsertNotification(n)] if n.member_id == bob_id)
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        let service = MessageService::new(
            Arc::new(members),
            Arc::new(channels),
            Arc::new(MockMessageRepository::new()),
            Arc::new(store),
            Arc::new(clock()),
        );
        let posted = service
            .post(
                &caller(&ada),
                ch.id,
                NewMessage {
                    content: MessageContent::parse("content", &format!("hey @[member:{bob_id}]"))
                        .unwrap(),
                    parent_message_id: None,
                    attachments: vec![],
                },
            )
            .await
            .unwrap();
        assert_eq!(posted.data.author.id, ada_m.id);
    }

    #[tokio::test]
    async fn empty_messages_are_rejected_before_any_write() {
        let org = OrganizationId::new();
        let ch = channel(org);
        let ada = user("ada");
        let ada_m = member_of(&ada, org, Role::Member);
        let (channels, members) = visible_to(&ch, &ada_m);
        let mut store = MockStore::new();
        store.expect_commit().never();
        let service = MessageService::new(
            Arc::new(members),
            Arc::new(channels),
            Arc::new(MockMessageRepository::new()),
            Arc::new(store),
            Arc::new(clock()),
        );
        let err = service
            .post(
                &caller(&ada),
                ch.id,
                NewMessage {
                    content: MessageContent::parse("content", "  ").unwrap(),
                    parent_message_id: None,
                    attachments: vec![],
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PostMessageError::Validation(v) if v.field() == "content"),
            "{err:?}"
        );
    }

    /// Mocks where `author` wrote `msg` in `ch` and the caller is `caller_member`.
    fn service_for_message(
        ch: &Channel,
        msg: &Message,
        caller_member: &Member,
        store: MockStore,
    ) -> MessageService {
        let mut messages = MockMessageRepository::new();
        let found = msg.clone();
        messages
            .expect_find()
            .returning(move |_| Ok(Some(found.clone())));
        messages.expect_view().never();
        let (channels, members) = visible_to(ch, caller_member);
        MessageService::new(
            Arc::new(members),
            Arc::new(channels),
            Arc::new(messages),
            Arc::new(store),
            Arc::new(clock()),
        )
    }

    #[tokio::test]
    async fn an_edit_writes_only_the_text_and_is_not_found_when_the_message_was_deleted_meanwhile()
    {
        let org = OrganizationId::new();
        let ch = channel(org);
        let ada = user("ada");
        let ada_m = member_of(&ada, org, Role::Member);
        let msg = message(&ch, ada_m.id, "hi");
        let id = msg.id;
        let mut store = MockStore::new();
        store
            .expect_commit()
            .withf(move |c| {
                matches!(c.as_slice(), [Change::EditMessage { id: edited, content, edited_at }]
                    if *edited == id && content.as_str() == "hello" && *edited_at == at())
                    && c.expectation(0) == Some(Expectation::ExactlyOne)
            })
            .times(1)
            .returning(|_| Err(matched_nothing(0)));
        let err = service_for_message(&ch, &msg, &ada_m, store)
            .edit(
                &caller(&ada),
                id,
                MessageContent::parse("content", "hello").unwrap(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, EditMessageError::MessageNotFound), "{err:?}");
    }

    #[tokio::test]
    async fn an_edit_notifies_only_the_members_its_text_newly_mentions() {
        let org = OrganizationId::new();
        let ch = channel(org);
        let (ada, bob, cy) = (user("ada"), user("bob"), user("cy"));
        let ada_m = member_of(&ada, org, Role::Member);
        let (bob_m, cy_m) = (
            member_of(&bob, org, Role::Member),
            member_of(&cy, org, Role::Member),
        );
        let msg = message(
            &ch,
            ada_m.id,
            &format!("@[member:{}] lunch? @here", bob_m.id),
        );
        let mut messages = MockMessageRepository::new();
        let found = msg.clone();
        messages
            .expect_find()
            .returning(move |_| Ok(Some(found.clone())));
        let (viewed, author) = (msg.clone(), ada_m.clone());
        messages.expect_view().returning(move |_| {
            Ok(Some(MessageView {
                message: viewed.clone(),
                author: author.clone(),
                reactions: vec![],
            }))
        });
        let (channels, mut members) = visible_to(&ch, &ada_m);
        // Bob was mentioned before the edit and `@here` was there already: only Cy is new.
        let cy_id = cy_m.id;
        let c_m = cy_m.clone();
        members
            .expect_find_many()
            .withf(move |_, ids| ids == [cy_id])
            .times(1)
            .returning(move |_, _| Ok(vec![c_m.clone()]));
        members.expect_list_native().never();
        let mut store = MockStore::new();
        store
            .expect_commit()
            .withf(move |c| {
                matches!(c.as_slice(), [Change::EditMessage { .. }, Change::InsertNotification(n)]
                    if n.member_id == cy_id)
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        let service = MessageService::new(
            Arc::new(members),
            Arc::new(channels),
            Arc::new(messages),
            Arc::new(store),
            Arc::new(clock()),
        );
        let text = format!(
            "@[member:{}] @[member:{}] lunch at 12? @channel",
            bob_m.id, cy_m.id
        );
        service
            .edit(
                &caller(&ada),
                msg.id,
                MessageContent::parse("content", &text).unwrap(),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_delete_that_loses_the_race_to_another_delete_is_not_found() {
        let org = OrganizationId::new();
        let ch = channel(org);
        let ada = user("ada");
        let ada_m = member_of(&ada, org, Role::Member);
        let msg = message(&ch, ada_m.id, "hi");
        let id = msg.id;
        let mut store = MockStore::new();
        store
            .expect_commit()
            .withf(move |c| {
                matches!(c.as_slice(), [Change::DeleteMessage { id: deleted, at: when }]
                    if *deleted == id && *when == at())
                    && c.expectation(0) == Some(Expectation::ExactlyOne)
            })
            .times(1)
            .returning(|_| Err(matched_nothing(0)));
        let err = service_for_message(&ch, &msg, &ada_m, store)
            .delete(&caller(&ada), id)
            .await
            .unwrap_err();
        assert!(
            matches!(err, DeleteMessageError::MessageNotFound),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn removing_a_reaction_removed_meanwhile_is_not_found_and_writes_nothing() {
        let org = OrganizationId::new();
        let ch = channel(org);
        let ada = user("ada");
        let ada_m = member_of(&ada, org, Role::Member);
        let msg = message(&ch, ada_m.id, "hi");
        let emoji = Emoji::parse("emoji", ":tada:").unwrap();
        let reaction = Reaction {
            id: ReactionId::new(),
            message_id: msg.id,
            member_id: ada_m.id,
            emoji: emoji.clone(),
            created_at: at(),
        };
        let reaction_id = reaction.id;
        let mut store = MockStore::new();
        store
            .expect_commit()
            .withf(move |c| {
                matches!(c.as_slice(), [Change::DeleteReaction(r), Change::DeleteReactionNotifications(n)]
                    if *r == reaction_id && *n == reaction_id)
                    && c.expectation(0) == Some(Expectation::ExactlyOne)
            })
            .times(1)
            .returning(|_| Err(matched_nothing(0)));
        let mut messages = MockMessageRepository::new();
        let found = msg.clone();
        messages
            .expect_find()
            .returning(move |_| Ok(Some(found.clone())));
        messages
            .expect_find_reaction()
            .returning(move |_, _, _| Ok(Some(reaction.clone())));
        let (channels, members) = visible_to(&ch, &ada_m);
        let service = MessageService::new(
            Arc::new(members),
            Arc::new(channels),
            Arc::new(messages),
            Arc::new(store),
            Arc::new(clock()),
        );
        let err = service
            .remove_reaction(&caller(&ada), msg.id, &emoji)
            .await
            .unwrap_err();
        assert!(
            matches!(err, RemoveReactionError::ReactionNotFound),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_delete_answers_its_transaction() {
        let org = OrganizationId::new();
        let ch = channel(org);
        let (ada, bob) = (user("ada"), user("bob"));
        let ada_m = member_of(&ada, org, Role::Member);
        let admin = member_of(&bob, org, Role::Admin);
        let msg = message(&ch, ada_m.id, "hi");
        let mut store = MockStore::new();
        store
            .expect_commit()
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        let transaction = service_for_message(&ch, &msg, &admin, store)
            .delete(&caller(&bob), msg.id)
            .await
            .unwrap();
        assert_eq!(transaction, TransactionId::new(7));
    }

    #[tokio::test]
    async fn mentions_are_resolved_in_one_query_scoped_to_the_organization() {
        let org = OrganizationId::new();
        let ch = channel(org);
        let ada = user("ada");
        let ada_m = member_of(&ada, org, Role::Member);
        let mentioned: Vec<Member> = ["bob", "cy", "di"]
            .into_iter()
            .map(|n| member_of(&user(n), org, Role::Member))
            .collect();
        let mut expected_ids: Vec<MemberId> = mentioned.iter().map(|m| m.id).collect();
        expected_ids.sort();
        let text = mentioned
            .iter()
            .map(|m| format!("@[member:{}]", m.id))
            .collect::<Vec<_>>()
            .join(" ");
        let mut members = MockMemberRepository::new();
        members.expect_find().never();
        let found = mentioned.clone();
        members
            .expect_find_many()
            .withf(move |o, ids| *o == org && ids == expected_ids.as_slice())
            .times(1)
            .returning(move |_, _| Ok(found.clone()));
        let service = MessageService::new(
            Arc::new(members),
            Arc::new(MockChannelRepository::new()),
            Arc::new(MockMessageRepository::new()),
            Arc::new(MockStore::new()),
            Arc::new(clock()),
        );
        let content = MessageContent::parse("content", &text).unwrap();
        let audience = service
            .audience(&ch, &content.mentions(), None)
            .await
            .unwrap();
        assert_eq!(audience.mentioned, mentioned);
        let notified =
            notifications_for_message(&message(&ch, ada_m.id, &text), &ch, &audience, at());
        assert_eq!(notified.len(), 3);
    }

    #[tokio::test]
    async fn text_without_member_mentions_reads_no_members() {
        let org = OrganizationId::new();
        let mut members = MockMemberRepository::new();
        members.expect_find().never();
        members.expect_find_many().never();
        let service = MessageService::new(
            Arc::new(members),
            Arc::new(MockChannelRepository::new()),
            Arc::new(MockMessageRepository::new()),
            Arc::new(MockStore::new()),
            Arc::new(clock()),
        );
        let content = MessageContent::parse("content", "plain text").unwrap();
        let audience = service
            .audience(&channel(org), &content.mentions(), None)
            .await
            .unwrap();
        assert!(audience.mentioned.is_empty() && audience.broadcast.is_empty());
    }

    #[test]
    fn a_message_needs_text_or_an_attachment() {
        let blank = MessageContent::parse("content", " \n ").unwrap();
        let text = MessageContent::parse("content", "hi").unwrap();
        let file = Attachment {
            url: crate::model::text::Url::parse("url", "https://x.io/a.png").unwrap(),
            name: Name::parse("name", "a.png").unwrap(),
            content_type: None,
        };
        assert_eq!(
            require_text_or_attachments(&blank, &[])
                .unwrap_err()
                .field(),
            "content"
        );
        assert!(require_text_or_attachments(&blank, &[file]).is_ok());
        assert!(require_text_or_attachments(&text, &[]).is_ok());
    }
}
