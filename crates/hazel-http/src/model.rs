//! Wire types of the answers, and their conversions from domain types.
//!
//! The domain derives no OpenAPI traits, so every object the API answers is declared here, in
//! camelCase, with an explicit conversion. Optional fields are left out of an answer when they
//! have no value; the one exception is `nextCursor`, which the contract answers as `null`.

use std::collections::BTreeMap;

use hazel_domain::ids::TransactionId;
use hazel_domain::model::Timestamp;
use hazel_domain::model::channel as channel_model;
use hazel_domain::model::chat_sync as sync_model;
use hazel_domain::model::identity as identity_model;
use hazel_domain::model::message as message_model;
use hazel_domain::model::notification as notification_model;
use hazel_domain::model::page;
use hazel_domain::model::text::Opaque;
use hazel_domain::ports::ConnectionView;
use hazel_domain::services::chat_sync::{DiscoveredChannel, ValidationOutcome};
use hazel_domain::services::identity::AddedMember;
use poem_openapi::types::{ParseFromJSON, ToJSON, Type};
use poem_openapi::{Enum, Object};
use serde::Deserialize;
use serde_json::Value;
use time::{OffsetDateTime, UtcOffset};

use crate::types::Nullable;

/// A timestamp as answered: RFC 3339 in UTC.
fn utc(at: Timestamp) -> OffsetDateTime {
    at.to_offset(UtcOffset::UTC)
}

fn opaque(value: Option<&Opaque>) -> Option<String> {
    value.map(|v| v.as_str().to_owned())
}

// ---------------------------------------------------------------------------------------------
// Envelopes.

/// The answer of a mutation: the written object and the transaction that wrote it.
#[derive(Object)]
#[oai(rename = "Mutation", rename_all = "camelCase")]
pub(crate) struct Mutation<T: ParseFromJSON + ToJSON + Type> {
    /// The written object.
    pub(crate) data: T,
    /// The id of the database transaction that wrote it. Increases monotonically across the
    /// whole database, so clients can order and await changes.
    pub(crate) transaction_id: String,
}

impl<T: ParseFromJSON + ToJSON + Type> Mutation<T> {
    /// Wraps `data` written by `transaction_id`.
    pub(crate) fn new(data: T, transaction_id: TransactionId) -> Self {
        Self {
            data,
            transaction_id: transaction_id.to_string(),
        }
    }
}

/// The answer of a read of one resource.
#[derive(Object)]
#[oai(rename = "Item", rename_all = "camelCase")]
pub(crate) struct Item<T: ParseFromJSON + ToJSON + Type> {
    /// The resource.
    pub(crate) data: T,
}

/// One page of a list.
#[derive(Object)]
#[oai(rename = "Page", rename_all = "camelCase")]
pub(crate) struct Page<T: ParseFromJSON + ToJSON + Type> {
    /// The items of this page.
    pub(crate) data: Vec<T>,
    /// Pass as `?cursor=` to get the next page; `null` on the last page.
    pub(crate) next_cursor: Nullable<String>,
}

impl<T: ParseFromJSON + ToJSON + Type> Page<T> {
    /// Converts a domain page.
    pub(crate) fn from_domain<D>(page: page::Page<D>, convert: impl FnMut(D) -> T) -> Self {
        Self {
            data: page.items.into_iter().map(convert).collect(),
            next_cursor: Nullable(page.next_cursor),
        }
    }
}

/// The answer of a delete.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct Deleted {
    /// The id of the database transaction that deleted it.
    pub(crate) transaction_id: String,
}

impl Deleted {
    /// The answer of a delete committed by `transaction_id`.
    pub(crate) fn new(transaction_id: TransactionId) -> Self {
        Self {
            transaction_id: transaction_id.to_string(),
        }
    }
}

/// The answer of `notificationDeleteByMessageIds`.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct DeletedCount {
    /// How many notifications were deleted.
    pub(crate) deleted_count: u64,
    /// The id of the database transaction that deleted them.
    pub(crate) transaction_id: String,
}

