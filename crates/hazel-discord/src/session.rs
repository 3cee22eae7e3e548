//! [`DiscordGateway`]: the [`ChatSession`] port for Discord (one Gateway session per
//! connection, run by [`gateway::run_session`]), and [`DiscordInbound`]: the [`ChatInbound`]
//! port, whose part for Discord is converting message text to Hazel Markdown (Discord's events
//! arrive over the Gateway, never at an HTTP route).

use std::sync::Arc;

use async_trait::async_trait;
use hazel_domain::model::Timestamp;
use hazel_domain::model::chat_sync::{
    Credentials, ExternalWorkspaceId, Provider, ProviderError, ProviderErrorCode,
};
use hazel_domain::model::sync::{
    InboundError, InboundEvent, InboundInput, InboundOutcome, KnownMention,
};
use hazel_domain::ports::{ChatInbound, ChatSession, SessionEnd, SessionSink, SessionTarget};
use tokio::sync::watch;

use crate::gateway::{self, GatewayConnection, GatewayFatal, GatewaySettings, GatewaySink};
use crate::markdown::{self, DiscordNames, MentionedUser};

/// The Discord adapter of [`ChatSession`]: every Discord connection takes its intake over
/// the Gateway.
#[derive(Clone, Debug)]
pub struct DiscordGateway {
    settings: GatewaySettings,
}

impl DiscordGateway {
    /// Sessions connecting as `settings` say (`HAZEL_DISCORD_GATEWAY_URL`).
    #[must_use]
    pub fn new(settings: GatewaySettings) -> Self {
        Self { settings }
    }
}

/// Hands the Gateway's events to the session sink, which records them as receipts before
/// the session advances past them.
struct Sink {
    sink: Arc<dyn SessionSink>,
}

#[async_trait]
impl GatewaySink for Sink {
    async fn record(&self, events: Vec<InboundEvent>) -> Result<(), String> {
        self.sink.record(events).await.map_err(|e| e.to_string())
    }

    async fn connected(&self, resumed: bool) {
        tracing::info!(resumed, "Discord Gateway session established");
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
        // The session runs until this future is dropped; the sender lives as long as it.
        let (_stop, stopped) = watch::channel(false);
        gateway::run_session(&self.settings, &connection, &Sink { sink }, stopped)
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
