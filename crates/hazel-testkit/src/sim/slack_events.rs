//! Events the Slack simulator emits for what happens "in Slack", and the transports that carry
//! them to the service.
//!
//! One function builds each payload ([`event_callback`] wraps an inner event the way the Events
//! API does); a [`SlackEventSink`] sends it. [`EventsApiSink`] posts it, signed with signature
//! v0, to the service's `POST /webhooks/slack/events`; another transport (Socket Mode, which
//! wraps the same payload in an `events_api` envelope) plugs in as another sink. Every payload
//! is checked against Slack's Events API spec before it leaves ([`spec::check_slack_event`]),
//! and a mismatch is recorded as a violation of the simulator.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::{lock, spec};

/// The verification token the simulated Slack puts in every payload (deprecated by Slack in
/// favour of signatures; the service never relies on it).
pub const VERIFICATION_TOKEN: &str = "sim-verification-token";

/// Where a workspace's event came from, for the `event_callback` wrapper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSource {
    /// `team_id`.
    pub team_id: String,
    /// `api_app_id`: the app the event is sent to.
    pub api_app_id: String,
    /// `authed_users`: the app's bot user.
    pub bot_user_id: String,
}

/// The `event_callback` wrapper of an inner `event`, as the Events API sends it.
#[must_use]
pub fn event_callback(
    source: &EventSource,
    event_id: &str,
    event_time: u64,
    event: Value,
) -> Value {
    json!({
        "token": VERIFICATION_TOKEN,
        "team_id": source.team_id,
        "api_app_id": source.api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authed_users": [source.bot_user_id],
        "event_context": format!("sim-{event_id}"),
    })
}

/// A `url_verification` request, as Slack sends it when a Request URL is saved.
#[must_use]
pub fn url_verification(challenge: &str) -> Value {
    json!({"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"})
}

/// How an Events API request is sent; the default is what Slack does on a first delivery.
#[derive(Clone, Debug, Default)]
pub struct Delivery {
    /// `X-Slack-Retry-Num` (and `X-Slack-Retry-Reason: http_timeout`), for a retry.
    pub retry_num: Option<u32>,
    /// The `X-Slack-Request-Timestamp` to sign with (Unix seconds), instead of now.
    pub timestamp: Option<i64>,
    /// Another signing secret than the configured one (a forged request).
    pub secret: Option<SecretString>,
}

/// A transport of Events API payloads to the service.
#[async_trait]
pub trait SlackEventSink: Send + Sync + 'static {
    /// Sends `payload` (an `event_callback` wrapper); answers the service's HTTP status, or
    /// `None` when the transport has none or the request failed.
    async fn send(&self, payload: &Value, delivery: &Delivery) -> Option<u16>;
}

/// The Events API transport: signed `POST`s to the service's Request URL.
pub struct EventsApiSink {
    url: String,
    secret: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for EventsApiSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsApiSink")
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl EventsApiSink {
    /// Posts to `url` (`http://…/webhooks/slack/events`) signing with `signing_secret`.
    #[must_use]
    pub fn new(url: impl Into<String>, signing_secret: &str) -> Self {
        Self {
            url: url.into(),
            secret: SecretString::from(signing_secret.to_owned()),
            http: reqwest::Client::new(),
        }
    }
}

#[async_trait]
impl SlackEventSink for EventsApiSink {
    async fn send(&self, payload: &Value, delivery: &Delivery) -> Option<u16> {
        let body = payload.to_string();
        let timestamp = delivery
            .timestamp
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp());
        let secret = delivery.secret.as_ref().unwrap_or(&self.secret);
        let signature = hazel_slack::signature::sign(secret, timestamp, body.as_bytes());
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header(
                hazel_slack::signature::TIMESTAMP_HEADER,
                timestamp.to_string(),
            )
            .header(hazel_slack::signature::SIGNATURE_HEADER, signature)
            .body(body);
        if let Some(retry) = delivery.retry_num {
            request = request
                .header("x-slack-retry-num", retry.to_string())
                .header("x-slack-retry-reason", "http_timeout");
        }
        request.send().await.ok().map(|r| r.status().as_u16())
    }
}

