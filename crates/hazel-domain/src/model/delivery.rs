//! The sync engine's durable state: outbox deliveries (Hazel → external), event receipts
//! (external → Hazel), message links (what a Hazel message is on each linked channel) and link
//! claims (which worker holds a link's queue).
//!
//! Every state is an enum whose variants carry their data; adapters map them to columns with
//! an exhaustive `match`.

use std::collections::BTreeSet;
use std::fmt;

use sha2::{Digest as _, Sha256};

use super::Timestamp;
use super::message::Emoji;
use super::sync::{DedupeKey, DeliveryError, ExternalRefs, InboundEvent, ReactionEmoji, ThreadRef};
use crate::error::ValidationError;
use crate::ids::{
    ChannelLinkId, DeliveryId, MessageId, MessageLinkId, ReceiptId, SyncConnectionId, WorkerId,
};

/// What a delivery carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryKind {
    /// `message.create`.
    MessageCreate,
    /// `message.edit`.
    MessageEdit,
    /// `message.delete`.
    MessageDelete,
    /// `reaction.add`.
    ReactionAdd,
    /// `reaction.remove`.
    ReactionRemove,
    /// `pin.add`.
    PinAdd,
    /// `pin.remove`.
    PinRemove,
}

impl DeliveryKind {
    /// Every kind, in the order of the contract.
    pub const ALL: [Self; 7] = [
        Self::MessageCreate,
        Self::MessageEdit,
        Self::MessageDelete,
        Self::ReactionAdd,
        Self::ReactionRemove,
        Self::PinAdd,
        Self::PinRemove,
    ];

    /// The wire and storage name (`message.create`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageCreate => "message.create",
            Self::MessageEdit => "message.edit",
            Self::MessageDelete => "message.delete",
            Self::ReactionAdd => "reaction.add",
            Self::ReactionRemove => "reaction.remove",
            Self::PinAdd => "pin.add",
            Self::PinRemove => "pin.remove",
        }
    }

    /// Parses the wire and storage name.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` for any other value.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == raw)
            .ok_or_else(|| ValidationError::new(field, "is not a delivery kind"))
    }
}

/// Which way a delivery goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryDirection {
    /// External → Hazel (an event receipt).
    Inbound,
    /// Hazel → external (an outbox row).
    Outbound,
}

impl DeliveryDirection {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }
}

/// Why a delivery or receipt was dropped on purpose. Stored and answered as `reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IgnoreReason {
    /// The event came from our own bot user.
    OwnBot,
    /// The event came from one of our own webhooks.
    OwnWebhook,
    /// The message carries our origin marker: it is the echo of our own delivery.
    OwnOrigin,
    /// No live link joins the external channel to Hazel.
    LinkNotFound,
    /// The link is deactivated.
    LinkInactive,
    /// The link's direction does not allow this way.
    DirectionDisallows,
    /// The connection is not `connected` (paused, or waiting for new credentials).
    ConnectionNotConnected,
    /// A setting (`syncEdits`, `syncDeletes`, `syncReactions`, `syncPins`) turns this kind off.
    SettingDisabled,
    /// The message it acts on was never synced through this link.
    MessageNotLinked,
    /// The change is what the link last wrote: the service caused it (no bounce).
    AlreadyInSync,
    /// A Hazel member still has the reaction, so the bot keeps holding it.
    ReactionStillHeld,
    /// The Hazel message no longer exists or was deleted before it was delivered.
    MessageGone,
    /// The platform event is not one the engine syncs (a thread start, a pin by the platform).
    Unsupported,
}

impl IgnoreReason {
    const ALL: [Self; 13] = [
        Self::OwnBot,
        Self::OwnWebhook,
        Self::OwnOrigin,
        Self::LinkNotFound,
        Self::LinkInactive,
        Self::DirectionDisallows,
        Self::ConnectionNotConnected,
        Self::SettingDisabled,
        Self::MessageNotLinked,
        Self::AlreadyInSync,
        Self::ReactionStillHeld,
        Self::MessageGone,
        Self::Unsupported,
    ];

