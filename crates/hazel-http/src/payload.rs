//! `ApiJson<T>`: a JSON request body whose failures name the offending field.
//!
//! poem-openapi's own `Json<T>` answers a body it cannot parse with a plain-text 400 that does
//! not say which field is wrong. `ApiJson<T>` documents the same schema (taken from `T: Type`)
//! but parses with serde through `serde_path_to_error`, so every failure becomes the contract's
//! `ValidationError` with `field` set to the JSON path (`settings.syncPins`,
//! `attachments[0].url`, or the name of a missing field).

use poem::error::ReadBodyError;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    payload::{ParsePayload, Payload},
};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use hazel_domain::ValidationError;

use crate::error::ApiError;

/// Largest accepted JSON body. The biggest legitimate bodies (a 40 000-character message, 16 KiB
/// of metadata, 1000 message ids) stay well below it.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON request body parsed with field-naming errors.
pub(crate) struct ApiJson<T>(pub(crate) T);

/// Whether `content_type` is JSON (`application/json`, optionally with parameters, or a
/// `+json` suffix type).
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: Type> Payload for ApiJson<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        is_json(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: DeserializeOwned + Send> ParsePayload for ApiJson<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(_request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = body
            .take()?
            .into_bytes_limit(MAX_BODY_BYTES)
            .await
            .map_err(|err| match err {
                ReadBodyError::PayloadTooLarge => {
                    ApiError::validation("body", "must be at most 1 MiB")
                }
                ReadBodyError::Utf8(_) | ReadBodyError::Io(_) => {
                    ApiError::validation("body", "could not be read")
                }
                ReadBodyError::BodyHasBeenTaken => {
                    tracing::error!("the request body was read twice");
                    ApiError::internal()
                }
            })?;
        parse_json(&bytes).map(Self).map_err(Into::into)
    }
}

impl<'a, T: Type + DeserializeOwned + Send> ApiExtractor<'a> for ApiJson<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        // A body without a Content-Type is read as JSON (clients often omit it); a body
        // declared as something else is refused.
        if let Some(content_type) = request.content_type()
            && !<Self as Payload>::check_content_type(content_type)
        {
            return Err(poem_openapi::error::ContentTypeError::NotSupported {
                content_type: content_type.to_owned(),
            }
            .into());
        }
        <Self as ParsePayload>::from_request(request, body).await
    }
}

/// Parses a JSON document into `T`, naming the offending field on failure.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde lets a struct be written as an array of its fields; a request body must be an
    // object, as documented.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::validation("body", "must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| describe(e.path(), e.inner()))?;
    deserializer
        .end()
        .map_err(|e| ApiError::validation("body", format!("is not valid JSON: {e}")))?;
    Ok(value)
}

/// Deserializes an already parsed JSON value into `T`; errors name fields under `prefix`
/// (`credentials.signingSecret`).
pub(crate) fn from_value<T: DeserializeOwned>(
    prefix: &str,
    value: serde_json::Value,
) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let err = describe(e.path(), e.inner());
        let field = match err.field() {
            None | Some("body") => prefix.to_owned(),
            Some(field) => format!("{prefix}.{field}"),
        };
        ValidationError::new(field, err.message())
    })
}

/// The JSON path of a serde failure, in the API's notation: `a.b[0].c`.
fn render_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            // An empty key (`{"": 1}`) is named by the object that holds it.
            Segment::Map { key } if key.is_empty() => {}
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// The text between the first pair of backticks of a serde message (`missing field `name``).
fn quoted(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('`')?;
    let (name, _) = rest.split_once('`')?;
    Some(name)
}

