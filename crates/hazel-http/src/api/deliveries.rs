//! Sync observability: a connection's deliveries both ways, and re-queuing dead letters.

use hazel_domain::ids::SyncConnectionId;
use hazel_domain::model::delivery as delivery_model;
use hazel_domain::ports::{DeliveryFilter, DeliveryRecord};
use hazel_domain::services::chat_sync::ConnectionAccessError;
use hazel_domain::services::sync::{DeliveryAccessError, RetryDeliveryError};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use time::{OffsetDateTime, UtcOffset};

use super::{ApiTags, answer, page_request};
use crate::ApiState;
use crate::auth::BearerAuth;
use crate::error::{ApiError, Resource};
use crate::model::{Mutation, Page};
use crate::responses::api_response;
use crate::text::{CursorText, UuidText};

/// Where a delivery is in its life.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub(crate) enum DeliveryStatus {
    /// Waiting to be tried (also while its connection waits for credentials).
    Pending,
    /// Done.
    Delivered,
    /// Dead-lettered: retry it through `chatSyncDeliveryRetry`.
    Failed,
    /// Dropped on purpose; `reason` says why.
    Ignored,
}

impl From<DeliveryStatus> for delivery_model::DeliveryStatus {
    fn from(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => Self::Pending,
            DeliveryStatus::Delivered => Self::Delivered,
            DeliveryStatus::Failed => Self::Failed,
            DeliveryStatus::Ignored => Self::Ignored,
        }
    }
}

impl From<delivery_model::DeliveryStatus> for DeliveryStatus {
    fn from(status: delivery_model::DeliveryStatus) -> Self {
        match status {
            delivery_model::DeliveryStatus::Pending => Self::Pending,
            delivery_model::DeliveryStatus::Delivered => Self::Delivered,
            delivery_model::DeliveryStatus::Failed => Self::Failed,
            delivery_model::DeliveryStatus::Ignored => Self::Ignored,
        }
    }
}

/// Which way a delivery goes.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub(crate) enum DeliveryDirection {
    /// External → Hazel (an inbound event).
    Inbound,
    /// Hazel → external.
    Outbound,
}

impl From<delivery_model::DeliveryDirection> for DeliveryDirection {
    fn from(direction: delivery_model::DeliveryDirection) -> Self {
        match direction {
            delivery_model::DeliveryDirection::Inbound => Self::Inbound,
            delivery_model::DeliveryDirection::Outbound => Self::Outbound,
        }
    }
}

impl From<DeliveryDirection> for delivery_model::DeliveryDirection {
    fn from(direction: DeliveryDirection) -> Self {
        match direction {
            DeliveryDirection::Inbound => Self::Inbound,
            DeliveryDirection::Outbound => Self::Outbound,
        }
    }
}

/// What a delivery carries.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeliveryKind {
    /// A message was posted.
    #[oai(rename = "message.create")]
    MessageCreate,
    /// A message was edited.
    #[oai(rename = "message.edit")]
    MessageEdit,
    /// A message was deleted.
    #[oai(rename = "message.delete")]
    MessageDelete,
    /// A reaction was added.
    #[oai(rename = "reaction.add")]
    ReactionAdd,
    /// A reaction was removed.
    #[oai(rename = "reaction.remove")]
    ReactionRemove,
    /// A message was pinned.
    #[oai(rename = "pin.add")]
    PinAdd,
    /// A message was unpinned.
    #[oai(rename = "pin.remove")]
    PinRemove,
}

impl From<delivery_model::DeliveryKind> for DeliveryKind {
    fn from(kind: delivery_model::DeliveryKind) -> Self {
        use delivery_model::DeliveryKind as K;
        match kind {
            K::MessageCreate => Self::MessageCreate,
            K::MessageEdit => Self::MessageEdit,
            K::MessageDelete => Self::MessageDelete,
            K::ReactionAdd => Self::ReactionAdd,
            K::ReactionRemove => Self::ReactionRemove,
            K::PinAdd => Self::PinAdd,
            K::PinRemove => Self::PinRemove,
        }
    }
}