    /// The stored and answered name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OwnBot => "own_bot",
            Self::OwnWebhook => "own_webhook",
            Self::OwnOrigin => "own_origin",
            Self::LinkNotFound => "link_not_found",
            Self::LinkInactive => "link_inactive",
            Self::DirectionDisallows => "direction_disallows",
            Self::ConnectionNotConnected => "connection_not_connected",
            Self::SettingDisabled => "setting_disabled",
            Self::MessageNotLinked => "message_not_linked",
            Self::AlreadyInSync => "already_in_sync",
            Self::ReactionStillHeld => "reaction_still_held",
            Self::MessageGone => "message_gone",
            Self::Unsupported => "unsupported",
        }
    }

    /// Reads a stored name.
    #[must_use]
    pub fn from_stored(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == raw)
    }
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The last failure of a delivery or receipt: a stable code and a human message, no secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastError {
    /// A stable code (`RATE_LIMITED`, `TRANSIENT`, `AUTH`, …).
    pub code: String,
    /// What went wrong.
    pub message: String,
}

impl From<&DeliveryError> for LastError {
    fn from(error: &DeliveryError) -> Self {
        Self {
            code: error.class().to_owned(),
            message: error.to_string(),
        }
    }
}

/// Where a delivery or receipt is in its life. `attempts` counts the tries made so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting to be tried at `next_attempt_at`.
    Pending {
        /// Tries made so far.
        attempts: u32,
        /// Not before then.
        next_attempt_at: Timestamp,
        /// The last failure, when a try failed.
        last_error: Option<LastError>,
        /// When the last try's outcome is unknown, the time it was sent: the origin marker
        /// is looked for on the platform before anything is sent again.
        unresolved_since: Option<Timestamp>,
    },
    /// Done.
    Delivered {
        /// Tries it took.
        attempts: u32,
        /// When.
        completed_at: Timestamp,
    },
    /// Dead-lettered: retryable through the API only.
    Failed {
        /// Tries made.
        attempts: u32,
        /// Why the last one failed.
        last_error: LastError,
        /// When it was given up.
        completed_at: Timestamp,
    },
    /// Dropped on purpose.
    Ignored {
        /// Why.
        reason: IgnoreReason,
        /// When.
        completed_at: Timestamp,
    },
}

impl DeliveryState {
    /// A fresh item, due now.
    #[must_use]
    pub fn due(now: Timestamp) -> Self {
        Self::Pending {
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            unresolved_since: None,
        }
    }

    /// The status name of the contract.
    #[must_use]
    pub fn status(&self) -> DeliveryStatus {
        match self {
            Self::Pending { .. } => DeliveryStatus::Pending,
            Self::Delivered { .. } => DeliveryStatus::Delivered,
            Self::Failed { .. } => DeliveryStatus::Failed,
            Self::Ignored { .. } => DeliveryStatus::Ignored,
        }
    }

    /// Tries made so far.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Pending { attempts, .. }
            | Self::Delivered { attempts, .. }
            | Self::Failed { attempts, .. } => *attempts,
            Self::Ignored { .. } => 0,
        }
    }
}

/// The status filter and field of the deliveries API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting.
    Pending,
    /// Done.
    Delivered,
    /// Dead-lettered.
    Failed,
    /// Dropped on purpose.
    Ignored,
}

impl DeliveryStatus {
    /// The wire and storage name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Ignored => "ignored",
        }
    }
}

/// One outbox row: a change of one Hazel message to carry to one linked external channel,
/// delivered in `sequence` order within its link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Id (time-ordered).
    pub id: DeliveryId,
    /// The target link's connection.
    pub connection_id: SyncConnectionId,
    /// The target link.
    pub channel_link_id: ChannelLinkId,
    /// What it carries.
    pub kind: DeliveryKind,
    /// The Hazel message it is about.
    pub hazel_message_id: MessageId,
    /// The reaction's emoji, for `reaction.add` and `reaction.remove`.
    pub emoji: Option<Emoji>,
    /// Where it is in its life.
    pub state: DeliveryState,
    /// When it was enqueued.
    pub created_at: Timestamp,
}

/// An outbox row as stored, with its place in the link's queue and what it was delivered as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedDelivery {
    /// The row.
    pub delivery: Delivery,
    /// Its place in its link's queue (assigned when stored; increasing per link).
    pub sequence: i64,
    /// The external message it was delivered to, once known.
    pub external_message_id: Option<super::external::ExternalMessageId>,
}

