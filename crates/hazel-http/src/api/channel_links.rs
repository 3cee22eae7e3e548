//! Links between Hazel channels and external channels.

use hazel_domain::ValidationError;
use hazel_domain::ids::{ChannelId, ChannelLinkId, SyncConnectionId};
use hazel_domain::model::chat_sync::{
    ConnectionSettingsPatch, ExternalChannelId, LinkSettingsPatch, ProviderError,
};
use hazel_domain::model::text::Name;
use hazel_domain::services::chat_sync::{
    ConnectionAccessError, CreateLinkError, LinkAdminError, LinkPatch, NewLink,
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
use crate::model::{ChannelLink, Deleted, Direction, Mutation, Page};
use crate::payload::ApiJson;
use crate::responses::api_response;
use crate::text::{CursorText, NameText, OpaqueText, UuidText};

/// Changes to a link's settings; absent fields keep their value. `syncThreads`,
/// `syncReactions`, `syncEdits` and `syncDeletes` override the connection's settings for this
/// link.
#[derive(Object, Deserialize)]
#[oai(
    rename = "LinkSettingsPatch",
    rename_all = "camelCase",
    deny_unknown_fields
)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct LinkSettingsInput {
    /// Sync pins (default `false`).
    sync_pins: Option<bool>,
    /// Map mentions between platforms (default `true`).
    mention_mapping: Option<bool>,
    /// Override of the connection's `syncThreads`.
    sync_threads: Option<bool>,
    /// Override of the connection's `syncReactions`.
    sync_reactions: Option<bool>,
    /// Override of the connection's `syncEdits`.
    sync_edits: Option<bool>,
    /// Override of the connection's `syncDeletes`.
    sync_deletes: Option<bool>,
}

impl From<LinkSettingsInput> for LinkSettingsPatch {
    fn from(s: LinkSettingsInput) -> Self {
        Self {
            sync_pins: s.sync_pins,
            mention_mapping: s.mention_mapping,
            overrides: ConnectionSettingsPatch {
                sync_threads: s.sync_threads,
                sync_reactions: s.sync_reactions,
                sync_edits: s.sync_edits,
                sync_deletes: s.sync_deletes,
            },
        }
    }
}

/// Input of `chatSyncChannelLinkCreate`.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct CreateLink {
    /// A Hazel channel of the connection's organization.
    hazel_channel_id: UuidText,
    /// The channel on the provider.
    external_channel_id: OpaqueText,
    /// Its name there.
    external_channel_name: Option<NameText>,
    /// Which way messages flow (default `both`).
    direction: Option<Direction>,
    /// Settings to change from their defaults.
    settings: Option<LinkSettingsInput>,
}

impl CreateLink {
    fn into_domain(self) -> Result<NewLink, ValidationError> {
        Ok(NewLink {
            hazel_channel_id: ChannelId::parse("hazelChannelId", &self.hazel_channel_id)?,
            external_channel_id: ExternalChannelId::parse(
                "externalChannelId",
                &self.external_channel_id,
            )?,
            external_channel_name: self
                .external_channel_name
                .as_deref()
                .map(|n| Name::parse("externalChannelName", n))
                .transpose()?,
            direction: self.direction.map(Into::into),
            settings: self.settings.map(Into::into).unwrap_or_default(),
        })
    }
}

/// Input of `chatSyncChannelLinkUpdate`; absent fields keep their value.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct UpdateLink {
    /// Which way messages flow.
    direction: Option<Direction>,
    /// Whether the link syncs at all.
    is_active: Option<bool>,
    /// Settings to change.
    settings: Option<LinkSettingsInput>,
}

