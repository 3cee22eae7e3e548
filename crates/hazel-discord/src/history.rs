//! Catch-up after a restart or an outage: a linked channel's messages after the last synced
//! one, read with `GET /channels/{channel_id}/messages?after=…` and decoded as the Gateway's
//! `MESSAGE_CREATE` would be (with the same dedupe keys, so what was already received live is
//! absorbed by its receipt), oldest first.

use std::time::Duration;

use async_trait::async_trait;
use hazel_domain::model::chat_sync::{
    Credentials, ExternalChannelId, ExternalUserId, ExternalWorkspaceId, Provider,
};
use hazel_domain::model::sync::{AuthFailure, DeliveryError, InboundEvent};
use hazel_domain::model::text::Url;
use hazel_domain::ports::{ChatReader, ExternalProfile, HistoryRequest};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::api::{RawCall, RestApi};
use crate::delivery::{DiscordFailure, classify_delivery};
use crate::intake::Decoder;
use crate::settings::DiscordSettings;

/// Discord's largest page of messages.
const PAGE: usize = 100;

/// The most pages one catch-up of a channel reads (10,000 messages); the rest waits for the
/// next catch-up, which starts after the last message synced.
const MAX_PAGES: usize = 100;

/// The route of a guild member.
const MEMBER_ROUTE: &str = "/guilds/{guild_id}/members/{user_id}";

/// The route of a user.
const USER_ROUTE: &str = "/users/{user_id}";

/// Discord's JSON error code "Unknown Member".
const UNKNOWN_MEMBER: u64 = 10_007;
/// Discord's JSON error code "Unknown User".
const UNKNOWN_USER: u64 = 10_013;

/// Reads channels' history for catch-up.
#[derive(Clone, Debug)]
pub struct DiscordHistory {
    api: RestApi,
}

const ROUTE: &str = "/channels/{channel_id}/messages";

/// The route of a channel's pinned messages.
const PINS_ROUTE: &str = "/channels/{channel_id}/messages/pins";

/// The route of a guild's active threads.
const ACTIVE_THREADS_ROUTE: &str = "/guilds/{guild_id}/threads/active";

/// The route of a channel's archived public threads.
const ARCHIVED_THREADS_ROUTE: &str = "/channels/{channel_id}/threads/archived/public";

/// The most archived threads of a channel a catch-up looks at (newest archived first).
const ARCHIVED_THREADS_PAGE: usize = 50;

impl DiscordHistory {
    /// The messages pinned in `channel` now (a channel, or a thread: its messages are then
    /// named `<thread>/<message>`), newest pin first; for the caller to compare with the pins
    /// it knew when the Gateway reports `CHANNEL_PINS_UPDATE`
    /// ([`intake::pin_changes`](crate::intake::pin_changes)).
    ///
    /// # Errors
    /// The [`DeliveryError`] of a failed read.
    pub async fn pinned(
        &self,
        token: &SecretString,
        channel: &str,
        thread: bool,
    ) -> Result<Vec<hazel_domain::model::chat_sync::ExternalMessageId>, DeliveryError> {
        let body = self
            .get_json(
                token,
                PINS_ROUTE,
                &["channels", channel, "messages", "pins"],
                &[("limit", "50".to_owned())],
            )
            .await?;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .filter_map(|item| item["message"]["id"].as_str())
            .map(|id| {
                let raw = if thread {
                    format!("{channel}/{id}")
                } else {
                    id.to_owned()
                };
                hazel_domain::model::chat_sync::ExternalMessageId::parse("id", &raw).map_err(|_| {
                    DeliveryError::Transient {
                        reason: format!("Discord answered {PINS_ROUTE} with an unusable id"),
                    }
                })
            })
            .collect()
    }

    /// A reader of the REST API at `settings.api_url`; each call times out after 15 s.
    #[must_use]
    pub fn new(settings: &DiscordSettings, http: reqwest::Client) -> Self {
        Self {
            api: RestApi::new(&settings.api_url, http, Duration::from_secs(15)),
        }
    }

