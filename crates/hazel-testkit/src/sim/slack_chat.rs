//! The chat side of the Slack simulator: users, messages, threads, reactions and pins; the Web
//! API methods that act on them; the scripting functions that act "in Slack" as a person; and
//! the Events API callbacks both emit (see [`super::super::slack_events`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::super::slack_events::{
    Delivery, Dispatcher, EventSource, EventsApiSink, SentEvent, SlackEventSink, event_callback,
};
use super::super::{Exchange, lock};
use super::{BotToken, Channel, SlackSimulator, State, decode_cursor};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The most messages `conversations.history` and `conversations.replies` answer per page.
const MAX_HISTORY_LIMIT: usize = 999;

/// A member of a simulated workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackUser {
    /// The workspace.
    pub team_id: String,
    /// `U…`.
    pub id: String,
    /// The display name.
    pub display_name: String,
    /// The avatar (`image_72`).
    pub avatar_url: Option<String>,
}

/// A message as the simulated Slack holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct SlackMessage {
    /// The channel.
    pub channel: String,
    /// Its `ts`.
    pub ts: String,
    /// The author (for a bot, its bot user).
    pub user: String,
    /// The bot that posted it, for bot messages.
    pub bot_id: Option<String>,
    /// The `username` it was posted under (a bot's persona).
    pub username: Option<String>,
    /// The `icon_url` it was posted with.
    pub icon_url: Option<String>,
    /// The text (mrkdwn).
    pub text: String,
    /// The thread's parent, for a reply.
    pub thread_ts: Option<String>,
    /// The message's `metadata`, when posted with some.
    pub metadata: Option<Value>,
    /// When it was last edited (`edited.ts`).
    pub edited: Option<String>,
    /// Reactions: name → the users who reacted, in order.
    pub reactions: BTreeMap<String, Vec<String>>,
}

impl SlackMessage {
    /// Whether it is a reply in a thread (not a thread's parent).
    #[must_use]
    pub fn is_reply(&self) -> bool {
        self.thread_ts
            .as_ref()
            .is_some_and(|parent| *parent != self.ts)
    }
}

/// The simulated chat: what the Web API methods change, behind its own lock (the methods are
/// handed the simulator's state immutably).
#[derive(Default)]
pub(crate) struct Chat {
    users: BTreeMap<String, SlackUser>,
    /// Live messages by channel, in `ts` order.
    messages: BTreeMap<String, Vec<SlackMessage>>,
    /// Pinned messages by channel.
    pins: BTreeMap<String, BTreeSet<String>>,
    /// The last `ts` handed out, as (seconds, microseconds).
    last_ts: (i64, u32),
    next_event: u64,
    dispatcher: Option<Arc<Dispatcher>>,
    sent: Arc<Mutex<Vec<SentEvent>>>,
}

impl std::fmt::Debug for Chat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat")
            .field("users", &self.users)
            .field("messages", &self.messages)
            .field("pins", &self.pins)
            .finish_non_exhaustive()
    }
}

impl Chat {
    /// A new `ts`, later than every earlier one.
    fn next_ts(&mut self) -> String {
        let now = time::OffsetDateTime::now_utc();
        let now = (now.unix_timestamp(), now.microsecond());
        self.last_ts = if now > self.last_ts {
            now
        } else if self.last_ts.1 >= 999_999 {
            (self.last_ts.0 + 1, 0)
        } else {
            (self.last_ts.0, self.last_ts.1 + 1)
        };
        format!("{}.{:06}", self.last_ts.0, self.last_ts.1)
    }

    fn message_mut(&mut self, channel: &str, ts: &str) -> Option<&mut SlackMessage> {
        self.messages
            .get_mut(channel)?
            .iter_mut()
            .find(|m| m.ts == ts)
    }

    fn message(&self, channel: &str, ts: &str) -> Option<&SlackMessage> {
        self.messages.get(channel)?.iter().find(|m| m.ts == ts)
    }

    /// Wraps `event` for `source` and queues it; without a sink (the service is "down" or
    /// was never told) the event is lost, as Slack gives up on an unreachable app.
    fn emit(
        &mut self,
        source: Option<EventSource>,
        event: Value,
    ) -> Option<(Arc<Dispatcher>, Value)> {
        let source = source?;
        let dispatcher = self.dispatcher.clone()?;
        self.next_event += 1;
        let event_id = format!("Ev{:08}SIM", self.next_event);
        let time = u64::try_from(self.last_ts.0).unwrap_or_default();
        Some((dispatcher, event_callback(&source, &event_id, time, event)))
    }
}

/// Query parameters Slack documents beyond the vendored spec.
pub(super) fn documented_params(method: &str) -> &'static [&'static str] {
    match method {
        "conversations.history" | "conversations.replies" => &["include_all_metadata"],
        _ => &[],
    }
}

