//! The contract's error body, the answers each kind of failure gets, and the translation of
//! poem's own rejections. Which failure answers which status is decided per operation, in its
//! `api_response!` mapping from the use case's error enum.

use hazel_domain::ValidationError;
use hazel_domain::model::chat_sync::{ProviderError, ProviderErrorCode};
use poem::http::StatusCode;
use poem::http::header::{HeaderValue, RETRY_AFTER};
use poem::{IntoResponse, Response};
use poem_openapi::{Enum, Object};

/// Every error code the API answers, as it appears in `error.code`.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename = "ErrorCode")]
pub(crate) enum ErrorCode {
    /// Malformed JSON, a wrong type or a failed validation; `field` names the input.
    #[oai(rename = "ValidationError")]
    Validation,
    /// No token, an invalid token (401), or an action the caller may not take (403).
    #[oai(rename = "UnauthorizedError")]
    Unauthorized,
    /// No such resource, or one the caller cannot see.
    #[oai(rename = "NotFoundError")]
    NotFound,
    /// No such notification.
    #[oai(rename = "NotificationNotFoundError")]
    NotificationNotFound,
    /// No such chat-sync connection.
    #[oai(rename = "ChatSyncConnectionNotFoundError")]
    ConnectionNotFound,
    /// No such channel link.
    #[oai(rename = "ChatSyncChannelLinkNotFoundError")]
    ChannelLinkNotFound,
    /// No such delivery.
    #[oai(rename = "ChatSyncDeliveryNotFoundError")]
    DeliveryNotFound,
    /// The delivery is not a dead letter, so it cannot be retried.
    #[oai(rename = "ChatSyncDeliveryNotFailedError")]
    DeliveryNotFailed,
    /// A live connection already exists for (organization, provider, externalWorkspaceId).
    #[oai(rename = "ChatSyncConnectionExistsError")]
    ConnectionExists,
    /// The Hazel channel or the external channel is already linked in this connection.
    #[oai(rename = "ChatSyncChannelLinkExistsError")]
    ChannelLinkExists,
    /// Neither credentials nor a usable integration connection.
    #[oai(rename = "ChatSyncIntegrationNotConnectedError")]
    IntegrationNotConnected,
    /// The route exists but not with this HTTP method.
    #[oai(rename = "MethodNotAllowedError")]
    MethodNotAllowed,
    /// The request body is not JSON.
    #[oai(rename = "UnsupportedMediaTypeError")]
    UnsupportedMediaType,
    /// The provider rejected the credentials.
    #[oai(rename = "INVALID_CREDENTIALS")]
    InvalidCredentials,
    /// The credentials expired or were revoked.
    #[oai(rename = "AUTH_EXPIRED")]
    AuthExpired,
    /// The provider asked us to slow down; see `retryAfterSeconds`.
    #[oai(rename = "RATE_LIMITED")]
    RateLimited,
    /// The bot lacks scopes or permissions; see `requiredScopes`.
    #[oai(rename = "INSUFFICIENT_PERMISSIONS")]
    InsufficientPermissions,
    /// The provider could not be reached.
    #[oai(rename = "NETWORK_ERROR")]
    NetworkError,
    /// The provider failed or answered something unexpected.
    #[oai(rename = "PLATFORM_ERROR")]
    PlatformError,
    /// Something failed on our side; the details are logged, never answered.
    #[oai(rename = "InternalServerError")]
    Internal,
}

impl From<ProviderErrorCode> for ErrorCode {
    fn from(code: ProviderErrorCode) -> Self {
        match code {
            ProviderErrorCode::InvalidCredentials => Self::InvalidCredentials,
            ProviderErrorCode::AuthExpired => Self::AuthExpired,
            ProviderErrorCode::RateLimited => Self::RateLimited,
            ProviderErrorCode::InsufficientPermissions => Self::InsufficientPermissions,
            ProviderErrorCode::NetworkError => Self::NetworkError,
            ProviderErrorCode::PlatformError => Self::PlatformError,
        }
    }
}

/// Which kind of resource was not found; each kind answers its own error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource {
    /// An organization.
    Organization,
    /// A member.
    Member,
    /// A channel.
    Channel,
    /// A message.
    Message,
    /// A reaction.
    Reaction,
    /// A notification (`NotificationNotFoundError`).
    Notification,
    /// A chat-sync connection (`ChatSyncConnectionNotFoundError`).
    Connection,
    /// A channel link (`ChatSyncChannelLinkNotFoundError`).
    ChannelLink,
    /// A delivery (`ChatSyncDeliveryNotFoundError`).
    Delivery,
}