// ---------------------------------------------------------------------------------------------
// Identity.

/// A member's role in an organization.
#[derive(Enum, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// Full control, including other owners.
    Owner,
    /// Manages members, connections and other people's content.
    Admin,
    /// Reads and writes messages.
    Member,
}

impl From<identity_model::Role> for Role {
    fn from(role: identity_model::Role) -> Self {
        match role {
            identity_model::Role::Owner => Self::Owner,
            identity_model::Role::Admin => Self::Admin,
            identity_model::Role::Member => Self::Member,
        }
    }
}

impl From<Role> for identity_model::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Owner => Self::Owner,
            Role::Admin => Self::Admin,
            Role::Member => Self::Member,
        }
    }
}

/// An organization (a tenant).
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct Organization {
    /// Id (UUID v7).
    pub(crate) id: String,
    /// Display name.
    pub(crate) name: String,
    /// Unique URL-friendly handle.
    pub(crate) slug: String,
    /// When it was created.
    pub(crate) created_at: OffsetDateTime,
}

impl From<identity_model::Organization> for Organization {
    fn from(org: identity_model::Organization) -> Self {
        Self {
            id: org.id.to_string(),
            name: org.name.as_str().to_owned(),
            slug: org.slug.as_str().to_owned(),
            created_at: utc(org.created_at),
        }
    }
}

/// A member of an organization: a Hazel user, or an external author mirrored by chat sync.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct Member {
    /// Id (UUID v7).
    pub(crate) id: String,
    /// The organization.
    pub(crate) organization_id: String,
    /// The Hazel user; absent for external authors.
    pub(crate) user_id: Option<String>,
    /// Display name.
    pub(crate) name: String,
    /// The user's email; absent for external authors.
    pub(crate) email: Option<String>,
    /// Role in the organization.
    pub(crate) role: Role,
    /// Avatar image.
    pub(crate) avatar_url: Option<String>,
    /// When the member was added.
    pub(crate) created_at: OffsetDateTime,
}

impl From<identity_model::MemberProfile> for Member {
    fn from(profile: identity_model::MemberProfile) -> Self {
        let member = profile.member;
        Self {
            id: member.id.to_string(),
            organization_id: member.organization_id.to_string(),
            user_id: member.user_id().map(|u| u.to_string()),
            name: member.name.as_str().to_owned(),
            email: profile.email.map(|e| e.as_str().to_owned()),
            role: member.role.into(),
            avatar_url: member.avatar_url.map(|u| u.as_str().to_owned()),
            created_at: utc(member.created_at),
        }
    }
}

/// A member just added, with the new user's token when the user was created by this request.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct CreatedMember {
    /// The member.
    #[oai(flatten)]
    pub(crate) member: Member,
    /// An API token for the new user, shown only this once; present only when the user was
    /// created by this request.
    pub(crate) token: Option<String>,
}

