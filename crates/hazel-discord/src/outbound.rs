//! [`DiscordOutbound`]: the [`ChatOutbound`] port over Discord's REST API — messages through
//! a per-channel webhook of the bot's application (under the Hazel author's name and
//! avatar), reactions, pins and threads through the bot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hazel_domain::model::Timestamp;
use hazel_domain::model::chat_sync::{Credentials, ExternalMessageId, Provider};
use hazel_domain::model::split::split_message;
use hazel_domain::model::sync::{
    AuthFailure, DeliveryError, ExternalRefs, OutboundMessage, OutboundTarget, ReactionEmoji,
    ThreadRef, ThreadTarget,
};
use hazel_domain::ports::{ChatOutbound, LinkSecrets};
use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{RawAnswer, RawCall, RestApi};
use crate::delivery::{DiscordFailure, classify_delivery};
use crate::markdown;
use crate::ratelimit::{RateLimits, bucket_key};
use crate::settings::DiscordSettings;

/// The most characters one Discord message holds; longer texts are split.
pub const MAX_MESSAGE_CHARS: usize = 2_000;

/// The name of the webhook the service creates in each linked channel.
pub const WEBHOOK_NAME: &str = "Hazel Sync";

/// The most characters of a webhook username.
pub const MAX_USERNAME_CHARS: usize = 80;

/// The most characters of a thread name.
pub const MAX_THREAD_NAME_CHARS: usize = 100;

/// How long one delivery call may take, connecting included.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long before the send time [`ChatOutbound::find_by_origin`] looks.
const LOOK_BEFORE: Duration = Duration::from_secs(120);

/// Discord's JSON error code "Unknown Webhook".
const UNKNOWN_WEBHOOK: u64 = 10_015;
/// Discord's JSON error code "Unknown Message".
const UNKNOWN_MESSAGE: u64 = 10_008;
/// Discord's JSON error code "A thread has already been created for this message".
const THREAD_EXISTS: u64 = 160_004;

/// Discord's epoch (2015-01-01T00:00:00Z), in Unix milliseconds.
const DISCORD_EPOCH_MS: i128 = 1_420_070_400_000;

/// A persona name as a Discord webhook username: 1 to 80 characters, with "discord" and
/// "clyde" (which Discord refuses in any case) written with a look-alike digit (`disc0rd`,
/// `clyd3`), so the message still goes out under the author's name. An empty name becomes
/// "Hazel user".
#[must_use]
pub fn webhook_username(name: &str) -> String {
    let mut name: String = name.trim().to_owned();
    for (word, at, digit) in [("discord", 4, '0'), ("clyde", 4, '3')] {
        // The words are ASCII, so a match is replaced byte for byte; a replaced letter is a
        // digit, so no new match can appear.
        while let Some(start) = find_ascii_insensitive(&name, word) {
            let replace_at = start + at;
            name.replace_range(replace_at..=replace_at, &digit.to_string());
        }
    }
    let name: String = name.chars().take(MAX_USERNAME_CHARS).collect();
    let name = name.trim().to_owned();
    if name.is_empty() {
        "Hazel user".to_owned()
    } else {
        name
    }
}

/// The byte index of the first ASCII-case-insensitive occurrence of `word` (ASCII) in `text`.
fn find_ascii_insensitive(text: &str, word: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let needle = word.as_bytes();
    (0..=bytes.len().checked_sub(needle.len())?)
        .find(|&at| bytes[at..at + needle.len()].eq_ignore_ascii_case(needle))
}

/// A message's text as Discord parts: converted to Discord Markdown, its attachments as
/// links, split at [`MAX_MESSAGE_CHARS`]; with the mentions every part may ping.
#[must_use]
pub fn message_parts(message: &OutboundMessage) -> (Vec<String>, markdown::AllowedMentions) {
    let converted = markdown::to_discord(&message.content, &message.mentions);
    let mut text = converted.content;
    for attachment in &message.attachments {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!(
            "[{}]({})",
            attachment.name.as_str().replace(['[', ']'], ""),
            attachment.url.as_str()
        ));
    }
    if text.trim().is_empty() {
        // Discord refuses an empty message.
        text = "\u{200b}".to_owned();
    }
    (
        split_message(&text, MAX_MESSAGE_CHARS),
        converted.allowed_mentions,
    )
}

/// A message as this adapter names it: messages in a thread are `<thread id>/<message id>`
/// (every route acting on them needs the thread), others their id alone. The Gateway intake
/// names the messages it receives the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageRef<'a> {
    /// The thread the message is in, if any.
    pub thread: Option<&'a str>,
    /// The message's own id.
    pub message: &'a str,
}

impl<'a> MessageRef<'a> {
    /// Reads an external message id.
    #[must_use]
    pub fn of(id: &'a ExternalMessageId) -> Self {
        match id.as_str().split_once('/') {
            Some((thread, message)) => Self {
                thread: Some(thread),
                message,
            },
            None => Self {
                thread: None,
                message: id.as_str(),
            },
        }
    }

