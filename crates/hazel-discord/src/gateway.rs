//! The Gateway session of one Discord connection (v10, JSON encoding): Hello → Identify
//! (or Resume), heartbeats with jitter and zombie detection, dispatches decoded into
//! [`InboundEvent`]s, reconnects with backoff, and every close code honoured.
//!
//! [`run_session`] is the entry point a session-lease holder starts (one process per
//! connection) and stops through its `stop` channel. It returns only when stopped or when
//! Discord refuses the session for good ([`GatewayFatal`]: the caller sets the connection's
//! status to `error` with its message).

use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use hazel_domain::model::chat_sync::{BotIdentity, ExternalWorkspaceId, ProviderErrorCode};
use hazel_domain::model::sync::InboundEvent;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::intake::Decoder;

/// `GUILDS` (`1 << 0`).
pub const GUILDS: u64 = 1 << 0;
/// `GUILD_MESSAGES` (`1 << 9`).
pub const GUILD_MESSAGES: u64 = 1 << 9;
/// `GUILD_MESSAGE_REACTIONS` (`1 << 10`).
pub const GUILD_MESSAGE_REACTIONS: u64 = 1 << 10;
/// `MESSAGE_CONTENT` (`1 << 15`), privileged.
pub const MESSAGE_CONTENT: u64 = 1 << 15;
/// The intents every session identifies with.
pub const INTENTS: u64 = GUILDS | GUILD_MESSAGES | GUILD_MESSAGE_REACTIONS | MESSAGE_CONTENT;

/// Where and how the sessions connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewaySettings {
    /// The Gateway URL (`wss://gateway.discord.gg`; `HAZEL_DISCORD_GATEWAY_URL`).
    pub url: String,
    /// The first reconnect delay; it doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// The longest reconnect delay.
    pub max_backoff: Duration,
}

impl GatewaySettings {
    /// Discord's production Gateway.
    pub const DEFAULT_URL: &'static str = "wss://gateway.discord.gg";
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            url: Self::DEFAULT_URL.to_owned(),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// The connection a session runs for.
#[derive(Clone)]
pub struct GatewayConnection {
    /// The guild (the connection's external workspace).
    pub guild: ExternalWorkspaceId,
    /// The bot token.
    pub token: SecretString,
    /// The bot, whose own messages and reactions are left out.
    pub bot: BotIdentity,
}

impl std::fmt::Debug for GatewayConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConnection")
            .field("guild", &self.guild)
            .field("bot", &self.bot)
            .finish_non_exhaustive()
    }
}

/// Where a session hands its events: the caller records them as receipts.
#[async_trait]
pub trait GatewaySink: Send + Sync {
    /// Records `events` (decoded from one dispatch, in order).
    ///
    /// # Errors
    /// Any failure: the session then reconnects and resumes from the last dispatch recorded,
    /// so Discord sends the unrecorded ones again.
    async fn record(&self, events: Vec<InboundEvent>) -> Result<(), String>;

    /// The session is (re)established: `resumed` when Discord replays what was missed,
    /// otherwise a new session, after which the caller catches up from each linked channel's
    /// history.
    async fn connected(&self, resumed: bool);

    /// Discord says the pins of `channel` (a linked channel, or a thread: then `thread` is
    /// its id) changed, at `last_pin_timestamp`; the caller reads them
    /// ([`DiscordHistory::pinned`](crate::DiscordHistory::pinned)) and records
    /// [`pin_changes`](crate::intake::pin_changes). Ignored unless the sink cares.
    async fn pins_changed(
        &self,
        _channel: hazel_domain::model::chat_sync::ExternalChannelId,
        _thread: Option<String>,
        _last_pin_timestamp: Option<String>,
    ) {
    }
}

/// Discord refused the session for good: the connection's status becomes `error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GatewayFatal {
    /// The Gateway close code.
    pub close_code: u16,
    /// The provider error code the connection records.
    pub code: ProviderErrorCode,
    /// What to do about it.
    pub message: String,
}

/// What a close code asks of the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseAction {
    /// Reconnect and resume the session.
    Resume,
    /// Reconnect with a new session (Identify).
    Identify,
    /// Stop: the session cannot work until someone fixes the connection.
    Fatal(GatewayFatal),
}

