//! [`SlackSocketMode`]: Socket Mode intake, the [`ChatSession`] port for Slack.
//!
//! For a connection with an app-level token (`xapp-`, scope `connections:write`) the
//! service opens the websocket itself and needs no public URL: `apps.connections.open`
//! (the app token in `Authorization: Bearer …`) answers a one-use `wss://` URL carrying a
//! ticket; Slack greets the socket with `hello`, sends each event as an `events_api`
//! envelope, and asks for a fresh connection with `disconnect` (`refresh_requested`, …). Every
//! envelope is acknowledged with `{"envelope_id": …}` — after its events were recorded, so
//! one that could not be recorded is left to Slack's redelivery. Envelopes carry the same
//! `event_callback` as the Events API and are decoded by [`events::decode`]; there is no
//! signature on this transport (the socket itself is authenticated).
//!
//! Neither the app token nor the socket URL (whose `ticket` lets anyone attach to the app's
//! event stream) is ever logged or put in an error.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt as _, StreamExt as _};
use hazel_domain::model::chat_sync::{Credentials, Provider, ProviderError};
use hazel_domain::ports::{ChatSession, SessionEnd, SessionSink, SessionTarget};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::api::WebApi;
use crate::events::{self, Decoded, SlackPayload};

/// How Socket Mode reconnects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketSettings {
    /// The first wait after a failed or dropped connection; doubled on each failure in a row.
    pub min_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// A socket on which nothing (not even a ping) arrives for this long is taken for dead
    /// and replaced.
    pub idle_timeout: Duration,
}

