//! Messages, attachments, reactions and mentions.

use super::Timestamp;
use super::identity::Member;
use super::text::{Name, Opaque, Url};
use crate::error::ValidationError;
use crate::ids::{ChannelId, MemberId, MessageId, ReactionId};

pub use super::mentions::Mentions;

/// Message text in Hazel Markdown. May be empty only when the message carries attachments;
/// that rule is checked where both are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    /// Longest accepted content, in characters.
    pub const MAX_CHARS: usize = 40_000;

    /// Parses message text.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` when longer than [`Self::MAX_CHARS`] or containing NUL.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::new(
                field,
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if raw.contains('\0') {
            return Err(ValidationError::new(
                field,
                "must not contain NUL characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether there is no visible text.
    #[must_use]
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// The mentions this text makes.
    #[must_use]
    pub fn mentions(&self) -> Mentions {
        Mentions::parse(&self.0)
    }
}

/// A file carried as a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// Where the file is.
    pub url: Url,
    /// File name.
    pub name: Name,
    /// MIME type, when known.
    pub content_type: Option<Opaque>,
}

/// A Hazel message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Id.
    pub id: MessageId,
    /// The channel it was posted in.
    pub channel_id: ChannelId,
    /// Its author (a native or shadow member).
    pub author_id: MemberId,
    /// Text.
    pub content: MessageContent,
    /// The message this one replies to, in a thread.
    pub parent_message_id: Option<MessageId>,
    /// Files carried as links.
    pub attachments: Vec<Attachment>,
    /// When it was posted.
    pub created_at: Timestamp,
    /// When the text last changed.
    pub edited_at: Option<Timestamp>,
    /// When it was deleted (soft delete).
    pub deleted_at: Option<Timestamp>,
}

/// An emoji: a Unicode emoji or a `:short_name:`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Emoji(String);

impl Emoji {
    /// Parses an emoji given by a client.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` when it is empty, longer than 100 characters, contains
    /// whitespace, or is a `:name:` with characters outside `a-z 0-9 _ + -`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let short_name = raw
            .strip_prefix(':')
            .and_then(|r| r.strip_suffix(':'))
            .filter(|n| !n.is_empty());
        let ok = match short_name {
            Some(name) => name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_+-".contains(c)),
            None => {
                !raw.is_empty()
                    && !raw.contains(':')
                    && !raw
                        .chars()
                        .any(|c| c.is_ascii() && !c.is_ascii_digit() && c != '#' && c != '*')
            }
        };
        if !ok
            || raw.chars().count() > 100
            || raw.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ValidationError::new(
                field,
                "must be a Unicode emoji or a :short_name: of a-z, 0-9, _, + and -",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The emoji text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One member's reaction on a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reaction {
    /// Id.
    pub id: ReactionId,
    /// The message.
    pub message_id: MessageId,
    /// Who reacted.
    pub member_id: MemberId,
    /// With what.
    pub emoji: Emoji,
    /// When.
    pub created_at: Timestamp,
}

/// Reactions of one emoji on a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReactionSummary {
    /// The emoji.
    pub emoji: Emoji,
    /// Who reacted with it, in reaction order.
    pub member_ids: Vec<MemberId>,
}

impl ReactionSummary {
    /// Groups reactions by emoji, in order of each emoji's first use.
    #[must_use]
    pub fn summarize(reactions: &[Reaction]) -> Vec<Self> {
        let mut sorted: Vec<&Reaction> = reactions.iter().collect();
        sorted.sort_by_key(|r| r.id);
        let mut out: Vec<Self> = Vec::new();
        for reaction in sorted {
            match out.iter_mut().find(|s| s.emoji == reaction.emoji) {
                Some(summary) => summary.member_ids.push(reaction.member_id),
                None => out.push(Self {
                    emoji: reaction.emoji.clone(),
                    member_ids: vec![reaction.member_id],
                }),
            }
        }
        out
    }
}

/// A message as clients see it: with its author and reactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageView {
    /// The message.
    pub message: Message,
    /// Its author.
    pub author: Member,
    /// Reactions grouped by emoji.
    pub reactions: Vec<ReactionSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_accepts_unicode_and_short_names() {
        for good in ["👍", ":thumbsup:", ":+1:", "❤️", ":white_check_mark:"] {
            assert!(Emoji::parse("emoji", good).is_ok(), "{good}");
        }
        for bad in ["", "::", ":Thumbs Up:", "hello", " 👍", ":a", "a:b:"] {
            assert_eq!(
                Emoji::parse("emoji", bad).unwrap_err().field(),
                "emoji",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn content_is_bounded() {
        assert!(MessageContent::parse("content", &"x".repeat(MessageContent::MAX_CHARS)).is_ok());
        assert!(
            MessageContent::parse("content", &"x".repeat(MessageContent::MAX_CHARS + 1)).is_err()
        );
        assert!(MessageContent::parse("content", "a\0b").is_err());
    }

    #[test]
    fn summaries_group_by_emoji_in_first_use_order() {
        let message_id = MessageId::new();
        let (m1, m2) = (MemberId::new(), MemberId::new());
        let at = Timestamp::UNIX_EPOCH;
        let r = |member, emoji: &str| Reaction {
            id: ReactionId::new(),
            message_id,
            member_id: member,
            emoji: Emoji::parse("e", emoji).unwrap(),
            created_at: at,
        };
        let reactions = vec![r(m1, "👍"), r(m2, ":tada:"), r(m2, "👍")];
        let summary = ReactionSummary::summarize(&reactions);
        assert_eq!(summary.len(), 2);
        assert_eq!(summary[0].emoji.as_str(), "👍");
        assert_eq!(summary[0].member_ids, vec![m1, m2]);
        assert_eq!(summary[1].member_ids, vec![m2]);
    }
}
