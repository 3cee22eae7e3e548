//! The `/api/v1` operations, grouped by tag, and the OpenAPI service that combines them.

mod channel_links;
mod channels;
mod connections;
mod deliveries;
mod messages;
mod notifications;
mod organizations;
mod webhooks;

use hazel_domain::ValidationError;
use hazel_domain::model::page::PageRequest;
use poem_openapi::{OpenApiService, Tags};

pub(crate) use channel_links::ChannelLinksApi;
pub(crate) use channels::ChannelsApi;
pub(crate) use connections::ConnectionsApi;
pub(crate) use deliveries::DeliveriesApi;
pub(crate) use messages::MessagesApi;
pub(crate) use notifications::{NotificationsApi, RenderedNotifications};
pub(crate) use organizations::OrganizationsApi;
pub(crate) use webhooks::WebhooksApi;

/// The API's operations, in the order the OpenAPI document lists them.
pub(crate) type Apis = (
    OrganizationsApi,
    ChannelsApi,
    MessagesApi,
    NotificationsApi,
    ConnectionsApi,
    ChannelLinksApi,
    DeliveriesApi,
    WebhooksApi,
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
    /// What the sync engine delivered each way, and retries of dead letters.
    Deliveries,
    /// Inbound provider endpoints, authenticated by each provider's own scheme (no bearer
    /// token).
    Webhooks,
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
            DeliveriesApi,
            WebhooksApi,
        ),
        "Hazel Sync API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Syncs Hazel Chat channels with Slack, Discord and Microsoft Teams, and manages \
         notifications. Every `/api/v1` operation needs `Authorization: Bearer <token>`; the \
         `/webhooks` endpoints are authenticated by each provider's own scheme. Mutations answer \
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

/// Collapses a handler's result into its response enum. Each failure was already converted
/// into one of the enum's declared statuses by `?` (see [`api_response!`]).
///
/// [`api_response!`]: crate::responses::api_response
pub(crate) fn answer<R>(result: Result<R, R>) -> R {
    match result {
        Ok(response) | Err(response) => response,
    }
}

#[cfg(test)]
mod tests {
    //! Each use case's failures answer the status and code its operation documents.

    use hazel_domain::ValidationError;
    use hazel_domain::error::MembershipError;
    use hazel_domain::model::chat_sync::ProviderError;
    use hazel_domain::services::channels::{ChannelAccessError, CreateChannelError};
    use hazel_domain::services::chat_sync::{
        ConnectionAccessError, ConnectionAdminError, CreateConnectionError, CreateLinkError,
        LinkAdminError, ListExternalChannelsError, SelectChannelsError, UpdateConnectionError,
        ValidateConnectionError,
    };
    use hazel_domain::services::identity::{
        AddMemberError, CreateOrganizationError, ListOrganizationsError,
    };
    use hazel_domain::services::messages::{
        DeleteMessageError, EditMessageError, MessageAccessError, PostMessageError,
        RemoveReactionError,
    };
    use hazel_domain::services::notifications::{
        CreateNotificationError, DeleteByMessageIdsError, ManageNotificationError,
    };
    use poem::IntoResponse;
    use poem::http::StatusCode;

    use super::{channel_links, channels, connections, messages, notifications, organizations};

    fn refused() -> ProviderError {
        ProviderError::InvalidCredentials {
            message: "invalid_auth".into(),
        }
    }

    fn slowed() -> ProviderError {
        ProviderError::RateLimited {
            retry_after_seconds: 3,
        }
    }

    fn down() -> ProviderError {
        ProviderError::Network {
            message: "connection refused".into(),
        }
    }

    fn invalid() -> ValidationError {
        ValidationError::new("field", "is wrong")
    }

    fn cause() -> anyhow::Error {
        anyhow::anyhow!("the database is gone")
    }