/// A successful answer without the fields Slack documents beyond the vendored spec
/// (`response_metadata`; a message's `metadata`, `edited`, `app_id`).
pub(super) fn spec_view(method: &str, body: &Value) -> Option<Value> {
    if !matches!(method, "conversations.history" | "conversations.replies") {
        return None;
    }
    // The spec's thread replies know neither bots nor reactions; Slack answers them for
    // both (see its `conversations.replies` reference).
    let beyond: &[&str] = if method == "conversations.replies" {
        &[
            "metadata",
            "edited",
            "app_id",
            "bot_id",
            "username",
            "reactions",
        ]
    } else {
        &["metadata", "edited", "app_id"]
    };
    let mut view = body.clone();
    let object = view.as_object_mut()?;
    object.remove("response_metadata");
    if let Some(messages) = object.get_mut("messages").and_then(Value::as_array_mut) {
        for message in messages.iter_mut().filter_map(Value::as_object_mut) {
            for field in beyond {
                message.remove(*field);
            }
        }
    }
    Some(view)
}

/// A request parameter from the JSON body, the form or the query (Slack takes all three).
fn param(exchange: &Exchange, name: &str) -> Option<String> {
    if let Some(value) = exchange.json.as_ref().and_then(|json| json.get(name)) {
        return match value {
            Value::String(text) => Some(text.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        };
    }
    exchange
        .form
        .iter()
        .chain(&exchange.query)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
}

fn error(code: &str) -> Value {
    json!({"ok": false, "error": code})
}

fn missing_scope(bot: &BotToken, needed: &str) -> Option<Value> {
    (!bot.scopes.iter().any(|scope| scope == needed)).then(|| {
        json!({"ok": false, "error": "missing_scope", "needed": needed,
               "provided": bot.scopes.join(",")})
    })
}

/// A `ts` as sortable (seconds, microseconds).
fn ts_key(ts: &str) -> (i64, u32) {
    let (seconds, fraction) = ts.split_once('.').unwrap_or((ts, "0"));
    let digits: String = fraction.chars().take(6).collect();
    (
        seconds.parse().unwrap_or(0),
        format!("{digits:0<6}").parse().unwrap_or(0),
    )
}

/// A message object as the Web API answers it.
fn message_json(message: &SlackMessage, with_metadata: bool, replies: &[&SlackMessage]) -> Value {
    let mut value = json!({"type": "message", "ts": message.ts, "text": message.text,
                           "user": message.user});
    if let Some(bot) = &message.bot_id {
        value["bot_id"] = json!(bot);
    }
    if let Some(username) = &message.username {
        value["username"] = json!(username);
    }
    if let Some(thread) = &message.thread_ts {
        value["thread_ts"] = json!(thread);
    }
    if let Some(edited) = &message.edited {
        value["edited"] = json!({"user": message.user, "ts": edited});
    }
    if let (true, Some(metadata)) = (with_metadata, &message.metadata) {
        value["metadata"] = metadata.clone();
    }
    if !replies.is_empty() {
        value["thread_ts"] = json!(message.ts);
        value["reply_count"] = json!(replies.len());
        value["latest_reply"] = json!(replies.last().map(|r| r.ts.clone()));
    }
    if !message.reactions.is_empty() {
        value["reactions"] = Value::Array(
            message
                .reactions
                .iter()
                .map(|(name, users)| json!({"name": name, "users": users, "count": users.len()}))
                .collect(),
        );
    }
    value
}

/// The message event of a new message, as the Events API delivers it.
fn message_event(
    message: &SlackMessage,
    channel: &Channel,
    app_id: Option<&str>,
    parent_user: Option<&str>,
) -> Value {
    let mut event = json!({
        "type": "message",
        "channel": message.channel,
        "user": message.user,
        "text": message.text,
        "ts": message.ts,
        "event_ts": message.ts,
        "channel_type": if channel.is_private { "group" } else { "channel" },
    });
    if let Some(bot) = &message.bot_id {
        event["bot_id"] = json!(bot);
        if let Some(app) = app_id {
            event["app_id"] = json!(app);
        }
    }
    if let Some(username) = &message.username {
        event["username"] = json!(username);
    }
    if let Some(thread) = &message.thread_ts {
        event["thread_ts"] = json!(thread);
        if let Some(parent_user) = parent_user {
            event["parent_user_id"] = json!(parent_user);
        }
    }
    if let Some(metadata) = &message.metadata {
        event["metadata"] = metadata.clone();
    }
    event
}

/// The author of the thread a reply is posted in (`parent_user_id`).
fn parent_user(chat: &Chat, message: &SlackMessage) -> Option<String> {
    let parent = message.thread_ts.as_deref()?;
    chat.message(&message.channel, parent)
        .map(|p| p.user.clone())
}

/// The inner message of a `message_changed` or `previous_message`.
fn inner_message(message: &SlackMessage) -> Value {
    let mut inner = json!({"type": "message", "user": message.user, "text": message.text,
                           "ts": message.ts});
    if let Some(bot) = &message.bot_id {
        inner["bot_id"] = json!(bot);
    }
    if let Some(thread) = &message.thread_ts {
        inner["thread_ts"] = json!(thread);
    }
    if let Some(edited) = &message.edited {
        inner["edited"] = json!({"user": message.user, "ts": edited});
    }
    if let Some(metadata) = &message.metadata {
        inner["metadata"] = metadata.clone();
    }
    inner
}

impl State {
    /// The channel `id` of the bot's workspace.
    fn bot_channel(&self, bot: &BotToken, id: &str) -> Option<&Channel> {
        self.workspaces
            .get(&bot.team_id)?
            .channels
            .iter()
            .find(|channel| channel.id == id)
    }

    /// A channel the bot may act in, or Slack's refusal.
    fn usable_channel(&self, bot: &BotToken, exchange: &Exchange) -> Result<&Channel, Value> {
        let id = param(exchange, "channel").unwrap_or_default();
        match self.bot_channel(bot, &id) {
            // Slack hides private channels from bots that are not in them.
            Some(channel) if channel.is_private && !channel.bot_is_member.get() => {
                Err(error("channel_not_found"))
            }
            Some(channel) if !channel.bot_is_member.get() => Err(error("not_in_channel")),
            Some(channel) if channel.is_archived => Err(error("is_archived")),
            Some(channel) => Ok(channel),
            None => Err(error("channel_not_found")),
        }
    }

    /// Where events of `team_id` are sent from: its bot's app.
    fn event_source(&self, team_id: &str) -> Option<EventSource> {
        let mut bots: Vec<&BotToken> = self
            .tokens
            .values()
            .filter(|bot| bot.team_id == team_id && !bot.revoked)
            .collect();
        bots.sort_by(|a, b| a.app_id.cmp(&b.app_id));
        bots.first().map(|bot| EventSource {
            team_id: team_id.to_owned(),
            api_app_id: bot.app_id.clone(),
            bot_user_id: bot.user_id.clone(),
        })
    }

    /// The team and channel of channel `id`, in any workspace.
    fn find_channel(&self, id: &str) -> Option<(&str, &Channel)> {
        self.workspaces.iter().find_map(|(team, workspace)| {
            workspace
                .channels
                .iter()
                .find(|channel| channel.id == id)
                .map(|channel| (team.as_str(), channel))
        })
    }

    fn chat(&self) -> std::sync::MutexGuard<'_, Chat> {
        lock(&self.chat)
    }

    /// Queues an event without waiting (events of the bot's own Web API calls).
    fn emit_now(&self, team_id: &str, event: Value) {
        let source = self.event_source(team_id);
        if let Some((dispatcher, payload)) = self.chat().emit(source, event) {
            dispatcher.emit(payload);
        }
    }

    pub(super) fn chat_post_message(
        &self,
        bot: &BotToken,
        exchange: &Exchange,
        _: &mut Vec<String>,
    ) -> Value {
        if let Some(refusal) = missing_scope(bot, "chat:write") {
            return refusal;
        }
        let channel = match self.usable_channel(bot, exchange) {
            Ok(channel) => channel,
            Err(refusal) => return refusal,
        };
        let Some(text) = param(exchange, "text").filter(|t| !t.is_empty()) else {
            return error("no_text");
        };
        if text.chars().count() > 40_000 {
            return error("msg_too_long");
        }
        let thread_ts = param(exchange, "thread_ts");
        let mut chat = self.chat();
        if let Some(parent) = &thread_ts
            && chat.message(&channel.id, parent).is_none()
        {
            return error("thread_not_found");
        }
        let message = SlackMessage {
            channel: channel.id.clone(),
            ts: chat.next_ts(),
            user: bot.user_id.clone(),
            bot_id: Some(bot.bot_id.clone()),
            username: param(exchange, "username"),
            icon_url: param(exchange, "icon_url"),
            text,
            thread_ts,
            metadata: exchange
                .json
                .as_ref()
                .and_then(|json| json.get("metadata"))
                .filter(|m| m.is_object())
                .cloned(),
            edited: None,
            reactions: BTreeMap::new(),
        };
        let parent_user = parent_user(&chat, &message);
        chat.messages
            .entry(channel.id.clone())
            .or_default()
            .push(message.clone());
        drop(chat);
        self.emit_now(
            &bot.team_id,
            message_event(&message, channel, Some(&bot.app_id), parent_user.as_deref()),
        );
        let mut answer = json!({"type": "message", "ts": message.ts, "text": message.text,
                                "user": message.user, "bot_id": message.bot_id});
        if let Some(username) = &message.username {
            answer["username"] = json!(username);
        }
        if let Some(thread) = &message.thread_ts {
            answer["thread_ts"] = json!(thread);
        }
        json!({"ok": true, "channel": channel.id, "ts": message.ts, "message": answer})
    }

    pub(super) fn chat_update(
        &self,
        bot: &BotToken,
        exchange: &Exchange,
        _: &mut Vec<String>,
    ) -> Value {
        if let Some(refusal) = missing_scope(bot, "chat:write") {
            return refusal;
        }
        let channel = match self.usable_channel(bot, exchange) {
            Ok(channel) => channel,
            Err(refusal) => return refusal,
        };
        let ts = param(exchange, "ts").unwrap_or_default();
        let text = param(exchange, "text").unwrap_or_default();
        let mut chat = self.chat();
        let edited_ts = chat.next_ts();
        let Some(message) = chat.message_mut(&channel.id, &ts) else {
            return error("message_not_found");
        };
        if message.bot_id.as_deref() != Some(bot.bot_id.as_str()) {
            return error("cant_update_message");
        }
        let previous = message.clone();
        message.text = text.clone();
        message.edited = Some(edited_ts.clone());
        let now = message.clone();
        drop(chat);
        self.emit_now(
            &bot.team_id,
            changed_event(channel, &previous, &now, &edited_ts),
        );
        json!({"ok": true, "channel": channel.id, "ts": ts, "text": text,
               "message": {"text": text}})
    }

    pub(super) fn chat_delete(
        &self,
        bot: &BotToken,
        exchange: &Exchange,
        _: &mut Vec<String>,
    ) -> Value {
        if let Some(refusal) = missing_scope(bot, "chat:write") {
            return refusal;
        }
        let channel = match self.usable_channel(bot, exchange) {
            Ok(channel) => channel,
            Err(refusal) => return refusal,
        };
        let ts = param(exchange, "ts").unwrap_or_default();
        let mut chat = self.chat();
        let Some(message) = chat.message(&channel.id, &ts).cloned() else {
            return error("message_not_found");
        };
        if message.bot_id.as_deref() != Some(bot.bot_id.as_str()) {
            return error("cant_delete_message");
        }
        let at = chat.next_ts();
        remove_message(&mut chat, &channel.id, &ts);
        drop(chat);
        self.emit_now(&bot.team_id, deleted_event(channel, &message, &at));
        json!({"ok": true, "channel": channel.id, "ts": ts})
    }

    pub(super) fn reactions_add(
        &self,
        bot: &BotToken,
        exchange: &Exchange,
        _: &mut Vec<String>,
    ) -> Value {
        self.react_as_bot(bot, exchange, true)
    }

    pub(super) fn reactions_remove(
        &self,
        bot: &BotToken,
        exchange: &Exchange,
        _: &mut Vec<String>,
    ) -> Value {
        self.react_as_bot(bot, exchange, false)
    }

    fn react_as_bot(&self, bot: &BotToken, exchange: &Exchange, add: bool) -> Value {
        if let Some(refusal) = missing_scope(bot, "reactions:write") {
            return refusal;
        }
        let channel = match self.usable_channel(bot, exchange) {
            Ok(channel) => channel,
            Err(refusal) => return refusal,
        };
        let ts = param(exchange, "timestamp").unwrap_or_default();
        let name = param(exchange, "name").unwrap_or_default();
        let mut chat = self.chat();
        let at = chat.next_ts();
        let Some(message) = chat.message_mut(&channel.id, &ts) else {
            return error("message_not_found");
        };
        if let Err(refusal) = apply_reaction(message, &bot.user_id, &name, add) {
            return error(refusal);
        }
        let item_user = message.user.clone();
        drop(chat);
        self.emit_now(
            &bot.team_id,
            reaction_event(&channel.id, &ts, &item_user, &bot.user_id, &name, add, &at),
        );
        json!({"ok": true})
    }

    pub(super) fn pins_add(
        &self,
        bot: &BotToken,
        exchange: &Exchange,
        _: &mut Vec<String>,
    ) -> Value {
        self.pin_as_bot(bot, exchange, true)
    }

    pub(super) fn pins_remove(
        &self,
        bot: &BotToken,
        exchange: &Exchange,
        _: &mut Vec<String>,
    ) -> Value {
        self.pin_as_bot(bot, exchange, false)
    }

    fn pin_as_bot(&self, bot: &BotToken, exchange: &Exchange, add: bool) -> Value {
        if let Some(refusal) = missing_scope(bot, "pins:write") {
            return refusal;
        }
        let channel = match self.usable_channel(bot, exchange) {
            Ok(channel) => channel,
            Err(refusal) => return refusal,
        };
        let ts = param(exchange, "timestamp").unwrap_or_default();
        let mut chat = self.chat();
        let at = chat.next_ts();
        let Some(message) = chat.message(&channel.id, &ts).cloned() else {
            return error("message_not_found");
        };
        if let Err(refusal) = apply_pin(&mut chat, &channel.id, &ts, add) {
            return error(refusal);
        }
        drop(chat);
        self.emit_now(
            &bot.team_id,
            pin_event(channel, &message, &bot.user_id, add, &at),
        );
        json!({"ok": true})
    }

    /// The history read's channel, checked for the history scope of its kind.
    fn history_channel(&self, bot: &BotToken, exchange: &Exchange) -> Result<&Channel, Value> {
        let id = param(exchange, "channel").unwrap_or_default();
        let channel = self
            .bot_channel(bot, &id)
            .filter(|c| !c.is_private || c.bot_is_member.get())
            .ok_or_else(|| error("channel_not_found"))?;
        let scope = if channel.is_private {
            "groups:history"
        } else {
            "channels:history"
        };
        if let Some(refusal) = missing_scope(bot, scope) {
            return Err(refusal);
        }
        if !channel.bot_is_member.get() {
            return Err(error("not_in_channel"));
        }
        Ok(channel)
    }

    pub(super) fn conversations_history(
        &self,
        bot: &BotToken,
        exchange: &Exchange,
        refused: &mut Vec<String>,
    ) -> Value {
        let channel = match self.history_channel(bot, exchange) {
            Ok(channel) => channel,
            Err(refusal) => return refusal,
        };
        let chat = self.chat();
        let all = chat
            .messages
            .get(&channel.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let window = Window::of(exchange);
        let with_metadata = param(exchange, "include_all_metadata").as_deref() == Some("true");
        // The channel's history holds top-level messages (thread parents among them), newest
        // first; replies are read with conversations.replies.
        let mut listed: Vec<&SlackMessage> = all
            .iter()
            .filter(|m| !m.is_reply() && window.holds(&m.ts))
            .collect();
        listed.reverse();
        let Some((page, next)) = page_of(&listed, exchange, refused) else {
            return error("invalid_limit");
        };
        let messages: Vec<Value> = page
            .iter()
            .map(|m| {
                let replies: Vec<&SlackMessage> = all
                    .iter()
                    .filter(|r| r.is_reply() && r.thread_ts.as_deref() == Some(m.ts.as_str()))
                    .collect();
                message_json(m, with_metadata, &replies)
            })
            .collect();
        let pin_count = chat.pins.get(&channel.id).map_or(0, BTreeSet::len);
        json!({
            "ok": true,
            "messages": messages,
            "has_more": !next.is_empty(),
            "pin_count": pin_count,
            "channel_actions_ts": Value::Null,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": next},
        })
    }

    pub(super) fn conversations_replies(
        &self,
        bot: &BotToken,
        exchange: &Exchange,
        refused: &mut Vec<String>,
    ) -> Value {
        let channel = match self.history_channel(bot, exchange) {
            Ok(channel) => channel,
            Err(refusal) => return refusal,
        };
        let parent_ts = param(exchange, "ts").unwrap_or_default();
        let chat = self.chat();
        let all = chat
            .messages
            .get(&channel.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(parent) = all.iter().find(|m| m.ts == parent_ts) else {
            return error("thread_not_found");
        };
        let window = Window::of(exchange);
        let with_metadata = param(exchange, "include_all_metadata").as_deref() == Some("true");
        let replies: Vec<&SlackMessage> = all
            .iter()
            .filter(|r| r.is_reply() && r.thread_ts.as_deref() == Some(parent_ts.as_str()))
            .collect();
        // The parent comes first on every page, as Slack answers it; then the replies in
        // the window, oldest first.
        let listed: Vec<&SlackMessage> = replies
            .iter()
            .copied()
            .filter(|r| window.holds(&r.ts))
            .collect();
        let Some((page, next)) = page_of(&listed, exchange, refused) else {
            return error("invalid_limit");
        };
        let mut first = message_json(parent, with_metadata, &replies);
        first["thread_ts"] = json!(parent.ts);
        first["reply_count"] = json!(replies.len());
        first["subscribed"] = json!(false);
        let mut messages = vec![first];
        messages.extend(page.iter().map(|r| {
            let mut reply = message_json(r, with_metadata, &[]);
            reply["parent_user_id"] = json!(parent.user);
            reply
        }));
        json!({
            "ok": true,
            "messages": messages,
            "has_more": !next.is_empty(),
            "response_metadata": {"next_cursor": next},
        })
    }

    pub(super) fn users_info(
        &self,
        bot: &BotToken,
        exchange: &Exchange,
        _: &mut Vec<String>,
    ) -> Value {
        if let Some(refusal) = missing_scope(bot, "users:read") {
            return refusal;
        }
        let id = param(exchange, "user").unwrap_or_default();
        let chat = self.chat();
        let Some(user) = chat.users.get(&id).filter(|u| u.team_id == bot.team_id) else {
            return error("user_not_found");
        };
        let mut profile = json!({
            "real_name": user.display_name,
            "real_name_normalized": user.display_name,
            "display_name": user.display_name,
            "display_name_normalized": user.display_name,
            "avatar_hash": "sim",
            "title": "",
            "phone": "",
            "skype": "",
            "status_text": "",
            "status_emoji": "",
            "fields": Value::Null,
            "team": user.team_id,
        });
        if let Some(avatar) = &user.avatar_url {
            profile["image_72"] = json!(avatar);
            profile["image_192"] = json!(avatar);
        }
        json!({
            "ok": true,
            "user": {
                "id": user.id,
                "team_id": user.team_id,
                "name": user.display_name.to_lowercase().replace(' ', "."),
                "real_name": user.display_name,
                "deleted": false,
                "is_bot": false,
                "is_app_user": false,
                "updated": 1_700_000_000,
                "profile": profile,
            },
        })
    }
}

/// The `oldest`/`latest`/`inclusive` window of a history read.
struct Window {
    oldest: Option<(i64, u32)>,
    latest: Option<(i64, u32)>,
    inclusive: bool,
}

impl Window {
    fn of(exchange: &Exchange) -> Self {
        Self {
            oldest: param(exchange, "oldest").map(|ts| ts_key(&ts)),
            latest: param(exchange, "latest").map(|ts| ts_key(&ts)),
            inclusive: matches!(param(exchange, "inclusive").as_deref(), Some("true" | "1")),
        }
    }

    fn holds(&self, ts: &str) -> bool {
        let key = ts_key(ts);
        let after = self
            .oldest
            .is_none_or(|oldest| key > oldest || (self.inclusive && key == oldest));
        let before = self
            .latest
            .is_none_or(|latest| key < latest || (self.inclusive && key == latest));
        after && before
    }
}

/// One page of `listed` by the request's `limit` and `cursor`, and the next cursor (empty at
/// the end); `None` for a limit Slack refuses.
fn page_of<'a>(
    listed: &[&'a SlackMessage],
    exchange: &Exchange,
    refused: &mut Vec<String>,
) -> Option<(Vec<&'a SlackMessage>, String)> {
    let limit = match param(exchange, "limit").map(|raw| raw.parse::<usize>()) {
        None | Some(Ok(0)) => 100,
        Some(Ok(limit @ 1..=MAX_HISTORY_LIMIT)) => limit,
        Some(_) => {
            refused.push(format!("`limit` is outside 1..={MAX_HISTORY_LIMIT}"));
            return None;
        }
    };
    let offset = param(exchange, "cursor")
        .filter(|c| !c.is_empty())
        .and_then(|c| decode_cursor(&c))
        .unwrap_or(0);
    let page: Vec<&SlackMessage> = listed.iter().skip(offset).take(limit).copied().collect();
    let next = if offset + limit < listed.len() {
        BASE64.encode(format!("offset:{}", offset + limit))
    } else {
        String::new()
    };
    Some((page, next))
}

fn remove_message(chat: &mut Chat, channel: &str, ts: &str) {
    if let Some(messages) = chat.messages.get_mut(channel) {
        messages.retain(|m| m.ts != ts);
    }
    if let Some(pins) = chat.pins.get_mut(channel) {
        pins.remove(ts);
    }
}

fn apply_reaction(
    message: &mut SlackMessage,
    user: &str,
    name: &str,
    add: bool,
) -> Result<(), &'static str> {
    let users = message.reactions.entry(name.to_owned()).or_default();
    let had = users.iter().any(|u| u == user);
    match (add, had) {
        (true, true) => return Err("already_reacted"),
        (false, false) => {
            if users.is_empty() {
                message.reactions.remove(name);
            }
            return Err("no_reaction");
        }
        (true, false) => users.push(user.to_owned()),
        (false, true) => users.retain(|u| u != user),
    }
    if message.reactions.get(name).is_some_and(Vec::is_empty) {
        message.reactions.remove(name);
    }
    Ok(())
}

fn apply_pin(chat: &mut Chat, channel: &str, ts: &str, add: bool) -> Result<(), &'static str> {
    let pins = chat.pins.entry(channel.to_owned()).or_default();
    match (add, pins.contains(ts)) {
        (true, true) => Err("already_pinned"),
        (false, false) => Err("no_pin"),
        (true, false) => {
            pins.insert(ts.to_owned());
            Ok(())
        }
        (false, true) => {
            pins.remove(ts);
            Ok(())
        }
    }
}

