//! Channels of an organization.

use hazel_domain::ValidationError;
use hazel_domain::error::MembershipError;
use hazel_domain::ids::{ChannelId, OrganizationId};
use hazel_domain::model::channel::ChannelKind;
use hazel_domain::model::text::Name;
use hazel_domain::services::channels::CreateChannelError;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use super::{ApiTags, answer, page_request};
use crate::ApiState;
use crate::auth::BearerAuth;
use crate::error::{ApiError, Resource};
use crate::model::{Channel, ChannelType, Mutation, Page};
use crate::payload::ApiJson;
use crate::responses::api_response;
use crate::text::{CursorText, NameText, UuidText};

/// Input of `channelCreate`.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct CreateChannel {
    /// Display name (1-200 characters).
    name: NameText,
    /// Public, private or thread.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    kind: ChannelType,
    /// The parent channel; required for, and only allowed with, `thread`.
    parent_channel_id: Option<UuidText>,
}

impl CreateChannel {
    fn kind(&self) -> Result<ChannelKind, ValidationError> {
        let parent = self
            .parent_channel_id
            .as_deref()
            .map(|id| ChannelId::parse("parentChannelId", id))
            .transpose()?;
        let type_name = match self.kind {
            ChannelType::Public => "public",
            ChannelType::Private => "private",
            ChannelType::Thread => "thread",
        };
        ChannelKind::from_parts(type_name, parent)
    }
}

api_response! {
    /// Answers of `channelCreate`.
    CreateChannelResponse {
        /// The channel was created.
        #[oai(status = 201)]
        Created(Json<Mutation<Channel>>),
    }
    errors [BadRequest, Unauthorized, NotFound, UnsupportedMediaType, Internal]
    from CreateChannelError {
        CreateChannelError::OrganizationNotFound => NotFound(ApiError::not_found(Resource::Organization)),
        CreateChannelError::Validation(invalid) => BadRequest(invalid.into()),
        CreateChannelError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `channelList`.
    ListChannelsResponse {
        /// The organization's channels, oldest first.
        #[oai(status = 200)]
        Ok(Json<Page<Channel>>),
    }
    errors [BadRequest, Unauthorized, NotFound, Internal]
    from MembershipError {
        MembershipError::OrganizationNotFound => NotFound(ApiError::not_found(Resource::Organization)),
        MembershipError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

/// Channels.
pub(crate) struct ChannelsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Channels")]
impl ChannelsApi {
    /// Create a channel
    ///
    /// Any member may. A thread's parent must be a non-thread channel of the same organization.
    #[oai(
        path = "/organizations/:orgId/channels",
        method = "post",
        operation_id = "channelCreate"
    )]
    #[tracing::instrument(name = "channelCreate", skip_all, fields(org_id = %org_id.0))]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The organization.
        #[oai(name = "orgId")]
        org_id: Path<UuidText>,
        body: ApiJson<CreateChannel>,
    ) -> CreateChannelResponse {
        answer(
            async {
                let organization = OrganizationId::parse("orgId", &org_id.0)?;
                let body = body.0;
                let name = Name::parse("name", &body.name)?;
                let kind = body.kind()?;
                let created = state
                    .channels
                    .create(&auth.0, organization, name, kind)
                    .await?;
                Ok(CreateChannelResponse::Created(Json(Mutation::new(
                    created.data.into(),
                    created.transaction_id,
                ))))
            }
            .await,
        )
    }

    /// List the channels of an organization
    #[oai(
        path = "/organizations/:orgId/channels",
        method = "get",
        operation_id = "channelList"
    )]
    #[tracing::instrument(name = "channelList", skip_all, fields(org_id = %org_id.0))]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The organization.
        #[oai(name = "orgId")]
        org_id: Path<UuidText>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<CursorText>>,
    ) -> ListChannelsResponse {
        answer(
            async {
                let organization = OrganizationId::parse("orgId", &org_id.0)?;
                let page = page_request(limit.0, cursor.0.as_deref())?;
                let found = state.channels.list(&auth.0, organization, &page).await?;
                Ok(ListChannelsResponse::Ok(Json(Page::from_domain(
                    found,
                    Channel::from,
                ))))
            }
            .await,
        )
    }
}