    /// The id of a message `message` in `thread` (or in the channel itself).
    ///
    /// # Errors
    /// [`DeliveryError::Ambiguous`] when Discord answered an unusable id.
    pub fn external(
        thread: Option<&str>,
        message: &str,
    ) -> Result<ExternalMessageId, DeliveryError> {
        let raw = match thread {
            Some(thread) => format!("{thread}/{message}"),
            None => message.to_owned(),
        };
        ExternalMessageId::parse("id", &raw).map_err(|_| DeliveryError::Ambiguous {
            reason: "Discord answered with an unusable message id".to_owned(),
        })
    }
}

/// The bot token of a delivery target's credentials.
fn token(target: &OutboundTarget) -> Result<&SecretString, DeliveryError> {
    match &target.credentials {
        Credentials::Discord { bot_token, .. } => Ok(bot_token),
        other => Err(DeliveryError::Auth {
            code: AuthFailure::InvalidCredentials,
            reason: format!("expected Discord credentials, got {}", other.provider()),
        }),
    }
}

/// A webhook the service posts through (its token is a secret: never logged or answered).
#[derive(Clone)]
struct Webhook {
    id: String,
    token: SecretString,
}

/// The most started threads remembered; past it the memory starts over (a thread not
/// remembered costs one call answered "already created").
const REMEMBER_THREADS: usize = 10_000;

/// What the adapter remembers between calls: webhooks, rate limits and
/// the threads known to exist.
#[derive(Default)]
struct Memory {
    /// (bot user or application, channel) → webhook.
    webhooks: HashMap<(String, String), Webhook>,
    limits: RateLimits,
    /// (channel, starter message) of threads that exist (started here, or answered
    /// "already created").
    threads: std::collections::HashSet<(String, String)>,
}

/// The Discord adapter of [`ChatOutbound`].
#[derive(Clone)]
pub struct DiscordOutbound {
    api: RestApi,
    memory: Arc<Mutex<Memory>>,
    /// Where each link's webhook is kept, sealed, across restarts.
    secrets: Option<Arc<dyn LinkSecrets>>,
}

impl std::fmt::Debug for DiscordOutbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordOutbound")
            .field("api_url", &self.api.base())
            .finish_non_exhaustive()
    }
}

/// A webhook object, as far as the adapter reads it.
#[derive(Debug, Deserialize)]
struct WebhookObject {
    id: String,
    name: Option<String>,
    token: Option<String>,
    application_id: Option<String>,
    user: Option<UserObject>,
}

#[derive(Debug, Deserialize)]
struct UserObject {
    id: String,
}

/// A message object, as far as the adapter reads it.
#[derive(Debug, Deserialize)]
struct MessageObject {
    id: String,
    #[serde(default)]
    content: String,
    webhook_id: Option<String>,
    author: Option<AuthorObject>,
}

#[derive(Debug, Deserialize)]
struct AuthorObject {
    #[serde(default)]
    username: String,
}

/// A channel object (a new thread), as far as the adapter reads it.
#[derive(Debug, Deserialize)]
struct ChannelObject {
    id: String,
}

/// The major parameter of a call: what its bucket is per.
#[derive(Clone, Copy)]
struct Major<'a>(&'a str);

impl DiscordOutbound {
    /// An adapter reaching the REST API at `settings.api_url` through `http`; every call is
    /// bounded by a 15 s timeout that includes connecting.
    #[must_use]
    pub fn new(settings: &DiscordSettings, http: reqwest::Client) -> Self {
        Self {
            api: RestApi::new(&settings.api_url, http, DEFAULT_TIMEOUT),
            memory: Arc::default(),
            secrets: None,
        }
    }

