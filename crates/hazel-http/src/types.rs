//! Small wire types that neither serde nor poem-openapi provide in the shape the contract needs:
//! a required-but-nullable value, an RFC 3339 timestamp input, and a write-only secret.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use secrecy::SecretString;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::text::TextRule;

/// A value that must be present but may be `null` (`{"readAt": null}` marks a notification
/// unread, while a body without `readAt` is invalid). Answered as `null` when absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Nullable<T>(pub(crate) Option<T>);

impl<T: Type> Type for Nullable<T> {
    const IS_REQUIRED: bool = true;

    type RawValueType = T::RawValueType;

    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("nullable_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref().merge(MetaSchema {
            nullable: true,
            ..MetaSchema::ANY
        })
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(Type::as_raw_value)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(value) => value.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Nullable<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None => Err(ParseError::expected_input()),
            Some(Value::Null) => Ok(Self(None)),
            Some(value) => T::parse_from_json(Some(value))
                .map(|v| Self(Some(v)))
                .map_err(ParseError::propagate),
        }
    }
}

impl<T: ToJSON> ToJSON for Nullable<T> {
    fn to_json(&self) -> Option<Value> {
        match &self.0 {
            Some(value) => value.to_json(),
            None => Some(Value::Null),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Going through `Value` (not `Option<T>`) keeps the field required: serde would
        // otherwise treat an absent option-like field as `null`.
        match Value::deserialize(deserializer)? {
            Value::Null => Ok(Self(None)),
            value => T::deserialize(value)
                .map(|v| Self(Some(v)))
                .map_err(D::Error::custom),
        }
    }
}

/// A timestamp given by a client, in RFC 3339.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rfc3339Input(pub(crate) OffsetDateTime);

impl Type for Rfc3339Input {
    const IS_REQUIRED: bool = true;

    type RawValueType = OffsetDateTime;

    type RawElementValueType = OffsetDateTime;

    fn name() -> Cow<'static, str> {
        OffsetDateTime::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        OffsetDateTime::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for Rfc3339Input {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        OffsetDateTime::parse_from_json(value)
            .map(Self)
            .map_err(ParseError::propagate)
    }
}

impl ToJSON for Rfc3339Input {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

impl<'de> Deserialize<'de> for Rfc3339Input {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map(Self)
            .map_err(|_| D::Error::custom("must be an RFC 3339 timestamp"))
    }
}

/// A secret sent by a client (a bot token, a signing secret), checked by rule `R` (which also
/// gives its schema). Held as a [`SecretString`] from the moment it is parsed; never
/// serialized, never printed.
pub(crate) struct SecretInput<R>(pub(crate) SecretString, PhantomData<R>);

impl<R> fmt::Debug for SecretInput<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretInput([redacted])")
    }
}

impl<R: TextRule> SecretInput<R> {
    fn parse(text: String) -> Result<Self, String> {
        // The rule's messages say what is wrong, never what the value is.
        R::check(&text)?;
        Ok(Self(SecretString::from(text), PhantomData))
    }
}

impl<R: TextRule> Type for SecretInput<R> {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("{}_password", R::NAME).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            write_only: true,
            format: Some("password"),
            ..R::schema()
        }))
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

impl<R: TextRule> ParseFromJSON for SecretInput<R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Self::parse(text).map_err(ParseError::custom),
            Some(other) => Err(ParseError::expected_type(other)),
            None => Err(ParseError::expected_input()),
        }
    }
}

impl<R: TextRule> ToJSON for SecretInput<R> {
    fn to_json(&self) -> Option<Value> {
        // Write-only: a secret is never part of an answer.
        None
    }
}

impl<'de, R: TextRule> Deserialize<'de> for SecretInput<R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;
    use serde::Deserialize;

    use super::*;
    use crate::payload::parse_json;
    use crate::text::{SecretRule, SlackBotTokenRule};

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Patch {
        read_at: Nullable<Rfc3339Input>,
    }

    #[test]
    fn nullable_fields_are_required_but_accept_null() {
        let missing = parse_json::<Patch>(b"{}").err();
        assert_eq!(missing.as_ref().and_then(|e| e.field()), Some("readAt"));
        let null: Patch = parse_json(br#"{"readAt":null}"#).unwrap();
        assert_eq!(null.read_at, Nullable(None));
        let set: Patch = parse_json(br#"{"readAt":"2026-01-02T03:04:05Z"}"#).unwrap();
        assert_eq!(
            set.read_at.0.map(|t| t.0.unix_timestamp()),
            Some(1_767_323_045)
        );
        let bad = parse_json::<Patch>(br#"{"readAt":"yesterday"}"#).err();
        assert_eq!(bad.as_ref().and_then(|e| e.field()), Some("readAt"));
    }

    #[test]
    fn nullable_schema_is_nullable_and_required() {
        let schema = Nullable::<String>::schema_ref();
        assert!(schema.unwrap_inline().nullable);
        const { assert!(Nullable::<String>::IS_REQUIRED) };
        assert_eq!(Nullable::<String>(None).to_json(), Some(Value::Null));
    }

    #[test]
    fn secrets_are_never_serialized_or_printed() {
        let secret: SecretInput<SlackBotTokenRule> =
            serde_json::from_str(r#"" xoxb-123 ""#).unwrap();
        assert_eq!(secret.0.expose_secret(), " xoxb-123 ");
        assert_eq!(secret.to_json(), None);
        assert!(!format!("{secret:?}").contains("xoxb"));
        assert!(serde_json::from_str::<SecretInput<SecretRule>>(r#""""#).is_err());
        let refused = serde_json::from_str::<SecretInput<SlackBotTokenRule>>(r#""xoxp-secret7""#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("user token (xoxp-)"), "{refused}");
        assert!(!refused.contains("secret7"), "{refused}");
    }

    #[test]
    fn secret_schemas_are_the_rule_and_write_only() {
        let schema = SecretInput::<SecretRule>::schema_ref();
        let schema = schema.unwrap_inline();
        assert!(schema.write_only);
        assert_eq!(schema.format, Some("password"));
        assert_eq!(schema.pattern, SecretRule::schema().pattern);
    }
}
