//! Ids of things on an external chat platform. Each kind is its own type, so a channel id can
//! never be passed where a message id belongs:
//!
//! ```compile_fail,E0308
//! use hazel_domain::model::external::{ExternalChannelId, ExternalMessageId};
//!
//! fn edit(_message: &ExternalMessageId) {}
//!
//! let channel = ExternalChannelId::parse("channelId", "C0123").unwrap();
//! edit(&channel);
//! ```

use std::fmt;

use crate::error::ValidationError;

/// Longest accepted external id (workspace, channel, message, user), in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 255;

macro_rules! external_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses an id as the platform writes it: 1–255 characters, no surrounding
            /// whitespace, no control characters. `field` names the input in the error.
            ///
            /// # Errors
            /// [`ValidationError`] on `field` otherwise.
            pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
                parse_id(field, raw).map(Self)
            }

            /// The id as the platform writes it.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }
    };
}

fn parse_id(field: &str, raw: &str) -> Result<String, ValidationError> {
    if raw.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if raw.chars().count() > MAX_EXTERNAL_ID_CHARS {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_EXTERNAL_ID_CHARS} characters"),
        ));
    }
    if raw.trim() != raw || raw.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters or surrounding whitespace",
        ));
    }
    Ok(raw.to_owned())
}

external_id!(
    /// A workspace on the platform: Slack team id (`T0123`), Discord guild snowflake, Teams
    /// tenant.
    ExternalWorkspaceId
);
external_id!(
    /// A channel on the platform: Slack conversation id (`C0123`), Discord channel or thread
    /// snowflake.
    ExternalChannelId
);
external_id!(
    /// A message on the platform: Slack `ts` (`1700000000.000100`), Discord message snowflake.
    ExternalMessageId
);
external_id!(
    /// A user (person or bot) on the platform: Slack `U0123`, Discord user snowflake.
    ExternalUserId
);
external_id!(
    /// A bot on the platform, where it differs from the bot's user: Slack bot id (`B0123`).
    ExternalBotId
);
external_id!(
    /// An app on the platform: Slack app id (`A0123`), Discord application snowflake.
    ExternalAppId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_once_and_refuse_what_no_platform_writes() {
        assert_eq!(
            ExternalChannelId::parse("c", "C0123").map(|id| id.as_str().to_owned()),
            Ok("C0123".to_owned())
        );
        for bad in ["", " C1", "C1 ", "C\u{0}1"] {
            assert_eq!(
                ExternalMessageId::parse("messageId", bad)
                    .unwrap_err()
                    .field(),
                "messageId",
                "{bad:?}"
            );
        }
        assert!(ExternalUserId::parse("u", &"9".repeat(MAX_EXTERNAL_ID_CHARS)).is_ok());
        assert!(ExternalUserId::parse("u", &"9".repeat(MAX_EXTERNAL_ID_CHARS + 1)).is_err());
    }

    #[test]
    fn debug_names_the_kind_of_id() {
        let id = ExternalWorkspaceId::parse("w", "T1").unwrap();
        assert_eq!(format!("{id:?}"), "ExternalWorkspaceId(\"T1\")");
        assert_eq!(id.to_string(), "T1");
    }
}
