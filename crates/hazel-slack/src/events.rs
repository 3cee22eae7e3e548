//! Events API payloads → the domain's inbound events.
//!
//! [`decode`] reads an (already verified) request body: a `url_verification` challenge, or an
//! `event_callback` whose inner event becomes one [`InboundEvent`] — or is ignored with a
//! recorded [`IgnoreReason`] (hidden and system subtypes, edits that change no text, items
//! that are not messages). Shapes follow `slack_common_event_wrapper_schema.json` and the
//! `message`, `reaction_added`/`removed` and `pin_added`/`removed` events of Slack's Events
//! API spec.
//!
//! Keys: every event's [`DedupeKey`] is built from what happened, not from the delivery —
//! `{team}:{channel}:{ts}:{kind}` (plus the edit's `edited.ts`, or the action's `event_ts`
//! and user for reactions and pins) — so a retry (`X-Slack-Retry-Num`, same `event_id`) and a
//! redelivery of the same message under a new `event_id` dedupe alike. The `event_id` is kept
//! in [`SlackCallback::event_id`].

use hazel_domain::ids::MessageId;
use hazel_domain::model::Timestamp;
use hazel_domain::model::chat_sync::BotIdentity;
use hazel_domain::model::external::{
    ExternalBotId, ExternalChannelId, ExternalMessageId, ExternalUserId, ExternalWorkspaceId,
};
use hazel_domain::model::message::Attachment;
use hazel_domain::model::sync::{
    AuthorKind, DedupeKey, ExternalAuthor, ExternalMessage, InboundEvent, InboundEventKind,
    OriginMarker, ThreadRef,
};
use hazel_domain::model::text::{Name, Opaque, Url};
use serde::Deserialize;
use serde_json::Value;

use crate::emoji;
use crate::mrkdwn;

/// The `metadata.event_type` of messages Hazel posts.
pub const ORIGIN_EVENT_TYPE: &str = "hazel_message";

/// The `metadata.event_payload` field carrying the Hazel message id.
pub const ORIGIN_PAYLOAD_FIELD: &str = "hazel_message_id";

/// Why a verified body could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not an Events API body.
    #[error("the body is not an Events API payload: {reason}")]
    Malformed {
        /// What is wrong (field names only, never values).
        reason: String,
    },
}

fn malformed(reason: impl Into<String>) -> DecodeError {
    DecodeError::Malformed {
        reason: reason.into(),
    }
}

/// What an Events API body asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlackPayload {
    /// `url_verification`: answer with this challenge.
    UrlVerification {
        /// The challenge to echo.
        challenge: String,
    },
    /// `event_callback`: one event.
    Callback(SlackCallback),
    /// Another wrapper type (`app_rate_limited`, …): nothing to do.
    Other {
        /// Its `type`.
        kind: String,
    },
}

/// An `event_callback` wrapper with its decoded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackCallback {
    /// `event_id` (`Ev…`), the same on every retry of this delivery.
    pub event_id: String,
    /// `team_id`.
    pub team: ExternalWorkspaceId,
    /// `api_app_id`: the app the event was sent to.
    pub api_app_id: Option<String>,
    /// The event, or why it is ignored.
    pub event: Decoded,
}

/// A decoded inner event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// An event for the sync engine.
    Event(Box<InboundEvent>),
    /// An event the engine ignores, and why.
    Ignored(IgnoreReason),
}

/// Why an event is ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgnoreReason {
    /// A hidden or system message subtype (`channel_join`, `channel_topic`, …).
    SystemSubtype(String),
    /// A `message_changed` that changes no text (a reply count, an unfurl).
    NotAnEdit,
    /// A reaction or pin on something that is not a message (a file).
    NotAMessage(String),
    /// An event type the adapter does not sync.
    UnsupportedEvent(String),
}

impl IgnoreReason {
    /// The reason in words, for the receipt's record.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::SystemSubtype(subtype) => format!("Slack system message ({subtype})"),
            Self::NotAnEdit => "Slack message change without a text edit".to_owned(),
            Self::NotAMessage(kind) => format!("Slack item that is not a message ({kind})"),
            Self::UnsupportedEvent(kind) => format!("Slack event not synced ({kind})"),
        }
    }
}

