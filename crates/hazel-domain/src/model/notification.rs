//! Notifications.

use super::Timestamp;
use super::message::Reaction;
use super::text::Opaque;
use crate::ids::{ChannelId, MemberId, MessageId, NotificationId, OrganizationId};

/// Longest accepted resource id or type, in characters.
pub const MAX_RESOURCE_CHARS: usize = 255;

/// A notification for one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Id.
    pub id: NotificationId,
    /// The member it is for.
    pub member_id: MemberId,
    /// The member's organization.
    pub organization_id: OrganizationId,
    /// What it points at (for example a message id).
    pub targeted_resource_id: Option<Opaque>,
    /// The kind of target (`mention`, `reply`, `reaction`, …).
    pub targeted_resource_type: Option<Opaque>,
    /// Where the target lives (for example a channel id).
    pub resource_id: Option<Opaque>,
    /// The kind of resource (`channel`, `message`, …).
    pub resource_type: Option<Opaque>,
    /// At most one automatic notification exists per key: `<memberId>:<messageId>` for mentions
    /// and replies. Notifications created through the API have none.
    pub dedupe_key: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was read.
    pub read_at: Option<Timestamp>,
}

/// Why a message notifies a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageNotice {
    /// The member was mentioned, by id or with `@channel`/`@here`.
    Mention,
    /// The message replies to one of the member's messages.
    Reply,
}

fn opaque(value: String) -> Option<Opaque> {
    // Ids and fixed words are always valid opaque strings.
    Opaque::parse("resource", &value, MAX_RESOURCE_CHARS).ok()
}

impl Notification {
    /// The automatic notification of `member` about a message that mentions or replies to them.
    #[must_use]
    pub fn for_message(
        member_id: MemberId,
        organization_id: OrganizationId,
        message_id: MessageId,
        channel_id: ChannelId,
        notice: MessageNotice,
        now: Timestamp,
    ) -> Self {
        let kind = match notice {
            MessageNotice::Mention => "mention",
            MessageNotice::Reply => "reply",
        };
        Self {
            id: NotificationId::new(),
            member_id,
            organization_id,
            targeted_resource_id: opaque(message_id.to_string()),
            targeted_resource_type: opaque(kind.to_owned()),
            resource_id: opaque(channel_id.to_string()),
            resource_type: opaque("channel".to_owned()),
            dedupe_key: Some(format!("{member_id}:{message_id}")),
            created_at: now,
            read_at: None,
        }
    }

    /// The automatic notification of a message's author about a reaction on it. Its dedupe key
    /// names the (reactor, message, emoji), so two racing adds of the same reaction notify once.
    #[must_use]
    pub fn for_reaction(
        member_id: MemberId,
        organization_id: OrganizationId,
        reaction: &Reaction,
        now: Timestamp,
    ) -> Self {
        let (reaction_id, message_id) = (reaction.id, reaction.message_id);
        Self {
            id: NotificationId::new(),
            member_id,
            organization_id,
            targeted_resource_id: opaque(reaction_id.to_string()),
            targeted_resource_type: opaque("reaction".to_owned()),
            resource_id: opaque(message_id.to_string()),
            resource_type: opaque("message".to_owned()),
            dedupe_key: Some(format!(
                "reaction:{}:{message_id}:{}",
                reaction.member_id,
                reaction.emoji.as_str()
            )),
            created_at: now,
            read_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_notifications_carry_the_documented_resource_fields() {
        let (member, org, message, channel) = (
            MemberId::new(),
            OrganizationId::new(),
            MessageId::new(),
            ChannelId::new(),
        );
        let n = Notification::for_message(
            member,
            org,
            message,
            channel,
            MessageNotice::Reply,
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(
            n.targeted_resource_id.as_ref().map(Opaque::as_str),
            Some(message.to_string().as_str())
        );
        assert_eq!(
            n.targeted_resource_type.as_ref().map(Opaque::as_str),
            Some("reply")
        );
        assert_eq!(
            n.resource_id.as_ref().map(Opaque::as_str),
            Some(channel.to_string().as_str())
        );
        assert_eq!(
            n.resource_type.as_ref().map(Opaque::as_str),
            Some("channel")
        );
        assert_eq!(n.dedupe_key, Some(format!("{member}:{message}")));
    }

    #[test]
    fn racing_adds_of_one_reaction_share_a_dedupe_key() {
        use crate::ids::ReactionId;
        use crate::model::message::Emoji;
        let (author, reactor, org, message) = (
            MemberId::new(),
            MemberId::new(),
            OrganizationId::new(),
            MessageId::new(),
        );
        let reaction = |emoji: &str| Reaction {
            id: ReactionId::new(),
            message_id: message,
            member_id: reactor,
            emoji: Emoji::parse("emoji", emoji).unwrap(),
            created_at: Timestamp::UNIX_EPOCH,
        };
        let key = |r: &Reaction| {
            Notification::for_reaction(author, org, r, Timestamp::UNIX_EPOCH).dedupe_key
        };
        assert_eq!(key(&reaction("👍")), key(&reaction("👍")));
        assert_ne!(key(&reaction("👍")), key(&reaction(":tada:")));
    }
}
