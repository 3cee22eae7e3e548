//! The message model of sync, shared by every provider: what an outbound call carries and
//! answers, how a failed delivery says what to do next, and the normalized events inbound
//! provider input decodes into. The provider ports speak these types; the sync engine builds
//! on them.

use std::fmt;
use std::time::Duration;

use super::Timestamp;
use super::chat_sync::{BotIdentity, Credentials, ProviderErrorCode};
use super::external::{
    ExternalBotId, ExternalChannelId, ExternalMessageId, ExternalUserId, ExternalWorkspaceId,
};
use super::message::Attachment;
use super::text::{Name, Url};
use crate::ids::{MemberId, MessageId};

// ---------------------------------------------------------------------------------------------
// Outbound: Hazel → external.

/// Who a synced message appears to be from on the destination (Slack `username`/`icon_url`,
/// a Discord webhook's `username`/`avatar_url`, a Teams name prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Persona {
    /// The author's display name; adapters adapt it to the platform's rules, never refuse it.
    pub name: Name,
    /// The author's avatar.
    pub avatar_url: Option<Url>,
}

/// The mark every outbound message carries where the platform allows it (Slack message
/// `metadata`, Discord `nonce`), so its echo is recognised on arrival and an ambiguous send
/// can be looked up before it is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OriginMarker {
    /// The Hazel message the external one mirrors.
    pub hazel_message_id: MessageId,
}

/// A thread on the platform: the message it hangs from and, where threads are channels of
/// their own (Discord), that channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ThreadRef {
    /// The thread's parent message (Slack `thread_ts`, Discord starter message).
    pub parent: ExternalMessageId,
    /// The thread's own channel, on platforms where a thread is one.
    pub channel: Option<ExternalChannelId>,
}

/// Where in the channel an outbound message goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ThreadTarget {
    /// A top-level message of the channel.
    TopLevel,
    /// A reply in a thread.
    Reply(ThreadRef),
}

/// A Hazel member mentioned in an outbound message, with its external counterpart when the
/// member is mapped: adapters render a mapped member as the platform's mention token and an
/// unmapped one as the plain display name, never a broken token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundMention {
    /// The mentioned member.
    pub member_id: MemberId,
    /// The member's user on the destination, when known.
    pub external_user_id: Option<ExternalUserId>,
    /// The member's display name.
    pub display_name: Name,
}

/// A message to create or edit on a destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundMessage {
    /// Who it appears to be from.
    pub persona: Persona,
    /// The text in Hazel Markdown (CommonMark); the adapter converts it to the platform's
    /// format and splits it at the platform's length limit.
    pub content: String,
    /// Top level or a thread reply.
    pub thread: ThreadTarget,
    /// The origin marker to attach.
    pub origin: OriginMarker,
    /// Attachments, carried as links.
    pub attachments: Vec<Attachment>,
    /// Members the text mentions (`@[member:<id>]`).
    pub mentions: Vec<OutboundMention>,
}

/// The channel an outbound call acts in, with what the adapter needs to act there.
#[derive(Clone, Debug)]
pub struct OutboundTarget {
    /// The channel link delivered through: what an adapter keeps per link (the Discord
    /// link's webhook, through [`LinkSecrets`](crate::ports::LinkSecrets)) is keyed by it.
    pub link: crate::ids::ChannelLinkId,
    /// The workspace.
    pub workspace: ExternalWorkspaceId,
    /// The channel (a linked channel; for thread replies, the thread's parent channel).
    pub channel: ExternalChannelId,
    /// The connection's credentials, in memory only.
    pub credentials: Credentials,
    /// The connection's bot, when known.
    pub bot: Option<BotIdentity>,
}

/// The external messages one Hazel message became: one per part when it was longer than the
/// destination allows, in order. Never empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExternalRefs(Vec<ExternalMessageId>);

impl ExternalRefs {
    /// The parts in order; `None` when there are none.
    #[must_use]
    pub fn new(parts: Vec<ExternalMessageId>) -> Option<Self> {
        (!parts.is_empty()).then_some(Self(parts))
    }

    /// A message that was not split.
    #[must_use]
    pub fn single(id: ExternalMessageId) -> Self {
        Self(vec![id])
    }

