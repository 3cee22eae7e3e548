//! The [`ChatReader`] port on [`SlackProvider`]: a channel's history since the last synced
//! message (`conversations.history` and, for threads, `conversations.replies`), and authors'
//! profiles (`users.info`, cached with expiry).

use std::time::Duration;

use async_trait::async_trait;
use hazel_domain::model::chat_sync::{Credentials, Provider};
use hazel_domain::model::external::{ExternalUserId, ExternalWorkspaceId};
use hazel_domain::model::sync::{AuthFailure, DeliveryError, InboundEvent};
use hazel_domain::model::text::Url;
use hazel_domain::ports::{ChatReader, ExternalProfile, HistoryRequest};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;

use crate::api::Payload;
use crate::events::{Decoded, decode_history_message};
use crate::provider::SlackProvider;

/// How long a user's profile is reused before Slack is asked again.
pub const PROFILE_TTL: Duration = Duration::from_secs(60 * 60);

/// How many profiles are kept (least recently used ones go first).
pub const PROFILE_CAPACITY: u64 = 10_000;

/// Most pages of one channel's history a catch-up reads (200 messages each).
const MAX_HISTORY_PAGES: usize = 50;

/// Most threads of one catch-up whose new replies are read.
const MAX_THREADS: usize = 200;

/// The bounded, expiring cache of profiles by (team, user); `None` remembers an unknown user.
pub(crate) type ProfileCache = moka::sync::Cache<(String, String), Option<ExternalProfile>>;

/// A new, empty profile cache.
pub(crate) fn profile_cache() -> ProfileCache {
    moka::sync::Cache::builder()
        .max_capacity(PROFILE_CAPACITY)
        .time_to_live(PROFILE_TTL)
        .build()
}

