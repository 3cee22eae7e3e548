//! [`DiscordGateway`]: the [`ChatSession`] port for Discord (one Gateway session per
//! connection, run by [`gateway::run_session`]), and [`DiscordInbound`]: the [`ChatInbound`]
//! port, whose part for Discord is converting message text to Hazel Markdown (Discord's events
//! arrive over the Gateway, never at an HTTP route).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hazel_domain::model::Timestamp;
use hazel_domain::model::chat_sync::{
    Credentials, ExternalChannelId, ExternalMessageId, ExternalWorkspaceId, Provider,
    ProviderError, ProviderErrorCode,
};
use hazel_domain::model::sync::{
    InboundError, InboundEvent, InboundInput, InboundOutcome, KnownMention,
};
use hazel_domain::ports::{ChatInbound, ChatSession, SessionEnd, SessionSink, SessionTarget};
use secrecy::SecretString;
use tokio::sync::watch;

use crate::gateway::{self, GatewayConnection, GatewayFatal, GatewaySettings, GatewaySink};
use crate::history::DiscordHistory;
use crate::intake;
use crate::markdown::{self, DiscordNames, MentionedUser};

/// The Discord adapter of [`ChatSession`]: every Discord connection takes its intake over
/// the Gateway.
#[derive(Clone, Debug)]
pub struct DiscordGateway {
    settings: GatewaySettings,
    history: Option<DiscordHistory>,
}

impl DiscordGateway {
    /// Sessions connecting as `settings` say (`HAZEL_DISCORD_GATEWAY_URL`); pin changes
    /// are not read until [`DiscordGateway::with_history`] says where.
    #[must_use]
    pub fn new(settings: GatewaySettings) -> Self {
        Self {
            settings,
            history: None,
        }
    }

    /// The same sessions reading a channel's pins through `history` when Discord reports
    /// that they changed (`CHANNEL_PINS_UPDATE` does not say which message).
    #[must_use]
    pub fn with_history(mut self, history: DiscordHistory) -> Self {
        self.history = Some(history);
        self
    }
}

/// Hands the Gateway's events to the session sink, which records them as receipts before
/// the session advances past them.
struct Sink {
    sink: Arc<dyn SessionSink>,
    /// Where pins are read, with what, for which guild; `None`: pin changes are not synced.
    pins: Option<PinReader>,
    /// The catch-up of the latest new session, while it runs.
    catching_up: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Sink {
    fn catching_up(&self) -> std::sync::MutexGuard<'_, Option<tokio::task::JoinHandle<()>>> {
        match self.catching_up.lock() {
            Ok(guard) => guard,
            // Holds a task handle only; a panic elsewhere leaves it usable.
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // The session ended (stopped, or its lease was lost): so does its catch-up.
        if let Some(task) = self.catching_up().take() {
            task.abort();
        }
    }
}

/// Reads a channel's pins on `CHANNEL_PINS_UPDATE` and remembers them, so the next update
/// is compared with what was pinned before it.
struct PinReader {
    history: DiscordHistory,
    token: SecretString,
    workspace: ExternalWorkspaceId,
    /// The channel or thread → its pinned messages, as last read by this session.
    known: Mutex<HashMap<String, Vec<ExternalMessageId>>>,
}

impl PinReader {
    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<ExternalMessageId>>> {
        match self.known.lock() {
            Ok(guard) => guard,
            // A cache only; a panic elsewhere leaves it usable.
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The pin events of a change in `channel` (or its `thread`): the pins now, compared
    /// with those read at the previous change together with those the service holds pinned
    /// (`synced`, from the database). So an unpin is seen even as the first change a new
    /// session hears of, and a pinned message the service does not sync is reported once,
    /// not at every change.
    async fn changes(
        &self,
        channel: &ExternalChannelId,
        thread: Option<&str>,
        synced: Vec<ExternalMessageId>,
    ) -> Result<
        (
            Vec<ExternalMessageId>,
            Vec<hazel_domain::model::sync::InboundEvent>,
        ),
        String,
    > {
        let place = thread.unwrap_or(channel.as_str());
        let now = self
            .history
            .pinned(&self.token, place, thread.is_some())
            .await
            .map_err(|error| error.to_string())?;
        let mut before = self.known().get(place).cloned().unwrap_or_default();
        // The synced pins of this place only: a thread's messages are `<thread>/<message>`.
        for id in synced {
            let here = match (thread, id.as_str().split_once('/')) {
                (Some(thread), Some((inside, _))) => inside == thread,
                (None, None) => true,
                _ => false,
            };
            if here && !before.contains(&id) {
                before.push(id);
            }
        }
        // Keyed by when the change was read: the same pin state can come back later (a
        // message pinned, unpinned, pinned and unpinned again) and must not be taken for a
        // duplicate; a dispatch replayed after Resume reads no difference and records nothing.
        let observed = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|error| error.to_string())?;
        let events = intake::pin_changes(&self.workspace, channel, &before, &now, &observed);
        Ok((now, events))
    }

    /// Remembers the pins of `place` once their changes are recorded (a change that could
    /// not be recorded is found again at the next update).
    fn remember(&self, place: &str, pinned: Vec<ExternalMessageId>) {
        self.known().insert(place.to_owned(), pinned);
    }
}

#[async_trait]
impl GatewaySink for Sink {
    async fn record(&self, events: Vec<InboundEvent>) -> Result<(), String> {
        self.sink.record(events).await.map_err(|e| e.to_string())
    }