    /// The same adapter keeping each link's webhook (id and token) in `secrets`, sealed,
    /// so a restarted process posts through the same webhook without looking for it.
    #[must_use]
    pub fn with_link_secrets(mut self, secrets: Arc<dyn LinkSecrets>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// The same adapter with another per-call timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.api.set_timeout(timeout);
        self
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        match self.memory.lock() {
            Ok(guard) => guard,
            // The memory holds caches only; a panic elsewhere leaves them usable.
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// One call through the rate limits: refused at once while its bucket or the global
    /// limit holds; otherwise sent, its answer's bucket state learnt, and a failure
    /// classified. Answers the body of a success.
    async fn call(
        &self,
        major: Major<'_>,
        call: RawCall<'_>,
    ) -> Result<Vec<u8>, (DeliveryError, Option<u64>)> {
        let key = bucket_key(call.route, major.0);
        self.memory()
            .limits
            .check(&key, Instant::now())
            .map_err(|limited| (limited, None))?;
        let route = call.route;
        let answer = self.api.exchange(call).await.map_err(|failure| {
            (
                classify_delivery(route, DiscordFailure::Transport(failure)),
                None,
            )
        })?;
        let now = Instant::now();
        self.memory().limits.record(&key, &answer.headers, now);
        if (200..300).contains(&answer.status) {
            return Ok(answer.body);
        }
        let (error, code) = failure_of(route, &answer);
        self.memory().limits.limited(&key, &error, now);
        Err((error, code))
    }

    /// [`Self::call`] without the error code.
    async fn send(&self, major: Major<'_>, call: RawCall<'_>) -> Result<Vec<u8>, DeliveryError> {
        self.call(major, call).await.map_err(|(error, _)| error)
    }

    /// The webhook of `channel`: remembered, else the one kept (sealed) for the link, else
    /// the one of the bot's application named [`WEBHOOK_NAME`] among the channel's webhooks,
    /// else a new one; one found or made is kept for the link.
    async fn webhook(&self, target: &OutboundTarget) -> Result<Webhook, DeliveryError> {
        let key = self.webhook_key(target);
        if let Some(webhook) = self.memory().webhooks.get(&key) {
            return Ok(webhook.clone());
        }
        if let Some(webhook) = self.kept_webhook(target).await {
            self.memory().webhooks.insert(key, webhook.clone());
            return Ok(webhook);
        }
        let webhook = self.find_or_create_webhook(target).await?;
        self.keep_webhook(target, &webhook).await;
        self.memory().webhooks.insert(key, webhook.clone());
        Ok(webhook)
    }

    /// The webhook kept for the target's link, if any; a failure to read it is logged and
    /// treated as none (the webhook is looked for on Discord then).
    async fn kept_webhook(&self, target: &OutboundTarget) -> Option<Webhook> {
        use secrecy::ExposeSecret;
        let secrets = self.secrets.as_ref()?;
        match secrets.get(target.link).await {
            Ok(Some(secret)) => {
                let parsed = secret
                    .expose_secret()
                    .split_once(':')
                    .filter(|(id, token)| crate::provider::is_snowflake(id) && !token.is_empty())
                    .map(|(id, token)| Webhook {
                        id: id.to_owned(),
                        token: SecretString::from(token.to_owned()),
                    });
                if parsed.is_none() {
                    tracing::warn!(link = %target.link, "the link's kept Discord webhook is unusable");
                }
                parsed
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(link = %target.link, %error, "the link's Discord webhook could not be read");
                None
            }
        }
    }

    /// Keeps `webhook` (sealed) for the target's link; a failure is logged (the webhook is
    /// found again on Discord after a restart).
    async fn keep_webhook(&self, target: &OutboundTarget, webhook: &Webhook) {
        use secrecy::ExposeSecret;
        let Some(secrets) = &self.secrets else {
            return;
        };
        let secret =
            SecretString::from(format!("{}:{}", webhook.id, webhook.token.expose_secret()));
        if let Err(error) = secrets.set(target.link, secret).await {
            tracing::warn!(link = %target.link, %error, "the link's Discord webhook could not be kept");
        }
    }

    /// The bot's webhook among the channel's, else a new one.
    async fn find_or_create_webhook(
        &self,
        target: &OutboundTarget,
    ) -> Result<Webhook, DeliveryError> {
        let token = token(target)?;
        let channel = target.channel.as_str();
        let listed = self
            .send(
                Major(channel),
                RawCall {
                    method: Method::GET,
                    route: "/channels/{channel_id}/webhooks",
                    segments: &["channels", channel, "webhooks"],
                    query: &[],
                    body: None,
                    token: Some(token),
                },
            )
            .await?;
        let hooks: Vec<WebhookObject> = decode("/channels/{channel_id}/webhooks", &listed)?;
        let ours = hooks
            .into_iter()
            .filter(|hook| hook.name.as_deref() == Some(WEBHOOK_NAME) && self.is_ours(target, hook))
            .filter_map(|hook| hook.token.map(|token| (hook.id, token)))
            .min_by_key(|(id, _)| id.parse::<u64>().unwrap_or(u64::MAX));
        match ours {
            Some((id, token)) => Ok(Webhook {
                id,
                token: SecretString::from(token),
            }),
            None => self.create_webhook(target, token).await,
        }
    }

    fn webhook_key(&self, target: &OutboundTarget) -> (String, String) {
        let bot = target
            .bot
            .as_ref()
            .map_or_else(String::new, |bot| bot.user_id.as_str().to_owned());
        (bot, target.channel.as_str().to_owned())
    }

    /// Whether a webhook belongs to the bot: made by its application or its user.
    fn is_ours(&self, target: &OutboundTarget, hook: &WebhookObject) -> bool {
        let Some(bot) = &target.bot else {
            // Without the bot's identity any webhook of the service's name is taken.
            return true;
        };
        let by_app = bot
            .app_id
            .as_ref()
            .is_some_and(|app| hook.application_id.as_deref() == Some(app.as_str()));
        let by_user = hook
            .user
            .as_ref()
            .is_some_and(|user| user.id == bot.user_id.as_str());
        by_app || by_user
    }

    async fn create_webhook(
        &self,
        target: &OutboundTarget,
        token: &SecretString,
    ) -> Result<Webhook, DeliveryError> {
        let channel = target.channel.as_str();
        let body = json!({"name": WEBHOOK_NAME});
        let created = self
            .send(
                Major(channel),
                RawCall {
                    method: Method::POST,
                    route: "/channels/{channel_id}/webhooks",
                    segments: &["channels", channel, "webhooks"],
                    query: &[],
                    body: Some(&body),
                    token: Some(token),
                },
            )
            .await?;
        let hook: WebhookObject = decode("/channels/{channel_id}/webhooks", &created)?;
        let token = hook.token.ok_or_else(|| DeliveryError::Rejected {
            reason: "Discord created the channel's webhook without a token".to_owned(),
        })?;
        tracing::debug!(discord.channel = channel, "Discord webhook created");
        Ok(Webhook {
            id: hook.id,
            token: SecretString::from(token),
        })
    }

    /// Forgets the channel's webhook (deleted on Discord), in memory and for the link, so
    /// the next call finds or makes another.
    async fn forget_webhook(&self, target: &OutboundTarget) {
        let key = self.webhook_key(target);
        self.memory().webhooks.remove(&key);
        if let Some(secrets) = &self.secrets
            && let Err(error) = secrets.forget(target.link).await
        {
            tracing::warn!(link = %target.link, %error, "the link's gone Discord webhook could not be forgotten");
        }
    }

    /// Posts one part through the webhook (`wait=true`): its message id.
    async fn execute(
        &self,
        webhook: &Webhook,
        thread: Option<&str>,
        body: &Value,
    ) -> Result<String, (DeliveryError, Option<u64>)> {
        use secrecy::ExposeSecret;
        let mut query = vec![("wait", "true".to_owned())];
        if let Some(thread) = thread {
            query.push(("thread_id", thread.to_owned()));
        }
        let answer = self
            .call(
                Major(&webhook.id),
                RawCall {
                    method: Method::POST,
                    route: "/webhooks/{webhook_id}/{webhook_token}",
                    segments: &["webhooks", &webhook.id, webhook.token.expose_secret()],
                    query: &query,
                    body: Some(body),
                    token: None,
                },
            )
            .await?;
        let posted: MessageObject =
            decode("/webhooks/{webhook_id}/{webhook_token}", &answer).map_err(|e| (e, None))?;
        Ok(posted.id)
    }

    /// Calls a webhook message route (`PATCH` or `DELETE`).
    async fn webhook_message(
        &self,
        webhook: &Webhook,
        method: Method,
        message: MessageRef<'_>,
        body: Option<&Value>,
    ) -> Result<(), (DeliveryError, Option<u64>)> {
        use secrecy::ExposeSecret;
        let query: Vec<(&str, String)> = message
            .thread
            .map(|thread| ("thread_id", thread.to_owned()))
            .into_iter()
            .collect();
        self.call(
            Major(&webhook.id),
            RawCall {
                method,
                route: "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                segments: &[
                    "webhooks",
                    &webhook.id,
                    webhook.token.expose_secret(),
                    "messages",
                    message.message,
                ],
                query: &query,
                body,
                token: None,
            },
        )
        .await
        .map(drop)
    }

    /// Runs `act` with the channel's webhook, once more with a fresh one when Discord says
    /// the webhook is gone (deleted by a server admin).
    async fn with_webhook<T, F, Fut>(
        &self,
        target: &OutboundTarget,
        act: F,
    ) -> Result<T, DeliveryError>
    where
        F: Fn(Webhook) -> Fut,
        Fut: Future<Output = Result<T, (DeliveryError, Option<u64>)>>,
    {
        let webhook = self.webhook(target).await?;
        match act(webhook).await {
            Err((_, Some(UNKNOWN_WEBHOOK))) => {
                self.forget_webhook(target).await;
                let webhook = self.webhook(target).await?;
                act(webhook).await.map_err(|(error, _)| error)
            }
            other => other.map_err(|(error, _)| error),
        }
    }

    /// The body of one part.
    fn part_body(
        message: &OutboundMessage,
        content: &str,
        allowed: &markdown::AllowedMentions,
    ) -> Value {
        let mut body = json!({
            "content": content,
            "username": webhook_username(message.persona.name.as_str()),
            "allowed_mentions": allowed.body(),
        });
        if let Some(avatar) = &message.persona.avatar_url {
            body["avatar_url"] = json!(avatar.as_str());
        }
        body
    }

    /// Posts `parts` in order; a failure after the first part is ambiguous (some parts exist).
    async fn post_parts(
        &self,
        target: &OutboundTarget,
        message: &OutboundMessage,
        thread: Option<&str>,
        parts: &[String],
        allowed: &markdown::AllowedMentions,
    ) -> Result<Vec<ExternalMessageId>, (DeliveryError, usize)> {
        let mut posted = Vec::new();
        for part in parts {
            let body = Self::part_body(message, part, allowed);
            let id = self
                .with_webhook(target, |webhook| {
                    let body = &body;
                    async move { self.execute(&webhook, thread, body).await }
                })
                .await
                .map_err(|error| (error, posted.len()))?;
            posted.push(MessageRef::external(thread, &id).map_err(|e| (e, posted.len()))?);
        }
        Ok(posted)
    }

    /// The thread a message goes to: none for a top-level message; for a reply, the thread
    /// channel the domain knows, or the thread its parent is in, or else the thread started
    /// from its parent message. Discord names a thread started from a message after the
    /// message, so that thread's id is the parent's: one this process started or saw exist
    /// is reused without a call; otherwise it is started now
    /// (`POST /channels/{channel_id}/messages/{message_id}/threads`, named after the parent's
    /// first line), and "already created" (160004, started elsewhere or before a restart)
    /// answers the same thread.
    async fn reply_thread(
        &self,
        target: &OutboundTarget,
        message: &OutboundMessage,
    ) -> Result<Option<String>, DeliveryError> {
        let ThreadTarget::Reply(thread) = &message.thread else {
            return Ok(None);
        };
        if let Some(channel) = &thread.channel {
            return Ok(Some(channel.as_str().to_owned()));
        }
        let parent = MessageRef::of(&thread.parent);
        if let Some(inside) = parent.thread {
            // The parent is a message inside a thread already: the reply joins that thread.
            return Ok(Some(inside.to_owned()));
        }
        let key = (
            target.channel.as_str().to_owned(),
            parent.message.to_owned(),
        );
        if self.memory().threads.contains(&key) {
            return Ok(Some(parent.message.to_owned()));
        }
        let name = thread_name(&self.message_content(target, parent.message).await?);
        let started = self.start_thread(target, &thread.parent, &name).await?;
        // `start_thread` remembers the thread.
        Ok(Some(started.channel.map_or_else(
            || parent.message.to_owned(),
            |c| c.as_str().to_owned(),
        )))
    }

    /// The content of a message of the target channel
    /// (`GET /channels/{channel_id}/messages/{message_id}`).
    async fn message_content(
        &self,
        target: &OutboundTarget,
        message: &str,
    ) -> Result<String, DeliveryError> {
        const ROUTE: &str = "/channels/{channel_id}/messages/{message_id}";
        let token = token(target)?;
        let channel = target.channel.as_str();
        let read = self
            .send(
                Major(channel),
                RawCall {
                    method: Method::GET,
                    route: ROUTE,
                    segments: &["channels", channel, "messages", message],
                    query: &[],
                    body: None,
                    token: Some(token),
                },
            )
            .await?;
        let object: MessageObject = decode(ROUTE, &read)?;
        Ok(object.content)
    }

    /// A bot call acting on one message of the target channel (or its thread).
    async fn on_message(
        &self,
        target: &OutboundTarget,
        method: Method,
        route: &'static str,
        message: MessageRef<'_>,
        tail: &[&str],
    ) -> Result<(), DeliveryError> {
        let token = token(target)?;
        let channel = message.thread.unwrap_or(target.channel.as_str());
        let mut segments = vec!["channels", channel];
        segments.extend_from_slice(tail);
        self.send(
            Major(channel),
            RawCall {
                method,
                route,
                segments: &segments,
                query: &[],
                body: None,
                token: Some(token),
            },
        )
        .await
        .map(drop)
    }
}

/// The delivery error of a failed answer, with Discord's JSON error code.
fn failure_of(route: &str, answer: &RawAnswer) -> (DeliveryError, Option<u64>) {
    let body: Option<Value> = serde_json::from_slice(&answer.body).ok();
    let field = |name: &str| body.as_ref().and_then(|b| b.get(name));
    let code = field("code").and_then(Value::as_u64);
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let error = classify_delivery(
        route,
        DiscordFailure::Answer {
            status: answer.status,
            code,
            retry_after: field("retry_after").and_then(Value::as_f64),
            global: field("global").and_then(Value::as_bool).unwrap_or(false)
                || header("x-ratelimit-global") == Some("true"),
            retry_after_header: header("retry-after"),
            scope: header("x-ratelimit-scope"),
        },
    );
    (error, code)
}

/// Decodes a successful answer; an unreadable one means the outcome is unknown.
fn decode<T: serde::de::DeserializeOwned>(route: &str, bytes: &[u8]) -> Result<T, DeliveryError> {
    hazel_provider_http::decode(bytes).map_err(|failure| {
        tracing::debug!(
            discord.route = route,
            path = %failure.path(),
            "unexpected Discord answer shape"
        );
        DeliveryError::Ambiguous {
            reason: format!("Discord answered {route} with a body of an unexpected shape"),
        }
    })
}

/// The smallest snowflake of a message sent at `at` (Unix milliseconds).
pub(crate) fn snowflake_at(at: Timestamp) -> String {
    let unix_ms = at.unix_timestamp_nanos() / 1_000_000;
    let since_epoch = u64::try_from((unix_ms - DISCORD_EPOCH_MS).max(0)).unwrap_or(0);
    (since_epoch << 22).to_string()
}

/// The name of a thread started from a message whose content is `content`: its first
/// line that is not blank, cut to [`MAX_THREAD_NAME_CHARS`]; "Thread" when it has none (an
/// attachment alone).
fn thread_name(content: &str) -> String {
    let line = content
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or_default();
    let name: String = line.chars().take(MAX_THREAD_NAME_CHARS).collect();
    let name = name.trim().to_owned();
    if name.is_empty() {
        "Thread".to_owned()
    } else {
        name
    }
}

/// An emoji as Discord's reaction routes take it; `None` for a custom emoji, which needs
/// the guild's emoji id the service does not have.
fn reaction_segment(emoji: &ReactionEmoji) -> Option<&str> {
    match emoji {
        ReactionEmoji::Unicode(emoji) => Some(emoji),
        ReactionEmoji::Custom(_) => None,
    }
}

#[async_trait]
impl ChatOutbound for DiscordOutbound {
    fn provider(&self) -> Provider {
        Provider::Discord
    }