/// What Discord's Gateway close code `code` means (Discord's close code table; codes it does
/// not list, 1000/1001 from the server included, resume).
#[must_use]
pub fn close_action(code: u16) -> CloseAction {
    let fatal = |class: ProviderErrorCode, message: &str| {
        CloseAction::Fatal(GatewayFatal {
            close_code: code,
            code: class,
            message: message.to_owned(),
        })
    };
    match code {
        4004 => fatal(
            ProviderErrorCode::InvalidCredentials,
            "Discord refused the bot token at the Gateway (close 4004, authentication failed); \
             reset the token on the application's Bot page and update the connection",
        ),
        4014 => fatal(
            ProviderErrorCode::InsufficientPermissions,
            "Discord refused the privileged Message Content intent (close 4014); enable \
             \"Message Content Intent\" under Privileged Gateway Intents on the application's \
             Bot page in the Discord Developer Portal, then validate the connection again",
        ),
        4013 => fatal(
            ProviderErrorCode::PlatformError,
            "Discord refused the Gateway intents as invalid (close 4013)",
        ),
        4010 | 4011 => fatal(
            ProviderErrorCode::PlatformError,
            "Discord asks for sharding this bot's Gateway sessions (close 4010/4011), which \
             this service does not do",
        ),
        4012 => fatal(
            ProviderErrorCode::PlatformError,
            "Discord no longer accepts Gateway version 10 (close 4012)",
        ),
        4007 | 4009 => CloseAction::Identify,
        _ => CloseAction::Resume,
    }
}

/// The URL to connect to: `base` with `?v=10&encoding=json`, unless it names its query
/// already (`HAZEL_DISCORD_GATEWAY_URL` may).
fn gateway_url(base: &str) -> String {
    if base.contains('?') {
        base.to_owned()
    } else {
        format!("{}/?v=10&encoding=json", base.trim_end_matches('/'))
    }
}

/// A session Discord can resume.
#[derive(Clone, Debug)]
struct Resumable {
    session_id: String,
    seq: u64,
    url: String,
}