/// The last failure of a delivery (no secrets).
#[derive(Object)]
#[oai(rename = "DeliveryError", rename_all = "camelCase")]
pub(crate) struct DeliveryErrorBody {
    /// A stable code: `RATE_LIMITED`, `TRANSIENT`, `AMBIGUOUS`, `AUTH`, `REJECTED`, `GONE`,
    /// `PROCESSING_FAILED`, `NO_CREDENTIALS`, `CREDENTIALS_UNREADABLE`, `UNSUPPORTED_PROVIDER`.
    code: String,
    /// What went wrong.
    message: String,
}

/// One change carried between Hazel and a linked channel, either way.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct Delivery {
    /// Id (UUID v7).
    id: String,
    /// The connection.
    connection_id: String,
    /// The channel link, once known.
    channel_link_id: Option<String>,
    /// Which way it goes.
    direction: DeliveryDirection,
    /// What it carries (absent for inbound events the engine does not sync).
    kind: Option<DeliveryKind>,
    /// The Hazel message.
    hazel_message_id: Option<String>,
    /// The external message.
    external_message_id: Option<String>,
    /// Where it is in its life.
    status: DeliveryStatus,
    /// Why it was ignored.
    reason: Option<String>,
    /// Tries made.
    attempts: u32,
    /// The last failure.
    last_error: Option<DeliveryErrorBody>,
    /// When it is tried next (pending only).
    next_attempt_at: Option<OffsetDateTime>,
    /// When it was recorded.
    created_at: OffsetDateTime,
    /// When it was finished.
    completed_at: Option<OffsetDateTime>,
}

fn utc(at: OffsetDateTime) -> OffsetDateTime {
    at.to_offset(UtcOffset::UTC)
}

impl From<DeliveryRecord> for Delivery {
    fn from(record: DeliveryRecord) -> Self {
        use delivery_model::DeliveryState as S;
        let error = |e: &delivery_model::LastError| DeliveryErrorBody {
            code: e.code.clone(),
            message: e.message.clone(),
        };
        let (reason, last_error, next_attempt_at, completed_at) = match &record.state {
            S::Pending {
                next_attempt_at,
                last_error,
                ..
            } => (
                None,
                last_error.as_ref().map(error),
                Some(utc(*next_attempt_at)),
                None,
            ),
            S::Delivered { completed_at, .. } => (None, None, None, Some(utc(*completed_at))),
            S::Failed {
                last_error,
                completed_at,
                ..
            } => (
                None,
                Some(error(last_error)),
                None,
                Some(utc(*completed_at)),
            ),
            S::Ignored {
                reason,
                completed_at,
            } => (
                Some(reason.as_str().to_owned()),
                None,
                None,
                Some(utc(*completed_at)),
            ),
        };
        Self {
            id: record.id.to_hyphenated(),
            connection_id: record.connection_id.to_string(),
            channel_link_id: record.channel_link_id.map(|l| l.to_string()),
            direction: record.id.direction().into(),
            kind: record.kind.map(Into::into),
            hazel_message_id: record.hazel_message_id.map(|m| m.to_string()),
            external_message_id: record.external_message_id.map(|e| e.to_string()),
            status: record.state.status().into(),
            reason,
            attempts: record.state.attempts(),
            last_error,
            next_attempt_at,
            created_at: utc(record.created_at),
            completed_at,
        }
    }
}

/// The answer of `chatSyncDeliveryRetryFailed`.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct RetriedCount {
    /// How many dead letters were re-queued.
    retried_count: u64,
    /// The id of the database transaction that re-queued them.
    transaction_id: String,
}

