//! Chat-sync connections and the live channel lists of their workspaces.

use std::borrow::Cow;
use std::collections::BTreeMap;

use hazel_domain::ValidationError;
use hazel_domain::error::MembershipError;
use hazel_domain::ids::{OrganizationId, SyncConnectionId};
use hazel_domain::model::chat_sync::{
    ConnectionSettingsPatch, Credentials, ExternalChannelId, ExternalWorkspaceId, JsonObject,
    MAX_EXTERNAL_ID_CHARS, PendingCredentials, Provider as DomainProvider, ProviderError,
};
use hazel_domain::model::text::{Name, Opaque};
use hazel_domain::services::chat_sync::{
    ConnectionAccessError, ConnectionAdminError, ConnectionPatch, CreateConnectionError,
    ListExternalChannelsError, NewConnection, RequestedStatus, SelectChannelsError,
    UpdateConnectionError, ValidateConnectionError,
};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Enum, Object, OpenApi};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{ApiTags, answer, page_request};
use crate::ApiState;
use crate::auth::BearerAuth;
use crate::error::{ApiError, Resource};
use crate::model::{
    Connection, ConnectionValidation, Deleted, ExternalChannel, ExternalChannelSelection, Item,
    Mutation, Page, Provider,
};
use crate::payload::{ApiJson, from_value};
use crate::responses::api_response;
use crate::text::{
    CursorText, DiscordBotTokenRule, NameText, OpaqueText, PastedTextRule, SecretRule,
    SlackAppTokenRule, SlackBotTokenRule, SnowflakeRule, Text, UuidText,
};
use crate::types::{Nullable, SecretInput};

// ---------------------------------------------------------------------------------------------
// Credentials: write-only, shaped by the provider.

/// Slack bot credentials.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct SlackCredentials {
    /// The `xoxb-…` bot token (a token of another kind, such as a user token `xoxp-…`, is
    /// refused naming its kind).
    bot_token: SecretInput<SlackBotTokenRule>,
    /// The app's signing secret, for Events API requests.
    signing_secret: SecretInput<SecretRule>,
    /// An `xapp-…` app-level token with `connections:write`: intake through Socket Mode.
    app_token: Option<SecretInput<SlackAppTokenRule>>,
}

/// Discord bot credentials; the guild is the connection's `externalWorkspaceId`.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct DiscordCredentials {
    /// The bot token (pasted with its `Bot ` prefix, the prefix is dropped; a Slack token is
    /// refused as such).
    bot_token: SecretInput<DiscordBotTokenRule>,
    /// The application id (a snowflake: digits, no leading zeros, at most
    /// 18446744073709551615), when known.
    application_id: Option<Text<SnowflakeRule>>,
}

/// Microsoft Teams (Bot Framework) credentials.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct TeamsCredentials {
    /// The Microsoft App id (not blank).
    app_id: Text<PastedTextRule>,
    /// The Microsoft App password.
    app_password: SecretInput<SecretRule>,
    /// The Azure AD tenant (not blank).
    tenant_id: Text<PastedTextRule>,
}

/// Credentials as sent: a JSON object whose shape depends on the connection's provider, so it
/// is only parsed once the provider is known. Deliberately without `Debug`: it holds secrets.
pub(crate) struct CredentialsInput(Map<String, Value>);

impl CredentialsInput {
    /// Hands the object to the domain, which parses it for the connection's provider after
    /// checking the caller's rights.
    fn pending(self) -> PendingCredentials {
        PendingCredentials::parse_with(move |provider| self.parse(provider))
    }

    /// Parses the object as `provider`'s credentials; errors name `credentials.<field>`.
    fn parse(self, provider: DomainProvider) -> Result<Credentials, ValidationError> {
        const FIELD: &str = "credentials";
        let value = Value::Object(self.0);
        Ok(match provider {
            DomainProvider::Slack => {
                let c: SlackCredentials = from_value(FIELD, value)?;
                Credentials::slack(
                    &c.bot_token.0,
                    &c.signing_secret.0,
                    c.app_token.as_ref().map(|t| &t.0),
                )?
            }
            DomainProvider::Discord => {
                let c: DiscordCredentials = from_value(FIELD, value)?;
                Credentials::discord(&c.bot_token.0, c.application_id.as_deref())?
            }
            DomainProvider::Teams => {
                let c: TeamsCredentials = from_value(FIELD, value)?;
                Credentials::teams(&c.app_id, &c.app_password.0, &c.tenant_id)?
            }
        })
    }
}

