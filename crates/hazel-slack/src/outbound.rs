//! The [`ChatOutbound`] port on [`SlackProvider`]: delivery over the Web API with the
//! connection's bot token.

use std::time::Duration;

use async_trait::async_trait;
use hazel_domain::model::Timestamp;
use hazel_domain::model::chat_sync::{Credentials, ExternalMessageId, Provider};
use hazel_domain::model::sync::{
    AuthFailure, DeliveryError, ExternalRefs, OriginMarker, OutboundMessage, OutboundTarget,
    ReactionEmoji, ThreadRef, ThreadTarget,
};
use hazel_domain::ports::ChatOutbound;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Payload;
use crate::events::{ORIGIN_EVENT_TYPE, ORIGIN_PAYLOAD_FIELD};
use crate::provider::SlackProvider;
use crate::split::{SLACK_MAX_CHARS, split};
use crate::{emoji, mrkdwn};

/// The longest `username` Slack shows; longer persona names are cut (never refused).
pub const MAX_USERNAME_CHARS: usize = 80;

/// How long before the send time [`ChatOutbound::find_by_origin`] looks (clocks differ).
const LOOK_BEFORE: Duration = Duration::from_secs(120);

/// How long after the send time it looks (a send may have taken this long to arrive).
const LOOK_AFTER: Duration = Duration::from_secs(600);

/// Most history pages read while looking for an origin marker.
const MAX_HISTORY_PAGES: usize = 10;

/// The bot token of a delivery target's credentials.
fn token(target: &OutboundTarget) -> Result<&SecretString, DeliveryError> {
    match &target.credentials {
        Credentials::Slack { bot_token, .. } => Ok(bot_token),
        other => Err(DeliveryError::Auth {
            code: AuthFailure::InvalidCredentials,
            reason: format!("expected Slack credentials, got {}", other.provider()),
        }),
    }
}

/// The text of a message as Slack parts: converted to mrkdwn, its attachments as links, and
/// split at Slack's length limit.
#[must_use]
pub fn message_parts(message: &OutboundMessage) -> Vec<String> {
    let mut text = mrkdwn::to_mrkdwn(&message.content, &message.mentions);
    for attachment in &message.attachments {
        let link = mrkdwn::link(attachment.url.as_str(), attachment.name.as_str());
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&link);
    }
    split(&text, SLACK_MAX_CHARS)
}

/// A persona name as Slack shows it: cut to [`MAX_USERNAME_CHARS`].
fn username(name: &str) -> String {
    name.chars().take(MAX_USERNAME_CHARS).collect()
}

/// The `chat.postMessage` body of one part.
#[must_use]
pub fn post_body(channel: &str, message: &OutboundMessage, text: &str) -> Value {
    let mut body = json!({
        "channel": channel,
        "text": text,
        "username": username(message.persona.name.as_str()),
        "unfurl_links": false,
        "metadata": {
            "event_type": ORIGIN_EVENT_TYPE,
            "event_payload": {ORIGIN_PAYLOAD_FIELD: message.origin.hazel_message_id.to_string()},
        },
    });
    if let Some(avatar) = &message.persona.avatar_url {
        body["icon_url"] = json!(avatar.as_str());
    }
    if let ThreadTarget::Reply(thread) = &message.thread {
        body["thread_ts"] = json!(thread.parent.as_str());
    }
    body
}

#[derive(Debug, Deserialize)]
struct Posted {
    ts: String,
}

#[derive(Debug, Deserialize)]
struct Nothing {}

#[derive(Debug, Deserialize)]
struct History {
    #[serde(default)]
    messages: Vec<HistoryMessage>,
    #[serde(default)]
    has_more: bool,
    response_metadata: Option<Cursor>,
}

#[derive(Debug, Deserialize)]
struct Cursor {
    #[serde(default)]
    next_cursor: String,
}

#[derive(Debug, Deserialize)]
struct HistoryMessage {
    ts: String,
    metadata: Option<HistoryMetadata>,
}

#[derive(Debug, Deserialize)]
struct HistoryMetadata {
    event_type: Option<String>,
    event_payload: Option<Value>,
}

impl HistoryMessage {
    fn carries(&self, origin: &OriginMarker) -> bool {
        self.metadata.as_ref().is_some_and(|m| {
            m.event_type.as_deref() == Some(ORIGIN_EVENT_TYPE)
                && m.event_payload
                    .as_ref()
                    .and_then(|p| p.get(ORIGIN_PAYLOAD_FIELD))
                    .and_then(Value::as_str)
                    == Some(origin.hazel_message_id.to_string().as_str())
        })
    }
}

fn ts_of(raw: String) -> Result<ExternalMessageId, DeliveryError> {
    ExternalMessageId::parse("ts", &raw).map_err(|_| DeliveryError::Ambiguous {
        reason: "Slack answered chat.postMessage with an unusable ts".to_owned(),
    })
}