fn bot_token(credentials: &Credentials) -> Result<&SecretString, DeliveryError> {
    match credentials {
        Credentials::Slack { bot_token, .. } => Ok(bot_token),
        other => Err(DeliveryError::Auth {
            code: AuthFailure::InvalidCredentials,
            reason: format!("expected Slack credentials, got {}", other.provider()),
        }),
    }
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    messages: Vec<Value>,
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
struct UsersInfo {
    user: SlackUser,
}

#[derive(Debug, Deserialize)]
struct SlackUser {
    name: Option<String>,
    real_name: Option<String>,
    profile: Option<SlackProfile>,
}

#[derive(Debug, Deserialize)]
struct SlackProfile {
    display_name: Option<String>,
    real_name: Option<String>,
    image_72: Option<String>,
    image_192: Option<String>,
}

/// A Slack `ts` as a sortable pair (seconds, fraction), so `"9.1"` comes before `"10.0"`.
fn ts_key(ts: &str) -> (u64, u64) {
    let (seconds, fraction) = ts.split_once('.').unwrap_or((ts, "0"));
    let digits: String = fraction.chars().take(6).collect();
    (
        seconds.parse().unwrap_or(0),
        format!("{digits:0<6}").parse().unwrap_or(0),
    )
}

fn ts_of(message: &Value) -> Option<&str> {
    message.get("ts").and_then(Value::as_str)
}

impl SlackProvider {
    /// Every page of `method` (`conversations.history`, or `conversations.replies` of the
    /// thread `thread`) after `oldest`.
    async fn read_pages(
        &self,
        token: &SecretString,
        method: &'static str,
        channel: &str,
        thread: Option<&str>,
        oldest: &str,
    ) -> Result<Vec<Value>, DeliveryError> {
        let mut messages = Vec::new();
        let mut cursor = String::new();
        for _ in 0..MAX_HISTORY_PAGES {
            let mut query = vec![
                ("channel", channel),
                ("oldest", oldest),
                ("inclusive", "false"),
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
                .deliver::<Page>(method, token, Payload::Query(&query), &["thread_not_found"])
                .await?
            {
                Ok(page) => page,
                // A thread whose parent was deleted meanwhile has no replies to read.
                Err(_) => break,
            };
            messages.extend(page.messages);
            let next = page
                .response_metadata
                .map(|m| m.next_cursor)
                .unwrap_or_default();
            if !page.has_more || next.is_empty() || next == cursor {
                break;
            }
            cursor = next;
        }
        Ok(messages)
    }
}

#[async_trait]
impl ChatReader for SlackProvider {
    fn provider(&self) -> Provider {
        Provider::Slack
    }

    async fn history_since(
        &self,
        request: &HistoryRequest,
    ) -> Result<Vec<InboundEvent>, DeliveryError> {
        let token = bot_token(&request.credentials)?;
        let channel = request.channel.as_str();
        let oldest = match &request.after {
            Some(after) => after.as_str().to_owned(),
            None => format!(
                "{}.{:06}",
                request.since.unix_timestamp(),
                request.since.microsecond()
            ),
        };
        let top = self
            .read_pages(token, "conversations.history", channel, None, &oldest)
            .await?;
        let oldest_key = ts_key(&oldest);
        // Replies are not in the channel's history: threads that got replies after `oldest`
        // are read through their replies.
        let threads: Vec<String> = top
            .iter()
            .filter(|m| m.get("reply_count").and_then(Value::as_u64).unwrap_or(0) > 0)
            .filter(|m| {
                m.get("latest_reply")
                    .and_then(Value::as_str)
                    .is_none_or(|latest| ts_key(latest) > oldest_key)
            })
            .filter_map(|m| ts_of(m).map(str::to_owned))
            .take(MAX_THREADS)
            .collect();
        let mut messages = top;
        for parent in &threads {
            let replies = self
                .read_pages(
                    token,
                    "conversations.replies",
                    channel,
                    Some(parent),
                    &oldest,
                )
                .await?;
            messages.extend(
                replies
                    .into_iter()
                    .filter(|m| ts_of(m).is_some_and(|ts| ts != parent)),
            );
        }
        messages.retain(|m| ts_of(m).is_some_and(|ts| ts_key(ts) > oldest_key));
        messages.sort_by_key(|m| ts_of(m).map(ts_key));
        messages.dedup_by(|a, b| ts_of(a) == ts_of(b));
        let mut events = Vec::with_capacity(messages.len());
        for message in &messages {
            match decode_history_message(&request.workspace, &request.channel, message) {
                Ok(Decoded::Event(event)) => events.push(*event),
                Ok(Decoded::Ignored(reason)) => {
                    tracing::debug!(reason = %reason.describe(), "Slack history message ignored");
                }
                Err(error) => {
                    // One unreadable message must not stop the rest of the gap from syncing.
                    tracing::warn!(error = %error, "a Slack history message cannot be read");
                }
            }
        }
        tracing::debug!(
            slack.channel = %request.channel,
            found = events.len(),
            "Slack channel history read"
        );
        Ok(events)
    }

    async fn user_profile(
        &self,
        workspace: &ExternalWorkspaceId,
        credentials: &Credentials,
        user: &ExternalUserId,
    ) -> Result<Option<ExternalProfile>, DeliveryError> {
        let key = (workspace.to_string(), user.to_string());
        if let Some(known) = self.profiles().get(&key) {
            return Ok(known);
        }
        let token = bot_token(credentials)?;
        let query = [("user", user.as_str())];
        let answer = self
            .api()
            .deliver::<UsersInfo>(
                "users.info",
                token,
                Payload::Query(&query),
                &["user_not_found"],
            )
            .await?;
        let profile = answer.ok().and_then(|info| {
            let SlackUser {
                name,
                real_name,
                profile,
            } = info.user;
            let non_empty = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
            let (display, profile_real, avatar) = match profile {
                Some(p) => (
                    non_empty(p.display_name),
                    non_empty(p.real_name),
                    p.image_72.or(p.image_192),
                ),
                None => (None, None, None),
            };
            let name = display
                .or(profile_real)
                .or(non_empty(real_name))
                .or(non_empty(name))?;
            Some(ExternalProfile {
                name,
                avatar_url: avatar.and_then(|url| Url::parse("image_72", &url).ok()),
            })
        });
        self.profiles().insert(key, profile.clone());
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::ts_key;

    #[test]
    fn ts_values_sort_by_time_not_by_text() {
        assert!(ts_key("9.000001") < ts_key("10.000000"));
        assert!(ts_key("10.000001") > ts_key("10.000000"));
        assert!(ts_key("10.1") > ts_key("10.000002"));
        assert_eq!(ts_key("10"), ts_key("10.000000"));
    }
}
