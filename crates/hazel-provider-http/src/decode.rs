//! Decoding an answer so that a failure can be logged without quoting anything the server sent.

use std::fmt::Write as _;

use hazel_domain::model::chat_sync::ProviderError;
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use serde_path_to_error::Segment;

/// Why an answer did not decode, holding nothing the server sent: serde's own message quotes
/// offending values, and a server may echo the token into one, so only the error's category,
/// position and a sanitised field path are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeFailure {
    category: Category,
    line: usize,
    column: usize,
    path: String,
}

impl DecodeFailure {
    /// What kind of failure it was (syntax, data, end of input, IO).
    #[must_use]
    pub fn category(&self) -> Category {
        self.category
    }

    /// The line of the answer the failure was met at (1-based).
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column of the answer the failure was met at (1-based).
    #[must_use]
    pub fn column(&self) -> usize {
        self.column
    }

    /// Where in the answer the failure was met (`$.channels[3].is_private`); keys that do not
    /// look like field names are shown as `?`.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `Platform` error to report: `platform` (`"Slack"`) answered `operation` with an
    /// unexpected shape. Nothing of the failure goes into it; log the failure's parts instead.
    #[must_use]
    pub fn error(&self, platform: &'static str, operation: &str) -> ProviderError {
        ProviderError::Platform {
            message: format!("{platform} answered {operation} with an unexpected shape"),
        }
    }
}

/// Decodes a JSON answer body into `T`.
///
/// # Errors
///
/// A [`DecodeFailure`] when `bytes` is not JSON of `T`'s shape; it is safe to log.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeFailure> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = field_path(error.path());
        let inner = error.inner();
        DecodeFailure {
            category: inner.classify(),
            line: inner.line(),
            column: inner.column(),
            path,
        }
    })
}

/// A decode failure's location (`$.channels[3].is_private`, `$[3].permission_overwrites[0]`).
/// Keys that do not look like field names are shown as `?`, so no server-sent text reaches a log.
fn field_path(path: &serde_path_to_error::Path) -> String {
    let mut shown = String::from("$");
    for segment in path {
        // Writing to a String cannot fail.
        let _ = match segment {
            Segment::Seq { index } => write!(shown, "[{index}]"),
            Segment::Map { key } if is_field_name(key) => write!(shown, ".{key}"),
            Segment::Enum { variant } if is_field_name(variant) => write!(shown, ".{variant}"),
            Segment::Map { .. } | Segment::Enum { .. } | Segment::Unknown => {
                write!(shown, ".?")
            }
        };
    }
    shown
}

/// A field name as Slack and Discord spell them (`response_metadata`, `permission_overwrites`).
fn is_field_name(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 40
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use hazel_domain::model::chat_sync::ProviderError;
    use serde::Deserialize;
    use serde_json::error::Category;

    use super::{decode, is_field_name};

    #[derive(Debug, Deserialize)]
    struct Listing {
        channels: Vec<Channel>,
    }

    #[derive(Debug, Deserialize)]
    struct Channel {
        is_private: bool,
    }

    #[test]
    fn a_matching_answer_decodes() {
        let listing: Listing =
            decode(br#"{"channels": [{"is_private": true}, {"is_private": false}]}"#).unwrap();
        let private: Vec<bool> = listing.channels.iter().map(|c| c.is_private).collect();
        assert_eq!(private, [true, false]);
    }

    #[test]
    fn a_failure_names_the_field_path_but_not_the_value() {
        let body = br#"{"channels": [{"is_private": true}, {"is_private": "TOPSECRET"}]}"#;
        let failure = decode::<Listing>(body).unwrap_err();
        assert_eq!(failure.path(), "$.channels[1].is_private");
        assert_eq!(failure.category(), Category::Data);
        assert_eq!(failure.line(), 1);
        assert!(failure.column() > 0);
        assert!(!format!("{failure:?}").contains("TOPSECRET"), "{failure:?}");
    }

    #[test]
    fn keys_that_are_not_field_names_are_hidden() {
        // A map keyed by server-chosen text: the key must not reach the path.
        let body = br#"{"xoxb-TOPSECRET": "not a number"}"#;
        let failure = decode::<HashMap<String, u64>>(body).unwrap_err();
        assert_eq!(failure.path(), "$.?");
    }

    #[test]
    fn a_body_that_is_not_json_fails_as_syntax() {
        let failure = decode::<Listing>(b"<html>").unwrap_err();
        assert_eq!(failure.category(), Category::Syntax);
        assert_eq!(failure.path(), "$");
    }

    #[test]
    fn the_reported_error_names_platform_and_operation_only() {
        let failure = decode::<Listing>(br#"{"channels": 1}"#).unwrap_err();
        assert_eq!(
            failure.error("Discord", "/users/@me"),
            ProviderError::Platform {
                message: "Discord answered /users/@me with an unexpected shape".to_owned(),
            }
        );
    }

    #[test]
    fn field_names_are_short_lowercase_words() {
        for (key, expected) in [
            ("num_members", true),
            ("type", true),
            ("v10", true),
            ("", false),
            ("Bearer", false),
            ("has space", false),
            ("dash-ed", false),
            (&"a".repeat(40), true),
            (&"a".repeat(41), false),
        ] {
            assert_eq!(is_field_name(key), expected, "{key:?}");
        }
    }
}