    async fn post(
        &self,
        target: &OutboundTarget,
        message: &OutboundMessage,
    ) -> Result<ExternalRefs, DeliveryError> {
        let (parts, allowed) = message_parts(message);
        let thread = self.reply_thread(target, message).await?;
        let posted = self
            .post_parts(target, message, thread.as_deref(), &parts, &allowed)
            .await
            .map_err(|(error, done)| {
                if done > 0 {
                    DeliveryError::Ambiguous {
                        reason: format!(
                            "{done} of {} parts were posted before: {error}",
                            parts.len()
                        ),
                    }
                } else {
                    error
                }
            })?;
        ExternalRefs::new(posted).ok_or_else(|| DeliveryError::Ambiguous {
            reason: "no part was posted".to_owned(),
        })
    }

    async fn edit(
        &self,
        target: &OutboundTarget,
        posted: &ExternalRefs,
        message: &OutboundMessage,
    ) -> Result<ExternalRefs, DeliveryError> {
        let (parts, allowed) = message_parts(message);
        let thread = MessageRef::of(posted.root()).thread.map(str::to_owned);
        let mut now = Vec::new();
        for (index, part) in parts.iter().enumerate() {
            let body = Self::part_body(message, part, &allowed);
            if let Some(existing) = posted.parts().get(index) {
                let reference = MessageRef::of(existing);
                let edit = json!({"content": body["content"], "allowed_mentions": body["allowed_mentions"]});
                self.with_webhook(target, |webhook| {
                    let edit = &edit;
                    async move {
                        self.webhook_message(&webhook, Method::PATCH, reference, Some(edit))
                            .await
                    }
                })
                .await
                .map_err(|error| match error {
                    DeliveryError::Gone { .. } if index == 0 => error,
                    other if index > 0 => DeliveryError::Ambiguous {
                        reason: format!("{index} parts were edited before: {other}"),
                    },
                    other => other,
                })?;
                now.push(existing.clone());
            } else {
                let id = self
                    .with_webhook(target, |webhook| {
                        let body = &body;
                        let thread = thread.as_deref();
                        async move { self.execute(&webhook, thread, body).await }
                    })
                    .await
                    .map_err(|error| DeliveryError::Ambiguous {
                        reason: format!("{index} parts were edited before: {error}"),
                    })?;
                now.push(MessageRef::external(thread.as_deref(), &id)?);
            }
        }
        for extra in posted.parts().iter().skip(parts.len()) {
            let reference = MessageRef::of(extra);
            let deleted = self
                .with_webhook(target, |webhook| async move {
                    self.webhook_message(&webhook, Method::DELETE, reference, None)
                        .await
                })
                .await;
            match deleted {
                Ok(()) | Err(DeliveryError::Gone { .. }) => {}
                Err(other) => {
                    return Err(DeliveryError::Ambiguous {
                        reason: format!("the message was edited, removing a part failed: {other}"),
                    });
                }
            }
        }
        ExternalRefs::new(now).ok_or_else(|| DeliveryError::Ambiguous {
            reason: "no part was edited".to_owned(),
        })
    }