impl From<AddedMember> for CreatedMember {
    fn from(added: AddedMember) -> Self {
        Self {
            member: added.profile.into(),
            token: added.token.map(|t| t.expose().to_owned()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Channels and messages.

/// The kind of a channel.
#[derive(Enum, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub(crate) enum ChannelType {
    /// Visible to every member of the organization.
    Public,
    /// Marked private.
    Private,
    /// A thread under a parent channel (`parentChannelId`).
    Thread,
}

/// A Hazel channel.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct Channel {
    /// Id (UUID v7).
    pub(crate) id: String,
    /// The organization.
    pub(crate) organization_id: String,
    /// Display name.
    pub(crate) name: String,
    /// Public, private or thread.
    #[oai(rename = "type")]
    pub(crate) kind: ChannelType,
    /// The parent channel of a thread.
    pub(crate) parent_channel_id: Option<String>,
    /// When it was created.
    pub(crate) created_at: OffsetDateTime,
}

impl From<channel_model::Channel> for Channel {
    fn from(channel: channel_model::Channel) -> Self {
        let kind = match channel.kind {
            channel_model::ChannelKind::Public => ChannelType::Public,
            channel_model::ChannelKind::Private => ChannelType::Private,
            channel_model::ChannelKind::Thread { .. } => ChannelType::Thread,
        };
        Self {
            id: channel.id.to_string(),
            organization_id: channel.organization_id.to_string(),
            name: channel.name.as_str().to_owned(),
            kind,
            parent_channel_id: channel.kind.parent().map(|p| p.to_string()),
            created_at: utc(channel.created_at),
        }
    }
}

/// The author of a message. Messages synced in from a chat platform carry the external
/// author's provider, name and avatar.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct Author {
    /// The member who wrote it (an external author is mirrored as a member).
    pub(crate) member_id: String,
    /// Display name.
    pub(crate) name: String,
    /// Avatar image.
    pub(crate) avatar_url: Option<String>,
    /// The platform a synced message came from.
    pub(crate) external_provider: Option<Provider>,
    /// The author's name on that platform.
    pub(crate) external_author_name: Option<String>,
    /// The author's avatar on that platform.
    pub(crate) external_author_avatar_url: Option<String>,
}

impl From<&identity_model::Member> for Author {
    fn from(member: &identity_model::Member) -> Self {
        let avatar_url = member.avatar_url.as_ref().map(|u| u.as_str().to_owned());
        let (external_provider, external_author_name, external_author_avatar_url) =
            match &member.kind {
                identity_model::MemberKind::Native { .. } => (None, None, None),
                identity_model::MemberKind::Shadow { provider, .. } => (
                    Some((*provider).into()),
                    Some(member.name.as_str().to_owned()),
                    avatar_url.clone(),
                ),
            };
        Self {
            member_id: member.id.to_string(),
            name: member.name.as_str().to_owned(),
            avatar_url,
            external_provider,
            external_author_name,
            external_author_avatar_url,
        }
    }
}

/// A file carried as a link.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct Attachment {
    /// Absolute http(s) URL of the file.
    pub(crate) url: String,
    /// File name.
    pub(crate) name: String,
    /// MIME type, when known.
    #[serde(default)]
    pub(crate) content_type: Option<String>,
}

impl From<message_model::Attachment> for Attachment {
    fn from(attachment: message_model::Attachment) -> Self {
        Self {
            url: attachment.url.as_str().to_owned(),
            name: attachment.name.as_str().to_owned(),
            content_type: opaque(attachment.content_type.as_ref()),
        }
    }
}

/// The reactions of one emoji on a message.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct Reaction {
    /// A Unicode emoji or a `:short_name:`.
    pub(crate) emoji: String,
    /// How many members reacted with it.
    pub(crate) count: u64,
    /// Who reacted, in reaction order.
    pub(crate) member_ids: Vec<String>,
}

/// A message, with its author and reactions.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct Message {
    /// Id (UUID v7).
    pub(crate) id: String,
    /// The channel it was posted in.
    pub(crate) channel_id: String,
    /// Who wrote it.
    pub(crate) author: Author,
    /// Text in Hazel Markdown; mentions are `@[member:<memberId>]`, `@channel`, `@here`.
    pub(crate) content: String,
    /// The message this one replies to.
    pub(crate) parent_message_id: Option<String>,
    /// Files carried as links.
    pub(crate) attachments: Vec<Attachment>,
    /// Reactions grouped by emoji.
    pub(crate) reactions: Vec<Reaction>,
    /// When it was posted.
    pub(crate) created_at: OffsetDateTime,
    /// When its text last changed.
    pub(crate) edited_at: Option<OffsetDateTime>,
    /// When it was deleted.
    pub(crate) deleted_at: Option<OffsetDateTime>,
}

