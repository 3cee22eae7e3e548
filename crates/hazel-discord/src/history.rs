//! Catch-up after a restart or an outage: a linked channel's messages after the last synced
//! one, read with `GET /channels/{channel_id}/messages?after=…` and decoded as the Gateway's
//! `MESSAGE_CREATE` would be (with the same dedupe keys, so what was already received live is
//! absorbed by its receipt), oldest first.

use std::time::Duration;

use hazel_domain::model::chat_sync::ExternalChannelId;
use hazel_domain::model::sync::{DeliveryError, InboundEvent};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::api::{RawCall, RestApi};
use crate::delivery::{DiscordFailure, classify_delivery};
use crate::intake::Decoder;
use crate::settings::DiscordSettings;

/// Discord's largest page of messages.
const PAGE: usize = 100;

/// Reads channels' history for catch-up.
#[derive(Clone, Debug)]
pub struct DiscordHistory {
    api: RestApi,
}

const ROUTE: &str = "/channels/{channel_id}/messages";

/// The route of a channel's pinned messages.
const PINS_ROUTE: &str = "/channels/{channel_id}/messages/pins";

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
        let answer = self
            .api
            .exchange(RawCall {
                method: Method::GET,
                route: PINS_ROUTE,
                segments: &["channels", channel, "messages", "pins"],
                query: &[("limit", "50".to_owned())],
                body: None,
                token: Some(token),
            })
            .await
            .map_err(|failure| classify_delivery(PINS_ROUTE, DiscordFailure::Transport(failure)))?;
        if !(200..300).contains(&answer.status) {
            return Err(failure(PINS_ROUTE, &answer));
        }
        let body: Value =
            serde_json::from_slice(&answer.body).map_err(|_| DeliveryError::Transient {
                reason: format!("Discord answered {PINS_ROUTE} with a body that is not JSON"),
            })?;
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
            let answer = self
                .api
                .exchange(RawCall {
                    method: Method::GET,
                    route: ROUTE,
                    segments: &["channels", channel.as_str(), "messages"],
                    query: &query,
                    body: None,
                    token: Some(token),
                })
                .await
                .map_err(|failure| classify_delivery(ROUTE, DiscordFailure::Transport(failure)))?;
            if !(200..300).contains(&answer.status) {
                return Err(failure(ROUTE, &answer));
            }
            let mut page: Vec<Value> =
                serde_json::from_slice(&answer.body).map_err(|_| DeliveryError::Transient {
                    reason: format!("Discord answered {ROUTE} with a body that is not a list"),
                })?;
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
