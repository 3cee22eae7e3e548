//! Notifications.

use hazel_domain::ValidationError;
use hazel_domain::error::MembershipError;
use hazel_domain::ids::{ChannelId, MemberId, MessageId, NotificationId, OrganizationId, UserId};
use hazel_domain::model::notification::MAX_RESOURCE_CHARS;
use hazel_domain::model::notification::Notification as DomainNotification;
use hazel_domain::model::page::Page as DomainPage;
use hazel_domain::model::text::Opaque;
use hazel_domain::services::notifications::{
    CreateNotificationError, DeleteByMessageIdsError, ManageNotificationError, NewNotification,
};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use super::{ApiTags, answer, page_request};
use crate::ApiState;
use crate::auth::BearerAuth;
use crate::error::{ApiError, Resource};
use crate::model::{Deleted, DeletedCount, Mutation, Notification, Page};
use crate::payload::ApiJson;
use crate::rendered::RenderedJson;
use crate::responses::api_response;
use crate::text::{CursorText, OpaqueText, UuidText};
use crate::types::{Nullable, Rfc3339Input};

/// Which first page of notifications a rendered body answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FirstPage {
    user: UserId,
    organization: Option<OrganizationId>,
    unread: bool,
    limit: u32,
}

/// Rendered first pages of notifications, each answered again while its page is unchanged.
pub(crate) type RenderedNotifications =
    crate::rendered::RenderedPages<FirstPage, DomainPage<DomainNotification>>;

/// Input of `notificationCreate`.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct CreateNotification {
    /// The member to notify.
    member_id: UuidText,
    /// What it points at (at most 255 characters).
    targeted_resource_id: Option<OpaqueText>,
    /// The kind of target (at most 255 characters).
    targeted_resource_type: Option<OpaqueText>,
    /// Where the target lives (at most 255 characters).
    resource_id: Option<OpaqueText>,
    /// The kind of resource (at most 255 characters).
    resource_type: Option<OpaqueText>,
}

fn resource(field: &str, raw: Option<&str>) -> Result<Option<Opaque>, ValidationError> {
    raw.map(|r| Opaque::parse(field, r, MAX_RESOURCE_CHARS))
        .transpose()
}

impl CreateNotification {
    fn into_domain(self) -> Result<NewNotification, ValidationError> {
        Ok(NewNotification {
            member_id: MemberId::parse("memberId", &self.member_id)?,
            targeted_resource_id: resource(
                "targetedResourceId",
                self.targeted_resource_id.as_deref(),
            )?,
            targeted_resource_type: resource(
                "targetedResourceType",
                self.targeted_resource_type.as_deref(),
            )?,
            resource_id: resource("resourceId", self.resource_id.as_deref())?,
            resource_type: resource("resourceType", self.resource_type.as_deref())?,
        })
    }
}

/// Input of `notificationUpdate`.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct UpdateNotification {
    /// When it was read; `null` marks it unread. Required.
    #[oai(nullable)]
    read_at: Nullable<Rfc3339Input>,
}

/// Input of `notificationDeleteByMessageIds`.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct DeleteByMessageIds {
    /// The messages (at most 1000); an empty list deletes nothing.
    #[oai(validator(max_items = 1000))]
    message_ids: Vec<UuidText>,
    /// The channel the messages are in; the caller must be a member of its organization.
    channel_id: UuidText,
}