    /// The events of `channel`'s messages after the message `after` (a snowflake), oldest
    /// first, reading at most `max_pages` pages of 100; an edited message also answers its
    /// edit (`update:<id>:<edited_timestamp>`). Our own bot's and webhooks' messages are left
    /// out, as live.
    ///
    /// # Errors
    /// The [`DeliveryError`] of a failed read (rate limits, credentials, …).
    pub async fn since(
        &self,
        decoder: &mut Decoder,
        token: &SecretString,
        channel: &ExternalChannelId,
        after: &str,
        max_pages: usize,
    ) -> Result<Vec<InboundEvent>, DeliveryError> {
        let mut events = Vec::new();
        let mut after = after.to_owned();
        for _ in 0..max_pages {
            let query = [("after", after.clone()), ("limit", PAGE.to_string())];
            let Value::Array(mut page) = self
                .get_json(
                    token,
                    ROUTE,
                    &["channels", channel.as_str(), "messages"],
                    &query,
                )
                .await?
            else {
                return Err(DeliveryError::Transient {
                    reason: format!("Discord answered {ROUTE} with a body that is not a list"),
                });
            };
            let id_of = |m: &Value| {
                m["id"]
                    .as_str()
                    .and_then(|id| id.parse::<u64>().ok())
                    .unwrap_or_default()
            };
            page.sort_by_key(id_of);
            let full = page.len() >= PAGE;
            for mut message in page {
                after = message["id"].as_str().unwrap_or_default().to_owned();
                // REST messages do not name their guild; the channel is the connection's.
                message["guild_id"] = json!(decoder.guild());
                let edited = !message["edited_timestamp"].is_null();
                let decoded = |decoder: &mut Decoder, event: &str| {
                    decoder
                        .decode(event, &message)
                        .map_err(|error| DeliveryError::Transient {
                            reason: error.to_string(),
                        })
                };
                events.extend(decoded(decoder, "MESSAGE_CREATE")?);
                if edited {
                    events.extend(decoded(decoder, "MESSAGE_UPDATE")?);
                }
            }
            if !full {
                break;
            }
        }
        Ok(events)
    }
}

impl DiscordHistory {
    /// The threads of `channel` with something after the message `after`: its guild's
    /// active threads and its newest archived public threads ([`ARCHIVED_THREADS_PAGE`])
    /// whose own id or last message's id is a later snowflake (a thread started, or
    /// written in, since). Oldest thread first; each as Discord's thread channel object.
    ///
    /// # Errors
    /// The [`DeliveryError`] of a failed read.
    pub async fn threads_since(
        &self,
        token: &SecretString,
        guild: &str,
        channel: &ExternalChannelId,
        after: &str,
    ) -> Result<Vec<Value>, DeliveryError> {
        let after = after.parse::<u64>().unwrap_or_default();
        let active = self
            .list(
                token,
                ACTIVE_THREADS_ROUTE,
                &["guilds", guild, "threads", "active"],
                &[],
            )
            .await?;
        let archived = self
            .list(
                token,
                ARCHIVED_THREADS_ROUTE,
                &[
                    "channels",
                    channel.as_str(),
                    "threads",
                    "archived",
                    "public",
                ],
                &[("limit", ARCHIVED_THREADS_PAGE.to_string())],
            )
            .await?;
        let snowflake = |value: &Value| value.as_str().and_then(|id| id.parse::<u64>().ok());
        let mut threads: Vec<Value> = active
            .into_iter()
            .chain(archived)
            .filter(|thread| thread["parent_id"].as_str() == Some(channel.as_str()))
            .filter(|thread| {
                let started = snowflake(&thread["id"]).unwrap_or_default();
                let last = snowflake(&thread["last_message_id"]).unwrap_or_default();
                started.max(last) > after
            })
            .collect();
        threads.sort_by_key(|thread| snowflake(&thread["id"]).unwrap_or_default());
        threads.dedup_by(|a, b| a["id"] == b["id"]);
        Ok(threads)
    }