impl Resource {
    /// A human-readable name of the resource kind.
    fn name(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Member => "member",
            Self::Channel => "channel",
            Self::Message => "message",
            Self::Reaction => "reaction",
            Self::Notification => "notification",
            Self::Connection => "connection",
            Self::ChannelLink => "channel link",
            Self::Delivery => "delivery",
        }
    }
}

/// The body of every error answer: `{"error": {...}}`.
#[derive(Object, Clone, Debug, PartialEq, Eq)]
#[oai(rename = "Error")]
pub(crate) struct ErrorBody {
    /// What went wrong.
    pub(crate) error: ErrorDetail,
}

/// What went wrong. Fields beyond `code` and `message` are present only with the codes that
/// carry them.
#[derive(Object, Clone, Debug, PartialEq, Eq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct ErrorDetail {
    /// A stable, machine-readable code.
    pub(crate) code: ErrorCode,
    /// A human-readable explanation.
    pub(crate) message: String,
    /// The offending input (a JSON path in camelCase, a path or query parameter), with
    /// `ValidationError`.
    pub(crate) field: Option<String>,
    /// When to try again, with `RATE_LIMITED`.
    pub(crate) retry_after_seconds: Option<u64>,
    /// The scopes or permissions the bot still needs, with `INSUFFICIENT_PERMISSIONS`.
    pub(crate) required_scopes: Option<Vec<String>>,
}

/// An error answer: a status and the contract's error body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code:?}: {message}")]
pub(crate) struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    field: Option<String>,
    retry_after_seconds: Option<u64>,
    required_scopes: Option<Vec<String>>,
}

/// The message of every 500: the cause is in the log, never in the answer.
pub(crate) const INTERNAL_MESSAGE: &str =
    "the server failed to handle the request; the failure has been logged";

