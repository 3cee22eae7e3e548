//! Gateway dispatches → the domain's [`InboundEvent`]s, with their receipt dedupe keys.
//!
//! | dispatch | event | dedupe key |
//! |---|---|---|
//! | `MESSAGE_CREATE` | `MessageCreated` | `create:<id>` |
//! | `MESSAGE_UPDATE` (with content and `edited_timestamp`) | `MessageEdited` | `update:<id>:<edited_timestamp>` |
//! | `MESSAGE_DELETE`, each id of `MESSAGE_DELETE_BULK` | `MessageDeleted` | `delete:<id>` |
//! | `MESSAGE_REACTION_ADD` / `_REMOVE` | `ReactionAdded` / `ReactionRemoved` | `reaction:<add\|remove>:<channel>:<message>:<user>:<emoji>` |
//! | `THREAD_CREATE` | `ThreadStarted` with the thread's `owner_id` (also for a thread without a starter message, which the domain makes a Hazel message of its own) | `thread:<id>` |
//! | `CHANNEL_PINS_UPDATE` | `PinAdded` / `PinRemoved` by [`pin_changes`], after the caller reads the pins | `pin:<add\|remove>:<channel>:<message>:<when the pins were read>` |
//!
//! Dispatches of other guilds, our own bot user's messages and reactions, and messages of our
//! own webhooks (made by the bot's application) are left out; other bots' messages are
//! content and are kept. A message in a thread is named `<thread id>/<message id>` (see
//! [`MessageRef`](crate::MessageRef)) and its event's channel is the thread's parent.

use std::collections::HashMap;

use hazel_domain::model::Timestamp;
use hazel_domain::model::chat_sync::{
    BotIdentity, ExternalChannelId, ExternalMessageId, ExternalUserId, ExternalWorkspaceId,
};
use hazel_domain::model::message::Attachment;
use hazel_domain::model::sync::{
    AuthorKind, DedupeKey, ExternalAuthor, ExternalMessage, InboundEvent, InboundEventKind,
    ReactionEmoji, ThreadRef,
};
use hazel_domain::model::text::{Name, Opaque, Url};
use serde::Deserialize;
use serde_json::Value;

use crate::markdown;

/// What decoding needs to know: the guild, the bot, and the threads seen so far.
#[derive(Debug)]
pub struct Decoder {
    guild: ExternalWorkspaceId,
    bot: BotIdentity,
    /// Thread id → parent channel id.
    threads: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    username: String,
    global_name: Option<String>,
    avatar: Option<String>,
    #[serde(default)]
    bot: bool,
}

#[derive(Debug, Deserialize)]
struct Member {
    nick: Option<String>,
}

