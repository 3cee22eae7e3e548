//! Inbound provider endpoints: `POST /webhooks/slack/events` (the Slack Events API).
//!
//! No bearer token: the provider's own authentication applies (Slack's signature v0 over the
//! raw body, checked by the domain's intake with each connection's signing secret). The
//! handler only keeps the raw body and headers, records the events as receipts and answers;
//! the sync workers process the receipts afterwards, so Slack gets its answer well within its
//! 3 s.

use hazel_domain::model::chat_sync::Provider;
use hazel_domain::model::delivery::ReceiptSource;
use hazel_domain::model::sync::InboundInput;
use hazel_domain::services::sync::{IntakeError, IntakeOutcome};
use poem::error::ReadBodyError;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
};

use super::ApiTags;
use crate::ApiState;
use crate::error::{ApiError, ErrorBody, ErrorCode};

/// The largest Events API body accepted (Slack's event payloads are a few KiB; a message
/// with its blocks and files stays far below this).
const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// The request headers the intake reads; nothing else is kept.
const KEPT_HEADERS: [&str; 4] = [
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-slack-retry-num",
    "x-slack-retry-reason",
];

/// An Events API request body, kept exactly as it arrived: the signature covers these bytes,
/// so it is never parsed and re-serialized before it is verified.
pub(crate) struct RawEventBody(Vec<u8>);

impl<'a> ApiExtractor<'a> for RawEventBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>("SlackEventEnvelope".to_owned(), |_| {
            let mut schema = MetaSchema::new("object");
            schema.description = Some(
                "A Slack Events API request: an `event_callback` (with `team_id`, `event_id` \
                 and the `event`), a `url_verification` challenge, or another Events API \
                 envelope, exactly as Slack sends it.",
            );
            schema.required = vec!["type"];
            // Slack's envelopes carry more fields than these (`token`, `api_app_id`,
            // `authed_users`, …) and new ones over time: the body is open.
            schema.additional_properties =
                Some(Box::new(MetaSchemaRef::Inline(Box::new(MetaSchema::ANY))));
            schema.properties = vec![
                (
                    "type",
                    MetaSchemaRef::Inline(Box::new(MetaSchema::new("string"))),
                ),
                (
                    "team_id",
                    MetaSchemaRef::Inline(Box::new(MetaSchema::new("string"))),
                ),
                (
                    "event_id",
                    MetaSchemaRef::Inline(Box::new(MetaSchema::new("string"))),
                ),
                (
                    "challenge",
                    MetaSchemaRef::Inline(Box::new(MetaSchema::new("string"))),
                ),
                (
                    "event",
                    MetaSchemaRef::Inline(Box::new(MetaSchema::new("object"))),
                ),
            ];
            schema
        });
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some("The Events API payload, signed by Slack."),
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: MetaSchemaRef::Reference("SlackEventEnvelope".to_owned()),
            }],
            required: true,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bytes = body
            .take()?
            .into_bytes_limit(MAX_EVENT_BYTES)
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
        Ok(Self(bytes.to_vec()))
    }
}

/// The answer Slack gets.
#[derive(Object, Debug, PartialEq, Eq)]
#[oai(rename = "SlackEventAck")]
pub(crate) struct SlackEventAck {
    /// Always `true`: the request was verified and its events recorded (or were duplicates).
    ok: bool,
    /// For a `url_verification` request: its challenge, echoed.
    #[oai(skip_serializing_if_is_none)]
    challenge: Option<String>,
}

/// Answers of `slackEventsReceive`.
#[derive(ApiResponse)]
pub(crate) enum SlackEventsResponse {
    /// Verified: the events were recorded as receipts (a retry or a redelivery records
    /// nothing new), or the `url_verification` challenge is answered.
    #[oai(status = 200)]
    Ok(Json<SlackEventAck>),
    /// A verified body that is not an Events API payload (`ValidationError`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The signature does not verify with any connection to the team, the timestamp is more
    /// than 300 s off, or no connection exists for the team (`UnauthorizedError`); nothing was
    /// stored.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// An unexpected failure (`InternalServerError`); Slack retries the request.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

impl From<IntakeError> for SlackEventsResponse {
    fn from(err: IntakeError) -> Self {
        let refused = |message: &str| {
            Self::Unauthorized(Json(
                ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message).body(),
            ))
        };
        match err {
            IntakeError::UnknownWorkspace => refused("no connection exists for this Slack team"),
            IntakeError::Unauthenticated(reason) => {
                tracing::info!(reason = %reason, "a Slack Events API request was refused");
                refused("the request's Slack signature or timestamp does not verify")
            }
            IntakeError::Malformed(reason) => Self::BadRequest(Json(
                ApiError::validation("body", format!("is not an Events API payload: {reason}"))
                    .body(),
            )),
            IntakeError::UnsupportedProvider(provider) => {
                let cause = anyhow::anyhow!("no inbound adapter for {provider}");
                Self::Internal(Json(ApiError::unexpected(&cause).body()))
            }
            IntakeError::Unexpected(cause) => {
                Self::Internal(Json(ApiError::unexpected(&cause).body()))
            }
        }
    }
}