impl ApiError {
    /// An error with just a status, code and message.
    pub(crate) fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after_seconds: None,
            required_scopes: None,
        }
    }

    /// A 400 `ValidationError` naming `field`.
    pub(crate) fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::BAD_REQUEST, ErrorCode::Validation, message)
        }
    }

    /// The same error, naming `field` as the offending input.
    pub(crate) fn for_field(self, field: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..self
        }
    }

    /// A 401 `UnauthorizedError`.
    pub(crate) fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "a valid bearer token is required (Authorization: Bearer <token>)",
        )
    }

    /// A 500 `InternalServerError` with the generic message. Log the cause before calling this.
    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            INTERNAL_MESSAGE,
        )
    }

    /// The HTTP status.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code.
    #[cfg(test)]
    pub(crate) fn code(&self) -> ErrorCode {
        self.code
    }

    /// The human-readable explanation.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// The named field, for validation errors.
    pub(crate) fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Seconds to wait before retrying, for 429 answers.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        self.retry_after_seconds
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                field: self.field.clone(),
                retry_after_seconds: self.retry_after_seconds,
                required_scopes: self.required_scopes.clone(),
            },
        }
    }

    /// A 403 `UnauthorizedError`: the caller may not do this, for `reason`.
    pub(crate) fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Unauthorized, reason)
    }

    /// A 404 with the code of the resource kind that was not found.
    pub(crate) fn not_found(kind: Resource) -> Self {
        let code = match kind {
            Resource::Notification => ErrorCode::NotificationNotFound,
            Resource::Connection => ErrorCode::ConnectionNotFound,
            Resource::ChannelLink => ErrorCode::ChannelLinkNotFound,
            Resource::Delivery => ErrorCode::DeliveryNotFound,
            Resource::Organization
            | Resource::Member
            | Resource::Channel
            | Resource::Message
            | Resource::Reaction => ErrorCode::NotFound,
        };
        Self::new(
            StatusCode::NOT_FOUND,
            code,
            format!("{} not found", kind.name()),
        )
    }

    /// A 409 `ChatSyncConnectionExistsError`.
    pub(crate) fn connection_exists() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            ErrorCode::ConnectionExists,
            "a live connection already exists for this organization, provider and workspace",
        )
    }

    /// A 409 `ChatSyncDeliveryNotFailedError`.
    pub(crate) fn delivery_not_failed() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            ErrorCode::DeliveryNotFailed,
            "only a failed (dead-lettered) delivery can be retried",
        )
    }

    /// A 409 `ChatSyncChannelLinkExistsError`.
    pub(crate) fn channel_link_exists() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            ErrorCode::ChannelLinkExists,
            "the Hazel channel or the external channel is already linked in this connection",
        )
    }

    /// A 409 `ChatSyncIntegrationNotConnectedError`, saying why.
    pub(crate) fn integration_not_connected(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            ErrorCode::IntegrationNotConnected,
            reason,
        )
    }

    /// A 500 for an unexpected failure: the one place its cause is logged; the answer stays
    /// generic.
    pub(crate) fn unexpected(cause: &anyhow::Error) -> Self {
        tracing::error!(error = %format!("{cause:#}"), "unexpected failure while handling a request");
        Self::internal()
    }

    /// The answer to a chat provider's refusal or failure: 422, 429 (with `Retry-After`) or 502.
    pub(crate) fn provider(error: &ProviderError) -> Self {
        let code = ErrorCode::from(error.code());
        let message = error.to_string();
        match error {
            ProviderError::InvalidCredentials { .. } | ProviderError::AuthExpired { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            ProviderError::InsufficientPermissions {
                required_scopes, ..
            } => Self {
                required_scopes: Some(required_scopes.clone()),
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            },
            ProviderError::RateLimited {
                retry_after_seconds,
            } => Self {
                retry_after_seconds: Some(*retry_after_seconds),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
            },
            ProviderError::Network { .. } | ProviderError::Platform { .. } => {
                // Provider messages never carry secrets, so the reason may be logged and answered.
                tracing::warn!(code = error.code().as_str(), reason = %message, "chat provider failed");
                Self::new(StatusCode::BAD_GATEWAY, code, message)
            }
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        Self::validation(err.field(), err.message())
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response
    where
        Self: std::error::Error + Send + Sync + 'static,
    {
        let mut response = poem_openapi::payload::Json(self.body()).into_response();
        response.set_status(self.status);
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Turns any error that reached the edge of the application into the contract's JSON answer.
/// Errors this crate raised keep their answer; poem's own errors (no route, wrong method, bad
/// query parameter, missing token, unsupported content type) are translated.
pub(crate) fn into_api_error(err: &poem::Error) -> ApiError {
    use poem::error::{MethodNotAllowedError, NotFoundError};
    use poem_openapi::error::{
        AuthorizationError, ContentTypeError, ParseParamError, ParsePathError,
        ParseRequestPayloadError,
    };

    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.clone();
    }
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        return ApiError::validation(e.name, param_message(&e.reason));
    }
    if let Some(e) = err.downcast_ref::<ParsePathError>() {
        return ApiError::validation(e.name, param_message(&e.reason));
    }
    if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        return ApiError::validation("body", e.reason.clone());
    }
    if err.is::<AuthorizationError>() {
        return ApiError::unauthenticated();
    }
    if err.is::<ContentTypeError>() {
        return unsupported_media_type();
    }
    if err.is::<NotFoundError>() {
        return ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such route");
    }
    if err.is::<MethodNotAllowedError>() {
        return method_not_allowed();
    }
    let status = err.status();
    match status {
        StatusCode::UNAUTHORIZED => ApiError::unauthenticated(),
        StatusCode::FORBIDDEN => ApiError::new(status, ErrorCode::Unauthorized, "not allowed"),
        StatusCode::NOT_FOUND => ApiError::new(status, ErrorCode::NotFound, "not found"),
        StatusCode::METHOD_NOT_ALLOWED => method_not_allowed(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => unsupported_media_type(),
        s if s.is_client_error() => ApiError {
            status: s,
            ..ApiError::validation("request", err.to_string())
        },
        _ => {
            tracing::error!(status = status.as_u16(), error = %err, "request failed");
            ApiError::internal()
        }
    }
}

/// Rewrites poem-openapi's parameter parse reasons (`verification failed. maximum(200,
/// exclusive: false)`, `failed to parse "integer_int64": …`) into the house style.
fn param_message(reason: &str) -> String {
    fn after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        let start = text.find(prefix)? + prefix.len();
        text[start..].split([',', ')']).next()
    }
    if reason.contains("expects an input value") {
        return "is required".to_owned();
    }
    if reason.starts_with("verification failed") {
        if let Some(max) = after(reason, "maximum(") {
            return format!("must be at most {max}");
        }
        if let Some(min) = after(reason, "minimum(") {
            return format!("must be at least {min}");
        }
        return "is out of range".to_owned();
    }
    // A refusal by one of the text rules (`failed to parse "string_uuid": must be a UUID`)
    // already says what is wrong.
    if let Some(rest) = reason.strip_prefix("failed to parse \"string_")
        && let Some((_, message)) = rest.split_once("\": ")
    {
        return message.to_owned();
    }
    if reason.starts_with("failed to parse") {
        if reason.contains("integer") {
            return "must be an integer".to_owned();
        }
        if reason.contains("\"boolean\"") {
            return "must be true or false".to_owned();
        }
        return "has the wrong type".to_owned();
    }
    reason.to_owned()
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::UnsupportedMediaType,
        "the request body must be JSON (Content-Type: application/json)",
    )
}

fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this route does not support this HTTP method",
    )
}

#[cfg(test)]
mod tests {
    use hazel_domain::model::chat_sync::ProviderError;

    use super::*;

    fn detail(err: &ApiError) -> serde_json::Value {
        serde_json::to_value(poem_openapi::types::ToJSON::to_json(&err.body())).unwrap_or_default()
    }

    #[test]
    fn every_answer_has_its_documented_status_and_code() {
        let cases: Vec<(ApiError, StatusCode, &str)> = vec![
            (
                ApiError::from(ValidationError::new(
                    "settings.syncPins",
                    "must be a boolean",
                )),
                StatusCode::BAD_REQUEST,
                "ValidationError",
            ),
            (
                ApiError::unauthenticated(),
                StatusCode::UNAUTHORIZED,
                "UnauthorizedError",
            ),
            (
                ApiError::forbidden("only admins"),
                StatusCode::FORBIDDEN,
                "UnauthorizedError",
            ),
            (
                ApiError::not_found(Resource::Notification),
                StatusCode::NOT_FOUND,
                "NotificationNotFoundError",
            ),
            (
                ApiError::not_found(Resource::Connection),
                StatusCode::NOT_FOUND,
                "ChatSyncConnectionNotFoundError",
            ),
            (
                ApiError::not_found(Resource::ChannelLink),
                StatusCode::NOT_FOUND,
                "ChatSyncChannelLinkNotFoundError",
            ),
            (
                ApiError::not_found(Resource::Organization),
                StatusCode::NOT_FOUND,
                "NotFoundError",
            ),
            (
                ApiError::not_found(Resource::Member),
                StatusCode::NOT_FOUND,
                "NotFoundError",
            ),
            (
                ApiError::not_found(Resource::Channel),
                StatusCode::NOT_FOUND,
                "NotFoundError",
            ),
            (
                ApiError::not_found(Resource::Message),
                StatusCode::NOT_FOUND,
                "NotFoundError",
            ),
            (
                ApiError::not_found(Resource::Reaction),
                StatusCode::NOT_FOUND,
                "NotFoundError",
            ),
            (
                ApiError::connection_exists(),
                StatusCode::CONFLICT,
                "ChatSyncConnectionExistsError",
            ),
            (
                ApiError::channel_link_exists(),
                StatusCode::CONFLICT,
                "ChatSyncChannelLinkExistsError",
            ),
            (
                ApiError::integration_not_connected("no credentials"),
                StatusCode::CONFLICT,
                "ChatSyncIntegrationNotConnectedError",
            ),
            (
                ApiError::provider(&ProviderError::InvalidCredentials {
                    message: "invalid_auth".into(),
                }),
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_CREDENTIALS",
            ),
            (
                ApiError::provider(&ProviderError::AuthExpired {
                    message: "token_revoked".into(),
                }),
                StatusCode::UNPROCESSABLE_ENTITY,
                "AUTH_EXPIRED",
            ),
            (
                ApiError::provider(&ProviderError::InsufficientPermissions {
                    message: "missing_scope".into(),
                    required_scopes: vec!["channels:read".into()],
                }),
                StatusCode::UNPROCESSABLE_ENTITY,
                "INSUFFICIENT_PERMISSIONS",
            ),
            (
                ApiError::provider(&ProviderError::RateLimited {
                    retry_after_seconds: 30,
                }),
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
            ),
            (
                ApiError::provider(&ProviderError::Network {
                    message: "connection refused".into(),
                }),
                StatusCode::BAD_GATEWAY,
                "NETWORK_ERROR",
            ),
            (
                ApiError::provider(&ProviderError::Platform {
                    message: "HTTP 500".into(),
                }),
                StatusCode::BAD_GATEWAY,
                "PLATFORM_ERROR",
            ),
            (
                ApiError::unexpected(&anyhow::anyhow!("database is on fire")),
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
            ),
        ];
        for (err, status, code) in cases {
            let shown = format!("{err:?}");
            assert_eq!(err.status(), status, "{shown}");
            assert_eq!(detail(&err)["error"]["code"], code, "{shown}");
        }
    }