impl Type for CredentialsInput {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "Credentials".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |registry| {
            SlackCredentials::register(registry);
            DiscordCredentials::register(registry);
            TeamsCredentials::register(registry);
            MetaSchema {
                description: Some(
                    "Write-only credentials of the connection's provider: Slack \
                     `{botToken, signingSecret, appToken?}`, Discord \
                     `{botToken, applicationId?}`, Teams `{appId, appPassword, tenantId}`. \
                     Pasted values are trimmed. Never answered or logged.",
                ),
                one_of: vec![
                    SlackCredentials::schema_ref(),
                    DiscordCredentials::schema_ref(),
                    TeamsCredentials::schema_ref(),
                ],
                write_only: true,
                ..MetaSchema::new("object")
            }
        });
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

impl ParseFromJSON for CredentialsInput {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::Object(map)) => Ok(Self(map)),
            Some(other) => Err(ParseError::expected_type(other)),
            None => Err(ParseError::expected_input()),
        }
    }
}

impl ToJSON for CredentialsInput {
    fn to_json(&self) -> Option<Value> {
        // Write-only: credentials are never part of an answer.
        None
    }
}

impl<'de> Deserialize<'de> for CredentialsInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::<String, Value>::deserialize(deserializer).map(Self)
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs.

/// Changes to a connection's sync switches; absent fields keep their value (or default to
/// `true` on creation).
#[derive(Object, Deserialize)]
#[oai(
    rename = "ConnectionSettingsPatch",
    rename_all = "camelCase",
    deny_unknown_fields
)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct ConnectionSettingsInput {
    /// Sync thread replies as replies.
    sync_threads: Option<bool>,
    /// Sync reactions.
    sync_reactions: Option<bool>,
    /// Sync edits.
    sync_edits: Option<bool>,
    /// Sync deletes.
    sync_deletes: Option<bool>,
}

impl From<ConnectionSettingsInput> for ConnectionSettingsPatch {
    fn from(s: ConnectionSettingsInput) -> Self {
        Self {
            sync_threads: s.sync_threads,
            sync_reactions: s.sync_reactions,
            sync_edits: s.sync_edits,
            sync_deletes: s.sync_deletes,
        }
    }
}

/// The statuses a client may set.
#[derive(Enum, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename = "RequestedConnectionStatus", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub(crate) enum RequestedStatusInput {
    /// Resume syncing; the stored credentials are validated first.
    Connected,
    /// Pause syncing.
    Disconnected,
}

/// The platforms a connection can be created for.
#[derive(Enum, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub(crate) enum ProviderInput {
    /// Slack.
    Slack,
    /// Discord.
    Discord,
}

impl From<ProviderInput> for Provider {
    fn from(provider: ProviderInput) -> Self {
        match provider {
            ProviderInput::Slack => Self::Slack,
            ProviderInput::Discord => Self::Discord,
        }
    }
}

/// Input of `chatSyncConnectionCreate`.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct CreateConnection {
    /// The organization; the caller must be one of its owners or admins.
    organization_id: UuidText,
    /// The platform (`teams` is not supported yet).
    provider: ProviderInput,
    /// The workspace on the platform (Slack team id, Discord guild id, Teams tenant).
    external_workspace_id: OpaqueText,
    /// The workspace's name; taken from the provider when absent.
    external_workspace_name: Option<NameText>,
    /// Display name; defaults to the workspace's name.
    name: Option<NameText>,
    /// A connected connection of the same organization and provider whose credentials to
    /// reuse, when no `credentials` are given.
    integration_connection_id: Option<OpaqueText>,
    /// The provider's credentials; validated with the provider before anything is saved.
    credentials: Option<CredentialsInput>,
    /// Sync switches to change from their defaults.
    settings: Option<ConnectionSettingsInput>,
    /// Client metadata (a JSON object of at most 16 KiB, counted as compact JSON, which a
    /// schema cannot state).
    metadata: Option<BTreeMap<String, Value>>,
}

/// Input of `chatSyncConnectionUpdate`; absent fields keep their value.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct UpdateConnection {
    /// New display name.
    name: Option<NameText>,
    /// New workspace name.
    external_workspace_name: Option<NameText>,
    /// New credentials of the connection's provider; validated before they are saved.
    credentials: Option<CredentialsInput>,
    /// Sync switches to change.
    settings: Option<ConnectionSettingsInput>,
    /// New client metadata (replaces the old; a JSON object of at most 16 KiB, counted as
    /// compact JSON, which a schema cannot state).
    metadata: Option<BTreeMap<String, Value>>,
    /// Pause (`disconnected`) or resume (`connected`, after validating the credentials).
    status: Option<RequestedStatusInput>,
}