impl From<message_model::MessageView> for Message {
    fn from(view: message_model::MessageView) -> Self {
        let message = view.message;
        Self {
            id: message.id.to_string(),
            channel_id: message.channel_id.to_string(),
            author: (&view.author).into(),
            content: message.content.as_str().to_owned(),
            parent_message_id: message.parent_message_id.map(|id| id.to_string()),
            attachments: message.attachments.into_iter().map(Into::into).collect(),
            reactions: view
                .reactions
                .into_iter()
                .map(|summary| Reaction {
                    emoji: summary.emoji.as_str().to_owned(),
                    count: summary.member_ids.len() as u64,
                    member_ids: summary.member_ids.iter().map(ToString::to_string).collect(),
                })
                .collect(),
            created_at: utc(message.created_at),
            edited_at: message.edited_at.map(utc),
            deleted_at: message.deleted_at.map(utc),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Notifications.

/// A notification for one member.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct Notification {
    /// Id (UUID v7).
    pub(crate) id: String,
    /// The member it is for.
    pub(crate) member_id: String,
    /// What it points at (a message id for mentions and replies, a reaction id for reactions).
    pub(crate) targeted_resource_id: Option<String>,
    /// The kind of target (`mention`, `reply`, `reaction`, …).
    pub(crate) targeted_resource_type: Option<String>,
    /// Where the target lives (a channel id, a message id).
    pub(crate) resource_id: Option<String>,
    /// The kind of resource (`channel`, `message`, …).
    pub(crate) resource_type: Option<String>,
    /// When it was created.
    pub(crate) created_at: OffsetDateTime,
    /// When it was read; absent while unread.
    pub(crate) read_at: Option<OffsetDateTime>,
}

impl From<notification_model::Notification> for Notification {
    fn from(n: notification_model::Notification) -> Self {
        Self {
            id: n.id.to_string(),
            member_id: n.member_id.to_string(),
            targeted_resource_id: opaque(n.targeted_resource_id.as_ref()),
            targeted_resource_type: opaque(n.targeted_resource_type.as_ref()),
            resource_id: opaque(n.resource_id.as_ref()),
            resource_type: opaque(n.resource_type.as_ref()),
            created_at: utc(n.created_at),
            read_at: n.read_at.map(utc),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Chat sync.

/// An external chat platform.
#[derive(Enum, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub(crate) enum Provider {
    /// Slack.
    Slack,
    /// Discord.
    Discord,
    /// Microsoft Teams.
    Teams,
}

impl From<sync_model::Provider> for Provider {
    fn from(provider: sync_model::Provider) -> Self {
        match provider {
            sync_model::Provider::Slack => Self::Slack,
            sync_model::Provider::Discord => Self::Discord,
            sync_model::Provider::Teams => Self::Teams,
        }
    }
}

impl From<Provider> for sync_model::Provider {
    fn from(provider: Provider) -> Self {
        match provider {
            Provider::Slack => Self::Slack,
            Provider::Discord => Self::Discord,
            Provider::Teams => Self::Teams,
        }
    }
}

/// A connection's state.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub(crate) enum ConnectionStatus {
    /// Credentials validated; syncing.
    Connected,
    /// Paused.
    Disconnected,
    /// The last validation or delivery failed; see `errorCode` and `errorMessage`.
    Error,
}

impl From<&sync_model::ConnectionStatus> for ConnectionStatus {
    fn from(status: &sync_model::ConnectionStatus) -> Self {
        match status {
            sync_model::ConnectionStatus::Connected => Self::Connected,
            sync_model::ConnectionStatus::Disconnected => Self::Disconnected,
            sync_model::ConnectionStatus::Error { .. } => Self::Error,
        }
    }
}

/// A chat provider's error code.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum ProviderErrorCode {
    /// The credentials are wrong.
    InvalidCredentials,
    /// The credentials expired or were revoked.
    AuthExpired,
    /// The provider asked us to slow down.
    RateLimited,
    /// The bot lacks scopes or permissions.
    InsufficientPermissions,
    /// The provider could not be reached.
    NetworkError,
    /// The provider failed or answered something unexpected.
    PlatformError,
}

impl From<sync_model::ProviderErrorCode> for ProviderErrorCode {
    fn from(code: sync_model::ProviderErrorCode) -> Self {
        match code {
            sync_model::ProviderErrorCode::InvalidCredentials => Self::InvalidCredentials,
            sync_model::ProviderErrorCode::AuthExpired => Self::AuthExpired,
            sync_model::ProviderErrorCode::RateLimited => Self::RateLimited,
            sync_model::ProviderErrorCode::InsufficientPermissions => Self::InsufficientPermissions,
            sync_model::ProviderErrorCode::NetworkError => Self::NetworkError,
            sync_model::ProviderErrorCode::PlatformError => Self::PlatformError,
        }
    }
}

/// Which way messages flow over a channel link.
#[derive(Enum, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub(crate) enum Direction {
    /// External → Hazel and Hazel → external.
    Both,
    /// External → Hazel only.
    Inbound,
    /// Hazel → external only.
    Outbound,
}

impl From<sync_model::Direction> for Direction {
    fn from(direction: sync_model::Direction) -> Self {
        match direction {
            sync_model::Direction::Both => Self::Both,
            sync_model::Direction::Inbound => Self::Inbound,
            sync_model::Direction::Outbound => Self::Outbound,
        }
    }
}

impl From<Direction> for sync_model::Direction {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::Both => Self::Both,
            Direction::Inbound => Self::Inbound,
            Direction::Outbound => Self::Outbound,
        }
    }
}