    /// The first part: the one reactions, pins and thread replies attach to.
    #[must_use]
    pub fn root(&self) -> &ExternalMessageId {
        // The constructors never build an empty list.
        &self.0[0]
    }

    /// Every part, in order.
    #[must_use]
    pub fn parts(&self) -> &[ExternalMessageId] {
        &self.0
    }
}

/// A reaction's emoji, normalized across platforms: the Unicode emoji when there is one (skin
/// tones included: Slack `:+1::skin-tone-3:` and Discord `👍🏼` are both `Unicode("👍🏼")`),
/// else the custom emoji's name with its case kept (`Custom("PartyParrot")`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReactionEmoji {
    /// A Unicode emoji sequence.
    Unicode(String),
    /// A workspace's custom emoji, by name.
    Custom(String),
}

// ---------------------------------------------------------------------------------------------
// Delivery failures.

/// Whose requests a rate limit holds back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateLimitScope {
    /// Every request of this bot (Discord `global`).
    Global,
    /// Requests of this method or route bucket (Slack per method and workspace, Discord per
    /// bucket).
    Route,
    /// A limit shared by everyone acting on the resource (Discord `X-RateLimit-Scope: shared`).
    Shared,
}

/// Which credential problem stopped a delivery. Each is one of the documented provider
/// error codes ([`Self::code`]), which the connection's `error` status records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthFailure {
    /// The credentials are wrong.
    InvalidCredentials,
    /// The credentials expired or were revoked.
    AuthExpired,
    /// The bot lacks a scope or permission.
    InsufficientPermissions,
}

impl AuthFailure {
    /// The documented error code.
    #[must_use]
    pub fn code(self) -> ProviderErrorCode {
        match self {
            Self::InvalidCredentials => ProviderErrorCode::InvalidCredentials,
            Self::AuthExpired => ProviderErrorCode::AuthExpired,
            Self::InsufficientPermissions => ProviderErrorCode::InsufficientPermissions,
        }
    }
}

/// Why an outbound call failed, as what to do next. Reasons never contain secrets.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The platform asked to slow down: wait `retry_after`, then retry.
    #[error("rate limited ({scope:?}); retry after {retry_after:?}")]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
        /// Whose requests wait.
        scope: RateLimitScope,
    },
    /// The request did not take effect (it never left, or the platform failed before acting):
    /// safe to retry with backoff.
    #[error("transient failure: {reason}")]
    Transient {
        /// What went wrong.
        reason: String,
    },
    /// The request left and its outcome is unknown (a timeout after sending, a connection
    /// dropped mid-answer, a failure after some parts of a split message were created): find
    /// the origin marker on the platform before retrying, never re-send blindly.
    #[error("outcome unknown: {reason}")]
    Ambiguous {
        /// What went wrong.
        reason: String,
    },
    /// The credentials no longer work: set the connection to `error` with this code and hold
    /// its deliveries until they are fixed.
    #[error("credentials refused ({}): {reason}", code.code().as_str())]
    Auth {
        /// Which problem.
        code: AuthFailure,
        /// The platform's reason.
        reason: String,
    },
    /// The platform refused the request itself (a 4xx): retrying cannot help; dead-letter it.
    #[error("rejected: {reason}")]
    Rejected {
        /// The platform's reason.
        reason: String,
    },
    /// The external message (or the thread, reaction or pin acted on) no longer exists.
    #[error("gone: {reason}")]
    Gone {
        /// The platform's reason.
        reason: String,
    },
}

impl DeliveryError {
    /// A short, stable name of the class, for `lastError` codes and metric labels.
    #[must_use]
    pub fn class(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Transient { .. } => "TRANSIENT",
            Self::Ambiguous { .. } => "AMBIGUOUS",
            Self::Auth { .. } => "AUTH",
            Self::Rejected { .. } => "REJECTED",
            Self::Gone { .. } => "GONE",
        }
    }

    /// Whether the same request may simply be sent again later (after the wait a rate limit
    /// asks for). An ambiguous send must be resolved first; auth failures wait for new
    /// credentials; rejected and gone requests never succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient { .. })
    }
}

// ---------------------------------------------------------------------------------------------
// Inbound: external → Hazel.