fn changed_event(
    channel: &Channel,
    previous: &SlackMessage,
    now: &SlackMessage,
    at: &str,
) -> Value {
    json!({
        "type": "message",
        "subtype": "message_changed",
        "hidden": true,
        "channel": channel.id,
        "channel_type": if channel.is_private { "group" } else { "channel" },
        "ts": at,
        "event_ts": at,
        "message": inner_message(now),
        "previous_message": inner_message(previous),
    })
}

fn deleted_event(channel: &Channel, previous: &SlackMessage, at: &str) -> Value {
    json!({
        "type": "message",
        "subtype": "message_deleted",
        "hidden": true,
        "channel": channel.id,
        "channel_type": if channel.is_private { "group" } else { "channel" },
        "ts": at,
        "deleted_ts": previous.ts,
        "event_ts": at,
        "previous_message": inner_message(previous),
    })
}

fn reaction_event(
    channel: &str,
    ts: &str,
    item_user: &str,
    user: &str,
    name: &str,
    add: bool,
    at: &str,
) -> Value {
    json!({
        "type": if add { "reaction_added" } else { "reaction_removed" },
        "user": user,
        "reaction": name,
        "item_user": item_user,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": at,
    })
}

fn pin_event(channel: &Channel, message: &SlackMessage, user: &str, add: bool, at: &str) -> Value {
    json!({
        "type": if add { "pin_added" } else { "pin_removed" },
        "user": user,
        "channel_id": channel.id,
        "item": {
            "type": "message",
            "channel": channel.id,
            "created": ts_key(at).0,
            "created_by": user,
            "message": inner_message(message),
        },
        "event_ts": at,
    })
}