/// A connection's sync switches.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct ConnectionSettings {
    /// Sync thread replies as replies (else as top-level messages).
    pub(crate) sync_threads: bool,
    /// Sync reactions.
    pub(crate) sync_reactions: bool,
    /// Sync edits.
    pub(crate) sync_edits: bool,
    /// Sync deletes.
    pub(crate) sync_deletes: bool,
}

impl From<sync_model::ConnectionSettings> for ConnectionSettings {
    fn from(s: sync_model::ConnectionSettings) -> Self {
        Self {
            sync_threads: s.sync_threads,
            sync_reactions: s.sync_reactions,
            sync_edits: s.sync_edits,
            sync_deletes: s.sync_deletes,
        }
    }
}

/// A connection from an organization to an external workspace. Credentials are write-only and
/// never part of it.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct Connection {
    /// Id (UUID v7).
    pub(crate) id: String,
    /// The organization.
    pub(crate) organization_id: String,
    /// The platform.
    pub(crate) provider: Provider,
    /// The workspace on the platform (Slack team id, Discord guild id, Teams tenant).
    pub(crate) external_workspace_id: String,
    /// The workspace's name there; `null` when neither the client nor the provider told it.
    pub(crate) external_workspace_name: Nullable<String>,
    /// Display name of the connection.
    pub(crate) name: String,
    /// State.
    pub(crate) status: ConnectionStatus,
    /// Why the connection is in `error`.
    pub(crate) error_code: Option<ProviderErrorCode>,
    /// A human-readable reason for the `error` state.
    pub(crate) error_message: Option<String>,
    /// Another connection whose credentials this one uses.
    pub(crate) integration_connection_id: Option<String>,
    /// The bot's own user id on the platform (Slack bot user `U…`, Discord bot user
    /// snowflake), learnt when the credentials were last validated; `null` until then.
    pub(crate) external_bot_user_id: Nullable<String>,
    /// Sync switches.
    pub(crate) settings: ConnectionSettings,
    /// Client-supplied metadata (a JSON object).
    pub(crate) metadata: BTreeMap<String, Value>,
    /// Number of active channel links.
    pub(crate) channel_count: u64,
    /// Time of the last synced event.
    pub(crate) last_sync_at: Option<OffsetDateTime>,
    /// When it was created.
    pub(crate) created_at: OffsetDateTime,
    /// When it last changed.
    pub(crate) updated_at: OffsetDateTime,
    /// The user who created it.
    pub(crate) created_by: String,
}