/// Where an inbound event came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReceiptSource {
    /// A provider's webhook (Slack Events API, Teams activities).
    Webhook,
    /// A provider's websocket (Discord Gateway, Slack Socket Mode).
    Socket,
    /// A read of the channel's history to fill a gap.
    Backfill,
}

impl ReceiptSource {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Socket => "socket",
            Self::Backfill => "backfill",
        }
    }

    /// Reads a stored name.
    #[must_use]
    pub fn from_stored(raw: &str) -> Option<Self> {
        [Self::Webhook, Self::Socket, Self::Backfill]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// One inbound event, recorded durably before it is acknowledged; unique per (connection,
/// source, dedupe key), so a redelivery finds it and does nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventReceipt {
    /// Id (time-ordered).
    pub id: ReceiptId,
    /// The connection it arrived on.
    pub connection_id: SyncConnectionId,
    /// How it arrived.
    pub source: ReceiptSource,
    /// The dedupe key (also in `event`).
    pub dedupe_key: DedupeKey,
    /// The normalized event.
    pub event: InboundEvent,
    /// Where it is in its life (`Delivered` means processed).
    pub state: DeliveryState,
    /// The Hazel message it wrote or acted on, once processed.
    pub hazel_message_id: Option<MessageId>,
    /// The link it arrived through, once routed.
    pub channel_link_id: Option<ChannelLinkId>,
    /// When it was recorded.
    pub created_at: Timestamp,
}

impl EventReceipt {
    /// The delivery kind the event maps to; a thread start is a create (a thread without a
    /// starter message becomes a Hazel message of its own).
    #[must_use]
    pub fn kind(&self) -> DeliveryKind {
        use super::sync::InboundEventKind as K;
        match &self.event.kind {
            K::MessageCreated(_) => DeliveryKind::MessageCreate,
            K::MessageEdited(_) => DeliveryKind::MessageEdit,
            K::MessageDeleted { .. } => DeliveryKind::MessageDelete,
            K::ReactionAdded { .. } => DeliveryKind::ReactionAdd,
            K::ReactionRemoved { .. } => DeliveryKind::ReactionRemove,
            K::PinAdded { .. } => DeliveryKind::PinAdd,
            K::PinRemoved { .. } => DeliveryKind::PinRemove,
            K::ThreadStarted { .. } => DeliveryKind::MessageCreate,
        }
    }
}

/// Which side a linked message started on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkSource {
    /// Posted in Hazel and delivered out.
    Hazel,
    /// Posted on the platform and synced in.
    External,
}

impl LinkSource {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hazel => "hazel",
            Self::External => "external",
        }
    }

    /// Reads a stored name.
    #[must_use]
    pub fn from_stored(raw: &str) -> Option<Self> {
        match raw {
            "hazel" => Some(Self::Hazel),
            "external" => Some(Self::External),
            _ => None,
        }
    }
}

/// The SHA-256 of a text, hex: what a message link remembers of the content it last wrote,
/// so an edit the service itself caused is recognised when its echo comes back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContentHash(String);

impl ContentHash {
    /// The hash of `text`.
    #[must_use]
    pub fn of(text: &str) -> Self {
        Self(hex::encode(Sha256::digest(text.as_bytes())))
    }

    /// Wraps a stored hash.
    #[must_use]
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    /// The hex digest.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Hazel message and what it is on one linked channel. Unique per link on the Hazel message
/// and on the external root message; persisted, so edits, deletes, reactions and replies find
/// their target across restarts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageLink {
    /// Id.
    pub id: MessageLinkId,
    /// The channel link.
    pub channel_link_id: ChannelLinkId,
    /// The Hazel message.
    pub hazel_message_id: MessageId,
    /// Every part of the external message, in order.
    pub external: ExternalRefs,
    /// Which side it started on.
    pub source: LinkSource,
    /// The thread the external message is in, when it is a reply, or the thread started from
    /// it, when it is a thread root.
    pub thread: Option<ThreadRef>,
    /// The hash of the content last written on either side through this link.
    pub content_hash: ContentHash,
    /// The reactions the bot holds on the external message.
    pub reactions: BTreeSet<ReactionEmoji>,
    /// Whether the external message is pinned, as last synced through this link (a repeated
    /// pin or unpin changes nothing and is not relayed again).
    pub pinned: bool,
    /// When it was written.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A worker's hold on one link's queue: while it is held (and not expired) no other worker
/// delivers to that link, so the link's deliveries go out in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkClaim {
    /// The link.
    pub channel_link_id: ChannelLinkId,
    /// The link's connection.
    pub connection_id: SyncConnectionId,
    /// The holder.
    pub worker: WorkerId,
    /// Until when it holds without renewal.
    pub expires_at: Timestamp,
}