/// Provider input as it arrived, before it is trusted: an Events API request's headers and
/// raw body, or a Gateway dispatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundInput {
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The raw body, exactly as received (signatures cover these bytes).
    pub body: Vec<u8>,
    /// When it arrived.
    pub received_at: Timestamp,
}

impl InboundInput {
    /// The first value of header `name` (compared case-insensitively).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What verified input asks of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Answer the platform's URL check with this challenge; no events.
    Challenge(String),
    /// Events to record as receipts, in order (possibly none: input the service ignores).
    Events(Vec<InboundEvent>),
}

/// Why provider input was refused. Nothing is stored for refused input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// The input is not authentic (bad or missing signature or token): answer 401.
    #[error("the input is not authentic: {reason}")]
    Unauthenticated {
        /// Why.
        reason: String,
    },
    /// The input is signed too long ago or too far ahead (Slack: more than 300 s): answer 401.
    #[error("the input's timestamp is outside the accepted window")]
    Stale,
    /// The input is authentic but cannot be read: answer 400.
    #[error("the input cannot be read: {reason}")]
    Malformed {
        /// Why.
        reason: String,
    },
}

/// The key a receipt is deduplicated on, unique per connection and source (Slack
/// `event_id`; Discord `create:<id>`, `update:<id>:<edited_timestamp>`, …).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DedupeKey(String);

impl DedupeKey {
    /// Wraps a key the adapter built.
    #[must_use]
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DedupeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What sent an external message or acted on one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorKind {
    /// A person.
    Person,
    /// A bot (ours is recognised by its [`BotIdentity`]; other bots' messages are content).
    Bot {
        /// The bot's id, where the platform has one apart from its user (Slack `bot_id`).
        bot_id: Option<ExternalBotId>,
    },
    /// A webhook (Discord; ours is the link's webhook).
    Webhook {
        /// The webhook's id.
        webhook_id: ExternalUserId,
    },
}

/// The author of an external message or action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalAuthor {
    /// The user's id on the platform.
    pub id: ExternalUserId,
    /// The display name there.
    pub name: String,
    /// The avatar there.
    pub avatar_url: Option<Url>,
    /// Person, bot or webhook.
    pub kind: AuthorKind,
}

/// Who an external message mentions, in the platform's own terms.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ExternalMention {
    /// A user (`<@U123>`, `<@123>`).
    User(ExternalUserId),
    /// Everyone in the channel (`<!channel>`, `@everyone`).
    Channel,
    /// Everyone active (`<!here>`, `@here`).
    Here,
}

/// A user an external message mentions, as Hazel knows them: the member they are mirrored as
/// (their shadow member), and their display name. Adapters render a known member as
/// `@[member:<id>]` (when mention mapping is on) and anyone else as the plain name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownMention {
    /// The user on the platform.
    pub user: ExternalUserId,
    /// Their shadow member, when they have one.
    pub member: Option<MemberId>,
    /// Their display name, when known.
    pub display_name: Option<String>,
}

/// An external message as it was created or edited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalMessage {
    /// Its id.
    pub id: ExternalMessageId,
    /// Who wrote it.
    pub author: ExternalAuthor,
    /// The text in the platform's format (Slack mrkdwn, Discord Markdown).
    pub text: String,
    /// The thread it replies in, when it is a reply.
    pub thread: Option<ThreadRef>,
    /// Attachments, as links.
    pub attachments: Vec<Attachment>,
    /// Who it mentions.
    pub mentions: Vec<ExternalMention>,
    /// Our origin marker, when the message carries one (it is our own echo).
    pub origin: Option<OriginMarker>,
}