/// A Slack `ts` bound (`oldest`/`latest`) for a time.
fn ts_bound(at: Timestamp) -> String {
    format!("{}.{:06}", at.unix_timestamp(), at.microsecond())
}

/// A failure after an earlier part was created: the outcome of the whole is unknown.
fn after_parts(error: DeliveryError, created: usize) -> DeliveryError {
    if created == 0 {
        return error;
    }
    DeliveryError::Ambiguous {
        reason: format!("{created} part(s) were created before: {error}"),
    }
}

impl SlackProvider {
    async fn post_part(
        &self,
        token: &SecretString,
        channel: &str,
        message: &OutboundMessage,
        text: &str,
    ) -> Result<ExternalMessageId, DeliveryError> {
        let body = post_body(channel, message, text);
        let posted = self
            .api()
            .deliver::<Posted>("chat.postMessage", token, Payload::Json(&body), &[])
            .await?;
        match posted {
            Ok(posted) => ts_of(posted.ts),
            Err(_) => Err(DeliveryError::Ambiguous {
                reason: "unexpected answer".to_owned(),
            }),
        }
    }

    /// Calls a write method whose answer is only `ok`; `tolerated` codes (`already_reacted`)
    /// count as done.
    async fn act(
        &self,
        method: &'static str,
        token: &SecretString,
        body: &Value,
        tolerated: &[&'static str],
    ) -> Result<(), DeliveryError> {
        self.api()
            .deliver::<Nothing>(method, token, Payload::Json(body), tolerated)
            .await
            .map(drop)
    }

    /// Looks for the parts carrying `origin` in a thread's replies around `sent_at`: how an
    /// ambiguous thread reply is resolved ([`ChatOutbound::find_by_origin`] given the thread;
    /// replies do not appear in the channel's history).
    ///
    /// # Errors
    /// Any [`DeliveryError`].
    pub async fn find_reply_by_origin(
        &self,
        target: &OutboundTarget,
        thread: &ThreadRef,
        origin: &OriginMarker,
        sent_at: Timestamp,
    ) -> Result<Option<ExternalRefs>, DeliveryError> {
        self.search(
            target,
            "conversations.replies",
            Some(thread.parent.as_str()),
            origin,
            sent_at,
        )
        .await
    }

    async fn search(
        &self,
        target: &OutboundTarget,
        method: &'static str,
        thread: Option<&str>,
        origin: &OriginMarker,
        sent_at: Timestamp,
    ) -> Result<Option<ExternalRefs>, DeliveryError> {
        let token = token(target)?;
        let oldest = ts_bound(sent_at - LOOK_BEFORE);
        let latest = ts_bound(sent_at + LOOK_AFTER);
        let mut found: Vec<String> = Vec::new();
        let mut cursor = String::new();
        for _ in 0..MAX_HISTORY_PAGES {
            let mut query = vec![
                ("channel", target.channel.as_str()),
                ("oldest", oldest.as_str()),
                ("latest", latest.as_str()),
                ("inclusive", "true"),
                ("include_all_metadata", "true"),
                ("limit", "200"),
            ];
            if let Some(parent) = thread {
                query.push(("ts", parent));
            }
            if !cursor.is_empty() {
                query.push(("cursor", cursor.as_str()));
            }
            let page = match self
                .api()
                .deliver::<History>(method, token, Payload::Query(&query), &[])
                .await?
            {
                Ok(page) => page,
                Err(_) => break,
            };
            found.extend(
                page.messages
                    .into_iter()
                    .filter(|m| m.carries(origin))
                    .map(|m| m.ts),
            );
            cursor = page
                .response_metadata
                .map(|m| m.next_cursor)
                .unwrap_or_default();
            if !page.has_more || cursor.is_empty() {
                break;
            }
        }
        // Slack's ts order is the order the parts were posted in.
        found.sort_by(|a, b| {
            let key = |ts: &str| {
                let (s, f) = ts.split_once('.').unwrap_or((ts, "0"));
                (s.parse::<u64>().unwrap_or(0), f.parse::<u64>().unwrap_or(0))
            };
            key(a).cmp(&key(b))
        });
        found.dedup();
        let parts = found
            .into_iter()
            .map(ts_of)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ExternalRefs::new(parts))
    }
}

#[async_trait]
impl ChatOutbound for SlackProvider {
    fn provider(&self) -> Provider {
        Provider::Slack
    }

    async fn post(
        &self,
        target: &OutboundTarget,
        message: &OutboundMessage,
    ) -> Result<ExternalRefs, DeliveryError> {
        let token = token(target)?;
        let mut created = Vec::new();
        for part in message_parts(message) {
            let ts = self
                .post_part(token, target.channel.as_str(), message, &part)
                .await
                .map_err(|e| after_parts(e, created.len()))?;
            created.push(ts);
        }
        ExternalRefs::new(created).ok_or_else(|| DeliveryError::Rejected {
            reason: "nothing to post".to_owned(),
        })
    }