/// One payload on its way, with who waits for its answer.
struct Queued {
    payload: Value,
    delivery: Delivery,
    answered: Option<oneshot::Sender<Option<u16>>>,
}

/// Sends payloads to a sink one at a time, in the order they were emitted (as Slack delivers a
/// channel's events), and remembers each with the service's answer.
pub(crate) struct Dispatcher {
    queue: mpsc::UnboundedSender<Queued>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dispatcher")
    }
}

/// What a simulator sent, with the answer it got.
#[derive(Clone, Debug, PartialEq)]
pub struct SentEvent {
    /// The payload.
    pub payload: Value,
    /// The service's HTTP status, when there was one.
    pub status: Option<u16>,
}

impl Dispatcher {
    /// Starts sending to `sink` (needs a Tokio runtime); payloads that break the Events API
    /// spec are handed to `violation`, every payload sent is kept in `sent`.
    pub(crate) fn start(
        sink: Arc<dyn SlackEventSink>,
        sent: Arc<Mutex<Vec<SentEvent>>>,
        violation: Arc<dyn Fn(String) + Send + Sync>,
    ) -> Self {
        let (queue, mut next) = mpsc::unbounded_channel::<Queued>();
        tokio::spawn(async move {
            while let Some(item) = next.recv().await {
                for problem in spec::check_slack_event(&item.payload) {
                    violation(format!(
                        "an emitted event breaks the Events API spec: {problem}"
                    ));
                }
                let status = sink.send(&item.payload, &item.delivery).await;
                lock(&sent).push(SentEvent {
                    payload: item.payload,
                    status,
                });
                if let Some(answered) = item.answered {
                    let _ = answered.send(status);
                }
            }
        });
        Self { queue }
    }

    /// Queues `payload` without waiting.
    pub(crate) fn emit(&self, payload: Value) {
        let _ = self.queue.send(Queued {
            payload,
            delivery: Delivery::default(),
            answered: None,
        });
    }

    /// Queues `payload` and answers a receiver of the service's status.
    pub(crate) fn emit_waiting(
        &self,
        payload: Value,
        delivery: Delivery,
    ) -> oneshot::Receiver<Option<u16>> {
        let (answered, answer) = oneshot::channel();
        let _ = self.queue.send(Queued {
            payload,
            delivery,
            answered: Some(answered),
        });
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_and_its_events_follow_the_events_api_spec() {
        let source = EventSource {
            team_id: "T0SIM".to_owned(),
            api_app_id: "A0APP".to_owned(),
            bot_user_id: "U0BOT".to_owned(),
        };
        let message = event_callback(
            &source,
            "Ev1",
            1_700_000_000,
            json!({"type": "message", "channel": "C0123", "user": "U1", "text": "hi",
                   "ts": "1700000000.000100", "event_ts": "1700000000.000100",
                   "channel_type": "channel"}),
        );
        assert_eq!(spec::check_slack_event(&message), Vec::<String>::new());
        let reaction = event_callback(
            &source,
            "Ev2",
            1_700_000_000,
            json!({"type": "reaction_added", "user": "U1", "reaction": "tada",
                   "item": {"type": "message", "channel": "C0123", "ts": "1700000000.000100"},
                   "event_ts": "1700000001.000100"}),
        );
        assert_eq!(spec::check_slack_event(&reaction), Vec::<String>::new());
        let mut broken = message.clone();
        broken["event_time"] = json!("late");
        broken.as_object_mut().map(|o| o.remove("authed_users"));
        let problems = spec::check_slack_event(&broken);
        assert!(
            problems.iter().any(|p| p.contains("authed_users"))
                && problems.iter().any(|p| p.contains("event_time")),
            "{problems:?}"
        );
    }
}