/// Whether `author` is the connection's own bot (its user id or its bot id): its messages
/// are echoes of what Hazel posted.
#[must_use]
pub fn is_own_bot(author: &ExternalAuthor, bot: &BotIdentity) -> bool {
    author.id == bot.user_id
        || matches!(
            (&author.kind, &bot.bot_id),
            (AuthorKind::Bot { bot_id: Some(seen) }, Some(ours)) if seen == ours
        )
}

/// The `team_id` a body claims, read without trusting it; `None` for a body that names no
/// team (a `url_verification` challenge, or not JSON).
#[must_use]
pub fn claimed_team(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Claim {
        team_id: Option<String>,
    }
    serde_json::from_slice::<Claim>(body).ok()?.team_id
}

/// Decodes a verified Events API body.
///
/// # Errors
/// [`DecodeError::Malformed`] when it is not JSON, lacks a wrapper field, or its event is of
/// a synced type but lacks what that type needs.
pub fn decode(body: &[u8]) -> Result<SlackPayload, DecodeError> {
    let wrapper: Wrapper =
        serde_json::from_slice(body).map_err(|e| malformed(format!("{:?}", e.classify())))?;
    match wrapper.kind.as_str() {
        "url_verification" => Ok(SlackPayload::UrlVerification {
            challenge: wrapper
                .challenge
                .ok_or_else(|| malformed("url_verification without challenge"))?,
        }),
        "event_callback" => {
            let team = wrapper
                .team_id
                .as_deref()
                .and_then(|t| ExternalWorkspaceId::parse("team_id", t).ok())
                .ok_or_else(|| malformed("event_callback without a usable team_id"))?;
            let event_id = wrapper
                .event_id
                .ok_or_else(|| malformed("event_callback without event_id"))?;
            let event = wrapper
                .event
                .ok_or_else(|| malformed("event_callback without event"))?;
            let event = decode_event(&team, &event, wrapper.event_time)?;
            Ok(SlackPayload::Callback(SlackCallback {
                event_id,
                team,
                api_app_id: wrapper.api_app_id,
                event,
            }))
        }
        other => Ok(SlackPayload::Other {
            kind: other.to_owned(),
        }),
    }
}

#[derive(Deserialize)]
struct Wrapper {
    #[serde(rename = "type")]
    kind: String,
    challenge: Option<String>,
    team_id: Option<String>,
    api_app_id: Option<String>,
    event_id: Option<String>,
    event_time: Option<i64>,
    event: Option<Value>,
}

/// A message object, as far as the adapter reads it (event, `message_changed.message`).
#[derive(Debug, Default, Deserialize)]
struct SlackMessage {
    subtype: Option<String>,
    #[serde(default)]
    hidden: bool,
    channel: Option<String>,
    user: Option<String>,
    bot_id: Option<String>,
    username: Option<String>,
    text: Option<String>,
    ts: Option<String>,
    thread_ts: Option<String>,
    edited: Option<Edited>,
    #[serde(default)]
    files: Vec<File>,
    metadata: Option<Metadata>,
    user_profile: Option<Profile>,
    bot_profile: Option<BotProfile>,
}

#[derive(Debug, Deserialize)]
struct Edited {
    ts: Option<String>,
}