    async fn delete(
        &self,
        target: &OutboundTarget,
        posted: &ExternalRefs,
    ) -> Result<(), DeliveryError> {
        let mut gone = 0;
        for part in posted.parts() {
            let reference = MessageRef::of(part);
            let deleted = self
                .with_webhook(target, |webhook| async move {
                    self.webhook_message(&webhook, Method::DELETE, reference, None)
                        .await
                })
                .await;
            match deleted {
                Ok(()) => {}
                Err(DeliveryError::Gone { .. }) => gone += 1,
                Err(other) => return Err(other),
            }
        }
        if gone == posted.parts().len() {
            return Err(DeliveryError::Gone {
                reason: format!(
                    "Discord knows none of the message's {gone} parts (code {UNKNOWN_MESSAGE})"
                ),
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
        let Some(segment) = reaction_segment(emoji) else {
            tracing::debug!("custom emoji reaction not mirrored on Discord");
            return Ok(());
        };
        let reference = MessageRef::of(message);
        self.on_message(
            target,
            Method::PUT,
            "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me",
            reference,
            &["messages", reference.message, "reactions", segment, "@me"],
        )
        .await
    }

    async fn unreact(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
        emoji: &ReactionEmoji,
    ) -> Result<(), DeliveryError> {
        let Some(segment) = reaction_segment(emoji) else {
            return Ok(());
        };
        let reference = MessageRef::of(message);
        self.on_message(
            target,
            Method::DELETE,
            "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me",
            reference,
            &["messages", reference.message, "reactions", segment, "@me"],
        )
        .await
    }

    async fn pin(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
    ) -> Result<(), DeliveryError> {
        let reference = MessageRef::of(message);
        self.on_message(
            target,
            Method::PUT,
            "/channels/{channel_id}/messages/pins/{message_id}",
            reference,
            &["messages", "pins", reference.message],
        )
        .await
    }

    async fn unpin(
        &self,
        target: &OutboundTarget,
        message: &ExternalMessageId,
    ) -> Result<(), DeliveryError> {
        let reference = MessageRef::of(message);
        self.on_message(
            target,
            Method::DELETE,
            "/channels/{channel_id}/messages/pins/{message_id}",
            reference,
            &["messages", "pins", reference.message],
        )
        .await
    }

    async fn start_thread(
        &self,
        target: &OutboundTarget,
        parent: &ExternalMessageId,
        name: &str,
    ) -> Result<ThreadRef, DeliveryError> {
        let token = token(target)?;
        let channel = target.channel.as_str();
        let starter = MessageRef::of(parent).message;
        let mut shown: String = name.trim().chars().take(MAX_THREAD_NAME_CHARS).collect();
        if shown.is_empty() {
            shown = "Thread".to_owned();
        }
        let body = json!({"name": shown});
        let created = self
            .call(
                Major(channel),
                RawCall {
                    method: Method::POST,
                    route: "/channels/{channel_id}/messages/{message_id}/threads",
                    segments: &["channels", channel, "messages", starter, "threads"],
                    query: &[],
                    body: Some(&body),
                    token: Some(token),
                },
            )
            .await;
        let thread_id = match created {
            Ok(bytes) => {
                decode::<ChannelObject>(
                    "/channels/{channel_id}/messages/{message_id}/threads",
                    &bytes,
                )?
                .id
            }
            // A thread started from a message has the message's id.
            Err((_, Some(THREAD_EXISTS))) => starter.to_owned(),
            Err((error, _)) => return Err(error),
        };
        {
            let mut memory = self.memory();
            if memory.threads.len() >= REMEMBER_THREADS {
                memory.threads.clear();
            }
            memory
                .threads
                .insert((channel.to_owned(), starter.to_owned()));
        }
        let thread = hazel_domain::model::chat_sync::ExternalChannelId::parse("id", &thread_id)
            .map_err(|_| DeliveryError::Ambiguous {
                reason: "Discord answered a thread with an unusable id".to_owned(),
            })?;
        Ok(ThreadRef {
            parent: parent.clone(),
            channel: Some(thread),
        })
    }

    /// Discord's webhook messages carry no field to mark with the Hazel message id, and its
    /// `nonce` exists only for the bot's own sends, so a lost send is recognised by what it
    /// wrote: messages of the link's webhook under the persona's username, whose contents
    /// are the message's parts in order, read from the channel (or the reply's thread) since
    /// [`LOOK_BEFORE`] ahead of `sent_at`. Nothing of it is kept in memory, so a restarted
    /// process resolves a send of the process before it. The latest run of matching parts
    /// is taken (a later message of the link waits behind this one); parts that did not go
    /// out are posted now, so a split message is completed rather than cut.
    async fn find_by_origin(
        &self,
        target: &OutboundTarget,
        message: &OutboundMessage,
        sent_at: Timestamp,
    ) -> Result<Option<ExternalRefs>, DeliveryError> {
        let (parts, allowed) = message_parts(message);
        let token = token(target)?;
        let thread = self.reply_thread(target, message).await?;
        let webhook = self.webhook(target).await?;
        let channel = thread.as_deref().unwrap_or(target.channel.as_str());
        let after = snowflake_at(sent_at - LOOK_BEFORE);
        let query = [("after", after), ("limit", "100".to_owned())];
        let listed = self
            .send(
                Major(channel),
                RawCall {
                    method: Method::GET,
                    route: "/channels/{channel_id}/messages",
                    segments: &["channels", channel, "messages"],
                    query: &query,
                    body: None,
                    token: Some(token),
                },
            )
            .await?;
        let mut messages: Vec<MessageObject> = decode("/channels/{channel_id}/messages", &listed)?;
        let username = webhook_username(message.persona.name.as_str());
        messages.retain(|m| {
            m.webhook_id.as_deref() == Some(webhook.id.as_str())
                && m.author.as_ref().is_some_and(|a| a.username == username)
        });
        messages.sort_by_key(|m| m.id.parse::<u64>().unwrap_or(u64::MAX));
        let contents: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        let Some((start, found)) = posted_run(&contents, &parts) else {
            return Ok(None);
        };
        let mut refs = messages[start..start + found]
            .iter()
            .map(|m| MessageRef::external(thread.as_deref(), &m.id))
            .collect::<Result<Vec<_>, _>>()?;
        if found < parts.len() {
            tracing::info!(
                link = %target.link,
                found,
                parts = parts.len(),
                "posting the parts of a lost Discord send that did not go out"
            );
            let rest = self
                .post_parts(
                    target,
                    message,
                    thread.as_deref(),
                    &parts[found..],
                    &allowed,
                )
                .await
                .map_err(|(error, done)| DeliveryError::Ambiguous {
                    reason: format!(
                        "{} of {} parts were posted before: {error}",
                        found + done,
                        parts.len()
                    ),
                })?;
            refs.extend(rest);
        }
        Ok(ExternalRefs::new(refs))
    }
}

/// Where the latest posting of `parts` starts among `contents` (a channel's messages of one
/// webhook and username, oldest first) and how many of its parts are there: the last message
/// equal to the first part, and the parts that follow it in order. `None` when the first
/// part is not there.
fn posted_run(contents: &[&str], parts: &[String]) -> Option<(usize, usize)> {
    let first = parts.first()?;
    let start = contents.iter().rposition(|c| c == first)?;
    let found = contents[start..]
        .iter()
        .zip(parts)
        .take_while(|(content, part)| *content == part)
        .count();
    Some((start, found))
}

#[cfg(test)]
mod tests {
    use hazel_provider_http::TransportFailure;

    use super::*;

    #[test]
    fn persona_names_are_adapted_never_refused() {
        for (name, shown) in [
            ("Alice", "Alice"),
            ("  Bob  ", "Bob"),
            ("Discord Fan", "Disc0rd Fan"),
            ("my DISCORD and discord", "my DISC0RD and disc0rd"),
            ("Clyde", "Clyd3"),
            ("clydediscord", "clyd3disc0rd"),
            ("", "Hazel user"),
            ("   ", "Hazel user"),
        ] {
            let adapted = webhook_username(name);
            assert_eq!(adapted, shown, "{name:?}");
        }
        let long = "é".repeat(200);
        assert_eq!(webhook_username(&long).chars().count(), MAX_USERNAME_CHARS);
    }

    #[test]
    fn message_refs_name_the_thread_when_there_is_one() {
        let top = ExternalMessageId::parse("i", "12").unwrap();
        let reply = MessageRef::external(Some("34"), "56").unwrap();
        assert_eq!(
            MessageRef::of(&top),
            MessageRef {
                thread: None,
                message: "12"
            }
        );
        assert_eq!(
            MessageRef::of(&reply),
            MessageRef {
                thread: Some("34"),
                message: "56"
            }
        );
    }

    #[test]
    fn a_lost_send_is_the_latest_run_of_its_parts() {
        let parts = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        // An earlier message with the same first part is not taken for the lost one.
        assert_eq!(posted_run(&["a", "x", "a", "b"], &parts), Some((2, 2)));
        assert_eq!(posted_run(&["x", "a", "b", "c", "y"], &parts), Some((1, 3)));
        assert_eq!(posted_run(&["b", "c"], &parts), None);
        assert_eq!(posted_run(&[], &parts), None);
    }

    #[test]
    fn snowflakes_of_a_time_follow_discords_epoch() {
        let at = Timestamp::from_unix_timestamp(1_420_070_401).unwrap();
        assert_eq!(snowflake_at(at), (1000_u64 << 22).to_string());
    }

    #[test]
    fn transport_failures_before_sending_are_transient() {
        assert_eq!(
            classify_delivery("/x", DiscordFailure::Transport(TransportFailure::NotSent)).class(),
            "TRANSIENT"
        );
    }
}
