//! The stored form of a normalized inbound event: a JSON document this adapter owns, so the
//! domain's types derive no storage traits. Reading it back parses every id again.

use anyhow::Context as _;
use hazel_domain::ids::MessageId;
use hazel_domain::model::chat_sync::{ExternalChannelId, ExternalWorkspaceId};
use hazel_domain::model::external::{ExternalBotId, ExternalMessageId, ExternalUserId};
use hazel_domain::model::message::Attachment;
use hazel_domain::model::sync::{
    AuthorKind, DedupeKey, ExternalAuthor, ExternalMention, ExternalMessage, InboundEvent,
    InboundEventKind, OriginMarker, ReactionEmoji, ThreadRef,
};
use hazel_domain::model::text::{Name, Opaque, Url};
use serde::{Deserialize, Serialize};

use super::{from_micros, micros};

#[derive(Serialize, Deserialize)]
struct EventDoc {
    key: String,
    workspace: String,
    channel: String,
    at: i64,
    kind: KindDoc,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum KindDoc {
    Created {
        message: MessageDoc,
    },
    Edited {
        message: MessageDoc,
    },
    Deleted {
        message: String,
    },
    ReactionAdded {
        message: String,
        user: String,
        emoji: EmojiDoc,
    },
    ReactionRemoved {
        message: String,
        user: String,
        emoji: EmojiDoc,
    },
    PinAdded {
        message: String,
        by: Option<String>,
    },
    PinRemoved {
        message: String,
        by: Option<String>,
    },
    ThreadStarted {
        thread: ThreadDoc,
        name: Option<String>,
        // Absent in receipts recorded before threads' owners were kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
struct MessageDoc {
    id: String,
    author: String,
    author_name: String,
    author_avatar: Option<String>,
    author_kind: String,
    author_ref: Option<String>,
    text: String,
    thread: Option<ThreadDoc>,
    attachments: Vec<AttachmentDoc>,
    mentions: Vec<String>,
    origin: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct ThreadDoc {
    parent: String,
    channel: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct AttachmentDoc {
    url: String,
    name: String,
    content_type: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
enum EmojiDoc {
    Unicode(String),
    Custom(String),
}

fn thread_doc(thread: &ThreadRef) -> ThreadDoc {
    ThreadDoc {
        parent: thread.parent.to_string(),
        channel: thread.channel.as_ref().map(ToString::to_string),
    }
}

fn thread_of(doc: ThreadDoc) -> anyhow::Result<ThreadRef> {
    Ok(ThreadRef {
        parent: ExternalMessageId::parse("thread.parent", &doc.parent)?,
        channel: doc
            .channel
            .map(|c| ExternalChannelId::parse("thread.channel", &c))
            .transpose()?,
    })
}

/// The stored text of a reaction emoji (`u:👍`, `c:PartyParrot`).
pub(crate) fn emoji_text(emoji: &ReactionEmoji) -> String {
    match emoji {
        ReactionEmoji::Unicode(raw) => format!("u:{raw}"),
        ReactionEmoji::Custom(name) => format!("c:{name}"),
    }
}

/// Reads [`emoji_text`] back.
pub(crate) fn emoji_of(text: &str) -> anyhow::Result<ReactionEmoji> {
    if let Some(raw) = text.strip_prefix("u:") {
        Ok(ReactionEmoji::Unicode(raw.to_owned()))
    } else if let Some(name) = text.strip_prefix("c:") {
        Ok(ReactionEmoji::Custom(name.to_owned()))
    } else {
        anyhow::bail!("{text:?} is not a stored emoji")
    }
}

fn emoji_doc(emoji: &ReactionEmoji) -> EmojiDoc {
    match emoji {
        ReactionEmoji::Unicode(raw) => EmojiDoc::Unicode(raw.clone()),
        ReactionEmoji::Custom(name) => EmojiDoc::Custom(name.clone()),
    }
}

fn emoji_from(doc: EmojiDoc) -> ReactionEmoji {
    match doc {
        EmojiDoc::Unicode(raw) => ReactionEmoji::Unicode(raw),
        EmojiDoc::Custom(name) => ReactionEmoji::Custom(name),
    }
}

fn message_doc(message: &ExternalMessage) -> MessageDoc {
    let (author_kind, author_ref) = match &message.author.kind {
        AuthorKind::Person => ("person", None),
        AuthorKind::Bot { bot_id } => ("bot", bot_id.as_ref().map(ToString::to_string)),
        AuthorKind::Webhook { webhook_id } => ("webhook", Some(webhook_id.to_string())),
    };
    MessageDoc {
        id: message.id.to_string(),
        author: message.author.id.to_string(),
        author_name: message.author.name.clone(),
        author_avatar: message
            .author
            .avatar_url
            .as_ref()
            .map(|u| u.as_str().to_owned()),
        author_kind: author_kind.to_owned(),
        author_ref,
        text: message.text.clone(),
        thread: message.thread.as_ref().map(thread_doc),
        attachments: message
            .attachments
            .iter()
            .map(|a| AttachmentDoc {
                url: a.url.as_str().to_owned(),
                name: a.name.as_str().to_owned(),
                content_type: a.content_type.as_ref().map(|c| c.as_str().to_owned()),
            })
            .collect(),
        mentions: message
            .mentions
            .iter()
            .map(|m| match m {
                ExternalMention::User(user) => format!("user:{user}"),
                ExternalMention::Channel => "channel".to_owned(),
                ExternalMention::Here => "here".to_owned(),
            })
            .collect(),
        origin: message.origin.map(|o| o.hazel_message_id.to_string()),
    }
}

fn message_of(doc: MessageDoc) -> anyhow::Result<ExternalMessage> {
    let kind = match (doc.author_kind.as_str(), doc.author_ref) {
        ("person", _) => AuthorKind::Person,
        ("bot", bot_id) => AuthorKind::Bot {
            bot_id: bot_id
                .map(|b| ExternalBotId::parse("author_ref", &b))
                .transpose()?,
        },
        ("webhook", Some(id)) => AuthorKind::Webhook {
            webhook_id: ExternalUserId::parse("author_ref", &id)?,
        },
        (other, _) => anyhow::bail!("unknown author kind {other:?}"),
    };
    Ok(ExternalMessage {
        id: ExternalMessageId::parse("id", &doc.id)?,
        author: ExternalAuthor {
            id: ExternalUserId::parse("author", &doc.author)?,
            name: doc.author_name,
            avatar_url: doc
                .author_avatar
                .map(|u| Url::parse("author_avatar", &u))
                .transpose()?,
            kind,
        },
        text: doc.text,
        thread: doc.thread.map(thread_of).transpose()?,
        attachments: doc
            .attachments
            .into_iter()
            .map(|a| {
                Ok(Attachment {
                    url: Url::parse("url", &a.url)?,
                    name: Name::parse("name", &a.name)?,
                    content_type: a
                        .content_type
                        .map(|c| Opaque::parse("content_type", &c, usize::MAX))
                        .transpose()?,
                })
            })
            .collect::<anyhow::Result<_>>()?,
        mentions: doc
            .mentions
            .into_iter()
            .map(|m| match m.as_str() {
                "channel" => Ok(ExternalMention::Channel),
                "here" => Ok(ExternalMention::Here),
                other => match other.strip_prefix("user:") {
                    Some(user) => Ok(ExternalMention::User(ExternalUserId::parse(
                        "mention", user,
                    )?)),
                    None => anyhow::bail!("unknown mention {other:?}"),
                },
            })
            .collect::<anyhow::Result<_>>()?,
        origin: doc
            .origin
            .map(|o| {
                MessageId::parse("origin", &o)
                    .map(|hazel_message_id| OriginMarker { hazel_message_id })
            })
            .transpose()?,
    })
}

/// The stored JSON of `event`.
pub(crate) fn encode(event: &InboundEvent) -> anyhow::Result<String> {
    let kind = match &event.kind {
        InboundEventKind::MessageCreated(m) => KindDoc::Created {
            message: message_doc(m),
        },
        InboundEventKind::MessageEdited(m) => KindDoc::Edited {
            message: message_doc(m),
        },
        InboundEventKind::MessageDeleted { message } => KindDoc::Deleted {
            message: message.to_string(),
        },
        InboundEventKind::ReactionAdded {
            message,
            user,
            emoji,
        } => KindDoc::ReactionAdded {
            message: message.to_string(),
            user: user.to_string(),
            emoji: emoji_doc(emoji),
        },
        InboundEventKind::ReactionRemoved {
            message,
            user,
            emoji,
        } => KindDoc::ReactionRemoved {
            message: message.to_string(),
            user: user.to_string(),
            emoji: emoji_doc(emoji),
        },
        InboundEventKind::PinAdded { message, by } => KindDoc::PinAdded {
            message: message.to_string(),
            by: by.as_ref().map(ToString::to_string),
        },
        InboundEventKind::PinRemoved { message, by } => KindDoc::PinRemoved {
            message: message.to_string(),
            by: by.as_ref().map(ToString::to_string),
        },
        InboundEventKind::ThreadStarted {
            thread,
            name,
            owner,
        } => KindDoc::ThreadStarted {
            thread: thread_doc(thread),
            name: name.clone(),
            owner: owner.as_ref().map(ToString::to_string),
        },
    };
    let doc = EventDoc {
        key: event.dedupe_key.as_str().to_owned(),
        workspace: event.workspace.to_string(),
        channel: event.channel.to_string(),
        at: micros(event.occurred_at),
        kind,
    };
    serde_json::to_string(&doc).context("encoding an inbound event")
}

/// Reads a stored event back.
pub(crate) fn decode(json: &str) -> anyhow::Result<InboundEvent> {
    let doc: EventDoc = serde_json::from_str(json).context("decoding a stored inbound event")?;
    let message = |raw: &str| ExternalMessageId::parse("message", raw);
    let user = |raw: &str| ExternalUserId::parse("user", raw);
    let kind = match doc.kind {
        KindDoc::Created { message: m } => InboundEventKind::MessageCreated(message_of(m)?),
        KindDoc::Edited { message: m } => InboundEventKind::MessageEdited(message_of(m)?),
        KindDoc::Deleted { message: m } => InboundEventKind::MessageDeleted {
            message: message(&m)?,
        },
        KindDoc::ReactionAdded {
            message: m,
            user: u,
            emoji,
        } => InboundEventKind::ReactionAdded {
            message: message(&m)?,
            user: user(&u)?,
            emoji: emoji_from(emoji),
        },
        KindDoc::ReactionRemoved {
            message: m,
            user: u,
            emoji,
        } => InboundEventKind::ReactionRemoved {
            message: message(&m)?,
            user: user(&u)?,
            emoji: emoji_from(emoji),
        },
        KindDoc::PinAdded { message: m, by } => InboundEventKind::PinAdded {
            message: message(&m)?,
            by: by.as_deref().map(user).transpose()?,
        },
        KindDoc::PinRemoved { message: m, by } => InboundEventKind::PinRemoved {
            message: message(&m)?,
            by: by.as_deref().map(user).transpose()?,
        },
        KindDoc::ThreadStarted {
            thread,
            name,
            owner,
        } => InboundEventKind::ThreadStarted {
            thread: thread_of(thread)?,
            name,
            owner: owner.as_deref().map(user).transpose()?,
        },
    };
    Ok(InboundEvent {
        dedupe_key: DedupeKey::new(doc.key),
        workspace: ExternalWorkspaceId::parse("workspace", &doc.workspace)?,
        channel: ExternalChannelId::parse("channel", &doc.channel)?,
        occurred_at: from_micros(doc.at)?,
        kind,
    })
}