impl Default for SocketSettings {
    /// 1 s doubling to 60 s; Slack pings every few seconds, so 2 minutes of silence is a dead
    /// socket.
    fn default() -> Self {
        Self {
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// The Slack adapter of [`ChatSession`]: Socket Mode for connections with an `appToken`.
#[derive(Clone, Debug)]
pub struct SlackSocketMode {
    api: WebApi,
    settings: SocketSettings,
}

/// Why one socket ended.
#[derive(Debug, PartialEq, Eq)]
enum SocketEnd {
    /// Slack asked for a new connection (`disconnect`): open one at once.
    Refresh,
    /// The socket closed, failed or went silent after it had said `hello`.
    Dropped,
    /// The socket could not be opened or failed before `hello`.
    Failed,
}

/// `apps.connections.open`'s answer.
#[derive(Deserialize)]
struct ConnectionsOpen {
    url: String,
}

/// A Socket Mode frame, as far as the adapter reads it.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    envelope_id: Option<String>,
    payload: Option<Value>,
    reason: Option<String>,
}

impl SlackSocketMode {
    /// An adapter calling `apps.connections.open` at `settings.api_url` through `http`.
    #[must_use]
    pub fn new(settings: crate::SlackSettings, http: reqwest::Client) -> Self {
        Self {
            api: WebApi::new(&settings.api_url, http, Duration::from_secs(15)),
            settings: SocketSettings::default(),
        }
    }

    /// The same adapter reconnecting as `settings` say.
    #[must_use]
    pub fn with_socket_settings(mut self, settings: SocketSettings) -> Self {
        self.settings = settings;
        self
    }

    /// A fresh socket URL for the app of `app_token`.
    async fn open_url(&self, app_token: &SecretString) -> Result<SecretString, ProviderError> {
        let reply = self
            .api
            .post_answering::<ConnectionsOpen>("apps.connections.open", app_token, None, &[])
            .await?;
        match reply {
            Ok(reply) => Ok(SecretString::from(reply.body.url)),
            Err(code) => Err(ProviderError::Platform {
                message: format!("Slack refused apps.connections.open: {code}"),
            }),
        }
    }

    /// Runs one socket until it ends, recording and acknowledging its envelopes. With
    /// `catch_up`, once Slack greets the socket the connection's linked channels are read for
    /// what was posted while no socket was open (beside the socket's own events, which go on
    /// being acknowledged meanwhile).
    async fn serve(
        &self,
        url: &SecretString,
        target: &SessionTarget,
        sink: &Arc<dyn SessionSink>,
        catch_up: bool,
    ) -> SocketEnd {
        use secrecy::ExposeSecret as _;
        let url = url.expose_secret();
        if !(url.starts_with("wss://") || url.starts_with("ws://")) {
            tracing::warn!(
                connection_id = %target.connection_id,
                "Slack answered apps.connections.open with a URL that is not a websocket URL"
            );
            return SocketEnd::Failed;
        }
        let socket = match tokio::time::timeout(
            Duration::from_secs(15),
            tokio_tungstenite::connect_async(url),
        )
        .await
        {
            Ok(Ok((socket, _response))) => socket,
            Ok(Err(error)) => {
                // The error may quote the URL (and its ticket): only its kind is logged.
                tracing::info!(
                    connection_id = %target.connection_id,
                    error = socket_error_kind(&error),
                    "Slack Socket Mode connection failed"
                );
                return SocketEnd::Failed;
            }
            Err(_) => {
                tracing::info!(
                    connection_id = %target.connection_id,
                    "Slack Socket Mode connection timed out"
                );
                return SocketEnd::Failed;
            }
        };
        let (mut writer, mut reader) = socket.split();
        let mut greeted = false;
        // Ends with the socket: a session that stops (or loses its lease) stops reading too.
        let mut reading: Option<AbortOnDrop> = None;
        loop {
            let frame = match tokio::time::timeout(self.settings.idle_timeout, reader.next()).await
            {
                Ok(Some(Ok(frame))) => frame,
                Ok(Some(Err(error))) => {
                    tracing::info!(
                        connection_id = %target.connection_id,
                        error = socket_error_kind(&error),
                        "Slack Socket Mode socket failed"
                    );
                    break;
                }
                Ok(None) => break,
                Err(_) => {
                    tracing::info!(
                        connection_id = %target.connection_id,
                        "Slack Socket Mode socket went silent; replacing it"
                    );
                    break;
                }
            };
            let text = match frame {
                Message::Text(text) => text,
                Message::Close(_) => break,
                // Pings are answered by the library as frames are read.
                _ => continue,
            };
            let Ok(envelope) = serde_json::from_str::<Envelope>(text.as_str()) else {
                tracing::debug!(
                    connection_id = %target.connection_id,
                    "unreadable Slack Socket Mode frame ignored"
                );
                continue;
            };
            match envelope.kind.as_str() {
                "hello" => {
                    greeted = true;
                    tracing::info!(
                        connection_id = %target.connection_id,
                        "Slack Socket Mode connected"
                    );
                    if catch_up && reading.is_none() {
                        let sink = Arc::clone(sink);
                        let connection = target.connection_id;
                        reading = Some(AbortOnDrop(tokio::spawn(async move {
                            match sink.catch_up().await {
                                Ok(report) => {
                                    for (link, reason) in &report.failed {
                                        tracing::warn!(connection_id = %connection, channel_link = %link, %reason, "Slack catch-up could not read a channel");
                                    }
                                    tracing::info!(
                                        connection_id = %connection,
                                        links_read = report.links_read,
                                        recorded = report.recorded,
                                        "Slack catch-up after the socket opened done"
                                    );
                                }
                                Err(error) => tracing::warn!(
                                    connection_id = %connection,
                                    error = %error,
                                    "Slack catch-up after the socket opened failed"
                                ),
                            }
                        })));
                    }
                }
                "disconnect" => {
                    tracing::info!(
                        connection_id = %target.connection_id,
                        reason = envelope.reason.as_deref().unwrap_or("unspecified"),
                        "Slack asked for a new Socket Mode connection"
                    );
                    let _ = writer.close().await;
                    return SocketEnd::Refresh;
                }
                kind => {
                    let Some(envelope_id) = envelope.envelope_id else {
                        continue;
                    };
                    let recorded = if kind == "events_api" {
                        self.record(target, sink.as_ref(), envelope.payload).await
                    } else {
                        // Slash commands and interactivity are not used: acknowledged, dropped.
                        true
                    };
                    if !recorded {
                        // Unacknowledged: Slack sends the envelope again.
                        continue;
                    }
                    let ack = json!({ "envelope_id": envelope_id }).to_string();
                    if writer.send(Message::text(ack)).await.is_err() {
                        break;
                    }
                }
            }
        }
        if greeted {
            SocketEnd::Dropped
        } else {
            SocketEnd::Failed
        }
    }

    /// Decodes an `events_api` payload and records its events; `false` when they could not
    /// be recorded (the envelope is then not acknowledged).
    async fn record(
        &self,
        target: &SessionTarget,
        sink: &dyn SessionSink,
        payload: Option<Value>,
    ) -> bool {
        let Some(payload) = payload else {
            return true;
        };
        let bytes = payload.to_string().into_bytes();
        let callback = match events::decode(&bytes) {
            Ok(SlackPayload::Callback(callback)) => callback,
            Ok(_) => return true,
            Err(error) => {
                tracing::debug!(
                    connection_id = %target.connection_id,
                    error = %error,
                    "undecodable Slack Socket Mode event acknowledged and dropped"
                );
                return true;
            }
        };
        if callback.team != target.workspace {
            // An app installed in several workspaces sends each one's events on one socket.
            tracing::debug!(
                connection_id = %target.connection_id,
                "Slack event of another workspace ignored"
            );
            return true;
        }
        let event = match callback.event {
            Decoded::Event(event) => *event,
            Decoded::Ignored(reason) => {
                tracing::debug!(
                    slack.event_id = %callback.event_id,
                    reason = %reason.describe(),
                    "Slack event ignored"
                );
                return true;
            }
        };
        match sink.record(vec![event]).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(
                    connection_id = %target.connection_id,
                    slack.event_id = %callback.event_id,
                    error = %error,
                    "a Slack Socket Mode event could not be recorded; leaving it to Slack's redelivery"
                );
                false
            }
        }
    }
}