    /// The `threads` of a thread listing.
    async fn list(
        &self,
        token: &SecretString,
        route: &'static str,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, DeliveryError> {
        match self.get_json(token, route, segments, query).await?["threads"].take() {
            Value::Array(threads) => Ok(threads),
            _ => Ok(Vec::new()),
        }
    }

    /// A `GET` of `route` with the bot token, answered as JSON: a transport failure, a status
    /// other than 2xx and a body that is not JSON are the read's [`DeliveryError`].
    async fn get_json(
        &self,
        token: &SecretString,
        route: &'static str,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, DeliveryError> {
        let answer = self
            .api
            .exchange(RawCall {
                method: Method::GET,
                route,
                segments,
                query,
                body: None,
                token: Some(token),
            })
            .await
            .map_err(|failure| classify_delivery(route, DiscordFailure::Transport(failure)))?;
        if !(200..300).contains(&answer.status) {
            return Err(failure(route, &answer));
        }
        serde_json::from_slice(&answer.body).map_err(|_| DeliveryError::Transient {
            reason: format!("Discord answered {route} with a body that is not JSON"),
        })
    }

    /// The events of a channel's threads after `after`: for each thread (oldest first) its
    /// `THREAD_CREATE` (a thread without a starter message becomes a Hazel message; the
    /// receipt absorbs one heard live), then its messages after `after` as
    /// [`DiscordHistory::since`] reads them.
    async fn threads_events(
        &self,
        decoder: &mut Decoder,
        token: &SecretString,
        channel: &ExternalChannelId,
        after: &str,
    ) -> Result<Vec<InboundEvent>, DeliveryError> {
        let guild = decoder.guild().to_owned();
        let mut events = Vec::new();
        for mut thread in self.threads_since(token, &guild, channel, after).await? {
            thread["guild_id"] = json!(guild);
            let Some(id) = thread["id"].as_str().map(str::to_owned) else {
                continue;
            };
            let inside =
                ExternalChannelId::parse("id", &id).map_err(|_| DeliveryError::Transient {
                    reason: format!("Discord answered {ACTIVE_THREADS_ROUTE} with an unusable id"),
                })?;
            events.extend(decoder.decode("THREAD_CREATE", &thread).map_err(|error| {
                DeliveryError::Transient {
                    reason: error.to_string(),
                }
            })?);
            events.extend(
                self.since(decoder, token, &inside, after, MAX_PAGES)
                    .await?,
            );
        }
        Ok(events)
    }
}

/// The bot token of a read's credentials.
fn bot_token(credentials: &Credentials) -> Result<&SecretString, DeliveryError> {
    match credentials {
        Credentials::Discord { bot_token, .. } => Ok(bot_token),
        other => Err(DeliveryError::Auth {
            code: AuthFailure::InvalidCredentials,
            reason: format!("expected Discord credentials, got {}", other.provider()),
        }),
    }
}

impl DiscordHistory {
    /// One JSON object read with the bot token; `None` when Discord answers 404 with one of
    /// the `unknown` codes.
    async fn object(
        &self,
        token: &SecretString,
        route: &'static str,
        segments: &[&str],
        unknown: &[u64],
    ) -> Result<Option<Value>, DeliveryError> {
        let answer = self
            .api
            .exchange(RawCall {
                method: Method::GET,
                route,
                segments,
                query: &[],
                body: None,
                token: Some(token),
            })
            .await
            .map_err(|failure| classify_delivery(route, DiscordFailure::Transport(failure)))?;
        if answer.status == 404 {
            let code = serde_json::from_slice::<Value>(&answer.body)
                .ok()
                .and_then(|body| body["code"].as_u64());
            if code.is_some_and(|code| unknown.contains(&code)) {
                return Ok(None);
            }
        }
        if !(200..300).contains(&answer.status) {
            return Err(failure(route, &answer));
        }
        serde_json::from_slice(&answer.body)
            .map(Some)
            .map_err(|_| DeliveryError::Transient {
                reason: format!("Discord answered {route} with a body that is not JSON"),
            })
    }
}

