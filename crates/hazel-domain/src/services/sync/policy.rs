//! The sync engine's pure rules: where a change goes (routing), which inbound events are our
//! own echoes (loop prevention), and what a failed delivery does next (retry class, backoff).

use std::time::Duration;

use crate::ids::ChannelLinkId;
use crate::model::chat_sync::{BotIdentity, ChannelLink, ConnectionStatus, SyncConnection};
use crate::model::delivery::{ContentHash, DeliveryKind, IgnoreReason, MessageLink};
use crate::model::sync::{
    AuthFailure, AuthorKind, DeliveryError, InboundEvent, InboundEventKind, ReactionEmoji,
};

/// A channel link together with its connection: everything routing looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The link.
    pub link: ChannelLink,
    /// Its connection.
    pub connection: SyncConnection,
}

/// Whether the settings in force on `route` sync changes of `kind`.
#[must_use]
pub fn kind_enabled(kind: DeliveryKind, route: &Route) -> bool {
    let settings = route.link.settings.effective(route.connection.settings);
    match kind {
        DeliveryKind::MessageCreate => true,
        DeliveryKind::MessageEdit => settings.sync_edits,
        DeliveryKind::MessageDelete => settings.sync_deletes,
        DeliveryKind::ReactionAdd | DeliveryKind::ReactionRemove => settings.sync_reactions,
        DeliveryKind::PinAdd | DeliveryKind::PinRemove => route.link.settings.sync_pins,
    }
}

/// Why `route` takes no outbound change of `kind` now, if it takes none.
#[must_use]
pub fn outbound_refusal(kind: DeliveryKind, route: &Route) -> Option<IgnoreReason> {
    if !route.link.is_active {
        Some(IgnoreReason::LinkInactive)
    } else if !route.link.direction.allows_outbound() {
        Some(IgnoreReason::DirectionDisallows)
    } else if route.connection.status != ConnectionStatus::Connected {
        Some(IgnoreReason::ConnectionNotConnected)
    } else if !kind_enabled(kind, route) {
        Some(IgnoreReason::SettingDisabled)
    } else {
        None
    }
}

/// The links a change of `kind` in a Hazel channel is delivered to: every link of the channel
/// that is active, allows outbound, whose connection is `connected` and whose settings sync
/// the kind, except `from`, the link the change came in through (hub fan-out: never back to
/// its source).
#[must_use]
pub fn outbound_targets(
    kind: DeliveryKind,
    routes: &[Route],
    from: Option<ChannelLinkId>,
) -> Vec<&Route> {
    routes
        .iter()
        .filter(|route| Some(route.link.id) != from)
        .filter(|route| outbound_refusal(kind, route).is_none())
        .collect()
}

/// Why an inbound event of `kind` through `route` is not written into Hazel, if it is not.
#[must_use]
pub fn inbound_refusal(kind: DeliveryKind, route: &Route) -> Option<IgnoreReason> {
    if !route.link.is_active {
        Some(IgnoreReason::LinkInactive)
    } else if !route.link.direction.allows_inbound() {
        Some(IgnoreReason::DirectionDisallows)
    } else if route.connection.status != ConnectionStatus::Connected {
        Some(IgnoreReason::ConnectionNotConnected)
    } else if !kind_enabled(kind, route) {
        Some(IgnoreReason::SettingDisabled)
    } else {
        None
    }
}