/// Scripting: members, and actions taken "in Slack" by people, each emitting its Events API
/// callback to the configured sink (and waiting for the service's answer).
impl SlackSimulator {
    /// Adds a member to a workspace (what `users.info` answers).
    pub fn add_user(&self, team_id: &str, id: &str, display_name: &str, avatar_url: Option<&str>) {
        self.core.lock().state.chat().users.insert(
            id.to_owned(),
            SlackUser {
                team_id: team_id.to_owned(),
                id: id.to_owned(),
                display_name: display_name.to_owned(),
                avatar_url: avatar_url.map(str::to_owned),
            },
        );
    }

    /// Sends every event from now on through `sink`, one at a time in order (needs a Tokio
    /// runtime).
    pub fn deliver_events_to(&self, sink: Arc<dyn SlackEventSink>) {
        let violation = self.core.violation_recorder();
        let shared = self.core.lock();
        let mut chat = shared.state.chat();
        let sent = Arc::clone(&chat.sent);
        chat.dispatcher = Some(Arc::new(Dispatcher::start(sink, sent, violation)));
    }

    /// Sends every event from now on to the Events API Request URL `url`
    /// (`http://…/webhooks/slack/events`), signed with `signing_secret`.
    pub fn deliver_events_api(&self, url: &str, signing_secret: &str) {
        self.deliver_events_to(Arc::new(EventsApiSink::new(url, signing_secret)));
    }

