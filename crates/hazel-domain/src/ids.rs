//! Typed identifiers. Every id is a UUID v7 behind a private field, so ids sort by creation time
//! and one kind of id can never be passed where another is expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::ValidationError;

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUID v7).
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses an id from its canonical string form; `field` names the input in the error.
            ///
            /// # Errors
            /// [`ValidationError`] naming `field` when `raw` is not a UUID.
            pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
                Uuid::parse_str(raw)
                    .map(Self)
                    .map_err(|_| ValidationError::new(field, "must be a UUID"))
            }

            /// The canonical hyphenated lowercase form, as stored and answered.
            #[must_use]
            pub fn to_hyphenated(&self) -> String {
                self.0.hyphenated().to_string()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse("id", s)
            }
        }
    };
}

define_id!(
    /// Identifies an organization (a tenant).
    OrganizationId
);
define_id!(
    /// Identifies a user: a person who can hold API tokens and belong to organizations.
    UserId
);
define_id!(
    /// Identifies a member: a user's (or an external author's) place in one organization.
    MemberId
);
define_id!(
    /// Identifies a Hazel channel.
    ChannelId
);
define_id!(
    /// Identifies a Hazel message.
    MessageId
);
define_id!(
    /// Identifies a reaction on a message.
    ReactionId
);
define_id!(
    /// Identifies a notification.
    NotificationId
);
define_id!(
    /// Identifies an API token (not the secret token itself).
    ApiTokenId
);
define_id!(
    /// Identifies a connection to an external chat workspace.
    SyncConnectionId
);
define_id!(
    /// Identifies a link between a Hazel channel and an external channel.
    ChannelLinkId
);

define_id!(
    /// Identifies an outbox delivery: one change to carry to one linked external channel.
    DeliveryId
);
define_id!(
    /// Identifies an event receipt: one inbound provider event, recorded before it is acknowledged.
    ReceiptId
);
define_id!(
    /// Identifies a message link: a Hazel message and what it is on one linked external channel.
    MessageLinkId
);
define_id!(
    /// Identifies one running worker, the holder of the leases it takes.
    WorkerId
);
define_id!(
    /// Identifies one taking of a session lease (a fencing token): a new one on every
    /// acquisition, so a holder that lost its lease can never write as the next holder.
    LeaseToken
);

/// The id of a committed database transaction: on PostgreSQL the transaction's own id
/// (`pg_current_xact_id()`), on SQLite a counter incremented by every changeset. A later write
/// by the same client always has a larger id; concurrent writes may commit out of id order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransactionId(u64);

impl TransactionId {
    /// Wraps a value read from the database.
    #[must_use]
    pub fn new(value: u64) -> Self {
        Self(value)
    }

    /// The value.
    #[must_use]
    pub fn value(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_string_form() {
        let id = MessageId::new();
        assert_eq!(MessageId::parse("messageId", &id.to_string()), Ok(id));
    }

    #[test]
    fn parse_error_names_the_field() {
        let err = ChannelId::parse("channelId", "nope").unwrap_err();
        assert_eq!(err.field(), "channelId");
    }

    #[test]
    fn new_ids_are_time_ordered() {
        let ids: Vec<MessageId> = (0..100).map(|_| MessageId::new()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }
}
