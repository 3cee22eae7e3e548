//! Channels.

use super::Timestamp;
use super::text::Name;
use crate::error::ValidationError;
use crate::ids::{ChannelId, OrganizationId};

/// What kind of channel, with the data each kind carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    /// Visible to every member of the organization.
    Public,
    /// Marked private.
    Private,
    /// A thread channel hanging off a parent channel of the same organization.
    Thread {
        /// The parent channel.
        parent: ChannelId,
    },
}

impl ChannelKind {
    /// The wire and storage name of the kind.
    #[must_use]
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Thread { .. } => "thread",
        }
    }

    /// Builds a kind from its name and optional parent.
    ///
    /// # Errors
    /// [`ValidationError`] on `type` for unknown names, on `parentChannelId` when a thread has
    /// no parent or a non-thread has one.
    pub fn from_parts(type_name: &str, parent: Option<ChannelId>) -> Result<Self, ValidationError> {
        match (type_name, parent) {
            ("public", None) => Ok(Self::Public),
            ("private", None) => Ok(Self::Private),
            ("thread", Some(parent)) => Ok(Self::Thread { parent }),
            ("thread", None) => Err(ValidationError::new(
                "parentChannelId",
                "is required for a thread channel",
            )),
            ("public" | "private", Some(_)) => Err(ValidationError::new(
                "parentChannelId",
                "is only allowed for a thread channel",
            )),
            _ => Err(ValidationError::new(
                "type",
                "must be one of public, private, thread",
            )),
        }
    }

    /// The parent channel of a thread.
    #[must_use]
    pub fn parent(self) -> Option<ChannelId> {
        match self {
            Self::Thread { parent } => Some(parent),
            Self::Public | Self::Private => None,
        }
    }
}

/// A Hazel channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    /// Id.
    pub id: ChannelId,
    /// The organization it belongs to.
    pub organization_id: OrganizationId,
    /// Display name.
    pub name: Name,
    /// Public, private or thread.
    pub kind: ChannelKind,
    /// When it was created.
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_require_a_parent_exactly_for_threads() {
        let parent = ChannelId::new();
        assert_eq!(
            ChannelKind::from_parts("thread", Some(parent)),
            Ok(ChannelKind::Thread { parent })
        );
        assert_eq!(
            ChannelKind::from_parts("public", None),
            Ok(ChannelKind::Public)
        );
        assert_eq!(
            ChannelKind::from_parts("thread", None).unwrap_err().field(),
            "parentChannelId"
        );
        assert_eq!(
            ChannelKind::from_parts("private", Some(parent))
                .unwrap_err()
                .field(),
            "parentChannelId"
        );
        assert_eq!(
            ChannelKind::from_parts("dm", None).unwrap_err().field(),
            "type"
        );
    }
}
