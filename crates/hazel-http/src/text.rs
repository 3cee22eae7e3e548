//! String inputs whose type carries the rule: the schema the OpenAPI document shows
//! (`format`, `minLength`, `maxLength`, `pattern`) and the check the server applies come from
//! the same [`TextRule`], so the document cannot allow what the server refuses.
//!
//! Each check delegates to the domain's parser where there is one, and the patterns spell out
//! the same rule for clients; the tests of this module hold the two together.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use hazel_domain::model::chat_sync::{Credentials, MAX_EXTERNAL_ID_CHARS, SLACK_TOKEN_PREFIXES};
use hazel_domain::model::message::{Emoji, MessageContent};
use hazel_domain::model::page::{CURSOR_PATTERN, PageRequest};
use hazel_domain::model::text::{Email, Name, Opaque, Slug, Url};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Control characters (Unicode category Cc), as a regular-expression class body.
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";
/// Bidirectional embeddings, overrides and isolates.
const BIDI: &str = r"\u202A-\u202E\u2066-\u2069";
/// Unicode `White_Space` (what Rust's `trim` and `char::is_whitespace` remove).
const SPACE: &str =
    r"\u0009-\u000D\u0085\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// The `White_Space` characters that are not control characters, for classes that exclude
/// both.
const BLANK: &str = r"\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// One kind of string input: its schema and its check.
pub(crate) trait TextRule: Send + Sync + 'static {
    /// The schema's name in poem-openapi's registry (`string_uuid`, `string_name`, ...).
    const NAME: &'static str;

    /// The schema clients see.
    fn schema() -> MetaSchema;

    /// `Ok` when the server accepts `raw`; otherwise why not, in the house style
    /// (`must be a UUID`).
    ///
    /// # Errors
    /// The reason `raw` is refused.
    fn check(raw: &str) -> Result<(), String>;
}

fn string(format: Option<&'static str>) -> MetaSchema {
    match format {
        Some(format) => MetaSchema::new_with_format("string", format),
        None => MetaSchema::new("string"),
    }
}

fn at_most(raw: &str, max: usize) -> Result<(), String> {
    if raw.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else {
        Ok(())
    }
}

/// A UUID in its canonical hyphenated form (`format: uuid`).
pub(crate) struct UuidRule;

impl TextRule for UuidRule {
    const NAME: &'static str = "string_uuid";

    fn schema() -> MetaSchema {
        // The pattern spells out the canonical form for generators that do not know the format.
        MetaSchema {
            pattern: Some(
                "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
                    .to_owned(),
            ),
            ..string(Some("uuid"))
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        let hyphens_in_place = raw.len() == 36
            && raw
                .char_indices()
                .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'));
        if hyphens_in_place && uuid::Uuid::try_parse(raw).is_ok() {
            Ok(())
        } else {
            Err("must be a UUID".to_owned())
        }
    }
}

/// A display name: 1-200 characters, not blank, without control or bidirectional override
/// characters; surrounding whitespace is trimmed.
pub(crate) struct NameRule;

impl TextRule for NameRule {
    const NAME: &'static str = "string_name";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            max_length: Some(Name::MAX_CHARS),
            pattern: Some(format!(
                "^[{SPACE}]*[^{CONTROL}{BIDI}{BLANK}](?:[^{CONTROL}{BIDI}]*[^{CONTROL}{BIDI}{BLANK}])?[{SPACE}]*$"
            )),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        at_most(raw, Name::MAX_CHARS)?;
        Name::parse("", raw)
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// Opaque text (external ids, resource kinds, content types): 1-255 characters without
/// control characters or surrounding whitespace.
pub(crate) struct OpaqueRule;

impl TextRule for OpaqueRule {
    const NAME: &'static str = "string_opaque";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            max_length: Some(MAX_EXTERNAL_ID_CHARS),
            pattern: Some(format!(
                "^[^{CONTROL}{BLANK}](?:[^{CONTROL}]*[^{CONTROL}{BLANK}])?$"
            )),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        Opaque::parse("", raw, MAX_EXTERNAL_ID_CHARS)
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// An organization slug.
pub(crate) struct SlugRule;

impl TextRule for SlugRule {
    const NAME: &'static str = "string_slug";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(2),
            max_length: Some(64),
            pattern: Some("^[a-z0-9]+(?:-[a-z0-9]+)*$".to_owned()),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        Slug::parse("", raw)
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// An email address of the shape `local@domain.tld`, at most 254 characters.
pub(crate) struct EmailRule;

impl TextRule for EmailRule {
    const NAME: &'static str = "string_email";