    /// A new session (after Identify: READY, not RESUMED) starts with nothing replayed, so
    /// the connection's linked channels are read from their last synced message — beside the
    /// session, which keeps heartbeating and recording live events meanwhile (receipts make a
    /// message seen both ways one message). A Resume replays the gap itself.
    async fn connected(&self, resumed: bool) {
        tracing::info!(resumed, "Discord Gateway session established");
        if resumed {
            return;
        }
        let sink = Arc::clone(&self.sink);
        let task = tokio::spawn(async move {
            match sink.catch_up().await {
                Ok(report) => tracing::info!(
                    links_read = report.links_read,
                    recorded = report.recorded,
                    failed = report.failed.len(),
                    "Discord catch-up after a new Gateway session"
                ),
                Err(error) => tracing::warn!(%error, "Discord catch-up failed"),
            }
        });
        // A newer session's catch-up reads from the latest synced message anyway.
        if let Some(previous) = self.catching_up().replace(task) {
            previous.abort();
        }
    }

    async fn pins_changed(
        &self,
        channel: ExternalChannelId,
        thread: Option<String>,
        _last_pin_timestamp: Option<String>,
    ) {
        let Some(pins) = &self.pins else {
            return;
        };
        let synced = match self.sink.synced_pins(&channel).await {
            Ok(synced) => synced,
            Err(error) => {
                tracing::warn!(%error, discord.channel = channel.as_str(), "Discord pins not compared");
                return;
            }
        };
        let (pinned, events) = match pins.changes(&channel, thread.as_deref(), synced).await {
            Ok(read) => read,
            Err(reason) => {
                tracing::warn!(%reason, discord.channel = channel.as_str(), "Discord pins not read");
                return;
            }
        };
        if !events.is_empty()
            && let Err(error) = self.sink.record(events).await
        {
            tracing::warn!(%error, discord.channel = channel.as_str(), "Discord pin changes not recorded");
            return;
        }
        pins.remember(thread.as_deref().unwrap_or(channel.as_str()), pinned);
    }
}

/// The session end a fatal close code stands for.
fn session_end(fatal: GatewayFatal) -> SessionEnd {
    let GatewayFatal { code, message, .. } = fatal;
    SessionEnd::CredentialsRefused(match code {
        ProviderErrorCode::InvalidCredentials => ProviderError::InvalidCredentials { message },
        ProviderErrorCode::InsufficientPermissions => ProviderError::InsufficientPermissions {
            message,
            required_scopes: Vec::new(),
        },
        _ => ProviderError::Platform { message },
    })
}

#[async_trait]
impl ChatSession for DiscordGateway {
    fn provider(&self) -> Provider {
        Provider::Discord
    }

    fn wants_session(&self, credentials: &Credentials) -> bool {
        matches!(credentials, Credentials::Discord { .. })
    }