api_response! {
    /// Answers of `notificationCreate`.
    CreateNotificationResponse {
        /// The notification was created.
        #[oai(status = 201)]
        Created(Json<Mutation<Notification>>),
    }
    errors [BadRequest, Unauthorized, NotFound, UnsupportedMediaType, Internal]
    from CreateNotificationError {
        CreateNotificationError::MemberNotFound => NotFound(ApiError::not_found(Resource::Member)),
        CreateNotificationError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `notificationList`.
    ListNotificationsResponse {
        /// The caller's notifications, newest first.
        #[oai(status = 200)]
        Ok(RenderedJson<Page<Notification>>),
    }
    errors [BadRequest, Unauthorized, NotFound, Internal]
    from MembershipError {
        MembershipError::OrganizationNotFound => NotFound(ApiError::not_found(Resource::Organization)),
        MembershipError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `notificationUpdate`.
    UpdateNotificationResponse {
        /// The notification was marked read or unread.
        #[oai(status = 200)]
        Ok(Json<Mutation<Notification>>),
    }
    errors [BadRequest, Unauthorized, Forbidden, NotFound, UnsupportedMediaType, Internal]
    from ManageNotificationError {
        ManageNotificationError::NotificationNotFound => NotFound(ApiError::not_found(Resource::Notification)),
        ManageNotificationError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        ManageNotificationError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `notificationDelete`.
    DeleteNotificationResponse {
        /// The notification was deleted.
        #[oai(status = 200)]
        Ok(Json<Deleted>),
    }
    errors [BadRequest, Unauthorized, Forbidden, NotFound, Internal]
    from ManageNotificationError {
        ManageNotificationError::NotificationNotFound => NotFound(ApiError::not_found(Resource::Notification)),
        ManageNotificationError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        ManageNotificationError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `notificationDeleteByMessageIds`.
    DeleteByMessageIdsResponse {
        /// The caller's notifications about those messages were deleted.
        #[oai(status = 200)]
        Ok(Json<DeletedCount>),
    }
    errors [BadRequest, Unauthorized, Forbidden, NotFound, UnsupportedMediaType, Internal]
    from DeleteByMessageIdsError {
        DeleteByMessageIdsError::ChannelNotFound => NotFound(ApiError::not_found(Resource::Channel)),
        DeleteByMessageIdsError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        DeleteByMessageIdsError::Validation(invalid) => BadRequest(invalid.into()),
        DeleteByMessageIdsError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

/// Notifications.
pub(crate) struct NotificationsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Notifications")]
impl NotificationsApi {
    /// Create a notification
    ///
    /// The caller must be a member of the target member's organization.
    #[oai(
        path = "/notifications",
        method = "post",
        operation_id = "notificationCreate"
    )]
    #[tracing::instrument(name = "notificationCreate", skip_all)]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        body: ApiJson<CreateNotification>,
    ) -> CreateNotificationResponse {
        answer(
            async {
                let new = body.0.into_domain()?;
                let created = state.notifications.create(&auth.0, new).await?;
                Ok(CreateNotificationResponse::Created(Json(Mutation::new(
                    created.data.into(),
                    created.transaction_id,
                ))))
            }
            .await,
        )
    }

    /// List the caller's notifications
    #[oai(
        path = "/notifications",
        method = "get",
        operation_id = "notificationList"
    )]
    #[tracing::instrument(name = "notificationList", skip_all)]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// Only those of this organization.
        #[oai(name = "organizationId")]
        organization_id: Query<Option<UuidText>>,
        /// Only unread ones when `true`.
        unread: Query<Option<bool>>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<CursorText>>,
    ) -> ListNotificationsResponse {
        answer(
            async {
                let organization = organization_id
                    .0
                    .as_deref()
                    .map(|id| OrganizationId::parse("organizationId", id))
                    .transpose()?;
                let page = page_request(limit.0, cursor.0.as_deref())?;
                let unread = unread.0.unwrap_or(false);
                let found = state
                    .notifications
                    .list(&auth.0, organization, unread, &page)
                    .await?;
                let render = |found: &DomainPage<DomainNotification>| {
                    Page::from_domain(found.clone(), Notification::from)
                };
                // Only a first page is polled again and again; a later one is rendered anew
                // each time rather than kept.
                let key = page.after.is_none().then_some(FirstPage {
                    user: auth.0.user.id,
                    organization,
                    unread,
                    limit: page.limit,
                });
                Ok(ListNotificationsResponse::Ok(match key {
                    Some(key) => state.rendered_notifications.answer(key, found, render),
                    None => RenderedJson::now(&render(&found)),
                }))
            }
            .await,
        )
    }

    /// Mark a notification read or unread
    ///
    /// Its member may, and the owners and admins of its organization.
    #[oai(
        path = "/notifications/:id",
        method = "patch",
        operation_id = "notificationUpdate"
    )]
    #[tracing::instrument(name = "notificationUpdate", skip_all, fields(notification_id = %id.0))]
    async fn update(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The notification.
        id: Path<UuidText>,
        body: ApiJson<UpdateNotification>,
    ) -> UpdateNotificationResponse {
        answer(
            async {
                let id = NotificationId::parse("id", &id.0)?;
                let read_at = body.0.read_at.0.map(|t| t.0);
                let updated = state.notifications.set_read(&auth.0, id, read_at).await?;
                Ok(UpdateNotificationResponse::Ok(Json(Mutation::new(
                    updated.data.into(),
                    updated.transaction_id,
                ))))
            }
            .await,
        )
    }

    /// Delete a notification
    ///
    /// Its member may, and the owners and admins of its organization.
    #[oai(
        path = "/notifications/:id",
        method = "delete",
        operation_id = "notificationDelete"
    )]
    #[tracing::instrument(name = "notificationDelete", skip_all, fields(notification_id = %id.0))]
    async fn delete(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The notification.
        id: Path<UuidText>,
    ) -> DeleteNotificationResponse {
        answer(
            async {
                let id = NotificationId::parse("id", &id.0)?;
                let transaction = state.notifications.delete(&auth.0, id).await?;
                Ok(DeleteNotificationResponse::Ok(Json(Deleted::new(
                    transaction,
                ))))
            }
            .await,
        )
    }

    /// Delete the caller's notifications about messages
    ///
    /// Removes the caller's mention and reply notifications about these messages, and the
    /// reaction notifications on them.
    #[oai(
        path = "/notifications/delete-by-message-ids",
        method = "post",
        operation_id = "notificationDeleteByMessageIds"
    )]
    #[tracing::instrument(name = "notificationDeleteByMessageIds", skip_all)]
    async fn delete_by_message_ids(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        body: ApiJson<DeleteByMessageIds>,
    ) -> DeleteByMessageIdsResponse {
        answer(
            async {
                let body = body.0;
                let channel = ChannelId::parse("channelId", &body.channel_id)?;
                let messages = body
                    .message_ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| MessageId::parse(&format!("messageIds[{i}]"), id))
                    .collect::<Result<Vec<_>, _>>()?;
                let deleted = state
                    .notifications
                    .delete_by_message_ids(&auth.0, channel, messages)
                    .await?;
                Ok(DeleteByMessageIdsResponse::Ok(Json(DeletedCount {
                    deleted_count: deleted.deleted_count,
                    transaction_id: deleted.transaction_id.to_string(),
                })))
            }
            .await,
        )
    }
}