/// A profile from a user object and, for a guild member, the member's nickname: the
/// nickname, else the global display name, else the username; the avatar from Discord's CDN.
fn profile_of(user: &Value, nick: Option<&str>) -> Option<ExternalProfile> {
    let id = user["id"].as_str()?;
    let name = [
        nick,
        user["global_name"].as_str(),
        user["username"].as_str(),
    ]
    .into_iter()
    .flatten()
    .map(str::trim)
    .find(|name| !name.is_empty())?
    .to_owned();
    let avatar_url = user["avatar"].as_str().and_then(|hash| {
        Url::parse(
            "avatar",
            &format!("https://cdn.discordapp.com/avatars/{id}/{hash}.png"),
        )
        .ok()
    });
    Some(ExternalProfile { name, avatar_url })
}

/// The reader port for Discord: catch-up with [`DiscordHistory::since`] and profiles from
/// the guild member (else the user) route.
#[async_trait]
impl ChatReader for DiscordHistory {
    fn provider(&self) -> Provider {
        Provider::Discord
    }

    /// The channel's messages after `request.after` (its own id when it names a thread
    /// reply, `<thread>/<message>`: snowflakes grow with time in every channel), or after
    /// the snowflake of `request.since`; then the threads of the channel started or written
    /// in since (threads are channels of their own on Discord), each with its replies after
    /// the same snowflake.
    async fn history_since(
        &self,
        request: &HistoryRequest,
    ) -> Result<Vec<InboundEvent>, DeliveryError> {
        let token = bot_token(&request.credentials)?;
        let Some(bot) = request.bot.clone() else {
            return Err(DeliveryError::Auth {
                code: AuthFailure::InvalidCredentials,
                reason: "the connection's bot is unknown, so its own messages cannot be left \
                         out; validate the connection again"
                    .to_owned(),
            });
        };
        let after = match &request.after {
            Some(after) => crate::MessageRef::of(after).message.to_owned(),
            None => crate::outbound::snowflake_at(request.since),
        };
        let mut decoder = Decoder::new(request.workspace.clone(), bot);
        let mut events = self
            .since(&mut decoder, token, &request.channel, &after, MAX_PAGES)
            .await?;
        events.extend(
            self.threads_events(&mut decoder, token, &request.channel, &after)
                .await?,
        );
        Ok(events)
    }

    async fn user_profile(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
        user: &ExternalUserId,
    ) -> Result<Option<ExternalProfile>, DeliveryError> {
        let token = bot_token(credentials)?;
        let member = self
            .object(
                token,
                MEMBER_ROUTE,
                &["guilds", workspace.as_str(), "members", user.as_str()],
                &[UNKNOWN_MEMBER, UNKNOWN_USER],
            )
            .await?;
        if let Some(member) = member {
            return Ok(profile_of(&member["user"], member["nick"].as_str()));
        }
        // Not (or no longer) in the guild: the user's own profile.
        let found = self
            .object(
                token,
                USER_ROUTE,
                &["users", user.as_str()],
                &[UNKNOWN_USER],
            )
            .await?;
        Ok(found.and_then(|user| profile_of(&user, None)))
    }
}

/// The delivery error of a failed read.
fn failure(route: &str, answer: &crate::api::RawAnswer) -> DeliveryError {
    let body: Option<Value> = serde_json::from_slice(&answer.body).ok();
    let field = |name: &str| body.as_ref().and_then(|b| b.get(name));
    let header = |name: &str| answer.headers.get(name).and_then(|v| v.to_str().ok());
    classify_delivery(
        route,
        DiscordFailure::Answer {
            status: answer.status,
            code: field("code").and_then(Value::as_u64),
            retry_after: field("retry_after").and_then(Value::as_f64),
            global: field("global").and_then(Value::as_bool).unwrap_or(false),
            retry_after_header: header("retry-after"),
            scope: header("x-ratelimit-scope"),
        },
    )
}
