//! The `/api/v1` operations, grouped by tag, and the OpenAPI service that combines them.

mod channel_links;
mod channels;
mod connections;
mod messages;
mod notifications;
mod organizations;

use hazel_domain::ValidationError;
use hazel_domain::model::page::PageRequest;
use poem_openapi::{OpenApiService, Tags};

use crate::error::ApiError;

pub(crate) use channel_links::ChannelLinksApi;
pub(crate) use channels::ChannelsApi;
pub(crate) use connections::ConnectionsApi;
pub(crate) use messages::MessagesApi;
pub(crate) use notifications::NotificationsApi;
pub(crate) use organizations::OrganizationsApi;

/// The API's operations, in the order the OpenAPI document lists them.
pub(crate) type Apis = (
    OrganizationsApi,
    ChannelsApi,
    MessagesApi,
    NotificationsApi,
    ConnectionsApi,
    ChannelLinksApi,
);

/// The groups operations are listed under in the OpenAPI document.
#[derive(Tags)]
pub(crate) enum ApiTags {
    /// Organizations (tenants) and their members.
    Organizations,
    /// Hazel channels of an organization.
    Channels,
    /// Messages and reactions.
    Messages,
    /// Notifications of the caller.
    Notifications,
    /// Chat-sync connections to Slack, Discord and Teams workspaces, and their channels.
    Connections,
    /// Links between Hazel channels and external channels.
    ChannelLinks,
}

/// The OpenAPI service: routes and document. Holds no state, so the document can be produced
/// without a database.
pub(crate) fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            OrganizationsApi,
            ChannelsApi,
            MessagesApi,
            NotificationsApi,
            ConnectionsApi,
            ChannelLinksApi,
        ),
        "Hazel Sync API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Syncs Hazel Chat channels with Slack, Discord and Microsoft Teams, and manages \
         notifications. Every operation needs `Authorization: Bearer <token>`. Mutations answer \
         `{data, transactionId}`; lists answer `{data, nextCursor}` and take `?limit=` (1-200, \
         default 50) and `?cursor=`; errors answer `{error: {code, message, ...}}`.",
    )
}

/// Parses `?limit=` and `?cursor=`.
pub(crate) fn page_request(
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<PageRequest, ValidationError> {
    PageRequest::parse(limit, cursor)
}

/// Collapses a handler's `Result` into its response enum.
pub(crate) fn finish<R: From<ApiError>>(result: Result<R, ApiError>) -> R {
    result.unwrap_or_else(R::from)
}

/// Collapses a handler's result into its response enum. Each failure was already converted
/// into one of the enum's declared statuses by `?` (see [`api_response!`]).
///
/// [`api_response!`]: crate::responses::api_response
pub(crate) fn answer<R>(result: Result<R, R>) -> R {
    match result {
        Ok(response) | Err(response) => response,
    }
}