/// What happened on the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundEventKind {
    /// A message was posted.
    MessageCreated(ExternalMessage),
    /// A message was edited; the message as it is now.
    MessageEdited(ExternalMessage),
    /// A message was deleted.
    MessageDeleted {
        /// The message.
        message: ExternalMessageId,
    },
    /// A reaction was added.
    ReactionAdded {
        /// The message.
        message: ExternalMessageId,
        /// Who reacted.
        user: ExternalUserId,
        /// With what.
        emoji: ReactionEmoji,
    },
    /// A reaction was removed.
    ReactionRemoved {
        /// The message.
        message: ExternalMessageId,
        /// Whose reaction.
        user: ExternalUserId,
        /// Which.
        emoji: ReactionEmoji,
    },
    /// A message was pinned.
    PinAdded {
        /// The message.
        message: ExternalMessageId,
        /// Who pinned it, when the platform says.
        by: Option<ExternalUserId>,
    },
    /// A message was unpinned.
    PinRemoved {
        /// The message.
        message: ExternalMessageId,
        /// Who unpinned it, when the platform says.
        by: Option<ExternalUserId>,
    },
    /// A thread was started, from a message or (Discord) on its own, without a starter
    /// message: then its `parent` is the thread itself, and it becomes a Hazel message of its
    /// own (its name, by its owner) that the thread's replies hang from.
    ThreadStarted {
        /// The thread.
        thread: ThreadRef,
        /// Its name, where threads have one.
        name: Option<String>,
        /// Who started it, when the platform says.
        owner: Option<ExternalUserId>,
    },
}

/// One normalized event from a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundEvent {
    /// The receipt's deduplication key.
    pub dedupe_key: DedupeKey,
    /// The workspace it happened in (the connection is found by it).
    pub workspace: ExternalWorkspaceId,
    /// The channel it happened in (the link is found by it; for thread replies, the thread's
    /// parent channel).
    pub channel: ExternalChannelId,
    /// When it happened, by the platform's clock.
    pub occurred_at: Timestamp,
    /// What happened.
    pub kind: InboundEventKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_id(raw: &str) -> ExternalMessageId {
        ExternalMessageId::parse("id", raw).unwrap()
    }

    #[test]
    fn refs_are_never_empty_and_the_first_part_is_the_root() {
        assert_eq!(ExternalRefs::new(Vec::new()), None);
        let refs = ExternalRefs::new(vec![message_id("1.1"), message_id("1.2")]).unwrap();
        assert_eq!(refs.root(), &message_id("1.1"));
        assert_eq!(refs.parts().len(), 2);
        assert_eq!(
            ExternalRefs::single(message_id("9")).parts(),
            &[message_id("9")]
        );
    }

    #[test]
    fn only_rate_limits_and_transient_failures_are_plainly_retryable() {
        let reason = || "x".to_owned();
        let table = [
            (
                DeliveryError::RateLimited {
                    retry_after: Duration::from_secs(3),
                    scope: RateLimitScope::Route,
                },
                true,
                "RATE_LIMITED",
            ),
            (
                DeliveryError::Transient { reason: reason() },
                true,
                "TRANSIENT",
            ),
            (
                DeliveryError::Ambiguous { reason: reason() },
                false,
                "AMBIGUOUS",
            ),
            (
                DeliveryError::Auth {
                    code: AuthFailure::AuthExpired,
                    reason: reason(),
                },
                false,
                "AUTH",
            ),
            (
                DeliveryError::Rejected { reason: reason() },
                false,
                "REJECTED",
            ),
            (DeliveryError::Gone { reason: reason() }, false, "GONE"),
        ];
        for (error, retryable, class) in table {
            assert_eq!(error.is_retryable(), retryable, "{error:?}");
            assert_eq!(error.class(), class, "{error:?}");
        }
    }

    #[test]
    fn auth_failures_carry_the_documented_codes() {
        assert_eq!(
            AuthFailure::InvalidCredentials.code(),
            ProviderErrorCode::InvalidCredentials
        );
        assert_eq!(
            AuthFailure::AuthExpired.code(),
            ProviderErrorCode::AuthExpired
        );
        assert_eq!(
            AuthFailure::InsufficientPermissions.code(),
            ProviderErrorCode::InsufficientPermissions
        );
        let shown = DeliveryError::Auth {
            code: AuthFailure::AuthExpired,
            reason: "token_revoked".to_owned(),
        }
        .to_string();
        assert!(shown.contains("AUTH_EXPIRED"), "{shown}");
    }

    #[test]
    fn inbound_headers_are_found_case_insensitively() {
        let input = InboundInput {
            headers: vec![("x-slack-signature".to_owned(), "v0=ab".to_owned())],
            body: Vec::new(),
            received_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(input.header("X-Slack-Signature"), Some("v0=ab"));
        assert_eq!(input.header("x-slack-request-timestamp"), None);
    }
}