api_response! {
    /// Answers of `chatSyncChannelLinkCreate`.
    CreateLinkResponse {
        /// The link was created.
        #[oai(status = 201)]
        Created(Json<Mutation<ChannelLink>>),
    }
    errors [
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, UnsupportedMediaType,
        Unprocessable, TooManyRequests, Internal, BadGateway,
    ]
    from CreateLinkError {
        CreateLinkError::ConnectionNotFound => NotFound(ApiError::not_found(Resource::Connection)),
        CreateLinkError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        CreateLinkError::ChannelNotFound => NotFound(ApiError::not_found(Resource::Channel)),
        CreateLinkError::ChannelLinkExists => Conflict(ApiError::channel_link_exists()),
        CreateLinkError::Validation(invalid) => BadRequest(invalid.into()),
        CreateLinkError::IntegrationNotConnected(reason) => Conflict(ApiError::integration_not_connected(reason)),
        CreateLinkError::Provider(e @ (ProviderError::InvalidCredentials { .. }
            | ProviderError::AuthExpired { .. }
            | ProviderError::InsufficientPermissions { .. })) => Unprocessable(ApiError::provider(&e)),
        CreateLinkError::Provider(e @ ProviderError::RateLimited { .. }) => TooManyRequests(ApiError::provider(&e)),
        CreateLinkError::Provider(e @ (ProviderError::Network { .. } | ProviderError::Platform { .. })) => BadGateway(ApiError::provider(&e)),
        CreateLinkError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `chatSyncChannelLinkList`.
    ListLinksResponse {
        /// The connection's links, oldest first.
        #[oai(status = 200)]
        Ok(Json<Page<ChannelLink>>),
    }
    errors [BadRequest, Unauthorized, NotFound, Internal]
    from ConnectionAccessError {
        ConnectionAccessError::ConnectionNotFound => NotFound(ApiError::not_found(Resource::Connection)),
        ConnectionAccessError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `chatSyncChannelLinkUpdate`.
    UpdateLinkResponse {
        /// The link was changed.
        #[oai(status = 200)]
        Ok(Json<Mutation<ChannelLink>>),
    }
    errors [BadRequest, Unauthorized, Forbidden, NotFound, UnsupportedMediaType, Internal]
    from LinkAdminError {
        LinkAdminError::ChannelLinkNotFound => NotFound(ApiError::not_found(Resource::ChannelLink)),
        LinkAdminError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        LinkAdminError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `chatSyncChannelLinkDelete`.
    DeleteLinkResponse {
        /// The link was deleted.
        #[oai(status = 200)]
        Ok(Json<Deleted>),
    }
    errors [BadRequest, Unauthorized, Forbidden, NotFound, Internal]
    from LinkAdminError {
        LinkAdminError::ChannelLinkNotFound => NotFound(ApiError::not_found(Resource::ChannelLink)),
        LinkAdminError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        LinkAdminError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

/// Channel links.
pub(crate) struct ChannelLinksApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::ChannelLinks")]
impl ChannelLinksApi {
    /// Link a Hazel channel to an external channel
    ///
    /// Owners and admins only. Neither channel may already be linked in this connection.
    #[oai(
        path = "/connections/:id/channel-links",
        method = "post",
        operation_id = "chatSyncChannelLinkCreate"
    )]
    #[tracing::instrument(name = "chatSyncChannelLinkCreate", skip_all, fields(connection_id = %id.0))]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The connection.
        id: Path<UuidText>,
        body: ApiJson<CreateLink>,
    ) -> CreateLinkResponse {
        answer(
            async {
                let connection = SyncConnectionId::parse("id", &id.0)?;
                let new = body.0.into_domain()?;
                let created = state
                    .chat_sync
                    .create_link(&auth.0, connection, new)
                    .await?;
                Ok(CreateLinkResponse::Created(Json(Mutation::new(
                    created.data.into(),
                    created.transaction_id,
                ))))
            }
            .await,
        )
    }

    /// List the links of a connection
    #[oai(
        path = "/connections/:id/channel-links",
        method = "get",
        operation_id = "chatSyncChannelLinkList"
    )]
    #[tracing::instrument(name = "chatSyncChannelLinkList", skip_all, fields(connection_id = %id.0))]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The connection.
        id: Path<UuidText>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<CursorText>>,
    ) -> ListLinksResponse {
        answer(
            async {
                let connection = SyncConnectionId::parse("id", &id.0)?;
                let page = page_request(limit.0, cursor.0.as_deref())?;
                let found = state
                    .chat_sync
                    .list_links(&auth.0, connection, &page)
                    .await?;
                Ok(ListLinksResponse::Ok(Json(Page::from_domain(
                    found,
                    ChannelLink::from,
                ))))
            }
            .await,
        )
    }

    /// Change a link
    ///
    /// Owners and admins only.
    #[oai(
        path = "/channel-links/:id",
        method = "patch",
        operation_id = "chatSyncChannelLinkUpdate"
    )]
    #[tracing::instrument(name = "chatSyncChannelLinkUpdate", skip_all, fields(link_id = %id.0))]
    async fn update(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The link.
        id: Path<UuidText>,
        body: ApiJson<UpdateLink>,
    ) -> UpdateLinkResponse {
        answer(
            async {
                let link = ChannelLinkId::parse("id", &id.0)?;
                let body = body.0;
                let patch = LinkPatch {
                    direction: body.direction.map(Into::into),
                    is_active: body.is_active,
                    settings: body.settings.map(Into::into).unwrap_or_default(),
                };
                let updated = state.chat_sync.update_link(&auth.0, link, patch).await?;
                Ok(UpdateLinkResponse::Ok(Json(Mutation::new(
                    updated.data.into(),
                    updated.transaction_id,
                ))))
            }
            .await,
        )
    }

    /// Delete a link
    ///
    /// Owners and admins only.
    #[oai(
        path = "/channel-links/:id",
        method = "delete",
        operation_id = "chatSyncChannelLinkDelete"
    )]
    #[tracing::instrument(name = "chatSyncChannelLinkDelete", skip_all, fields(link_id = %id.0))]
    async fn delete(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The link.
        id: Path<UuidText>,
    ) -> DeleteLinkResponse {
        answer(
            async {
                let link = ChannelLinkId::parse("id", &id.0)?;
                let transaction = state.chat_sync.delete_link(&auth.0, link).await?;
                Ok(DeleteLinkResponse::Ok(Json(Deleted::new(transaction))))
            }
            .await,
        )
    }
}