#[derive(Debug, Deserialize)]
struct File {
    name: Option<String>,
    title: Option<String>,
    mimetype: Option<String>,
    url_private: Option<String>,
    permalink: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    event_type: Option<String>,
    event_payload: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Profile {
    display_name: Option<String>,
    real_name: Option<String>,
    image_72: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BotProfile {
    name: Option<String>,
    icons: Option<Icons>,
}

#[derive(Debug, Deserialize)]
struct Icons {
    image_72: Option<String>,
    image_48: Option<String>,
}

/// Subtypes of messages that are content: plain ones have none.
const CONTENT_SUBTYPES: [&str; 4] = [
    "thread_broadcast",
    "file_share",
    "bot_message",
    "me_message",
];

fn decode_event(
    team: &ExternalWorkspaceId,
    event: &Value,
    event_time: Option<i64>,
) -> Result<Decoded, DecodeError> {
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    let event_ts = event.get("event_ts").and_then(Value::as_str);
    let occurred = |ts: Option<&str>| {
        ts.and_then(parse_ts)
            .or_else(|| event_time.and_then(|t| Timestamp::from_unix_timestamp(t).ok()))
            .unwrap_or(Timestamp::UNIX_EPOCH)
    };
    let build = |channel: ExternalChannelId, key: String, at: Timestamp, kind| {
        Decoded::Event(Box::new(InboundEvent {
            dedupe_key: DedupeKey::new(key),
            workspace: team.clone(),
            channel,
            occurred_at: at,
            kind,
        }))
    };
    match kind {
        "message" => {
            let message: SlackMessage = serde_json::from_value(event.clone())
                .map_err(|e| malformed(format!("message event: {:?}", e.classify())))?;
            let channel = channel_id(message.channel.as_deref())?;
            match message.subtype.as_deref() {
                Some("message_changed") => {
                    let mut edited: SlackMessage = event
                        .get("message")
                        .map(|m| serde_json::from_value(m.clone()))
                        .transpose()
                        .map_err(|e| malformed(format!("message_changed: {:?}", e.classify())))?
                        .ok_or_else(|| malformed("message_changed without message"))?;
                    let previous_text = event
                        .get("previous_message")
                        .and_then(|p| p.get("text"))
                        .and_then(Value::as_str);
                    if edited.edited.is_none() && previous_text == edited.text.as_deref() {
                        return Ok(Decoded::Ignored(IgnoreReason::NotAnEdit));
                    }
                    if edited.subtype.as_deref().is_some_and(|s| !is_content(s)) {
                        return Ok(Decoded::Ignored(IgnoreReason::SystemSubtype(
                            edited.subtype.unwrap_or_default(),
                        )));
                    }
                    edited.channel = message.channel.clone();
                    let ts = required(edited.ts.as_deref(), "message_changed message.ts")?;
                    let version = edited
                        .edited
                        .as_ref()
                        .and_then(|e| e.ts.as_deref())
                        .or(message.ts.as_deref())
                        .unwrap_or(ts);
                    let key = format!("{team}:{channel}:{ts}:edit:{version}");
                    let at = occurred(Some(version));
                    Ok(build(
                        channel,
                        key,
                        at,
                        InboundEventKind::MessageEdited(external_message(&edited)?),
                    ))
                }
                Some("message_deleted") => {
                    let deleted = event
                        .get("deleted_ts")
                        .and_then(Value::as_str)
                        .ok_or_else(|| malformed("message_deleted without deleted_ts"))?;
                    let key = format!("{team}:{channel}:{deleted}:delete");
                    Ok(build(
                        channel,
                        key,
                        occurred(message.ts.as_deref().or(event_ts)),
                        InboundEventKind::MessageDeleted {
                            message: message_id(deleted)?,
                        },
                    ))
                }
                Some(subtype) if !is_content(subtype) => Ok(Decoded::Ignored(
                    IgnoreReason::SystemSubtype(subtype.to_owned()),
                )),
                _ if message.hidden => Ok(Decoded::Ignored(IgnoreReason::SystemSubtype(
                    "hidden".to_owned(),
                ))),
                _ => {
                    let ts = required(message.ts.as_deref(), "message ts")?;
                    let key = format!("{team}:{channel}:{ts}:create");
                    let at = occurred(Some(ts));
                    Ok(build(
                        channel,
                        key,
                        at,
                        InboundEventKind::MessageCreated(external_message(&message)?),
                    ))
                }
            }
        }
        "reaction_added" | "reaction_removed" => {
            let item = event.get("item").unwrap_or(&Value::Null);
            let item_kind = item.get("type").and_then(Value::as_str).unwrap_or("");
            if item_kind != "message" {
                return Ok(Decoded::Ignored(IgnoreReason::NotAMessage(
                    item_kind.to_owned(),
                )));
            }
            let channel = channel_id(item.get("channel").and_then(Value::as_str))?;
            let ts = required(item.get("ts").and_then(Value::as_str), "item.ts")?;
            let user = user_id(event.get("user").and_then(Value::as_str))?;
            let name = required(event.get("reaction").and_then(Value::as_str), "reaction")?;
            let emoji = emoji::from_slack(name);
            let at_ts = event_ts.unwrap_or(ts);
            let key = format!("{team}:{channel}:{ts}:{kind}:{user}:{name}:{at_ts}");
            let message = message_id(ts)?;
            let kind = if kind == "reaction_added" {
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
            };
            Ok(build(channel, key, occurred(Some(at_ts)), kind))
        }
        "pin_added" | "pin_removed" => {
            let item = event.get("item").unwrap_or(&Value::Null);
            let item_kind = item.get("type").and_then(Value::as_str).unwrap_or("");
            if item_kind != "message" {
                return Ok(Decoded::Ignored(IgnoreReason::NotAMessage(
                    item_kind.to_owned(),
                )));
            }
            let channel = channel_id(
                event
                    .get("channel_id")
                    .and_then(Value::as_str)
                    .or_else(|| item.get("channel").and_then(Value::as_str)),
            )?;
            let ts = required(
                item.get("message")
                    .and_then(|m| m.get("ts"))
                    .and_then(Value::as_str),
                "item.message.ts",
            )?;
            let by = event
                .get("user")
                .and_then(Value::as_str)
                .and_then(|u| ExternalUserId::parse("user", u).ok());
            let at_ts = event_ts.unwrap_or(ts);
            let key = format!("{team}:{channel}:{ts}:{kind}:{at_ts}");
            let message = message_id(ts)?;
            let kind = if kind == "pin_added" {
                InboundEventKind::PinAdded { message, by }
            } else {
                InboundEventKind::PinRemoved { message, by }
            };
            Ok(build(channel, key, occurred(Some(at_ts)), kind))
        }
        other => Ok(Decoded::Ignored(IgnoreReason::UnsupportedEvent(
            other.to_owned(),
        ))),
    }
}

/// Decodes one message of `conversations.history` or `conversations.replies` of `channel`
/// as the `message` event its live delivery would have been, with the same dedupe key.
///
/// # Errors
/// [`DecodeError::Malformed`] when the message lacks what a message event needs.
pub(crate) fn decode_history_message(
    team: &ExternalWorkspaceId,
    channel: &ExternalChannelId,
    message: &Value,
) -> Result<Decoded, DecodeError> {
    let mut event = message.clone();
    if let Some(object) = event.as_object_mut() {
        object.insert("type".to_owned(), Value::String("message".to_owned()));
        object.insert("channel".to_owned(), Value::String(channel.to_string()));
    }
    decode_event(team, &event, None)
}

fn is_content(subtype: &str) -> bool {
    CONTENT_SUBTYPES.contains(&subtype)
}

fn required<'a>(value: Option<&'a str>, field: &str) -> Result<&'a str, DecodeError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| malformed(format!("event without {field}")))
}