/// Input of `chatSyncExternalChannelSelect`.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct SelectChannels {
    /// The external channels to sync; links of the others are deactivated.
    channel_ids: Vec<OpaqueText>,
    /// Sync every channel the bot can see (then `channelIds` may be empty).
    #[oai(default)]
    #[serde(default)]
    sync_all: bool,
}

fn optional_name(field: &str, raw: Option<&str>) -> Result<Option<Name>, ValidationError> {
    raw.map(|r| Name::parse(field, r)).transpose()
}

fn metadata(raw: Option<BTreeMap<String, Value>>) -> Result<Option<JsonObject>, ValidationError> {
    raw.map(|map| {
        let text = Value::Object(map.into_iter().collect()).to_string();
        JsonObject::from_checked_json("metadata", text)
    })
    .transpose()
}

impl CreateConnection {
    fn into_domain(self) -> Result<NewConnection, ValidationError> {
        let provider = DomainProvider::from(Provider::from(self.provider));
        Ok(NewConnection {
            organization_id: OrganizationId::parse("organizationId", &self.organization_id)?,
            provider,
            external_workspace_id: ExternalWorkspaceId::parse(
                "externalWorkspaceId",
                &self.external_workspace_id,
            )?,
            external_workspace_name: optional_name(
                "externalWorkspaceName",
                self.external_workspace_name.as_deref(),
            )?,
            name: optional_name("name", self.name.as_deref())?,
            integration_connection_id: self
                .integration_connection_id
                .as_deref()
                .map(|id| Opaque::parse("integrationConnectionId", id, MAX_EXTERNAL_ID_CHARS))
                .transpose()?,
            credentials: self.credentials.map(CredentialsInput::pending),
            settings: self.settings.map(Into::into).unwrap_or_default(),
            metadata: metadata(self.metadata)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Answers.

api_response! {
    /// Answers of `chatSyncConnectionCreate`.
    CreateConnectionResponse {
        /// The connection was created (after the provider accepted the credentials).
        #[oai(status = 201)]
        Created(Json<Box<Mutation<Connection>>>),
    }
    errors [
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, UnsupportedMediaType,
        Unprocessable, TooManyRequests, Internal, BadGateway,
    ]
    from CreateConnectionError {
        CreateConnectionError::OrganizationNotFound => NotFound(ApiError::not_found(Resource::Organization)),
        CreateConnectionError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        CreateConnectionError::Validation(invalid) => BadRequest(invalid.into()),
        CreateConnectionError::ConnectionExists => Conflict(ApiError::connection_exists()),
        CreateConnectionError::IntegrationNotConnected(reason) => Conflict(ApiError::integration_not_connected(reason)),
        CreateConnectionError::Provider(e @ (ProviderError::InvalidCredentials { .. }
            | ProviderError::AuthExpired { .. }
            | ProviderError::InsufficientPermissions { .. })) => Unprocessable(ApiError::provider(&e)),
        CreateConnectionError::Provider(e @ ProviderError::RateLimited { .. }) => TooManyRequests(ApiError::provider(&e)),
        CreateConnectionError::Provider(e @ (ProviderError::Network { .. } | ProviderError::Platform { .. })) => BadGateway(ApiError::provider(&e)),
        CreateConnectionError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `chatSyncConnectionList`.
    ListConnectionsResponse {
        /// The organization's connections, oldest first.
        #[oai(status = 200)]
        Ok(Json<Page<Connection>>),
    }
    errors [BadRequest, Unauthorized, NotFound, Internal]
    from MembershipError {
        MembershipError::OrganizationNotFound => NotFound(ApiError::not_found(Resource::Organization)),
        MembershipError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `chatSyncConnectionGet`.
    GetConnectionResponse {
        /// The connection.
        #[oai(status = 200)]
        Ok(Json<Box<Item<Connection>>>),
    }
    errors [BadRequest, Unauthorized, NotFound, Internal]
    from ConnectionAccessError {
        ConnectionAccessError::ConnectionNotFound => NotFound(ApiError::not_found(Resource::Connection)),
        ConnectionAccessError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `chatSyncConnectionUpdate`.
    UpdateConnectionResponse {
        /// The connection was changed.
        #[oai(status = 200)]
        Ok(Json<Box<Mutation<Connection>>>),
    }
    errors [
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, UnsupportedMediaType,
        Unprocessable, TooManyRequests, Internal, BadGateway,
    ]
    from UpdateConnectionError {
        UpdateConnectionError::ConnectionNotFound => NotFound(ApiError::not_found(Resource::Connection)),
        UpdateConnectionError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        UpdateConnectionError::Validation(invalid) => BadRequest(invalid.into()),
        UpdateConnectionError::IntegrationNotConnected(reason) => Conflict(ApiError::integration_not_connected(reason)),
        UpdateConnectionError::Provider(e @ (ProviderError::InvalidCredentials { .. }
            | ProviderError::AuthExpired { .. }
            | ProviderError::InsufficientPermissions { .. })) => Unprocessable(ApiError::provider(&e)),
        UpdateConnectionError::Provider(e @ ProviderError::RateLimited { .. }) => TooManyRequests(ApiError::provider(&e)),
        UpdateConnectionError::Provider(e @ (ProviderError::Network { .. } | ProviderError::Platform { .. })) => BadGateway(ApiError::provider(&e)),
        UpdateConnectionError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `chatSyncConnectionDelete`.
    DeleteConnectionResponse {
        /// The connection and all its channel links were deleted; synced messages stay.
        #[oai(status = 200)]
        Ok(Json<Deleted>),
    }
    errors [BadRequest, Unauthorized, Forbidden, NotFound, Internal]
    from ConnectionAdminError {
        ConnectionAdminError::ConnectionNotFound => NotFound(ApiError::not_found(Resource::Connection)),
        ConnectionAdminError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        ConnectionAdminError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `chatSyncConnectionValidate`.
    ValidateConnectionResponse {
        /// The outcome: `valid: true` with the connection, or `valid: false` with the
        /// provider's error (the connection's status is then `error`).
        #[oai(status = 200)]
        Ok(Json<ConnectionValidation>),
    }
    errors [BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Internal]
    from ValidateConnectionError {
        ValidateConnectionError::ConnectionNotFound => NotFound(ApiError::not_found(Resource::Connection)),
        ValidateConnectionError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        ValidateConnectionError::Validation(invalid) => BadRequest(invalid.into()),
        ValidateConnectionError::IntegrationNotConnected(reason) => Conflict(ApiError::integration_not_connected(reason)),
        ValidateConnectionError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `chatSyncExternalChannelList`.
    ListExternalChannelsResponse {
        /// The workspace's channels the bot can see, live from the provider.
        #[oai(status = 200)]
        Ok(Json<Page<ExternalChannel>>),
    }
    errors [
        BadRequest, Unauthorized, NotFound, Conflict, Unprocessable, TooManyRequests, Internal,
        BadGateway,
    ]
    from ListExternalChannelsError {
        ListExternalChannelsError::ConnectionNotFound => NotFound(ApiError::not_found(Resource::Connection)),
        ListExternalChannelsError::Validation(invalid) => BadRequest(invalid.into()),
        ListExternalChannelsError::IntegrationNotConnected(reason) => Conflict(ApiError::integration_not_connected(reason)),
        ListExternalChannelsError::Provider(e @ (ProviderError::InvalidCredentials { .. }
            | ProviderError::AuthExpired { .. }
            | ProviderError::InsufficientPermissions { .. })) => Unprocessable(ApiError::provider(&e)),
        ListExternalChannelsError::Provider(e @ ProviderError::RateLimited { .. }) => TooManyRequests(ApiError::provider(&e)),
        ListExternalChannelsError::Provider(e @ (ProviderError::Network { .. } | ProviderError::Platform { .. })) => BadGateway(ApiError::provider(&e)),
        ListExternalChannelsError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `chatSyncExternalChannelSelect`.
    SelectExternalChannelsResponse {
        /// The selection was applied.
        #[oai(status = 200)]
        Ok(Json<ExternalChannelSelection>),
    }
    errors [
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, UnsupportedMediaType,
        Unprocessable, TooManyRequests, Internal, BadGateway,
    ]
    from SelectChannelsError {
        SelectChannelsError::ConnectionNotFound => NotFound(ApiError::not_found(Resource::Connection)),
        SelectChannelsError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        SelectChannelsError::Validation(invalid) => BadRequest(invalid.into()),
        SelectChannelsError::IntegrationNotConnected(reason) => Conflict(ApiError::integration_not_connected(reason)),
        SelectChannelsError::ChannelLinkExists => Conflict(ApiError::channel_link_exists()),
        SelectChannelsError::Provider(e @ (ProviderError::InvalidCredentials { .. }
            | ProviderError::AuthExpired { .. }
            | ProviderError::InsufficientPermissions { .. })) => Unprocessable(ApiError::provider(&e)),
        SelectChannelsError::Provider(e @ ProviderError::RateLimited { .. }) => TooManyRequests(ApiError::provider(&e)),
        SelectChannelsError::Provider(e @ (ProviderError::Network { .. } | ProviderError::Platform { .. })) => BadGateway(ApiError::provider(&e)),
        SelectChannelsError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

// ---------------------------------------------------------------------------------------------
// Operations.

fn connection_id(raw: &str) -> Result<SyncConnectionId, ValidationError> {
    SyncConnectionId::parse("id", raw)
}

/// Chat-sync connections.
pub(crate) struct ConnectionsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Connections")]
impl ConnectionsApi {
    /// Create a connection
    ///
    /// Owners and admins only. When credentials are given they are validated with the
    /// provider before anything is saved; without them, `integrationConnectionId` must name a
    /// connected connection of the same organization and provider.
    #[oai(
        path = "/connections",
        method = "post",
        operation_id = "chatSyncConnectionCreate"
    )]
    #[tracing::instrument(name = "chatSyncConnectionCreate", skip_all)]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        body: ApiJson<CreateConnection>,
    ) -> CreateConnectionResponse {
        answer(
            async {
                let new = body.0.into_domain()?;
                let created = state.chat_sync.create_connection(&auth.0, new).await?;
                // Boxed: a connection is much larger than the error answers beside it.
                Ok(CreateConnectionResponse::Created(Json(Box::new(
                    Mutation::new(created.data.into(), created.transaction_id),
                ))))
            }
            .await,
        )
    }

    /// List the connections of an organization
    #[oai(
        path = "/connections",
        method = "get",
        operation_id = "chatSyncConnectionList"
    )]
    #[tracing::instrument(name = "chatSyncConnectionList", skip_all)]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The organization.
        #[oai(name = "organizationId")]
        organization_id: Query<UuidText>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<CursorText>>,
    ) -> ListConnectionsResponse {
        answer(
            async {
                let organization = OrganizationId::parse("organizationId", &organization_id.0)?;
                let page = page_request(limit.0, cursor.0.as_deref())?;
                let found = state
                    .chat_sync
                    .list_connections(&auth.0, organization, &page)
                    .await?;
                Ok(ListConnectionsResponse::Ok(Json(Page::from_domain(
                    found,
                    Connection::from,
                ))))
            }
            .await,
        )
    }

    /// Get a connection
    #[oai(
        path = "/connections/:id",
        method = "get",
        operation_id = "chatSyncConnectionGet"
    )]
    #[tracing::instrument(name = "chatSyncConnectionGet", skip_all, fields(connection_id = %id.0))]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The connection.
        id: Path<UuidText>,
    ) -> GetConnectionResponse {
        answer(
            async {
                let id = connection_id(&id.0)?;
                let found = state.chat_sync.get_connection(&auth.0, id).await?;
                Ok(GetConnectionResponse::Ok(Json(Box::new(Item {
                    data: found.into(),
                }))))
            }
            .await,
        )
    }

    /// Change a connection
    ///
    /// Owners and admins only. New credentials, and `status: connected`, are validated with
    /// the provider first; when it refuses, nothing changes.
    #[oai(
        path = "/connections/:id",
        method = "patch",
        operation_id = "chatSyncConnectionUpdate"
    )]
    #[tracing::instrument(name = "chatSyncConnectionUpdate", skip_all, fields(connection_id = %id.0))]
    async fn update(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The connection.
        id: Path<UuidText>,
        body: ApiJson<UpdateConnection>,
    ) -> UpdateConnectionResponse {
        answer(
            async {
                let id = connection_id(&id.0)?;
                let body = body.0;
                let patch = ConnectionPatch {
                    name: optional_name("name", body.name.as_deref())?,
                    external_workspace_name: optional_name(
                        "externalWorkspaceName",
                        body.external_workspace_name.as_deref(),
                    )?,
                    // Shaped by the stored connection's provider: the service parses them once
                    // it has loaded the connection and checked the caller's rights.
                    credentials: body.credentials.map(CredentialsInput::pending),
                    settings: body.settings.map(Into::into).unwrap_or_default(),
                    metadata: metadata(body.metadata)?,
                    status: body.status.map(|s| match s {
                        RequestedStatusInput::Connected => RequestedStatus::Connected,
                        RequestedStatusInput::Disconnected => RequestedStatus::Disconnected,
                    }),
                };
                let updated = state
                    .chat_sync
                    .update_connection(&auth.0, id, patch)
                    .await?;
                Ok(UpdateConnectionResponse::Ok(Json(Box::new(Mutation::new(
                    updated.data.into(),
                    updated.transaction_id,
                )))))
            }
            .await,
        )
    }

    /// Delete a connection
    ///
    /// Owners and admins only. Removes the connection and all its channel links in one
    /// transaction; synced messages stay.
    #[oai(
        path = "/connections/:id",
        method = "delete",
        operation_id = "chatSyncConnectionDelete"
    )]
    #[tracing::instrument(name = "chatSyncConnectionDelete", skip_all, fields(connection_id = %id.0))]
    async fn delete(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The connection.
        id: Path<UuidText>,
    ) -> DeleteConnectionResponse {
        answer(
            async {
                let id = connection_id(&id.0)?;
                let transaction = state.chat_sync.delete_connection(&auth.0, id).await?;
                Ok(DeleteConnectionResponse::Ok(Json(Deleted::new(
                    transaction,
                ))))
            }
            .await,
        )
    }