    /// Stops sending events (the service is unreachable): what happens meanwhile is only in
    /// the channels' history.
    pub fn stop_events(&self) {
        self.core.lock().state.chat().dispatcher = None;
    }

    /// Every event sent so far, with the service's answer.
    #[must_use]
    pub fn sent_events(&self) -> Vec<SentEvent> {
        let sent = Arc::clone(&self.core.lock().state.chat().sent);
        lock(&sent).clone()
    }

    /// Sends `payload` through the configured sink as `delivery` says (a retry, a forged
    /// signature, a stale timestamp); answers the service's status.
    ///
    /// # Panics
    /// When no sink is configured.
    pub async fn send_payload(&self, payload: Value, delivery: Delivery) -> Option<u16> {
        let dispatcher = self
            .core
            .lock()
            .state
            .chat()
            .dispatcher
            .clone()
            .expect("deliver_events_to before send_payload");
        dispatcher
            .emit_waiting(payload, delivery)
            .await
            .ok()
            .flatten()
    }

    /// Every live message of a channel (replies included), in `ts` order.
    #[must_use]
    pub fn messages(&self, channel: &str) -> Vec<SlackMessage> {
        self.core
            .lock()
            .state
            .chat()
            .messages
            .get(channel)
            .cloned()
            .unwrap_or_default()
    }