fn channel_id(raw: Option<&str>) -> Result<ExternalChannelId, DecodeError> {
    ExternalChannelId::parse("channel", required(raw, "channel")?)
        .map_err(|_| malformed("event with an unusable channel"))
}

fn user_id(raw: Option<&str>) -> Result<ExternalUserId, DecodeError> {
    ExternalUserId::parse("user", required(raw, "user")?)
        .map_err(|_| malformed("event with an unusable user"))
}

fn message_id(ts: &str) -> Result<ExternalMessageId, DecodeError> {
    ExternalMessageId::parse("ts", ts).map_err(|_| malformed("event with an unusable ts"))
}

/// A Slack `ts` (`1525215129.000001`) as a time.
pub(crate) fn parse_ts(ts: &str) -> Option<Timestamp> {
    let (seconds, fraction) = ts.split_once('.').unwrap_or((ts, "0"));
    let seconds: i64 = seconds.parse().ok()?;
    let digits: String = fraction.chars().take(9).collect();
    let nanos: i64 = format!("{digits:0<9}").parse().ok()?;
    Timestamp::from_unix_timestamp_nanos(i128::from(seconds) * 1_000_000_000 + i128::from(nanos))
        .ok()
}

/// The Hazel message id in a message's metadata, when it carries our marker.
fn origin_of(metadata: Option<&Metadata>) -> Option<OriginMarker> {
    let metadata = metadata?;
    if metadata.event_type.as_deref() != Some(ORIGIN_EVENT_TYPE) {
        return None;
    }
    let id = metadata
        .event_payload
        .as_ref()?
        .get(ORIGIN_PAYLOAD_FIELD)?
        .as_str()?;
    Some(OriginMarker {
        hazel_message_id: MessageId::parse("hazel_message_id", id).ok()?,
    })
}