    /// Validate a connection's credentials
    ///
    /// Owners and admins only. Checks the stored credentials with the provider and records
    /// the outcome in the connection's status. A refusal is a 200 with `valid: false`.
    #[oai(
        path = "/connections/:id/validate",
        method = "post",
        operation_id = "chatSyncConnectionValidate"
    )]
    #[tracing::instrument(name = "chatSyncConnectionValidate", skip_all, fields(connection_id = %id.0))]
    async fn validate(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The connection.
        id: Path<UuidText>,
    ) -> ValidateConnectionResponse {
        answer(
            async {
                let id = connection_id(&id.0)?;
                let outcome = state.chat_sync.validate_connection(&auth.0, id).await?;
                Ok(ValidateConnectionResponse::Ok(Json(
                    ConnectionValidation::new(outcome.data, outcome.transaction_id),
                )))
            }
            .await,
        )
    }

    /// List the workspace's channels
    ///
    /// Live from the provider, each marked with whether an active link syncs it.
    #[oai(
        path = "/connections/:id/channels",
        method = "get",
        operation_id = "chatSyncExternalChannelList"
    )]
    #[tracing::instrument(name = "chatSyncExternalChannelList", skip_all, fields(connection_id = %id.0))]
    async fn list_channels(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The connection.
        id: Path<UuidText>,
    ) -> ListExternalChannelsResponse {
        answer(
            async {
                let id = connection_id(&id.0)?;
                let found = state.chat_sync.list_external_channels(&auth.0, id).await?;
                Ok(ListExternalChannelsResponse::Ok(Json(
                    // Discovery reads every page from the provider, so there is never a next one.
                    Page {
                        data: found.into_iter().map(Into::into).collect(),
                        next_cursor: Nullable(None),
                    },
                )))
            }
            .await,
        )
    }

    /// Choose the channels to sync
    ///
    /// Owners and admins only. Creates a Hazel channel and a `both` link, named after the
    /// external channel, for each newly selected channel; reactivates the links of selected
    /// channels; deactivates the links of the others.
    #[oai(
        path = "/connections/:id/channels",
        method = "put",
        operation_id = "chatSyncExternalChannelSelect"
    )]
    #[tracing::instrument(name = "chatSyncExternalChannelSelect", skip_all, fields(connection_id = %id.0))]
    async fn select_channels(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The connection.
        id: Path<UuidText>,
        body: ApiJson<SelectChannels>,
    ) -> SelectExternalChannelsResponse {
        answer(
            async {
                let id = connection_id(&id.0)?;
                let body = body.0;
                let channel_ids = body
                    .channel_ids
                    .iter()
                    .enumerate()
                    .map(|(i, c)| ExternalChannelId::parse(&format!("channelIds[{i}]"), c))
                    .collect::<Result<Vec<_>, _>>()?;
                let selected = state
                    .chat_sync
                    .select_channels(&auth.0, id, channel_ids, body.sync_all)
                    .await?;
                Ok(SelectExternalChannelsResponse::Ok(Json(
                    ExternalChannelSelection {
                        data: selected.data.into_iter().map(Into::into).collect(),
                        transaction_id: selected.transaction_id.to_string(),
                    },
                )))
            }
            .await,
        )
    }
}