fn describe(path: &serde_path_to_error::Path, err: &serde_json::Error) -> ApiError {
    let at = render_path(path);
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            let field = if at.is_empty() { "body".to_owned() } else { at };
            ApiError::validation(field, format!("is not valid JSON: {err}"))
        }
        Category::Data => {
            let full = err.to_string();
            // serde_json appends the position; the field name says more to an API client.
            let message = full
                .rfind(" at line ")
                .map_or(full.as_str(), |i| &full[..i])
                .to_owned();
            if message.starts_with("missing field `")
                && let Some(name) = quoted(&message)
            {
                return ApiError::validation(join(&at, name), "is required");
            }
            if message.starts_with("unknown field ``") {
                let field = if at.is_empty() { "body".to_owned() } else { at };
                return ApiError::validation(field, "must not have an empty key");
            }
            if message.starts_with("unknown field `")
                && let Some(name) = quoted(&message)
            {
                let field = join(&at, name);
                // The key itself may already be on the path, depending on where serde stopped.
                let field = if at.ends_with(name) { at } else { field };
                return ApiError::validation(field, "is not a known field");
            }
            if at == "credentials" || at.starts_with("credentials.") {
                // serde quotes the offending value, and here that value may be a secret.
                return ApiError::validation(
                    at,
                    "must be an object of the provider's credential fields (strings)",
                );
            }
            let field = if at.is_empty() { "body".to_owned() } else { at };
            ApiError::validation(field, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
    struct Outer {
        name: String,
        #[serde(default)]
        settings: Option<Settings>,
        #[serde(default)]
        attachments: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
    struct Settings {
        #[serde(default)]
        sync_pins: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
    struct Item {
        url: String,
    }

    fn field_of(json: &str) -> Option<String> {
        parse_json::<Outer>(json.as_bytes())
            .err()
            .and_then(|e| e.field().map(str::to_owned))
    }

    #[test]
    fn well_formed_bodies_parse() {
        let outer: Outer =
            parse_json(br#"{"name":"a","settings":{"syncPins":true},"attachments":[{"url":"u"}]}"#)
                .unwrap();
        assert_eq!(outer.name, "a");
        assert_eq!(outer.settings.and_then(|s| s.sync_pins), Some(true));
        assert_eq!(
            outer
                .attachments
                .iter()
                .map(|a| a.url.as_str())
                .collect::<Vec<_>>(),
            ["u"]
        );
    }

    #[test]
    fn a_missing_field_is_named() {
        assert_eq!(field_of("{}").as_deref(), Some("name"));
        assert_eq!(
            field_of(r#"{"name":"a","attachments":[{}]}"#).as_deref(),
            Some("attachments[0].url")
        );
    }

    #[test]
    fn a_wrong_type_is_named_by_its_path() {
        assert_eq!(field_of(r#"{"name":5}"#).as_deref(), Some("name"));
        assert_eq!(
            field_of(r#"{"name":"a","settings":{"syncPins":"yes"}}"#).as_deref(),
            Some("settings.syncPins")
        );
        assert_eq!(
            field_of(r#"{"name":"a","attachments":[{"url":"x"},{"url":1}]}"#).as_deref(),
            Some("attachments[1].url")
        );
    }

    #[test]
    fn an_unknown_field_is_named() {
        assert_eq!(field_of(r#"{"name":"a","nme":1}"#).as_deref(), Some("nme"));
        assert_eq!(
            field_of(r#"{"name":"a","settings":{"syncPin":true}}"#).as_deref(),
            Some("settings.syncPin")
        );
    }

    #[test]
    fn an_empty_key_is_named_by_its_object() {
        for (json, field) in [
            (r#"{"name":"a","":1}"#, "body"),
            (r#"{"":1,"name":"a"}"#, "body"),
            (r#"{"name":"a","settings":{"":true}}"#, "settings"),
            (
                r#"{"name":"a","attachments":[{"url":"u","":1}]}"#,
                "attachments[0]",
            ),
        ] {
            let err = parse_json::<Outer>(json.as_bytes()).unwrap_err();
            assert_eq!(err.field(), Some(field), "{json}");
            assert_eq!(err.message(), "must not have an empty key", "{json}");
        }
    }

    #[test]
    fn malformed_json_names_the_body() {
        let err = parse_json::<Outer>(b"{\"name\":").unwrap_err();
        assert_eq!(err.field(), Some("name"));
        assert_eq!(field_of("").as_deref(), Some("body"));
        assert_eq!(field_of("[]").as_deref(), Some("body"));
        assert_eq!(
            field_of(r#"{"name":"a"} trailing"#).as_deref(),
            Some("body")
        );
    }

    #[test]
    fn messages_say_what_is_wrong_without_positions() {
        let err = parse_json::<Outer>(br#"{"name":5}"#).unwrap_err();
        let message = err.body().error.message;
        assert!(message.contains("expected a string"), "{message}");
        assert!(!message.contains("line"), "{message}");
        let missing = parse_json::<Outer>(b"{}").unwrap_err();
        assert_eq!(missing.body().error.message, "is required");
    }

    #[test]
    fn values_are_reported_under_their_prefix() {
        let err = from_value::<Item>("credentials", serde_json::json!({})).unwrap_err();
        assert_eq!(err.field(), "credentials.url");
        let err = from_value::<Item>("credentials", serde_json::json!(3)).unwrap_err();
        assert_eq!(err.field(), "credentials");
    }

    #[test]
    fn json_content_types_are_recognised() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in ["text/plain", "application/x-www-form-urlencoded", ""] {
            assert!(!is_json(bad), "{bad}");
        }
    }
}