fn external_message(message: &SlackMessage) -> Result<ExternalMessage, DecodeError> {
    let ts = required(message.ts.as_deref(), "message ts")?;
    let text = message.text.clone().unwrap_or_default();
    let author_id = message
        .user
        .as_deref()
        .or(message.bot_id.as_deref())
        .ok_or_else(|| malformed("message without user or bot_id"))?;
    let bot_id = message
        .bot_id
        .as_deref()
        .and_then(|b| ExternalBotId::parse("bot_id", b).ok());
    let is_bot = message.bot_id.is_some() || message.subtype.as_deref() == Some("bot_message");
    let profile = message.user_profile.as_ref();
    let name = profile
        .and_then(|p| non_empty(p.display_name.as_deref()).or(non_empty(p.real_name.as_deref())))
        .or_else(|| non_empty(message.username.as_deref()))
        .or_else(|| {
            message
                .bot_profile
                .as_ref()
                .and_then(|b| non_empty(b.name.as_deref()))
        })
        .unwrap_or(author_id)
        .to_owned();
    let avatar = profile
        .and_then(|p| p.image_72.as_deref())
        .or_else(|| {
            message
                .bot_profile
                .as_ref()
                .and_then(|b| b.icons.as_ref())
                .and_then(|i| i.image_72.as_deref().or(i.image_48.as_deref()))
        })
        .and_then(|url| Url::parse("avatar", url).ok());
    let thread = message
        .thread_ts
        .as_deref()
        .filter(|parent| *parent != ts || message.subtype.as_deref() == Some("thread_broadcast"))
        .map(|parent| {
            message_id(parent).map(|parent| ThreadRef {
                parent,
                channel: None,
            })
        })
        .transpose()?;
    let attachments = message.files.iter().filter_map(attachment).collect();
    Ok(ExternalMessage {
        id: message_id(ts)?,
        author: ExternalAuthor {
            id: ExternalUserId::parse("user", author_id)
                .map_err(|_| malformed("message with an unusable user"))?,
            name,
            avatar_url: avatar,
            kind: if is_bot {
                AuthorKind::Bot { bot_id }
            } else {
                AuthorKind::Person
            },
        },
        mentions: mrkdwn::mentions(&text),
        text,
        thread,
        attachments,
        origin: origin_of(message.metadata.as_ref()),
    })
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

/// A shared file as a link: its private URL (the permalink when there is none), its name
/// (the title when it has none) and its type.
fn attachment(file: &File) -> Option<Attachment> {
    let url = file
        .url_private
        .as_deref()
        .or(file.permalink.as_deref())
        .and_then(|u| Url::parse("url", u).ok())?;
    let name = file
        .name
        .as_deref()
        .or(file.title.as_deref())
        .and_then(|n| Name::parse("name", n).ok())
        .or_else(|| Name::parse("name", "file").ok())?;
    Some(Attachment {
        url,
        name,
        content_type: file
            .mimetype
            .as_deref()
            .and_then(|m| Opaque::parse("mimetype", m, 255).ok()),
    })
}

#[cfg(test)]
mod tests;