    async fn edit(
        &self,
        target: &OutboundTarget,
        posted: &ExternalRefs,
        message: &OutboundMessage,
    ) -> Result<ExternalRefs, DeliveryError> {
        let token = token(target)?;
        let channel = target.channel.as_str();
        let parts = message_parts(message);
        let mut now = Vec::new();
        let mut created = 0;
        for (index, text) in parts.iter().enumerate() {
            match posted.parts().get(index) {
                Some(existing) => {
                    let body = json!({"channel": channel, "ts": existing.as_str(), "text": text});
                    self.act("chat.update", token, &body, &[])
                        .await
                        .map_err(|e| after_parts(e, created))?;
                    now.push(existing.clone());
                }
                None => {
                    let ts = self
                        .post_part(token, channel, message, text)
                        .await
                        .map_err(|e| after_parts(e, created))?;
                    created += 1;
                    now.push(ts);
                }
            }
        }
        // Parts the shorter text no longer needs.
        for extra in posted.parts().iter().skip(parts.len()) {
            let body = json!({"channel": channel, "ts": extra.as_str()});
            self.act("chat.delete", token, &body, &["message_not_found"])
                .await
                .map_err(|e| after_parts(e, created))?;
        }
        ExternalRefs::new(now).ok_or_else(|| DeliveryError::Rejected {
            reason: "nothing to post".to_owned(),
        })
    }

    async fn delete(
        &self,
        target: &OutboundTarget,
        posted: &ExternalRefs,
    ) -> Result<(), DeliveryError> {
        let token = token(target)?;
        let mut root_gone = false;
        // Later parts first, so a failure leaves the root (which reactions hang from).
        for (index, part) in posted.parts().iter().enumerate().rev() {
            let body = json!({"channel": target.channel.as_str(), "ts": part.as_str()});
            let answer = self
                .api()
                .deliver::<Nothing>(
                    "chat.delete",
                    token,
                    Payload::Json(&body),
                    &["message_not_found"],
                )
                .await?;
            root_gone = index == 0 && answer.is_err();
        }
        if root_gone {
            return Err(DeliveryError::Gone {
                reason: "Slack answered chat.delete with error message_not_found".to_owned(),
            });
        }
        Ok(())
    }

    async fn react(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
        emoji: &ReactionEmoji,
    ) -> Result<(), DeliveryError> {
        let body = reaction_body(target, message, emoji)?;
        self.act("reactions.add", token(target)?, &body, &["already_reacted"])
            .await
    }

    async fn unreact(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
        emoji: &ReactionEmoji,
    ) -> Result<(), DeliveryError> {
        let body = reaction_body(target, message, emoji)?;
        self.act("reactions.remove", token(target)?, &body, &["no_reaction"])
            .await
    }

    async fn pin(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
    ) -> Result<(), DeliveryError> {
        let body = json!({"channel": target.channel.as_str(), "timestamp": message.as_str()});
        self.act("pins.add", token(target)?, &body, &["already_pinned"])
            .await
    }

    async fn unpin(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
    ) -> Result<(), DeliveryError> {
        let body = json!({"channel": target.channel.as_str(), "timestamp": message.as_str()});
        self.act("pins.remove", token(target)?, &body, &["no_pin"])
            .await
    }

    async fn start_thread(
        &self,
        _target: &OutboundTarget,
        parent: &ExternalMessageId,
        _name: &str,
    ) -> Result<ThreadRef, DeliveryError> {
        // A Slack thread is its parent's: replies name the parent's ts, nothing is created.
        Ok(ThreadRef {
            parent: parent.clone(),
            channel: None,
        })
    }

    async fn find_by_origin(
        &self,
        target: &OutboundTarget,
        message: &OutboundMessage,
        sent_at: Timestamp,
    ) -> Result<Option<ExternalRefs>, DeliveryError> {
        let origin = &message.origin;
        match &message.thread {
            // Replies do not appear in the channel's history: the thread's replies are read.
            ThreadTarget::Reply(thread) => {
                self.find_reply_by_origin(target, thread, origin, sent_at)
                    .await
            }
            ThreadTarget::TopLevel => {
                self.search(target, "conversations.history", None, origin, sent_at)
                    .await
            }
        }
    }
}

/// The `reactions.add`/`remove` body; a Unicode emoji Slack has no name for cannot be sent.
fn reaction_body(
    target: &OutboundTarget,
    message: &ExternalMessageId,
    reaction: &ReactionEmoji,
) -> Result<Value, DeliveryError> {
    let name = emoji::to_slack(reaction).ok_or_else(|| DeliveryError::Rejected {
        reason: "the emoji has no Slack name".to_owned(),
    })?;
    Ok(json!({
        "channel": target.channel.as_str(),
        "timestamp": message.as_str(),
        "name": name,
    }))
}