impl From<ConnectionView> for Connection {
    fn from(view: ConnectionView) -> Self {
        let c = view.connection;
        let (error_code, error_message) = match &c.status {
            sync_model::ConnectionStatus::Error { code, message } => {
                (Some((*code).into()), Some(message.clone()))
            }
            sync_model::ConnectionStatus::Connected
            | sync_model::ConnectionStatus::Disconnected => (None, None),
        };
        let metadata = serde_json::from_str(c.metadata.as_str()).unwrap_or_else(|e| {
            // The edge only stores objects, so this means the stored text was altered.
            tracing::warn!(connection_id = %c.id, error = %e, "stored connection metadata is not a JSON object");
            BTreeMap::new()
        });
        Self {
            id: c.id.to_string(),
            organization_id: c.organization_id.to_string(),
            provider: c.provider.into(),
            external_workspace_id: c.external_workspace_id.as_str().to_owned(),
            external_workspace_name: Nullable(
                c.external_workspace_name.map(|n| n.as_str().to_owned()),
            ),
            name: c.name.as_str().to_owned(),
            status: (&c.status).into(),
            error_code,
            error_message,
            integration_connection_id: opaque(c.integration_connection_id.as_ref()),
            external_bot_user_id: Nullable(c.bot.map(|bot| bot.user_id.as_str().to_owned())),
            settings: c.settings.into(),
            metadata,
            channel_count: view.channel_count,
            last_sync_at: c.last_sync_at.map(utc),
            created_at: utc(c.created_at),
            updated_at: utc(c.updated_at),
            created_by: c.created_by.to_string(),
        }
    }
}

/// A channel link's settings. The optional switches override the connection's for this link.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct LinkSettings {
    /// Sync pins.
    pub(crate) sync_pins: bool,
    /// Map mentions between platforms.
    pub(crate) mention_mapping: bool,
    /// Overrides the connection's `syncThreads`.
    pub(crate) sync_threads: Option<bool>,
    /// Overrides the connection's `syncReactions`.
    pub(crate) sync_reactions: Option<bool>,
    /// Overrides the connection's `syncEdits`.
    pub(crate) sync_edits: Option<bool>,
    /// Overrides the connection's `syncDeletes`.
    pub(crate) sync_deletes: Option<bool>,
}

impl From<sync_model::LinkSettings> for LinkSettings {
    fn from(s: sync_model::LinkSettings) -> Self {
        Self {
            sync_pins: s.sync_pins,
            mention_mapping: s.mention_mapping,
            sync_threads: s.overrides.sync_threads,
            sync_reactions: s.overrides.sync_reactions,
            sync_edits: s.overrides.sync_edits,
            sync_deletes: s.overrides.sync_deletes,
        }
    }
}

/// A link between a Hazel channel and an external channel of one connection.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct ChannelLink {
    /// Id (UUID v7).
    pub(crate) id: String,
    /// The connection.
    pub(crate) connection_id: String,
    /// The Hazel channel.
    pub(crate) hazel_channel_id: String,
    /// The external channel.
    pub(crate) external_channel_id: String,
    /// The external channel's name.
    pub(crate) external_channel_name: Option<String>,
    /// Which way messages flow.
    pub(crate) direction: Direction,
    /// Whether the link syncs at all.
    pub(crate) is_active: bool,
    /// Link settings.
    pub(crate) settings: LinkSettings,
    /// When it was created.
    pub(crate) created_at: OffsetDateTime,
    /// When it last changed.
    pub(crate) updated_at: OffsetDateTime,
}

impl From<sync_model::ChannelLink> for ChannelLink {
    fn from(link: sync_model::ChannelLink) -> Self {
        Self {
            id: link.id.to_string(),
            connection_id: link.connection_id.to_string(),
            hazel_channel_id: link.hazel_channel_id.to_string(),
            external_channel_id: link.external_channel_id.as_str().to_owned(),
            external_channel_name: link.external_channel_name.map(|n| n.as_str().to_owned()),
            direction: link.direction.into(),
            is_active: link.is_active,
            settings: link.settings.into(),
            created_at: utc(link.created_at),
            updated_at: utc(link.updated_at),
        }
    }
}