    async fn run(
        &self,
        target: SessionTarget,
        sink: Arc<dyn SessionSink>,
    ) -> Result<(), SessionEnd> {
        let Credentials::Discord { bot_token, .. } = &target.credentials else {
            return Err(SessionEnd::CredentialsRefused(
                ProviderError::InvalidCredentials {
                    message: "the connection has no Discord bot token".to_owned(),
                },
            ));
        };
        let Some(bot) = target.bot.clone() else {
            return Err(SessionEnd::CredentialsRefused(
                ProviderError::InvalidCredentials {
                    message: "the connection's bot is unknown; validate the connection again"
                        .to_owned(),
                },
            ));
        };
        let connection = GatewayConnection {
            guild: target.workspace.clone(),
            token: bot_token.clone(),
            bot,
        };
        let pins = self.history.clone().map(|history| PinReader {
            history,
            token: bot_token.clone(),
            workspace: target.workspace.clone(),
            known: Mutex::default(),
        });
        // The session runs until this future is dropped; the sender lives as long as it.
        let (_stop, stopped) = watch::channel(false);
        let sink = Sink {
            sink,
            pins,
            catching_up: Mutex::default(),
        };
        gateway::run_session(&self.settings, &connection, &sink, stopped)
            .await
            .map_err(session_end)
    }
}

/// The Discord adapter of [`ChatInbound`]: text conversion only; no HTTP input is Discord's.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiscordInbound;

struct Known<'a>(&'a [KnownMention]);

impl DiscordNames for Known<'_> {
    fn user(&self, id: &str) -> Option<MentionedUser> {
        self.0
            .iter()
            .find(|known| known.user.as_str() == id)
            .map(|known| MentionedUser {
                member: known.member,
                display_name: known.display_name.clone(),
            })
    }
}

#[async_trait]
impl ChatInbound for DiscordInbound {
    fn provider(&self) -> Provider {
        Provider::Discord
    }

    fn workspace_of(&self, _input: &InboundInput) -> Result<ExternalWorkspaceId, InboundError> {
        Err(InboundError::Malformed {
            reason: "Discord events arrive over the Gateway, not over HTTP".to_owned(),
        })
    }

    fn to_hazel_markdown(
        &self,
        text: &str,
        mentions: &[KnownMention],
        mention_mapping: bool,
    ) -> String {
        markdown::to_markdown(text, mention_mapping, &Known(mentions))
    }

    async fn verify_and_decode(
        &self,
        _input: &InboundInput,
        _credentials: &Credentials,
        _now: Timestamp,
    ) -> Result<InboundOutcome, InboundError> {
        Err(InboundError::Unauthenticated {
            reason: "Discord events arrive over the Gateway, not over HTTP".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use hazel_domain::ids::MemberId;
    use hazel_domain::model::external::ExternalUserId;

    use super::*;

    #[test]
    fn mentions_become_members_or_names() {
        let bob = MemberId::new();
        let mentions = [
            KnownMention {
                user: ExternalUserId::parse("user", "111").expect("an id"),
                member: Some(bob),
                display_name: Some("Bob".to_owned()),
            },
            KnownMention {
                user: ExternalUserId::parse("user", "222").expect("an id"),
                member: None,
                display_name: Some("Eve".to_owned()),
            },
        ];
        assert_eq!(
            DiscordInbound.to_hazel_markdown("**hi** <@111> and <@!222>", &mentions, true),
            format!("**hi** @[member:{bob}] and @Eve")
        );
        assert_eq!(
            DiscordInbound.to_hazel_markdown("<@!111>", &mentions, false),
            "@Bob"
        );
    }

    #[test]
    fn fatal_close_codes_are_refusals_with_their_message() {
        let gateway::CloseAction::Fatal(intent) = gateway::close_action(4014) else {
            panic!("4014 is fatal");
        };
        let SessionEnd::CredentialsRefused(error) = session_end(intent);
        assert_eq!(error.code(), ProviderErrorCode::InsufficientPermissions);
        assert!(error.to_string().contains("Privileged Gateway Intents"));
        let gateway::CloseAction::Fatal(token) = gateway::close_action(4004) else {
            panic!("4004 is fatal");
        };
        let SessionEnd::CredentialsRefused(error) = session_end(token);
        assert_eq!(error.code(), ProviderErrorCode::InvalidCredentials);
    }
}