/// Whether `event` is the echo of something the service itself did: sent by our own bot user
/// (or its bot id), or carrying our origin marker. Other bots' messages are content.
#[must_use]
pub fn own_echo(event: &InboundEvent, bot: Option<&BotIdentity>) -> Option<IgnoreReason> {
    let is_own_user =
        |user: &crate::model::external::ExternalUserId| bot.is_some_and(|bot| &bot.user_id == user);
    match &event.kind {
        InboundEventKind::MessageCreated(message) | InboundEventKind::MessageEdited(message) => {
            if message.origin.is_some() {
                return Some(IgnoreReason::OwnOrigin);
            }
            if is_own_user(&message.author.id) {
                return Some(IgnoreReason::OwnBot);
            }
            match &message.author.kind {
                AuthorKind::Bot {
                    bot_id: Some(bot_id),
                } if bot.is_some_and(|b| b.bot_id.as_ref() == Some(bot_id)) => {
                    Some(IgnoreReason::OwnBot)
                }
                AuthorKind::Person | AuthorKind::Bot { .. } | AuthorKind::Webhook { .. } => None,
            }
        }
        InboundEventKind::ReactionAdded { user, .. }
        | InboundEventKind::ReactionRemoved { user, .. } => {
            is_own_user(user).then_some(IgnoreReason::OwnBot)
        }
        InboundEventKind::PinAdded { by, .. } | InboundEventKind::PinRemoved { by, .. } => by
            .as_ref()
            .filter(|user| is_own_user(user))
            .map(|_| IgnoreReason::OwnBot),
        InboundEventKind::ThreadStarted { owner, .. } => owner
            .as_ref()
            .filter(|user| is_own_user(user))
            .map(|_| IgnoreReason::OwnBot),
        InboundEventKind::MessageDeleted { .. } => None,
    }
}

/// Whether an edit whose text is `content` only repeats what the link last wrote (the echo of
/// an edit the service made), so it must not be written nor fanned out again.
#[must_use]
pub fn edit_is_echo(link: &MessageLink, content: &str) -> bool {
    link.content_hash == ContentHash::of(content)
}

/// Whether an inbound reaction change only repeats the reaction set the bot holds through the
/// link: an added emoji the bot holds already, or a removed one it no longer holds.
#[must_use]
pub fn reaction_is_echo(link: &MessageLink, emoji: &ReactionEmoji, added: bool) -> bool {
    link.reactions.contains(emoji) == added
}

/// How failed deliveries are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff; each further one doubles.
    pub base: Duration,
    /// The longest backoff.
    pub cap: Duration,
    /// Tries before a delivery is dead-lettered.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            max_attempts: 10,
        }
    }
}

/// What to do after a failed try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after `after`. `resolve_first`: the outcome of the try is unknown, so the
    /// origin marker is looked for on the platform before anything is sent again.
    Retry {
        /// The wait.
        after: Duration,
        /// Whether to resolve an ambiguous send first.
        resolve_first: bool,
    },
    /// The credentials were refused: set the connection to `error` and hold the delivery
    /// (pending, not dropped) until they are fixed.
    HoldForCredentials(AuthFailure),
    /// The thing acted on is gone on the platform.
    Gone,
    /// Give up: dead-letter it (retryable through the API).
    DeadLetter,
}

impl RetryPolicy {
    /// The backoff before try `attempts + 1`, after `attempts` (≥ 1) failed tries: `base`
    /// doubled per earlier failure, capped, with "equal jitter" (half fixed, half scaled by
    /// `jitter` in `[0, 1]`) so that many deliveries failing together do not retry together.
    #[must_use]
    pub fn backoff(&self, attempts: u32, jitter: f64) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1u32 << doublings).min(self.cap);
        let half = full / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// What to do after try number `attempts` (counting it) failed with `error`.
    #[must_use]
    pub fn decide(&self, error: &DeliveryError, attempts: u32, jitter: f64) -> RetryDecision {
        let exhausted = attempts >= self.max_attempts;
        match error {
            DeliveryError::Auth { code, .. } => RetryDecision::HoldForCredentials(*code),
            DeliveryError::Rejected { .. } => RetryDecision::DeadLetter,
            DeliveryError::Gone { .. } => RetryDecision::Gone,
            _ if exhausted => RetryDecision::DeadLetter,
            DeliveryError::RateLimited { retry_after, .. } => RetryDecision::Retry {
                // The platform's wait is honoured as given; never sooner.
                after: *retry_after,
                resolve_first: false,
            },
            DeliveryError::Transient { .. } => RetryDecision::Retry {
                after: self.backoff(attempts, jitter),
                resolve_first: false,
            },
            DeliveryError::Ambiguous { .. } => RetryDecision::Retry {
                after: self.backoff(attempts, jitter),
                resolve_first: true,
            },
        }
    }
}