/// A channel on the provider, as discovered live.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct ExternalChannel {
    /// Its id on the provider.
    pub(crate) id: String,
    /// Its name.
    pub(crate) name: String,
    /// Whether it is private.
    pub(crate) is_private: bool,
    /// Its member count; `null` when the provider does not tell (Discord).
    pub(crate) member_count: Nullable<u64>,
    /// Whether the bot is in the channel. A public channel it has not joined sends no events;
    /// linking or selecting it joins it.
    pub(crate) bot_is_member: bool,
    /// Whether an active link of this connection syncs it.
    pub(crate) sync_enabled: bool,
}

impl From<DiscoveredChannel> for ExternalChannel {
    fn from(found: DiscoveredChannel) -> Self {
        Self {
            id: found.channel.id.as_str().to_owned(),
            name: found.channel.name,
            is_private: found.channel.is_private,
            member_count: Nullable(found.channel.member_count),
            bot_is_member: found.channel.bot_is_member,
            sync_enabled: found.sync_enabled,
        }
    }
}

/// The provider's channels after a selection.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct ExternalChannelSelection {
    /// The channels the bot can see, with their new `syncEnabled`.
    pub(crate) data: Vec<ExternalChannel>,
    /// The id of the database transaction that applied the selection.
    pub(crate) transaction_id: String,
}

/// A connection whose credentials the provider accepted.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct ValidatedConnection {
    /// The connection.
    pub(crate) id: String,
    /// Its status now (`connected`).
    pub(crate) status: ConnectionStatus,
    /// When it was validated.
    pub(crate) validated_at: OffsetDateTime,
}

/// Why the provider refused a connection's credentials.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct ValidationFailure {
    /// The provider error code.
    pub(crate) code: ProviderErrorCode,
    /// A human-readable reason.
    pub(crate) message: String,
    /// Scopes or permissions still needed, with `INSUFFICIENT_PERMISSIONS`.
    pub(crate) required_scopes: Option<Vec<String>>,
    /// Seconds to wait before trying again, with `RATE_LIMITED`.
    pub(crate) retry_after_seconds: Option<u64>,
}

/// The outcome of `chatSyncConnectionValidate`: `{valid: true, connection}` or
/// `{valid: false, error}` (and the connection's status becomes `error`).
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub(crate) struct ConnectionValidation {
    /// Whether the provider accepted the stored credentials.
    pub(crate) valid: bool,
    /// The validated connection, when valid.
    pub(crate) connection: Option<ValidatedConnection>,
    /// Why not, when invalid.
    pub(crate) error: Option<ValidationFailure>,
    /// The id of the database transaction that recorded the outcome.
    pub(crate) transaction_id: String,
}

impl ConnectionValidation {
    /// Converts the domain outcome committed by `transaction_id`.
    pub(crate) fn new(outcome: ValidationOutcome, transaction_id: TransactionId) -> Self {
        let transaction_id = transaction_id.to_string();
        match outcome {
            ValidationOutcome::Valid {
                connection_id,
                status,
                validated_at,
            } => Self {
                valid: true,
                connection: Some(ValidatedConnection {
                    id: connection_id.to_string(),
                    status: (&status).into(),
                    validated_at: utc(validated_at),
                }),
                error: None,
                transaction_id,
            },
            ValidationOutcome::Invalid { error } => {
                let (required_scopes, retry_after_seconds) = match &error {
                    sync_model::ProviderError::InsufficientPermissions {
                        required_scopes, ..
                    } => (Some(required_scopes.clone()), None),
                    sync_model::ProviderError::RateLimited {
                        retry_after_seconds,
                    } => (None, Some(*retry_after_seconds)),
                    sync_model::ProviderError::InvalidCredentials { .. }
                    | sync_model::ProviderError::AuthExpired { .. }
                    | sync_model::ProviderError::Network { .. }
                    | sync_model::ProviderError::Platform { .. } => (None, None),
                };
                Self {
                    valid: false,
                    connection: None,
                    error: Some(ValidationFailure {
                        code: error.code().into(),
                        message: error.to_string(),
                        required_scopes,
                        retry_after_seconds,
                    }),
                    transaction_id,
                }
            }
        }
    }
}