    /// The `ts` of every pinned message of a channel.
    #[must_use]
    pub fn pins(&self, channel: &str) -> Vec<String> {
        self.core
            .lock()
            .state
            .chat()
            .pins
            .get(channel)
            .map(|pins| pins.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Runs `act` on the chat of `channel`'s workspace, then sends the event it answers and
    /// waits for the service's status (`None` when no sink is configured).
    async fn act<T>(
        &self,
        channel: &str,
        act: impl FnOnce(&mut Chat, &Channel) -> (T, Option<Value>),
    ) -> T {
        let (result, queued) = {
            let shared = self.core.lock();
            let state = &shared.state;
            let (team, found) = state
                .find_channel(channel)
                .unwrap_or_else(|| panic!("add_channel({channel:?}) before acting in it"));
            let source = state.event_source(team);
            let mut chat = state.chat();
            let (result, event) = act(&mut chat, found);
            let queued = event.and_then(|event| chat.emit(source, event));
            (result, queued)
        };
        if let Some((dispatcher, payload)) = queued {
            let _ = dispatcher.emit_waiting(payload, Delivery::default()).await;
        }
        result
    }

    /// `user` posts `text` in `channel`; answers its `ts`.
    pub async fn post_as_user(&self, channel: &str, user: &str, text: &str) -> String {
        self.post(channel, user, text, None).await
    }

    /// `user` replies `text` in the thread of `parent_ts`; answers the reply's `ts`.
    pub async fn reply_as_user(
        &self,
        channel: &str,
        parent_ts: &str,
        user: &str,
        text: &str,
    ) -> String {
        self.post(channel, user, text, Some(parent_ts.to_owned()))
            .await
    }

    async fn post(&self, channel: &str, user: &str, text: &str, thread: Option<String>) -> String {
        let (user, text) = (user.to_owned(), text.to_owned());
        self.act(channel, move |chat, found| {
            let message = SlackMessage {
                channel: found.id.clone(),
                ts: chat.next_ts(),
                user,
                bot_id: None,
                username: None,
                icon_url: None,
                text,
                thread_ts: thread,
                metadata: None,
                edited: None,
                reactions: BTreeMap::new(),
            };
            let parent_user = parent_user(chat, &message);
            chat.messages
                .entry(found.id.clone())
                .or_default()
                .push(message.clone());
            let event = message_event(&message, found, None, parent_user.as_deref());
            (message.ts, Some(event))
        })
        .await
    }

    /// Its author edits the message `ts` of `channel` to `text`.
    ///
    /// # Panics
    /// When there is no such message.
    pub async fn edit_as_user(&self, channel: &str, ts: &str, text: &str) {
        let (ts, text) = (ts.to_owned(), text.to_owned());
        self.act(channel, move |chat, found| {
            let at = chat.next_ts();
            let message = chat
                .message_mut(&found.id, &ts)
                .unwrap_or_else(|| panic!("no message {ts} to edit"));
            let previous = message.clone();
            message.text = text;
            message.edited = Some(at.clone());
            let now = message.clone();
            ((), Some(changed_event(found, &previous, &now, &at)))
        })
        .await;
    }

    /// Its author deletes the message `ts` of `channel`.
    ///
    /// # Panics
    /// When there is no such message.
    pub async fn delete_as_user(&self, channel: &str, ts: &str) {
        let ts = ts.to_owned();
        self.act(channel, move |chat, found| {
            let previous = chat
                .message(&found.id, &ts)
                .cloned()
                .unwrap_or_else(|| panic!("no message {ts} to delete"));
            let at = chat.next_ts();
            remove_message(chat, &found.id, &ts);
            ((), Some(deleted_event(found, &previous, &at)))
        })
        .await;
    }

    /// `user` adds the reaction `name` (`tada`, `+1::skin-tone-3`) to the message `ts`.
    ///
    /// # Panics
    /// When there is no such message or the user already reacted so.
    pub async fn react_as_user(&self, channel: &str, ts: &str, user: &str, name: &str) {
        self.reaction(channel, ts, user, name, true).await;
    }

    /// `user` removes their reaction `name` from the message `ts`.
    ///
    /// # Panics
    /// When there is no such reaction.
    pub async fn unreact_as_user(&self, channel: &str, ts: &str, user: &str, name: &str) {
        self.reaction(channel, ts, user, name, false).await;
    }

    async fn reaction(&self, channel: &str, ts: &str, user: &str, name: &str, add: bool) {
        let (ts, user, name) = (ts.to_owned(), user.to_owned(), name.to_owned());
        self.act(channel, move |chat, found| {
            let at = chat.next_ts();
            let message = chat
                .message_mut(&found.id, &ts)
                .unwrap_or_else(|| panic!("no message {ts} to react to"));
            if let Err(refusal) = apply_reaction(message, &user, &name, add) {
                panic!("cannot change the reaction: {refusal}");
            }
            let item_user = message.user.clone();
            let event = reaction_event(&found.id, &ts, &item_user, &user, &name, add, &at);
            ((), Some(event))
        })
        .await;
    }

    /// `user` pins the message `ts` of `channel`.
    ///
    /// # Panics
    /// When there is no such message or it is pinned already.
    pub async fn pin_as_user(&self, channel: &str, ts: &str, user: &str) {
        self.pinning(channel, ts, user, true).await;
    }

    /// `user` unpins the message `ts` of `channel`.
    ///
    /// # Panics
    /// When it is not pinned.
    pub async fn unpin_as_user(&self, channel: &str, ts: &str, user: &str) {
        self.pinning(channel, ts, user, false).await;
    }

    async fn pinning(&self, channel: &str, ts: &str, user: &str, add: bool) {
        let (ts, user) = (ts.to_owned(), user.to_owned());
        self.act(channel, move |chat, found| {
            let at = chat.next_ts();
            let message = chat
                .message(&found.id, &ts)
                .cloned()
                .unwrap_or_else(|| panic!("no message {ts} to pin"));
            if let Err(refusal) = apply_pin(chat, &found.id, &ts, add) {
                panic!("cannot change the pin: {refusal}");
            }
            ((), Some(pin_event(found, &message, &user, add, &at)))
        })
        .await;
    }
}