/// How one connection ended.
enum Ended {
    Stopped,
    Reconnect { resume: bool },
    Fatal(GatewayFatal),
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Runs the Gateway session of `connection` until `stop` turns `true` (then `Ok`) or Discord
/// refuses it for good (then the [`GatewayFatal`] to record as the connection's error).
///
/// # Errors
/// [`GatewayFatal`] on close codes 4004, 4010–4014.
pub async fn run_session(
    settings: &GatewaySettings,
    connection: &GatewayConnection,
    sink: &dyn GatewaySink,
    mut stop: watch::Receiver<bool>,
) -> Result<(), GatewayFatal> {
    let mut decoder = Decoder::new(connection.guild.clone(), connection.bot.clone());
    let mut resumable: Option<Resumable> = None;
    let mut backoff = settings.min_backoff;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let base = resumable
            .as_ref()
            .map_or(settings.url.as_str(), |r| r.url.as_str());
        let url = gateway_url(base);
        let connected = timeout(
            Duration::from_secs(30),
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await;
        let ended = match connected {
            Ok(Ok((socket, _))) => {
                let mut session = Session {
                    socket,
                    connection,
                    sink,
                    decoder: &mut decoder,
                    resumable: &mut resumable,
                    established: false,
                };
                let ended = session.run(&mut stop).await;
                if session.established {
                    backoff = settings.min_backoff;
                }
                ended
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "Discord Gateway connection failed");
                Ended::Reconnect { resume: true }
            }
            Err(_) => {
                tracing::debug!("Discord Gateway connection timed out");
                Ended::Reconnect { resume: true }
            }
        };
        match ended {
            Ended::Stopped => return Ok(()),
            Ended::Fatal(fatal) => {
                tracing::warn!(
                    close_code = fatal.close_code,
                    "Discord Gateway session refused"
                );
                return Err(fatal);
            }
            Ended::Reconnect { resume } => {
                if !resume {
                    resumable = None;
                }
                // Jittered, so many sessions dropped at once do not return at once.
                let jitter = rand::rng().random_range(0.5..1.0);
                let wait = backoff.mul_f64(jitter);
                backoff = (backoff * 2).min(settings.max_backoff);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

struct Session<'a> {
    socket: Socket,
    connection: &'a GatewayConnection,
    sink: &'a dyn GatewaySink,
    decoder: &'a mut Decoder,
    resumable: &'a mut Option<Resumable>,
    /// Whether READY or RESUMED arrived on this connection.
    established: bool,
}

impl Session<'_> {
    async fn send(&mut self, payload: Value) -> bool {
        self.socket
            .send(Message::text(payload.to_string()))
            .await
            .is_ok()
    }

    async fn close(&mut self, code: u16) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
    }

    fn heartbeat(&self) -> Value {
        json!({"op": 1, "d": self.resumable.as_ref().map(|r| r.seq)})
    }

    async fn identify_or_resume(&mut self) -> bool {
        let token = self.connection.token.expose_secret().to_owned();
        let payload = match self.resumable.as_ref() {
            Some(resume) => json!({"op": 6, "d": {
                "token": token, "session_id": resume.session_id, "seq": resume.seq,
            }}),
            None => json!({"op": 2, "d": {
                "token": token,
                "intents": INTENTS,
                "properties": {"os": std::env::consts::OS, "browser": "hazel-sync", "device": "hazel-sync"},
            }}),
        };
        self.send(payload).await
    }

    async fn run(&mut self, stop: &mut watch::Receiver<bool>) -> Ended {
        // Hello first.
        let interval = match timeout(Duration::from_secs(30), self.socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<Value>(&text)
                .ok()
                .filter(|hello| hello["op"] == 10)
                .and_then(|hello| hello["d"]["heartbeat_interval"].as_u64()),
            Ok(Some(Ok(Message::Close(frame)))) => {
                return self.closed(frame.map(|f| u16::from(f.code)));
            }
            _ => None,
        };
        let Some(interval) = interval.filter(|ms| *ms > 0).map(Duration::from_millis) else {
            return Ended::Reconnect { resume: true };
        };
        if !self.identify_or_resume().await {
            return Ended::Reconnect { resume: true };
        }
        // The first heartbeat after interval × jitter, then every interval; one not
        // acknowledged by the next is a zombie connection.
        let jitter = rand::rng().random_range(0.0..1.0);
        let mut next_beat = Instant::now() + interval.mul_f64(jitter);
        let mut acked = true;
        loop {
            tokio::select! {
                () = sleep_until(next_beat) => {
                    if !acked {
                        tracing::debug!("Discord Gateway heartbeat not acknowledged: reconnecting");
                        // Not 1000/1001, so the session stays resumable.
                        self.close(4000).await;
                        return Ended::Reconnect { resume: true };
                    }
                    let beat = self.heartbeat();
                    if !self.send(beat).await {
                        return Ended::Reconnect { resume: true };
                    }
                    acked = false;
                    next_beat = Instant::now() + interval;
                }
                _ = stop.changed() => {
                    if *stop.borrow() {
                        self.close(1000).await;
                        return Ended::Stopped;
                    }
                }
                frame = self.socket.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(frame))) => {
                            return self.closed(frame.map(|f| u16::from(f.code)));
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(_)) | None => return Ended::Reconnect { resume: true },
                    };
                    let Ok(payload) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    match payload["op"].as_u64() {
                        Some(0) => {
                            if let Some(ended) = self.dispatch(&payload).await {
                                return ended;
                            }
                        }
                        Some(1) => {
                            let beat = self.heartbeat();
                            if !self.send(beat).await {
                                return Ended::Reconnect { resume: true };
                            }
                        }
                        Some(7) => {
                            self.close(4000).await;
                            return Ended::Reconnect { resume: true };
                        }
                        Some(9) => {
                            let resumable = payload["d"].as_bool().unwrap_or(false);
                            // Discord asks for a wait of 1 to 5 seconds before identifying.
                            let wait = rand::rng().random_range(1000..5000);
                            tokio::time::sleep(Duration::from_millis(wait)).await;
                            self.close(4000).await;
                            return Ended::Reconnect { resume: resumable };
                        }
                        Some(11) => acked = true,
                        _ => {}
                    }
                }
            }
        }
    }

    fn closed(&self, code: Option<u16>) -> Ended {
        match code.map_or(CloseAction::Resume, close_action) {
            CloseAction::Resume => Ended::Reconnect { resume: true },
            CloseAction::Identify => Ended::Reconnect { resume: false },
            CloseAction::Fatal(fatal) => Ended::Fatal(fatal),
        }
    }

    /// Handles one dispatch; `Some` when the connection must end.
    async fn dispatch(&mut self, payload: &Value) -> Option<Ended> {
        let seq = payload["s"].as_u64();
        let name = payload["t"].as_str().unwrap_or_default();
        let data = &payload["d"];
        match name {
            "READY" => {
                let session_id = data["session_id"].as_str().unwrap_or_default().to_owned();
                let url = data["resume_gateway_url"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                *self.resumable = Some(Resumable {
                    session_id,
                    seq: seq.unwrap_or_default(),
                    url,
                });
                self.established = true;
                self.sink.connected(false).await;
                return None;
            }
            "RESUMED" => {
                self.established = true;
                self.sink.connected(true).await;
            }
            "CHANNEL_PINS_UPDATE"
                if data["guild_id"].as_str() == Some(self.connection.guild.as_str()) =>
            {
                let raw = data["channel_id"].as_str().unwrap_or_default();
                let (parent, thread) = self.decoder.place_of(raw);
                if let Ok(channel) =
                    hazel_domain::model::chat_sync::ExternalChannelId::parse("channel_id", &parent)
                {
                    let at = data["last_pin_timestamp"].as_str().map(str::to_owned);
                    self.sink.pins_changed(channel, thread, at).await;
                }
            }
            _ => match self.decoder.decode(name, data) {
                Ok(events) if events.is_empty() => {}
                Ok(events) => {
                    if let Err(reason) = self.sink.record(events).await {
                        tracing::warn!(%reason, "Discord events not recorded: resuming to get them again");
                        self.close(4000).await;
                        return Some(Ended::Reconnect { resume: true });
                    }
                }
                Err(error) => tracing::warn!(%error, "Discord dispatch skipped"),
            },
        }
        // The sequence advances only past dispatches that were recorded.
        if let (Some(seq), Some(resume)) = (seq, self.resumable.as_mut()) {
            resume.seq = resume.seq.max(seq);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_are_honoured() {
        for code in [4000, 4001, 4002, 4003, 4005, 4008, 1000, 1001, 1006] {
            assert_eq!(close_action(code), CloseAction::Resume, "{code}");
        }
        for code in [4007, 4009] {
            assert_eq!(close_action(code), CloseAction::Identify, "{code}");
        }
        for (code, class) in [
            (4004, ProviderErrorCode::InvalidCredentials),
            (4014, ProviderErrorCode::InsufficientPermissions),
            (4013, ProviderErrorCode::PlatformError),
            (4010, ProviderErrorCode::PlatformError),
            (4011, ProviderErrorCode::PlatformError),
            (4012, ProviderErrorCode::PlatformError),
        ] {
            let CloseAction::Fatal(fatal) = close_action(code) else {
                panic!("{code} is fatal");
            };
            assert_eq!(fatal.close_code, code);
            assert_eq!(fatal.code, class);
        }
        let CloseAction::Fatal(intent) = close_action(4014) else {
            panic!("4014 is fatal");
        };
        assert!(intent.message.contains("Message Content Intent"));
        assert!(intent.message.contains("Developer Portal"));
    }

    #[test]
    fn the_version_and_encoding_are_asked_for_once() {
        assert_eq!(
            gateway_url("wss://gateway.discord.gg"),
            "wss://gateway.discord.gg/?v=10&encoding=json"
        );
        assert_eq!(
            gateway_url("wss://gateway.discord.gg/?v=10&encoding=json"),
            "wss://gateway.discord.gg/?v=10&encoding=json"
        );
    }

    #[test]
    fn the_intents_are_the_four_needed() {
        assert_eq!(INTENTS, 1 | 512 | 1024 | 32768);
    }
}