    /// The status and `error.code` of an answer.
    async fn answered(response: impl IntoResponse) -> (StatusCode, String) {
        let response = response.into_response();
        let status = response.status();
        let body = response.into_body().into_json::<serde_json::Value>().await;
        let code = body
            .ok()
            .and_then(|b| b["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_default();
        (status, code)
    }

    macro_rules! table {
        ($($response:ty: $error:expr => $status:literal $code:literal;)+) => {{
            let mut rows = Vec::new();
            $(
                let shown = format!("{:?}", $error);
                let answer = answered(<$response>::from($error)).await;
                rows.push((shown, answer, ($status, $code)));
            )+
            rows
        }};
    }

    #[tokio::test]
    async fn every_use_case_failure_answers_its_documented_status_and_code() {
        use channel_links::{
            CreateLinkResponse as Link, DeleteLinkResponse as Unlink, ListLinksResponse as Links,
            UpdateLinkResponse as Relink,
        };
        use channels::{CreateChannelResponse as Channel, ListChannelsResponse as Channels};
        use connections::{
            CreateConnectionResponse as Connect, DeleteConnectionResponse as Disconnect,
            GetConnectionResponse as Connection, ListConnectionsResponse as Connections,
            ListExternalChannelsResponse as Discover, SelectExternalChannelsResponse as Select,
            UpdateConnectionResponse as Reconnect, ValidateConnectionResponse as Check,
        };
        use messages::{
            CreateMessageResponse as Post, CreateReactionResponse as React,
            DeleteMessageResponse as Delete, DeleteReactionResponse as Unreact,
            ListMessagesResponse as List, UpdateMessageResponse as Edit,
        };
        use notifications::{
            CreateNotificationResponse as Notify, DeleteByMessageIdsResponse as Clear,
            DeleteNotificationResponse as Forget, ListNotificationsResponse as Notes,
            UpdateNotificationResponse as Read,
        };
        use organizations::{
            CreateMemberResponse as Member, CreateOrganizationResponse as Org,
            ListMembersResponse as Members, ListOrganizationsResponse as Orgs,
        };
        let rows = table! {
            Org: CreateOrganizationError::Validation(invalid()) => 400 "ValidationError";
            Org: CreateOrganizationError::Unexpected(cause()) => 500 "InternalServerError";
            Orgs: ListOrganizationsError::Unexpected(cause()) => 500 "InternalServerError";
            Member: AddMemberError::OrganizationNotFound => 404 "NotFoundError";
            Member: AddMemberError::Forbidden("no".into()) => 403 "UnauthorizedError";
            Member: AddMemberError::Validation(invalid()) => 400 "ValidationError";
            Member: AddMemberError::Unexpected(cause()) => 500 "InternalServerError";
            Members: MembershipError::OrganizationNotFound => 404 "NotFoundError";
            Members: MembershipError::Unexpected(cause()) => 500 "InternalServerError";
            Channel: CreateChannelError::OrganizationNotFound => 404 "NotFoundError";
            Channel: CreateChannelError::Validation(invalid()) => 400 "ValidationError";
            Channel: CreateChannelError::Unexpected(cause()) => 500 "InternalServerError";
            Channels: MembershipError::OrganizationNotFound => 404 "NotFoundError";
            Post: PostMessageError::ChannelNotFound => 404 "NotFoundError";
            Post: PostMessageError::Validation(invalid()) => 400 "ValidationError";
            Post: PostMessageError::Unexpected(cause()) => 500 "InternalServerError";
            List: ChannelAccessError::ChannelNotFound => 404 "NotFoundError";
            List: ChannelAccessError::Unexpected(cause()) => 500 "InternalServerError";
            Edit: EditMessageError::MessageNotFound => 404 "NotFoundError";
            Edit: EditMessageError::Forbidden("no".into()) => 403 "UnauthorizedError";
            Edit: EditMessageError::Validation(invalid()) => 400 "ValidationError";
            Edit: EditMessageError::Unexpected(cause()) => 500 "InternalServerError";
            Delete: DeleteMessageError::MessageNotFound => 404 "NotFoundError";
            Delete: DeleteMessageError::Forbidden("no".into()) => 403 "UnauthorizedError";
            Delete: DeleteMessageError::Unexpected(cause()) => 500 "InternalServerError";
            React: MessageAccessError::MessageNotFound => 404 "NotFoundError";
            React: MessageAccessError::Unexpected(cause()) => 500 "InternalServerError";
            Unreact: RemoveReactionError::MessageNotFound => 404 "NotFoundError";
            Unreact: RemoveReactionError::ReactionNotFound => 404 "NotFoundError";
            Unreact: RemoveReactionError::Unexpected(cause()) => 500 "InternalServerError";
            Notify: CreateNotificationError::MemberNotFound => 404 "NotFoundError";
            Notify: CreateNotificationError::Unexpected(cause()) => 500 "InternalServerError";
            Notes: MembershipError::OrganizationNotFound => 404 "NotFoundError";
            Read: ManageNotificationError::NotificationNotFound => 404 "NotificationNotFoundError";
            Read: ManageNotificationError::Forbidden("no".into()) => 403 "UnauthorizedError";
            Forget: ManageNotificationError::NotificationNotFound => 404 "NotificationNotFoundError";
            Forget: ManageNotificationError::Unexpected(cause()) => 500 "InternalServerError";
            Clear: DeleteByMessageIdsError::ChannelNotFound => 404 "NotFoundError";
            Clear: DeleteByMessageIdsError::Forbidden("no".into()) => 403 "UnauthorizedError";
            Clear: DeleteByMessageIdsError::Validation(invalid()) => 400 "ValidationError";
            Clear: DeleteByMessageIdsError::Unexpected(cause()) => 500 "InternalServerError";
            Connect: CreateConnectionError::OrganizationNotFound => 404 "NotFoundError";
            Connect: CreateConnectionError::Forbidden("no".into()) => 403 "UnauthorizedError";
            Connect: CreateConnectionError::Validation(invalid()) => 400 "ValidationError";
            Connect: CreateConnectionError::ConnectionExists => 409 "ChatSyncConnectionExistsError";
            Connect: CreateConnectionError::IntegrationNotConnected("no".into()) => 409 "ChatSyncIntegrationNotConnectedError";
            Connect: CreateConnectionError::Provider(refused()) => 422 "INVALID_CREDENTIALS";
            Connect: CreateConnectionError::Provider(slowed()) => 429 "RATE_LIMITED";
            Connect: CreateConnectionError::Provider(down()) => 502 "NETWORK_ERROR";
            Connect: CreateConnectionError::Unexpected(cause()) => 500 "InternalServerError";
            Connections: MembershipError::OrganizationNotFound => 404 "NotFoundError";
            Connection: ConnectionAccessError::ConnectionNotFound => 404 "ChatSyncConnectionNotFoundError";
            Connection: ConnectionAccessError::Unexpected(cause()) => 500 "InternalServerError";
            Reconnect: UpdateConnectionError::ConnectionNotFound => 404 "ChatSyncConnectionNotFoundError";
            Reconnect: UpdateConnectionError::Forbidden("no".into()) => 403 "UnauthorizedError";
            Reconnect: UpdateConnectionError::Validation(invalid()) => 400 "ValidationError";
            Reconnect: UpdateConnectionError::IntegrationNotConnected("no".into()) => 409 "ChatSyncIntegrationNotConnectedError";
            Reconnect: UpdateConnectionError::Provider(refused()) => 422 "INVALID_CREDENTIALS";
            Reconnect: UpdateConnectionError::Provider(slowed()) => 429 "RATE_LIMITED";
            Reconnect: UpdateConnectionError::Provider(down()) => 502 "NETWORK_ERROR";
            Reconnect: UpdateConnectionError::Unexpected(cause()) => 500 "InternalServerError";
            Disconnect: ConnectionAdminError::ConnectionNotFound => 404 "ChatSyncConnectionNotFoundError";
            Disconnect: ConnectionAdminError::Forbidden("no".into()) => 403 "UnauthorizedError";
            Disconnect: ConnectionAdminError::Unexpected(cause()) => 500 "InternalServerError";
            Check: ValidateConnectionError::ConnectionNotFound => 404 "ChatSyncConnectionNotFoundError";
            Check: ValidateConnectionError::Forbidden("no".into()) => 403 "UnauthorizedError";
            Check: ValidateConnectionError::Validation(invalid()) => 400 "ValidationError";
            Check: ValidateConnectionError::IntegrationNotConnected("no".into()) => 409 "ChatSyncIntegrationNotConnectedError";
            Check: ValidateConnectionError::Unexpected(cause()) => 500 "InternalServerError";
            Discover: ListExternalChannelsError::ConnectionNotFound => 404 "ChatSyncConnectionNotFoundError";
            Discover: ListExternalChannelsError::Validation(invalid()) => 400 "ValidationError";
            Discover: ListExternalChannelsError::IntegrationNotConnected("no".into()) => 409 "ChatSyncIntegrationNotConnectedError";
            Discover: ListExternalChannelsError::Provider(refused()) => 422 "INVALID_CREDENTIALS";
            Discover: ListExternalChannelsError::Provider(slowed()) => 429 "RATE_LIMITED";
            Discover: ListExternalChannelsError::Provider(down()) => 502 "NETWORK_ERROR";
            Discover: ListExternalChannelsError::Unexpected(cause()) => 500 "InternalServerError";
            Select: SelectChannelsError::ConnectionNotFound => 404 "ChatSyncConnectionNotFoundError";
            Select: SelectChannelsError::Forbidden("no".into()) => 403 "UnauthorizedError";
            Select: SelectChannelsError::Validation(invalid()) => 400 "ValidationError";
            Select: SelectChannelsError::IntegrationNotConnected("no".into()) => 409 "ChatSyncIntegrationNotConnectedError";
            Select: SelectChannelsError::ChannelLinkExists => 409 "ChatSyncChannelLinkExistsError";
            Select: SelectChannelsError::Provider(refused()) => 422 "INVALID_CREDENTIALS";
            Select: SelectChannelsError::Provider(slowed()) => 429 "RATE_LIMITED";
            Select: SelectChannelsError::Provider(down()) => 502 "NETWORK_ERROR";
            Select: SelectChannelsError::Unexpected(cause()) => 500 "InternalServerError";
            Link: CreateLinkError::ConnectionNotFound => 404 "ChatSyncConnectionNotFoundError";
            Link: CreateLinkError::Forbidden("no".into()) => 403 "UnauthorizedError";
            Link: CreateLinkError::ChannelNotFound => 404 "NotFoundError";
            Link: CreateLinkError::ChannelLinkExists => 409 "ChatSyncChannelLinkExistsError";
            Link: CreateLinkError::Validation(invalid()) => 400 "ValidationError";
            Link: CreateLinkError::IntegrationNotConnected("no".into()) => 409 "ChatSyncIntegrationNotConnectedError";
            Link: CreateLinkError::Provider(refused()) => 422 "INVALID_CREDENTIALS";
            Link: CreateLinkError::Provider(slowed()) => 429 "RATE_LIMITED";
            Link: CreateLinkError::Provider(down()) => 502 "NETWORK_ERROR";
            Link: CreateLinkError::Unexpected(cause()) => 500 "InternalServerError";
            Links: ConnectionAccessError::ConnectionNotFound => 404 "ChatSyncConnectionNotFoundError";
            Relink: LinkAdminError::ChannelLinkNotFound => 404 "ChatSyncChannelLinkNotFoundError";
            Relink: LinkAdminError::Forbidden("no".into()) => 403 "UnauthorizedError";
            Unlink: LinkAdminError::ChannelLinkNotFound => 404 "ChatSyncChannelLinkNotFoundError";
            Unlink: LinkAdminError::Unexpected(cause()) => 500 "InternalServerError";
        };
        for (shown, (status, code), (want_status, want_code)) in rows {
            assert_eq!(status.as_u16(), want_status, "{shown}");
            assert_eq!(code, want_code, "{shown}");
        }
    }

    #[tokio::test]
    async fn handler_validation_failures_answer_400_naming_the_field() {
        let response = organizations::CreateOrganizationResponse::from(ValidationError::new(
            "slug",
            "must be lowercase",
        ))
        .into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = response.into_body().into_json().await.unwrap_or_default();
        assert_eq!(body["error"]["field"], "slug");
        assert_eq!(body["error"]["message"], "must be lowercase");
    }
}