    #[test]
    fn validation_errors_name_the_field() {
        let err = ApiError::from(ValidationError::new(
            "attachments[0].url",
            "must be an absolute http(s) URL",
        ));
        let body = detail(&err);
        assert_eq!(body["error"]["field"], "attachments[0].url");
        assert_eq!(body["error"]["message"], "must be an absolute http(s) URL");
    }

    #[test]
    fn rate_limits_carry_retry_after_in_body_and_header() {
        let err = ApiError::provider(&ProviderError::RateLimited {
            retry_after_seconds: 42,
        });
        assert_eq!(err.retry_after(), Some(42));
        assert_eq!(detail(&err)["error"]["retryAfterSeconds"], 42);
        let response = poem::error::ResponseError::as_response(&err);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response
                .headers()
                .get(RETRY_AFTER)
                .map(HeaderValue::as_bytes),
            Some(b"42".as_slice())
        );
    }

    #[test]
    fn missing_permissions_list_the_required_scopes() {
        let err = ApiError::provider(&ProviderError::InsufficientPermissions {
            message: "missing scopes".into(),
            required_scopes: vec!["chat:write".into(), "channels:history".into()],
        });
        assert_eq!(
            detail(&err)["error"]["requiredScopes"],
            serde_json::json!(["chat:write", "channels:history"])
        );
    }

    #[test]
    fn unexpected_failures_never_leak_their_cause() {
        let err = ApiError::unexpected(&anyhow::anyhow!("password=hunter2 at db.internal:5432"));
        let body = detail(&err).to_string();
        assert!(
            !body.contains("hunter2") && !body.contains("db.internal"),
            "{body}"
        );
        assert_eq!(detail(&err)["error"]["message"], INTERNAL_MESSAGE);
    }

    #[test]
    fn extras_are_absent_unless_the_code_carries_them() {
        let err = ApiError::not_found(Resource::Channel);
        let body = detail(&err);
        let keys: Vec<&String> = body["error"]
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["code", "message"]);
    }

    #[test]
    fn poem_errors_become_contract_errors() {
        let not_found: poem::Error = poem::error::NotFoundError.into();
        assert_eq!(into_api_error(&not_found).code(), ErrorCode::NotFound);
        let wrong_method: poem::Error = poem::error::MethodNotAllowedError.into();
        let mapped = into_api_error(&wrong_method);
        assert_eq!(mapped.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(mapped.code(), ErrorCode::MethodNotAllowed);
        let bad_query: poem::Error = poem_openapi::error::ParseParamError {
            name: "limit",
            reason: "not an integer".into(),
        }
        .into();
        let mapped = into_api_error(&bad_query);
        assert_eq!(mapped.status(), StatusCode::BAD_REQUEST);
        assert_eq!(mapped.field(), Some("limit"));
        let no_token: poem::Error = poem_openapi::error::AuthorizationError.into();
        assert_eq!(into_api_error(&no_token).status(), StatusCode::UNAUTHORIZED);
        let internal = poem::Error::from_status(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(into_api_error(&internal).code(), ErrorCode::Internal);
    }

    #[test]
    fn parameter_reasons_are_rewritten_in_house_style() {
        for (reason, expected) in [
            (
                "verification failed. maximum(200, exclusive: false)",
                "must be at most 200",
            ),
            (
                "verification failed. minimum(1, exclusive: false)",
                "must be at least 1",
            ),
            (
                r#"failed to parse "integer_int64": invalid digit"#,
                "must be an integer",
            ),
            (
                r#"failed to parse "boolean": provided string was not `true` or `false`"#,
                "must be true or false",
            ),
            (r#"Type "string" expects an input value."#, "is required"),
            (
                r#"failed to parse "string_uuid": must be a UUID"#,
                "must be a UUID",
            ),
        ] {
            assert_eq!(param_message(reason), expected, "{reason}");
        }
    }
}