    fn schema() -> MetaSchema {
        let part = format!("[^@{CONTROL}{BLANK}]");
        let edge = format!("[^@.{CONTROL}{BLANK}]");
        MetaSchema {
            max_length: Some(254),
            pattern: Some(format!(
                "^[{SPACE}]*{part}+@{edge}{part}*\\.{part}*{edge}[{SPACE}]*$"
            )),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        at_most(raw, 254)?;
        Email::parse("", raw)
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// An absolute http(s) URL of at most 2048 characters.
pub(crate) struct UrlRule;

impl TextRule for UrlRule {
    const NAME: &'static str = "string_url";

    fn schema() -> MetaSchema {
        MetaSchema {
            max_length: Some(2048),
            pattern: Some(format!(
                "^[{SPACE}]*https?://[^{CONTROL}{BLANK}]+[{SPACE}]*$"
            )),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        at_most(raw, 2048)?;
        Url::parse("", raw)
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// Message text: at most 40 000 characters, without NUL.
pub(crate) struct MessageTextRule;

impl TextRule for MessageTextRule {
    const NAME: &'static str = "string_message_text";

    fn schema() -> MetaSchema {
        MetaSchema {
            max_length: Some(MessageContent::MAX_CHARS),
            pattern: Some(r"^[^\u0000]*$".to_owned()),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        MessageContent::parse("", raw)
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// Pattern of message text with something visible in it.
pub(crate) fn visible_text_pattern() -> String {
    format!(r"^[^\u0000]*[^\u0000{SPACE}][^\u0000]*$")
}

/// A Unicode emoji or a `:short_name:`.
pub(crate) struct EmojiRule;

impl TextRule for EmojiRule {
    const NAME: &'static str = "string_emoji";

    fn schema() -> MetaSchema {
        // Outside a short name, ASCII is limited to digits, `#` and `*` (keycap emoji).
        MetaSchema {
            min_length: Some(1),
            max_length: Some(100),
            pattern: Some(format!(
                r"^(?::[a-z0-9_+\-]+:|[^\u0000-\u0022\u0024-\u0029\u002B-\u002F\u003A-\u009F{BLANK}]+)$"
            )),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        Emoji::parse("", raw)
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// A page cursor (`nextCursor` of a previous page).
pub(crate) struct CursorRule;

impl TextRule for CursorRule {
    const NAME: &'static str = "string_cursor";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(22),
            max_length: Some(22),
            pattern: Some(CURSOR_PATTERN.to_owned()),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        PageRequest::parse(None, Some(raw))
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// Writes `c` as a `\uXXXX` escape when it is not an ASCII letter or digit, so a pattern
/// reads the same in Rust's `regex` and in ECMA-262 (where `\-` outside a class is an error).
fn literal(c: char) -> String {
    if c.is_ascii_alphanumeric() {
        c.to_string()
    } else {
        c.encode_utf16(&mut [0; 2])
            .iter()
            .map(|unit| format!("\\u{unit:04X}"))
            .collect()
    }
}

/// The characters of one part of a Discord bot token (base64url without padding).
const BASE64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A class of the base64url characters other than `except`.
fn base64url_class(except: &[char]) -> String {
    let chars: String = BASE64URL
        .chars()
        .filter(|c| !except.contains(c))
        .map(literal)
        .collect();
    format!("[{chars}]")
}

/// A pattern (without anchors) of a Discord bot token's first part — a non-empty run of
/// base64url characters, always followed by `.` — such that the token starts with none of
/// `prefixes`: each prefix's proper beginnings on their own (unless the beginning and a `.`
/// are a prefix), or followed by a character that leaves every prefix.
fn first_token_part(prefixes: &[&str]) -> String {
    let mut stems: Vec<String> = prefixes
        .iter()
        .flat_map(|prefix| prefix.char_indices().map(|(i, _)| prefix[..i].to_owned()))
        .filter(|stem| stem.chars().all(|c| BASE64URL.contains(c)))
        .collect();
    stems.sort();
    stems.dedup();
    let mut branches = Vec::new();
    for stem in stems {
        let next: Vec<char> = prefixes
            .iter()
            .filter_map(|p| p.strip_prefix(stem.as_str()))
            .filter_map(|rest| rest.chars().next())
            .collect();
        let stem_pattern: String = stem.chars().map(literal).collect();
        if !stem.is_empty() && !next.contains(&'.') {
            branches.push(stem_pattern.clone());
        }
        branches.push(format!(
            "{stem_pattern}{}{}*",
            base64url_class(&next),
            base64url_class(&[])
        ));
    }
    format!("(?:{})", branches.join("|"))
}

/// A pattern (without anchors) of the decimal numbers from 0 to `max`, without leading zeros.
fn decimal_at_most(max: u64) -> String {
    let digits: Vec<u32> = max
        .to_string()
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    let n = digits.len();
    let mut branches = vec!["0".to_owned()];
    if n > 1 {
        branches.push(format!("[1-9][0-9]{{0,{}}}", n - 2));
    }
    for (i, &digit) in digits.iter().enumerate() {
        let low = u32::from(i == 0);
        if digit > low {
            let prefix: String = digits[..i].iter().map(u32::to_string).collect();
            let rest = n - i - 1;
            let tail = match rest {
                0 => String::new(),
                1 => "[0-9]".to_owned(),
                _ => format!("[0-9]{{{rest}}}"),
            };
            let range = if digit - 1 == low {
                low.to_string()
            } else {
                format!("[{low}-{}]", digit - 1)
            };
            branches.push(format!("{prefix}{range}{tail}"));
        }
    }
    if max > 0 {
        branches.push(max.to_string());
    }
    format!("(?:{})", branches.join("|"))
}

/// A secret as pasted: surrounding whitespace is trimmed; what remains is non-empty and
/// without whitespace or control characters (a signing secret, an app password).
pub(crate) struct SecretRule;

impl TextRule for SecretRule {
    const NAME: &'static str = "string_secret";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            pattern: Some(format!("^[{SPACE}]*[^{CONTROL}{BLANK}]+[{SPACE}]*$")),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        Credentials::parse_secret("", raw)
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// A Slack bot token as pasted: a secret that starts with `xoxb-`. The pattern states the
/// prefix; the server's answer to another kind of token names the kind it is (`is a user
/// token (xoxp-)`), which a client validating the pattern alone cannot say.
pub(crate) struct SlackBotTokenRule;

impl TextRule for SlackBotTokenRule {
    const NAME: &'static str = "string_slack_bot_token";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(5),
            pattern: Some(format!(
                "^[{SPACE}]*xoxb{}[^{CONTROL}{BLANK}]*[{SPACE}]*$",
                literal('-')
            )),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        Credentials::parse_slack_bot_token("", raw)
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// A Slack app-level token as pasted: a secret that starts with `xapp-` (as with the bot
/// token, the server's answer names the kind of a wrong token).
pub(crate) struct SlackAppTokenRule;

impl TextRule for SlackAppTokenRule {
    const NAME: &'static str = "string_slack_app_token";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(5),
            pattern: Some(format!(
                "^[{SPACE}]*xapp{}[^{CONTROL}{BLANK}]*[{SPACE}]*$",
                literal('-')
            )),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        Credentials::parse_slack_app_token("", raw)
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// A Discord bot token as pasted, optionally after the `Bot ` scheme (any case): three
/// dot-separated parts of base64url characters, not a Slack token (none of
/// [`SLACK_TOKEN_PREFIXES`]).
pub(crate) struct DiscordBotTokenRule;

impl TextRule for DiscordBotTokenRule {
    const NAME: &'static str = "string_discord_bot_token";

    fn schema() -> MetaSchema {
        let prefixes: Vec<&str> = SLACK_TOKEN_PREFIXES.iter().map(|(p, _)| *p).collect();
        let first = first_token_part(&prefixes);
        let part = format!("{}+", base64url_class(&[]));
        let dot = literal('.');
        MetaSchema {
            min_length: Some(5),
            pattern: Some(format!(
                "^[{SPACE}]*(?:[Bb][Oo][Tt][{SPACE}]+)?{first}{dot}{part}{dot}{part}[{SPACE}]*$"
            )),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        Credentials::parse_discord_bot_token("", raw)
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// A Discord application id as pasted: a snowflake (the decimal form of an unsigned 64-bit
/// integer, without leading zeros), with surrounding whitespace trimmed.
pub(crate) struct SnowflakeRule;

impl TextRule for SnowflakeRule {
    const NAME: &'static str = "string_snowflake";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            pattern: Some(format!(
                "^[{SPACE}]*{}[{SPACE}]*$",
                decimal_at_most(u64::MAX)
            )),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        Credentials::parse_discord_application_id("", raw)
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// A pasted non-secret credential value (a Teams app or tenant id): anything with a
/// character that is not whitespace; surrounding whitespace is trimmed.
pub(crate) struct PastedTextRule;

impl TextRule for PastedTextRule {
    const NAME: &'static str = "string_pasted_text";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            pattern: Some(format!(r"^[\s\S]*[^{SPACE}][\s\S]*$")),
            ..string(None)
        }
    }

    fn check(raw: &str) -> Result<(), String> {
        Credentials::parse_text("", raw)
            .map(drop)
            .map_err(|e| e.message().to_owned())
    }
}

/// A string input checked by rule `R` when parsed (from JSON, a path or a query parameter).
pub(crate) struct Text<R>(String, PhantomData<R>);

impl<R: TextRule> Text<R> {
    fn parse(raw: String) -> Result<Self, String> {
        R::check(&raw).map(|()| Self(raw, PhantomData))
    }
}

impl<R> Deref for Text<R> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<R> fmt::Display for Text<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<R> fmt::Debug for Text<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<R: TextRule> Type for Text<R> {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        R::NAME.into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(R::schema()))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<R: TextRule> ParseFromJSON for Text<R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(raw)) => Self::parse(raw).map_err(ParseError::custom),
            Some(other) => Err(ParseError::expected_type(other)),
            None => Err(ParseError::expected_input()),
        }
    }
}

impl<R: TextRule> ParseFromParameter for Text<R> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::parse(value.to_owned()).map_err(ParseError::custom)
    }
}

impl<R: TextRule> ToJSON for Text<R> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

impl<'de, R: TextRule> Deserialize<'de> for Text<R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// A UUID input.
pub(crate) type UuidText = Text<UuidRule>;
/// A display-name input.
pub(crate) type NameText = Text<NameRule>;
/// An opaque-text input.
pub(crate) type OpaqueText = Text<OpaqueRule>;
/// A page-cursor input.
pub(crate) type CursorText = Text<CursorRule>;

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;

    /// Whether `R`'s documented pattern and length limits accept `raw`.
    fn documented<R: TextRule>(raw: &str) -> bool {
        let schema = R::schema();
        let chars = raw.chars().count();
        let pattern = schema
            .pattern
            .as_deref()
            .map(|p| Regex::new(p).expect("a valid pattern"));
        schema.min_length.is_none_or(|min| chars >= min)
            && schema.max_length.is_none_or(|max| chars <= max)
            && pattern.is_none_or(|p| p.is_match(raw))
    }

    /// The document and the check agree on every sample.
    fn agree<R: TextRule>(samples: &[&str]) {
        for raw in samples {
            assert_eq!(
                documented::<R>(raw),
                R::check(raw).is_ok(),
                "{} on {raw:?}: {:?}",
                R::NAME,
                R::check(raw)
            );
        }
    }

    const TRICKY: &[&str] = &[
        "",
        " ",
        "\t",
        "a",
        " a ",
        "\ta\n",
        "a b",
        "a\u{0}b",
        "a\u{7f}",
        "\u{85}a",
        "a\u{a0}",
        "\u{3000}",
        "x\u{202E}y",
        "\u{2066}",
        "ab\u{2069}",
        "é",
        "日本",
        "🎉",
        "a@b.c",
        " a@b.c ",
        "a@b",
        "a@.b.c",
        "a@b.c.",
        "@b.c",
        "a@@b.c",
        "A@B.CO",
        "a b@c.d",
        "https://x",
        "http://",
        "https:// x",
        " https://x ",
        "HTTPS://x",
        "ftp://x",
        ":+1:",
        ":a b:",
        "::",
        ":Ab:",
        "#",
        "*",
        "1",
        "a",
        "👍🏽",
        "👍 ",
        "x:y",
        "acme",
        "a-b",
        "-ab",
        "ab-",
        "a--b",
        "a",
        "AB",
        "ab_c",
        "00000000-0000-0000-0000-000000000000",
        "0190a8c4-7c2e-7c5e-9b1a-3f4e5d6c7b8a",
        "0190A8C4-7C2E-7C5E-9B1A-3F4E5D6C7B8A",
        "0190a8c47c2e7c5e9b1a3f4e5d6c7b8a",
        "{0190a8c4-7c2e-7c5e-9b1a-3f4e5d6c7b8a}",
        "0190a8c4-7c2e-7c5e-9b1a-3f4e5d6c7b8g",
        "AAAAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAAAB",
        "AAAAAAAAAAAAAAAAAAAAA",
        "_-_-_-_-_-_-_-_-_-_-_w",
    ];

    #[test]
    fn each_documented_rule_is_the_checked_rule() {
        agree::<UuidRule>(TRICKY);
        agree::<NameRule>(TRICKY);
        agree::<OpaqueRule>(TRICKY);
        agree::<SlugRule>(TRICKY);
        agree::<EmailRule>(TRICKY);
        agree::<UrlRule>(TRICKY);
        agree::<MessageTextRule>(TRICKY);
        agree::<EmojiRule>(TRICKY);
        agree::<CursorRule>(TRICKY);
    }

    #[test]
    fn lengths_are_counted_in_characters_at_the_documented_limits() {
        let name = "é".repeat(Name::MAX_CHARS);
        agree::<NameRule>(&[&name, &format!("{name}x"), &format!(" {name}")]);
        let opaque = "x".repeat(MAX_EXTERNAL_ID_CHARS);
        agree::<OpaqueRule>(&[&opaque, &format!("{opaque}x")]);
        let email = format!("{}@b.co", "é".repeat(249));
        agree::<EmailRule>(&[&email, &format!("a{email}")]);
        let url = format!("https://{}", "é".repeat(2040));
        agree::<UrlRule>(&[&url, &format!("{url}x")]);
        let emoji = format!(":{}:", "a".repeat(98));
        agree::<EmojiRule>(&[&emoji, &format!(":a{}", &emoji[1..])]);
    }

    const CREDENTIALS: &[&str] = &[
        "xoxb-1-abc",
        "xoxb-",
        "xoxb",
        " xoxb-1\n",
        "\u{85}xoxb-1\u{3000}",
        "xoxb-1 2",
        "xoxb-1\u{0}",
        "\u{0}xoxb-1",
        "xoxb-1\u{200B}",
        "xoxb-é",
        "XOXB-1",
        "xoxp-1",
        "xapp-1-A1",
        " xapp-1 ",
        "xapp",
        "xoxe.1",
        "xoxe-1",
        "xoxe",
        "xoxex",
        "xoxa-1",
        "xoxr-1",
        "xoxc-1",
        "xoxs-1",
        "xoxz-1",
        "xo",
        "xap",
        "xapq",
        "xappx",
        "x",
        "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
        "Bot abc",
        "bOt\tabc",
        "Bot\u{85}abc",
        "Bot  abc ",
        "Bot",
        "Bot ",
        "Botabc",
        "Bot xoxb-1",
        "MTIz.abc.d-_e",
        " Bot MTIz.abc.def ",
        "bot\tMTIz.abc.def",
        "MTIz.abc",
        "MTIz..def",
        "MTIz.abc.def.ghi",
        "MTIz.a+c.def",
        ".abc.def",
        "xoxe.abc.def",
        "xoxe-abc.d.e",
        "xoxeZ.abc.def",
        "xox.abc.def",
        "xapp.abc.def",
        "xoxb.abc.def",
        "Bot xoxp-1.a.b",
        "Bot Bot abc",
        "Bot a b",
        "Bot \u{0}a",
        "Bearer abc",
        "bearer",
        "Bearer",
        "abc def",
        "0",
        "00",
        "01",
        "1",
        " 1300000000000000001 ",
        "1300000000000000001",
        "18446744073709551615",
        "18446744073709551616",
        "18446744073709551699",
        "19000000000000000000",
        "99999999999999999999",
        "9999999999999999999",
        "10000000000000000000",
        "100000000000000000000",
        "+1",
        "-1",
        "1_000",
        "١٢٣",
        "1 2",
        "00000000-0000-0000-0000-000000000000",
        "common",
        " tenant.onmicrosoft.com ",
    ];

    #[test]
    fn credential_rules_are_the_domain_parsers() {
        for samples in [TRICKY, CREDENTIALS] {
            agree::<SecretRule>(samples);
            agree::<SlackBotTokenRule>(samples);
            agree::<SlackAppTokenRule>(samples);
            agree::<DiscordBotTokenRule>(samples);
            agree::<SnowflakeRule>(samples);
            agree::<PastedTextRule>(samples);
        }
        // Every prefix of a Slack token, with and without the `Bot ` scheme, and with one more
        // character: the pattern that excludes them is generated, so try all of them.
        for (prefix, _) in SLACK_TOKEN_PREFIXES {
            for end in 1..=prefix.len() {
                let stem = &prefix[..end];
                for raw in [
                    stem.to_owned(),
                    format!("{stem}a"),
                    format!("{stem}-"),
                    format!("{stem}."),
                    format!("Bot {stem}z"),
                    format!("{stem}.a.b"),
                    format!("{stem}z.a.b"),
                    format!("{stem}-.a.b"),
                    format!("Bot {stem}.a.b"),
                ] {
                    agree::<DiscordBotTokenRule>(&[&raw]);
                    agree::<SlackBotTokenRule>(&[&raw]);
                    agree::<SlackAppTokenRule>(&[&raw]);
                }
            }
        }
    }

    #[test]
    fn the_snowflake_pattern_holds_at_every_digit_of_the_limit() {
        let max = u64::MAX.to_string();
        let mut samples = vec![max.clone()];
        for (i, digit) in max.char_indices() {
            for other in '0'..='9' {
                if other != digit {
                    samples.push(format!("{}{other}{}", &max[..i], &max[i + 1..]));
                }
            }
            samples.push(max[..=i].to_owned());
        }
        let samples: Vec<&str> = samples.iter().map(String::as_str).collect();
        agree::<SnowflakeRule>(&samples);
        let pattern = Regex::new(&format!("^{}$", decimal_at_most(305))).unwrap();
        for n in 0..=1000_u32 {
            assert_eq!(pattern.is_match(&n.to_string()), n <= 305, "{n}");
        }
        assert!(!pattern.is_match("007"));
    }

    #[test]
    fn parameters_and_bodies_refuse_with_the_rule_message() {
        let err = UuidText::parse_from_parameter("42").err();
        let message = err.map(|e| e.into_message()).unwrap_or_default();
        assert!(message.ends_with(": must be a UUID"), "{message}");
        let err = serde_json::from_str::<NameText>("\"a\\u202Eb\"").unwrap_err();
        assert!(err.to_string().contains("bidirectional"), "{err}");
        let ok: NameText = serde_json::from_str("\" Ada \"").unwrap();
        assert_eq!(&*ok, " Ada ");
    }
}