#[derive(Debug, Deserialize)]
struct File {
    url: String,
    filename: String,
    content_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MessagePayload {
    id: String,
    channel_id: String,
    guild_id: Option<String>,
    author: Option<User>,
    member: Option<Member>,
    content: Option<String>,
    timestamp: Option<String>,
    edited_timestamp: Option<String>,
    webhook_id: Option<String>,
    application_id: Option<String>,
    #[serde(default)]
    attachments: Vec<File>,
}

#[derive(Debug, Deserialize)]
struct Deleted {
    #[serde(default)]
    id: String,
    #[serde(default)]
    ids: Vec<String>,
    channel_id: String,
    guild_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Emoji {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Reaction {
    user_id: String,
    channel_id: String,
    message_id: String,
    guild_id: Option<String>,
    emoji: Emoji,
}

#[derive(Debug, Deserialize)]
struct Thread {
    id: String,
    parent_id: Option<String>,
    guild_id: Option<String>,
    name: Option<String>,
    owner_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Guild {
    id: String,
    #[serde(default)]
    threads: Vec<Thread>,
}

/// A dispatch the decoder could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a Discord {event} dispatch could not be read: {reason}")]
pub struct DecodeError {
    event: String,
    reason: String,
}

impl Decoder {
    /// A decoder for the guild `guild` and its bot `bot`.
    #[must_use]
    pub fn new(guild: ExternalWorkspaceId, bot: BotIdentity) -> Self {
        Self {
            guild,
            bot,
            threads: HashMap::new(),
        }
    }

    /// The guild's id.
    #[must_use]
    pub fn guild(&self) -> &str {
        self.guild.as_str()
    }

    fn ours(&self, guild_id: Option<&str>) -> bool {
        guild_id == Some(self.guild.as_str())
    }

    /// Decodes one dispatch (`t`, `d`) into events, in order; none for dispatches the
    /// service does not sync or that are left out.
    ///
    /// # Errors
    /// [`DecodeError`] for a dispatch of a synced kind whose payload cannot be read.
    pub fn decode(&mut self, event: &str, data: &Value) -> Result<Vec<InboundEvent>, DecodeError> {
        let fail = |reason: String| DecodeError {
            event: event.to_owned(),
            reason,
        };
        match event {
            "GUILD_CREATE" => {
                let guild: Guild = read(event, data)?;
                if guild.id == self.guild.as_str() {
                    for thread in guild.threads {
                        if let Some(parent) = thread.parent_id {
                            self.threads.insert(thread.id, parent);
                        }
                    }
                }
                Ok(Vec::new())
            }
            "MESSAGE_CREATE" | "MESSAGE_UPDATE" => {
                let message: MessagePayload = read(event, data)?;
                let created = event == "MESSAGE_CREATE";
                self.message(message, created).map_err(fail)
            }
            "MESSAGE_DELETE" | "MESSAGE_DELETE_BULK" => {
                let deleted: Deleted = read(event, data)?;
                if !self.ours(deleted.guild_id.as_deref()) {
                    return Ok(Vec::new());
                }
                let ids = if event == "MESSAGE_DELETE" {
                    vec![deleted.id.clone()]
                } else {
                    deleted.ids.clone()
                };
                let (channel, thread) = self.place(&deleted.channel_id);
                ids.into_iter()
                    .map(|id| {
                        let message = message_id(thread.as_deref(), &id).map_err(&fail)?;
                        Ok(InboundEvent {
                            dedupe_key: DedupeKey::new(format!("delete:{id}")),
                            workspace: self.guild.clone(),
                            channel: channel_id(&channel).map_err(&fail)?,
                            occurred_at: snowflake_time(&id),
                            kind: InboundEventKind::MessageDeleted { message },
                        })
                    })
                    .collect()
            }
            "MESSAGE_REACTION_ADD" | "MESSAGE_REACTION_REMOVE" => {
                let reaction: Reaction = read(event, data)?;
                if !self.ours(reaction.guild_id.as_deref())
                    || reaction.user_id == self.bot.user_id.as_str()
                {
                    return Ok(Vec::new());
                }
                let added = event == "MESSAGE_REACTION_ADD";
                self.reaction(reaction, added)
                    .map(|e| vec![e])
                    .map_err(fail)
            }
            "THREAD_CREATE" => {
                let thread: Thread = read(event, data)?;
                if !self.ours(thread.guild_id.as_deref()) {
                    return Ok(Vec::new());
                }
                let Some(parent) = thread.parent_id.clone() else {
                    return Ok(Vec::new());
                };
                self.threads.insert(thread.id.clone(), parent.clone());
                let event = InboundEvent {
                    dedupe_key: DedupeKey::new(format!("thread:{}", thread.id)),
                    workspace: self.guild.clone(),
                    channel: channel_id(&parent).map_err(&fail)?,
                    occurred_at: snowflake_time(&thread.id),
                    kind: InboundEventKind::ThreadStarted {
                        // A thread started from a message has the message's id; one without a
                        // starter message is its own root.
                        thread: ThreadRef {
                            parent: message_id(None, &thread.id).map_err(&fail)?,
                            channel: Some(channel_id(&thread.id).map_err(&fail)?),
                        },
                        name: thread.name,
                        owner: thread
                            .owner_id
                            .as_deref()
                            .map(|owner| ExternalUserId::parse("owner_id", owner))
                            .transpose()
                            .map_err(|e| fail(e.to_string()))?,
                    },
                };
                Ok(vec![event])
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The channel an event in `channel` belongs to, and the thread when `channel` is one.
    #[must_use]
    pub fn place_of(&self, channel: &str) -> (String, Option<String>) {
        self.place(channel)
    }

    /// The channel an event in `channel` belongs to, and the thread when `channel` is one.
    fn place(&self, channel: &str) -> (String, Option<String>) {
        match self.threads.get(channel) {
            Some(parent) => (parent.clone(), Some(channel.to_owned())),
            None => (channel.to_owned(), None),
        }
    }

    fn message(&self, message: MessagePayload, created: bool) -> Result<Vec<InboundEvent>, String> {
        if !self.ours(message.guild_id.as_deref()) {
            return Ok(Vec::new());
        }
        let Some(author) = message.author else {
            // An update without its author is an embed update: nothing to sync.
            return Ok(Vec::new());
        };
        if author.id == self.bot.user_id.as_str() {
            return Ok(Vec::new());
        }
        // Our own webhooks are made by the bot's application.
        let app = self.bot.app_id.as_ref().map(|app| app.as_str());
        if message.webhook_id.is_some() && app.is_some() && message.application_id.as_deref() == app
        {
            return Ok(Vec::new());
        }
        let Some(text) = message.content else {
            return Ok(Vec::new());
        };
        let (key, at) = if created {
            (
                format!("create:{}", message.id),
                message.timestamp.as_deref().and_then(parse_time),
            )
        } else {
            let Some(edited) = message.edited_timestamp else {
                return Ok(Vec::new());
            };
            (
                format!("update:{}:{edited}", message.id),
                parse_time(&edited),
            )
        };
        let (channel, thread) = self.place(&message.channel_id);
        let name = message
            .member
            .and_then(|m| m.nick)
            .or(author.global_name)
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| author.username.clone());
        let avatar_url = author.avatar.as_ref().and_then(|hash| {
            Url::parse(
                "avatar",
                &format!(
                    "https://cdn.discordapp.com/avatars/{}/{hash}.png",
                    author.id
                ),
            )
            .ok()
        });
        let kind = match message.webhook_id {
            Some(webhook) => AuthorKind::Webhook {
                webhook_id: ExternalUserId::parse("webhook_id", &webhook)
                    .map_err(|e| e.to_string())?,
            },
            None if author.bot => AuthorKind::Bot { bot_id: None },
            None => AuthorKind::Person,
        };
        let external = ExternalMessage {
            id: message_id(thread.as_deref(), &message.id)?,
            author: ExternalAuthor {
                id: ExternalUserId::parse("author", &author.id).map_err(|e| e.to_string())?,
                name,
                avatar_url,
                kind,
            },
            mentions: markdown::mentions(&text),
            text,
            thread: thread
                .as_deref()
                .map(|thread| {
                    Ok::<_, String>(ThreadRef {
                        parent: message_id(None, thread)?,
                        channel: Some(channel_id(thread)?),
                    })
                })
                .transpose()?,
            attachments: message.attachments.iter().filter_map(attachment).collect(),
            origin: None,
        };
        Ok(vec![InboundEvent {
            dedupe_key: DedupeKey::new(key),
            workspace: self.guild.clone(),
            channel: channel_id(&channel)?,
            occurred_at: at.unwrap_or_else(|| snowflake_time(&message.id)),
            kind: if created {
                InboundEventKind::MessageCreated(external)
            } else {
                InboundEventKind::MessageEdited(external)
            },
        }])
    }

    fn reaction(&self, reaction: Reaction, added: bool) -> Result<InboundEvent, String> {
        let name = reaction.emoji.name.unwrap_or_default();
        let (emoji, key_emoji) = match reaction.emoji.id {
            Some(id) => (ReactionEmoji::Custom(name.clone()), format!("{name}:{id}")),
            None => (ReactionEmoji::Unicode(name.clone()), name),
        };
        let (channel, thread) = self.place(&reaction.channel_id);
        let message = message_id(thread.as_deref(), &reaction.message_id)?;
        let user =
            ExternalUserId::parse("user_id", &reaction.user_id).map_err(|e| e.to_string())?;
        let verb = if added { "add" } else { "remove" };
        Ok(InboundEvent {
            dedupe_key: DedupeKey::new(format!(
                "reaction:{verb}:{}:{}:{}:{key_emoji}",
                reaction.channel_id, reaction.message_id, reaction.user_id
            )),
            workspace: self.guild.clone(),
            channel: channel_id(&channel)?,
            occurred_at: time::OffsetDateTime::now_utc(),
            kind: if added {
                InboundEventKind::ReactionAdded {
                    message,
                    user,
                    emoji,
                }
            } else {
                InboundEventKind::ReactionRemoved {
                    message,
                    user,
                    emoji,
                }
            },
        })
    }
}

/// Reads a dispatch's payload; the error names the event, never a value.
fn read<T: serde::de::DeserializeOwned>(event: &str, data: &Value) -> Result<T, DecodeError> {
    serde_json::from_value(data.clone()).map_err(|_| DecodeError {
        event: event.to_owned(),
        reason: "its payload has an unexpected shape".to_owned(),
    })
}

/// The pin events of a `CHANNEL_PINS_UPDATE` in `channel` (the channel the link names): the
/// messages pinned `now` that were not `before`, then those no longer pinned, keyed
/// `pin:add:<channel>:<message>:<at>` and `pin:remove:<channel>:<message>:<at>`. The Gateway
/// session passes as `at` when it read the pins (RFC 3339): the same pin state can come back
/// (pinned, unpinned, pinned and unpinned again) and is no duplicate, while a dispatch
/// replayed after Resume reads no difference from the pins it remembers and records nothing.
#[must_use]
pub fn pin_changes(
    workspace: &ExternalWorkspaceId,
    channel: &ExternalChannelId,
    before: &[ExternalMessageId],
    now: &[ExternalMessageId],
    at: &str,
) -> Vec<InboundEvent> {
    let event = |verb: &str, message: &ExternalMessageId, kind: InboundEventKind| InboundEvent {
        dedupe_key: DedupeKey::new(format!(
            "pin:{verb}:{}:{}:{at}",
            channel.as_str(),
            message.as_str()
        )),
        workspace: workspace.clone(),
        channel: channel.clone(),
        occurred_at: parse_time(at).unwrap_or_else(time::OffsetDateTime::now_utc),
        kind,
    };
    let added = now.iter().filter(|m| !before.contains(m)).map(|message| {
        event(
            "add",
            message,
            InboundEventKind::PinAdded {
                message: message.clone(),
                by: None,
            },
        )
    });
    let removed = before.iter().filter(|m| !now.contains(m)).map(|message| {
        event(
            "remove",
            message,
            InboundEventKind::PinRemoved {
                message: message.clone(),
                by: None,
            },
        )
    });
    added.chain(removed).collect()
}

fn message_id(thread: Option<&str>, id: &str) -> Result<ExternalMessageId, String> {
    let raw = match thread {
        Some(thread) => format!("{thread}/{id}"),
        None => id.to_owned(),
    };
    ExternalMessageId::parse("id", &raw).map_err(|e| e.to_string())
}

fn channel_id(id: &str) -> Result<ExternalChannelId, String> {
    ExternalChannelId::parse("channel_id", id).map_err(|e| e.to_string())
}

fn parse_time(raw: &str) -> Option<Timestamp> {
    Timestamp::parse(raw, &time::format_description::well_known::Rfc3339).ok()
}

/// When a snowflake was made (the epoch when it is none).
fn snowflake_time(id: &str) -> Timestamp {
    let ms = id
        .parse::<u64>()
        .map_or(0, |n| (n >> 22) + 1_420_070_400_000);
    Timestamp::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn attachment(file: &File) -> Option<Attachment> {
    Some(Attachment {
        url: Url::parse("url", &file.url).ok()?,
        name: Name::parse("name", &file.filename).ok()?,
        content_type: file
            .content_type
            .as_deref()
            .and_then(|t| Opaque::parse("content_type", t, 255).ok()),
    })
}

#[cfg(test)]
mod tests {
    use hazel_domain::model::chat_sync::ExternalAppId;
    use serde_json::json;

    use super::*;

    const GUILD: &str = "100";
    const BOT: &str = "200";
    const APP: &str = "300";

    fn decoder() -> Decoder {
        Decoder::new(
            ExternalWorkspaceId::parse("g", GUILD).unwrap(),
            BotIdentity {
                user_id: ExternalUserId::parse("u", BOT).unwrap(),
                bot_id: None,
                app_id: Some(ExternalAppId::parse("a", APP).unwrap()),
            },
        )
    }

    fn message(id: &str, channel: &str, author: Value) -> Value {
        json!({
            "id": id, "channel_id": channel, "guild_id": GUILD, "author": author,
            "content": "hi <@5> @everyone", "timestamp": "2024-05-01T10:00:00.000000+00:00",
            "edited_timestamp": null, "attachments": [
                {"url": "https://cdn.example/a.png", "filename": "a.png", "content_type": "image/png"}
            ],
        })
    }

    #[test]
    fn messages_become_events_with_their_keys_and_authors() {
        let mut d = decoder();
        let person =
            json!({"id": "7", "username": "olive", "global_name": "Olive", "avatar": "abc"});
        let events = d
            .decode("MESSAGE_CREATE", &message("10", "50", person.clone()))
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].dedupe_key.as_str(), "create:10");
        assert_eq!(events[0].channel.as_str(), "50");
        let InboundEventKind::MessageCreated(m) = &events[0].kind else {
            panic!("{events:?}");
        };
        assert_eq!(m.author.name, "Olive");
        assert_eq!(m.author.kind, AuthorKind::Person);
        assert_eq!(
            m.author.avatar_url.as_ref().map(Url::as_str),
            Some("https://cdn.discordapp.com/avatars/7/abc.png")
        );
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.mentions.len(), 2);

        let mut edited = message("10", "50", person);
        edited["edited_timestamp"] = json!("2024-05-01T10:05:00.000000+00:00");
        let events = d.decode("MESSAGE_UPDATE", &edited).unwrap();
        assert_eq!(
            events[0].dedupe_key.as_str(),
            "update:10:2024-05-01T10:05:00.000000+00:00"
        );
        assert!(matches!(events[0].kind, InboundEventKind::MessageEdited(_)));
    }

    #[test]
    fn our_bot_and_webhooks_are_left_out_other_bots_are_kept() {
        let mut d = decoder();
        let ours = d
            .decode(
                "MESSAGE_CREATE",
                &message("1", "50", json!({"id": BOT, "bot": true})),
            )
            .unwrap();
        let mut hook = message(
            "2",
            "50",
            json!({"id": "900", "bot": true, "username": "Olive"}),
        );
        hook["webhook_id"] = json!("900");
        hook["application_id"] = json!(APP);
        let our_hook = d.decode("MESSAGE_CREATE", &hook).unwrap();
        hook["application_id"] = json!("999");
        let other_hook = d.decode("MESSAGE_CREATE", &hook).unwrap();
        let ci = d
            .decode(
                "MESSAGE_CREATE",
                &message("3", "50", json!({"id": "8", "bot": true, "username": "ci"})),
            )
            .unwrap();
        let mut elsewhere = message("4", "50", json!({"id": "7"}));
        elsewhere["guild_id"] = json!("999");
        let foreign = d.decode("MESSAGE_CREATE", &elsewhere).unwrap();

        assert!(ours.is_empty() && our_hook.is_empty() && foreign.is_empty());
        assert_eq!(other_hook.len(), 1);
        let InboundEventKind::MessageCreated(m) = &ci[0].kind else {
            panic!("{ci:?}");
        };
        assert_eq!(m.author.kind, AuthorKind::Bot { bot_id: None });
    }

    #[test]
    fn threads_map_to_their_parent_and_name_their_messages() {
        let mut d = decoder();
        let started = d
            .decode(
                "THREAD_CREATE",
                &json!({"id": "60", "parent_id": "50", "guild_id": GUILD, "name": "topic", "type": 11}),
            )
            .unwrap();
        let reply = d
            .decode("MESSAGE_CREATE", &message("61", "60", json!({"id": "7"})))
            .unwrap();
        let reacted = d
            .decode(
                "MESSAGE_REACTION_ADD",
                &json!({"user_id": "7", "channel_id": "60", "message_id": "61", "guild_id": GUILD,
                        "emoji": {"id": null, "name": "👍🏼"}}),
            )
            .unwrap();

        assert_eq!(started[0].dedupe_key.as_str(), "thread:60");
        assert_eq!(started[0].channel.as_str(), "50");
        assert_eq!(reply[0].channel.as_str(), "50");
        let InboundEventKind::MessageCreated(m) = &reply[0].kind else {
            panic!("{reply:?}");
        };
        assert_eq!(m.id.as_str(), "60/61");
        assert_eq!(m.thread.as_ref().map(|t| t.parent.as_str()), Some("60"));
        assert_eq!(reacted[0].dedupe_key.as_str(), "reaction:add:60:61:7:👍🏼");
        assert!(matches!(
            &reacted[0].kind,
            InboundEventKind::ReactionAdded { message, emoji: ReactionEmoji::Unicode(e), .. }
                if message.as_str() == "60/61" && e == "👍🏼"
        ));
    }

    #[test]
    fn deletes_reactions_and_custom_emoji() {
        let mut d = decoder();
        let one = d
            .decode(
                "MESSAGE_DELETE",
                &json!({"id": "10", "channel_id": "50", "guild_id": GUILD}),
            )
            .unwrap();
        let bulk = d
            .decode(
                "MESSAGE_DELETE_BULK",
                &json!({"ids": ["11", "12"], "channel_id": "50", "guild_id": GUILD}),
            )
            .unwrap();
        let custom = d
            .decode(
                "MESSAGE_REACTION_REMOVE",
                &json!({"user_id": "7", "channel_id": "50", "message_id": "10", "guild_id": GUILD,
                        "emoji": {"id": "77", "name": "PartyParrot"}}),
            )
            .unwrap();
        let own = d
            .decode(
                "MESSAGE_REACTION_ADD",
                &json!({"user_id": BOT, "channel_id": "50", "message_id": "10", "guild_id": GUILD,
                        "emoji": {"id": null, "name": "👍"}}),
            )
            .unwrap();

        assert_eq!(one[0].dedupe_key.as_str(), "delete:10");
        let keys: Vec<&str> = bulk.iter().map(|e| e.dedupe_key.as_str()).collect();
        assert_eq!(keys, ["delete:11", "delete:12"]);
        assert_eq!(
            custom[0].dedupe_key.as_str(),
            "reaction:remove:50:10:7:PartyParrot:77"
        );
        assert!(matches!(
            &custom[0].kind,
            InboundEventKind::ReactionRemoved { emoji: ReactionEmoji::Custom(n), .. } if n == "PartyParrot"
        ));
        assert!(own.is_empty());
    }

    #[test]
    fn pin_changes_name_what_was_pinned_and_unpinned() {
        let id = |raw: &str| ExternalMessageId::parse("i", raw).unwrap();
        let events = pin_changes(
            &ExternalWorkspaceId::parse("g", GUILD).unwrap(),
            &ExternalChannelId::parse("c", "50").unwrap(),
            &[id("1"), id("2")],
            &[id("2"), id("3")],
            "2024-05-01T10:00:00+00:00",
        );
        let keys: Vec<&str> = events.iter().map(|e| e.dedupe_key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "pin:add:50:3:2024-05-01T10:00:00+00:00",
                "pin:remove:50:1:2024-05-01T10:00:00+00:00"
            ]
        );
        assert!(
            matches!(&events[0].kind, InboundEventKind::PinAdded { message, .. } if message.as_str() == "3")
        );
        assert!(
            matches!(&events[1].kind, InboundEventKind::PinRemoved { message, .. } if message.as_str() == "1")
        );
    }

    #[test]
    fn unreadable_payloads_of_synced_kinds_are_errors_others_are_ignored() {
        let mut d = decoder();
        assert!(d.decode("MESSAGE_CREATE", &json!({"id": 5})).is_err());
        assert_eq!(d.decode("TYPING_START", &json!({"x": 1})), Ok(Vec::new()));
    }
}