/// A task aborted when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The kind of a websocket error, without anything it may quote (the URL and its ticket).
fn socket_error_kind(error: &tokio_tungstenite::tungstenite::Error) -> &'static str {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        Error::ConnectionClosed | Error::AlreadyClosed => "closed",
        Error::Io(_) => "io",
        Error::Tls(_) => "tls",
        Error::Capacity(_) => "capacity",
        Error::Protocol(_) => "protocol",
        Error::WriteBufferFull(_) => "write buffer full",
        Error::Utf8(_) => "utf8",
        Error::AttackAttempt => "attack attempt",
        Error::Url(_) => "url",
        Error::Http(_) => "http status",
        Error::HttpFormat(_) => "http format",
    }
}

/// The app token of Slack credentials, if any.
fn app_token(credentials: &Credentials) -> Option<&SecretString> {
    match credentials {
        Credentials::Slack { app_token, .. } => app_token.as_ref(),
        _ => None,
    }
}

/// The wait before attempt `failures` + 1: `min` doubled per failure, capped at `max`, with
/// up to a quarter taken off at random so that many sockets do not reconnect in step.
fn backoff(settings: &SocketSettings, failures: u32) -> Duration {
    let doubled = settings
        .min_backoff
        .saturating_mul(2_u32.saturating_pow(failures.min(16)));
    let wait = doubled.min(settings.max_backoff);
    let jitter = rand::random_range(0.0..0.25);
    wait.mul_f64(1.0 - jitter)
}

#[async_trait]
impl ChatSession for SlackSocketMode {
    fn provider(&self) -> Provider {
        Provider::Slack
    }

    fn wants_session(&self, credentials: &Credentials) -> bool {
        app_token(credentials).is_some()
    }

    async fn run(
        &self,
        target: SessionTarget,
        sink: Arc<dyn SessionSink>,
    ) -> Result<(), SessionEnd> {
        let Some(token) = app_token(&target.credentials).cloned() else {
            return Err(SessionEnd::CredentialsRefused(
                ProviderError::InvalidCredentials {
                    message: "the connection has no Slack app-level token (appToken)".to_owned(),
                },
            ));
        };
        let mut failures: u32 = 0;
        // Whether the next socket follows a gap Slack will not fill: the session's first
        // socket (another process may have held it, or none), and any after a drop or a
        // failure. A refresh Slack asked for hands over without one.
        let mut gap = true;
        loop {
            let end = match self.open_url(&token).await {
                Ok(url) => self.serve(&url, &target, &sink, gap).await,
                Err(
                    error @ (ProviderError::InvalidCredentials { .. }
                    | ProviderError::AuthExpired { .. }
                    | ProviderError::InsufficientPermissions { .. }),
                ) => return Err(SessionEnd::CredentialsRefused(error)),
                Err(ProviderError::RateLimited {
                    retry_after_seconds,
                }) => {
                    tokio::time::sleep(Duration::from_secs(retry_after_seconds)).await;
                    continue;
                }
                Err(error) => {
                    tracing::info!(
                        connection_id = %target.connection_id,
                        error = error.code().as_str(),
                        "apps.connections.open failed"
                    );
                    SocketEnd::Failed
                }
            };
            gap = end != SocketEnd::Refresh;
            match end {
                SocketEnd::Refresh => failures = 0,
                SocketEnd::Dropped => {
                    // A socket that worked is replaced after the shortest wait.
                    failures = 0;
                    tokio::time::sleep(backoff(&self.settings, 0)).await;
                }
                SocketEnd::Failed => {
                    tokio::time::sleep(backoff(&self.settings, failures)).await;
                    failures = failures.saturating_add(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_minimum_up_to_the_cap_with_jitter_below() {
        let settings = SocketSettings {
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(120),
        };
        for (failures, full) in [(0, 1), (1, 2), (2, 4), (5, 32), (6, 60), (40, 60)] {
            let wait = backoff(&settings, failures);
            let full = Duration::from_secs(full);
            assert!(wait <= full, "{failures}: {wait:?} > {full:?}");
            assert!(wait >= full.mul_f64(0.75), "{failures}: {wait:?} too short");
        }
    }

    #[test]
    fn only_connections_with_an_app_token_want_a_socket() {
        let socket = SlackSocketMode::new(crate::SlackSettings::default(), reqwest::Client::new());
        let with = |app_token: Option<&str>| Credentials::Slack {
            bot_token: SecretString::from("xoxb-1"),
            signing_secret: SecretString::from("s"),
            app_token: app_token.map(SecretString::from),
        };
        assert!(socket.wants_session(&with(Some("xapp-1-A1-x"))));
        assert!(!socket.wants_session(&with(None)));
        assert!(!socket.wants_session(&Credentials::Discord {
            bot_token: SecretString::from("t"),
            application_id: None,
        }));
    }
}