api_response! {
    /// Answers of `chatSyncDeliveryList`.
    ListDeliveriesResponse {
        /// The connection's deliveries, newest first.
        #[oai(status = 200)]
        Ok(Json<Page<Delivery>>),
    }
    errors [BadRequest, Unauthorized, NotFound, Internal]
    from ConnectionAccessError {
        ConnectionAccessError::ConnectionNotFound => NotFound(ApiError::not_found(Resource::Connection)),
        ConnectionAccessError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `chatSyncDeliveryRetry`.
    RetryDeliveryResponse {
        /// The delivery, pending again.
        #[oai(status = 200)]
        Ok(Json<Mutation<Delivery>>),
    }
    errors [BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Internal]
    from RetryDeliveryError {
        RetryDeliveryError::DeliveryNotFound => NotFound(ApiError::not_found(Resource::Delivery)),
        RetryDeliveryError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        RetryDeliveryError::NotFailed => Conflict(ApiError::delivery_not_failed()),
        RetryDeliveryError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `chatSyncDeliveryRetryFailed`.
    RetryFailedResponse {
        /// How many dead letters were re-queued.
        #[oai(status = 200)]
        Ok(Json<RetriedCount>),
    }
    errors [BadRequest, Unauthorized, Forbidden, NotFound, Internal]
    from DeliveryAccessError {
        DeliveryAccessError::ConnectionNotFound => NotFound(ApiError::not_found(Resource::Connection)),
        DeliveryAccessError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        DeliveryAccessError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

/// Deliveries.
pub(crate) struct DeliveriesApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Deliveries")]
impl DeliveriesApi {
    /// List a connection's deliveries
    ///
    /// Both ways (inbound events and outbound deliveries) unless `direction` is given, newest
    /// first. Any member of the connection's organization may list them.
    #[oai(
        path = "/connections/:id/deliveries",
        method = "get",
        operation_id = "chatSyncDeliveryList"
    )]
    #[tracing::instrument(name = "chatSyncDeliveryList", skip_all, fields(connection_id = %id.0))]
    #[expect(
        clippy::too_many_arguments,
        reason = "poem-openapi takes each query parameter as an argument of the handler"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The connection.
        id: Path<UuidText>,
        /// Only deliveries with this status.
        status: Query<Option<DeliveryStatus>>,
        /// Only deliveries going this way.
        direction: Query<Option<DeliveryDirection>>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<CursorText>>,
    ) -> ListDeliveriesResponse {
        answer(
            async {
                let connection = SyncConnectionId::parse("id", &id.0)?;
                let page = page_request(limit.0, cursor.0.as_deref())?;
                let filter = DeliveryFilter {
                    status: status.0.map(Into::into),
                    direction: direction.0.map(Into::into),
                };
                let found = state
                    .sync
                    .deliveries
                    .list(&auth.0, connection, filter, &page)
                    .await?;
                Ok(ListDeliveriesResponse::Ok(Json(Page::from_domain(
                    found,
                    Delivery::from,
                ))))
            }
            .await,
        )
    }

    /// Retry a dead-lettered delivery
    ///
    /// Owners and admins only. Re-queues it, due now, with its attempts reset.
    #[oai(
        path = "/deliveries/:id/retry",
        method = "post",
        operation_id = "chatSyncDeliveryRetry"
    )]
    #[tracing::instrument(name = "chatSyncDeliveryRetry", skip_all, fields(delivery_id = %id.0))]
    async fn retry(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The delivery.
        id: Path<UuidText>,
    ) -> RetryDeliveryResponse {
        answer(
            async {
                let retried = state.sync.deliveries.retry(&auth.0, &id.0).await?;
                Ok(RetryDeliveryResponse::Ok(Json(Mutation::new(
                    retried.data.into(),
                    retried.transaction_id,
                ))))
            }
            .await,
        )
    }

    /// Retry every dead letter of a connection
    ///
    /// Owners and admins only.
    #[oai(
        path = "/connections/:id/deliveries/retry-failed",
        method = "post",
        operation_id = "chatSyncDeliveryRetryFailed"
    )]
    #[tracing::instrument(name = "chatSyncDeliveryRetryFailed", skip_all, fields(connection_id = %id.0))]
    async fn retry_failed(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The connection.
        id: Path<UuidText>,
    ) -> RetryFailedResponse {
        answer(
            async {
                let connection = SyncConnectionId::parse("id", &id.0)?;
                let retried = state
                    .sync
                    .deliveries
                    .retry_failed(&auth.0, connection)
                    .await?;
                Ok(RetryFailedResponse::Ok(Json(RetriedCount {
                    retried_count: retried.data,
                    transaction_id: retried.transaction_id.to_string(),
                })))
            }
            .await,
        )
    }
}