/// A worker's lease on a claimed receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptLease {
    /// The receipt, as claimed.
    pub receipt: EventReceipt,
    /// The holder.
    pub worker: WorkerId,
    /// Until when it holds.
    pub expires_at: Timestamp,
}

/// Converts between Hazel's reaction emoji and the platform-neutral [`ReactionEmoji`].
#[must_use]
pub fn reaction_emoji(emoji: &Emoji) -> ReactionEmoji {
    let raw = emoji.as_str();
    match raw.strip_prefix(':').and_then(|r| r.strip_suffix(':')) {
        Some(name) => ReactionEmoji::Custom(name.to_owned()),
        None => ReactionEmoji::Unicode(raw.to_owned()),
    }
}

/// The Hazel emoji of a platform reaction. A custom name that Hazel's `:short_name:` rule does
/// not accept (capitals, say) is kept in lower case; `None` when nothing acceptable remains.
#[must_use]
pub fn hazel_emoji(emoji: &ReactionEmoji) -> Option<Emoji> {
    match emoji {
        ReactionEmoji::Unicode(raw) => Emoji::parse("emoji", raw).ok(),
        ReactionEmoji::Custom(name) => Emoji::parse("emoji", &format!(":{name}:"))
            .or_else(|_| Emoji::parse("emoji", &format!(":{}:", name.to_lowercase())))
            .ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in DeliveryKind::ALL {
            assert_eq!(DeliveryKind::parse("kind", kind.as_str()), Ok(kind));
        }
        assert_eq!(
            DeliveryKind::parse("kind", "message.created")
                .unwrap_err()
                .field(),
            "kind"
        );
    }

    #[test]
    fn reasons_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for reason in IgnoreReason::ALL {
            assert!(seen.insert(reason.as_str()), "{reason:?}");
            assert_eq!(IgnoreReason::from_stored(reason.as_str()), Some(reason));
        }
        assert_eq!(IgnoreReason::from_stored("bogus"), None);
    }

    #[test]
    fn emoji_convert_both_ways() {
        let thumbs = Emoji::parse("e", "👍🏼").unwrap();
        assert_eq!(reaction_emoji(&thumbs), ReactionEmoji::Unicode("👍🏼".into()));
        let parrot = Emoji::parse("e", ":party_parrot:").unwrap();
        assert_eq!(
            reaction_emoji(&parrot),
            ReactionEmoji::Custom("party_parrot".into())
        );
        assert_eq!(hazel_emoji(&reaction_emoji(&parrot)), Some(parrot));
        assert_eq!(
            hazel_emoji(&ReactionEmoji::Custom("PartyParrot".into()))
                .map(|e| e.as_str().to_owned()),
            Some(":partyparrot:".to_owned())
        );
        assert_eq!(hazel_emoji(&ReactionEmoji::Custom("bad name".into())), None);
    }

    #[test]
    fn content_hashes_differ_for_different_texts() {
        assert_eq!(ContentHash::of("a"), ContentHash::of("a"));
        assert_ne!(ContentHash::of("a"), ContentHash::of("b"));
        assert_eq!(ContentHash::of("").as_str().len(), 64);
    }

    #[test]
    fn state_names_and_attempts() {
        let now = Timestamp::UNIX_EPOCH;
        assert_eq!(DeliveryState::due(now).status(), DeliveryStatus::Pending);
        assert_eq!(DeliveryState::due(now).attempts(), 0);
        let failed = DeliveryState::Failed {
            attempts: 10,
            last_error: LastError {
                code: "TRANSIENT".into(),
                message: "x".into(),
            },
            completed_at: now,
        };
        assert_eq!(failed.status().as_str(), "failed");
        assert_eq!(failed.attempts(), 10);
    }
}