/// The provider endpoints.
pub(crate) struct WebhooksApi;

#[OpenApi(prefix_path = "/webhooks", tag = "ApiTags::Webhooks")]
impl WebhooksApi {
    /// Receive Slack Events API requests
    ///
    /// The Request URL of a Slack app's Event Subscriptions. Authenticated by Slack's
    /// signature (`X-Slack-Signature`, v0 HMAC-SHA256 over
    /// `v0:{X-Slack-Request-Timestamp}:{raw body}`) with the signing secret of each
    /// connection whose `externalWorkspaceId` is the payload's `team_id`; a timestamp more
    /// than 300 s off is refused. A `url_verification` request is answered with its
    /// `challenge`. Events are recorded as receipts and processed afterwards by the sync
    /// workers; retries (`X-Slack-Retry-Num`), repeated `event_id`s and redeliveries of one
    /// message under a new `event_id` record nothing new.
    #[oai(
        path = "/slack/events",
        method = "post",
        operation_id = "slackEventsReceive"
    )]
    #[tracing::instrument(name = "slackEventsReceive", skip_all, fields(retry = tracing::field::Empty))]
    async fn slack_events(
        &self,
        state: Data<&ApiState>,
        request: &Request,
        body: RawEventBody,
        /// Slack's signature of the request: `v0=` and the hex HMAC-SHA256.
        #[oai(name = "X-Slack-Signature")]
        _signature: poem_openapi::param::Header<Option<String>>,
        /// When Slack signed the request (Unix seconds).
        #[oai(name = "X-Slack-Request-Timestamp")]
        _timestamp: poem_openapi::param::Header<Option<String>>,
        /// Which retry of an earlier delivery this is (absent on the first).
        #[oai(name = "X-Slack-Retry-Num")]
        retry: poem_openapi::param::Header<Option<String>>,
    ) -> SlackEventsResponse {
        if let Some(retry) = retry.0.as_deref() {
            tracing::Span::current().record("retry", retry);
        }
        let headers = KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                request
                    .headers()
                    .get(*name)
                    .and_then(|value| value.to_str().ok())
                    .map(|value| ((*name).to_owned(), value.to_owned()))
            })
            .collect();
        let input = InboundInput {
            headers,
            body: body.0,
            received_at: time::OffsetDateTime::now_utc(),
        };
        match state
            .sync
            .ingest
            .intake(Provider::Slack, ReceiptSource::Webhook, &input)
            .await
        {
            Ok(IntakeOutcome::Challenge(challenge)) => {
                SlackEventsResponse::Ok(Json(SlackEventAck {
                    ok: true,
                    challenge: Some(challenge),
                }))
            }
            Ok(IntakeOutcome::Recorded(new)) => {
                tracing::debug!(new, "Slack events recorded");
                SlackEventsResponse::Ok(Json(SlackEventAck {
                    ok: true,
                    challenge: None,
                }))
            }
            Err(err) => err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use poem::IntoResponse as _;

    use super::*;

    fn status(err: IntakeError) -> u16 {
        SlackEventsResponse::from(err)
            .into_response()
            .status()
            .as_u16()
    }

    #[test]
    fn refused_input_answers_401_and_unreadable_input_400() {
        let table = [
            (IntakeError::UnknownWorkspace, 401),
            (
                IntakeError::Unauthenticated("signature mismatch".to_owned()),
                401,
            ),
            (IntakeError::Malformed("no event".to_owned()), 400),
            (IntakeError::UnsupportedProvider("slack"), 500),
            (IntakeError::Unexpected(anyhow::anyhow!("db down")), 500),
        ];
        for (err, expected) in table {
            let shown = format!("{err:?}");
            assert_eq!(status(err), expected, "{shown}");
        }
    }

    #[test]
    fn a_refusal_does_not_say_which_check_failed() {
        let SlackEventsResponse::Unauthorized(Json(body)) = SlackEventsResponse::from(
            IntakeError::Unauthenticated("expected v0=abc, got v0=def".to_owned()),
        ) else {
            panic!("not a 401");
        };
        assert!(
            !body.error.message.contains("abc"),
            "{}",
            body.error.message
        );
        assert_eq!(body.error.code, ErrorCode::Unauthorized);
    }
}
