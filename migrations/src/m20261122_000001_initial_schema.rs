//! The initial schema: identity, channels, messages, notifications and chat sync.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// Creates every table of the first release.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_initial_schema"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let cols = Columns::for_backend(manager.get_database_backend());
        for table in tables(&cols) {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        // sea-query cannot express partial indexes; this SQL is the same on SQLite and
        // PostgreSQL. Soft-deleted rows must not block a new connection or link, so uniqueness
        // only holds among live rows.
        let db = manager.get_connection();
        for sql in PARTIAL_INDEXES {
            db.execute_unprepared(sql).await?;
        }
        db.execute_unprepared("INSERT INTO transaction_counter (id, value) VALUES (1, 0)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents, so foreign keys never dangle.
        let tables: [DynIden; 11] = [
            ChatSyncChannelLinks::Table.into_iden(),
            ChatSyncConnections::Table.into_iden(),
            Notifications::Table.into_iden(),
            Reactions::Table.into_iden(),
            Messages::Table.into_iden(),
            Channels::Table.into_iden(),
            Members::Table.into_iden(),
            Organizations::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Users::Table.into_iden(),
            TransactionCounter::Table.into_iden(),
        ];
        for table in tables {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        // Both backends have transactional DDL: a failed migration leaves nothing behind.
        Some(true)
    }
}

/// Column builders that differ per backend.
struct Columns {
    /// Extra clause for id columns: byte-wise collation on PostgreSQL, so that the canonical
    /// UUID strings sort in id (creation) order whatever the database's locale is. SQLite
    /// compares text byte-wise already.
    id_collation: Option<&'static str>,
}

impl Columns {
    fn for_backend(backend: DatabaseBackend) -> Self {
        let id_collation = match backend {
            DatabaseBackend::Postgres => Some(r#"COLLATE "C""#),
            _ => None,
        };
        Self { id_collation }
    }

    /// A canonical UUID string column.
    fn id_text<T: IntoIden>(&self, name: T) -> ColumnDef {
        let mut col = ColumnDef::new(name);
        col.text();
        if let Some(collation) = self.id_collation {
            col.extra(collation);
        }
        col
    }

    /// The primary key.
    fn pk<T: IntoIden>(&self, name: T) -> ColumnDef {
        self.id_text(name).not_null().primary_key().take()
    }

    /// A required reference to another row.
    fn id_ref<T: IntoIden>(&self, name: T) -> ColumnDef {
        self.id_text(name).not_null().take()
    }

    /// An optional reference to another row.
    fn id_ref_null<T: IntoIden>(&self, name: T) -> ColumnDef {
        self.id_text(name).null().take()
    }
}

fn text<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).text().not_null().take()
}

fn text_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).text().null().take()
}

fn boolean<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).boolean().not_null().take()
}

fn boolean_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).boolean().null().take()
}

fn timestamp<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

fn timestamp_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .take()
}

fn fk<T: IntoIden, R: IntoIden>(
    name: &str,
    (table, column): (T, T),
    (ref_table, ref_column): (R, R),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(ref_table, ref_column)
        .on_delete(ForeignKeyAction::Restrict)
        .on_update(ForeignKeyAction::Restrict)
        .take()
}

fn tables(c: &Columns) -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(TransactionCounter::Table)
            .col(
                ColumnDef::new(TransactionCounter::Id)
                    .integer()
                    .not_null()
                    .primary_key(),
            )
            .col(
                ColumnDef::new(TransactionCounter::Value)
                    .big_integer()
                    .not_null(),
            )
            // Exactly one row: the counter every commit increments.
            .check(("transaction_counter_single_row", Expr::cust("id = 1")))
            .take(),
        Table::create()
            .table(Users::Table)
            .col(c.pk(Users::Id))
            .col(text(Users::Email).unique_key().take())
            .col(text(Users::Name))
            .col(timestamp(Users::CreatedAt))
            .take(),
        Table::create()
            .table(ApiTokens::Table)
            .col(c.pk(ApiTokens::Id))
            .col(c.id_ref(ApiTokens::UserId))
            .col(text(ApiTokens::Hash).unique_key().take())
            .col(timestamp(ApiTokens::CreatedAt))
            .foreign_key(&mut fk(
                "fk_api_tokens_user",
                (ApiTokens::Table, ApiTokens::UserId),
                (Users::Table, Users::Id),
            ))
            .take(),
        Table::create()
            .table(Organizations::Table)
            .col(c.pk(Organizations::Id))
            .col(text(Organizations::Name))
            .col(text(Organizations::Slug).unique_key().take())
            .col(timestamp(Organizations::CreatedAt))
            .take(),
        Table::create()
            .table(Members::Table)
            .col(c.pk(Members::Id))
            .col(c.id_ref(Members::OrganizationId))
            .col(c.id_ref_null(Members::UserId))
            .col(text_null(Members::ExternalProvider))
            .col(text_null(Members::ExternalUserId))
            .col(text(Members::Name))
            .col(text_null(Members::AvatarUrl))
            .col(text(Members::Role))
            .col(timestamp(Members::CreatedAt))
            // A member is either native (a user) or a shadow (an external author), never both.
            .check((
                "members_native_or_shadow",
                Expr::cust(
                    "(user_id IS NOT NULL AND external_provider IS NULL AND external_user_id IS NULL) \
                     OR (user_id IS NULL AND external_provider IS NOT NULL AND external_user_id IS NOT NULL)",
                ),
            ))
            .foreign_key(&mut fk(
                "fk_members_organization",
                (Members::Table, Members::OrganizationId),
                (Organizations::Table, Organizations::Id),
            ))
            .foreign_key(&mut fk(
                "fk_members_user",
                (Members::Table, Members::UserId),
                (Users::Table, Users::Id),
            ))
            .take(),
        Table::create()
            .table(Channels::Table)
            .col(c.pk(Channels::Id))
            .col(c.id_ref(Channels::OrganizationId))
            .col(text(Channels::Name))
            .col(text(Channels::Type))
            .col(c.id_ref_null(Channels::ParentChannelId))
            .col(timestamp(Channels::CreatedAt))
            .check((
                "channels_thread_has_parent",
                Expr::cust(
                    "(type = 'thread' AND parent_channel_id IS NOT NULL) \
                     OR (type IN ('public', 'private') AND parent_channel_id IS NULL)",
                ),
            ))
            .foreign_key(&mut fk(
                "fk_channels_organization",
                (Channels::Table, Channels::OrganizationId),
                (Organizations::Table, Organizations::Id),
            ))
            .foreign_key(&mut fk(
                "fk_channels_parent",
                (Channels::Table, Channels::ParentChannelId),
                (Channels::Table, Channels::Id),
            ))
            .take(),
        Table::create()
            .table(Messages::Table)
            .col(c.pk(Messages::Id))
            .col(c.id_ref(Messages::ChannelId))
            .col(c.id_ref(Messages::AuthorId))
            .col(text(Messages::Content))
            .col(c.id_ref_null(Messages::ParentMessageId))
            // A JSON array of {url, name, contentType}; attachments are only ever read with
            // their message, so a child table would buy nothing.
            .col(text(Messages::Attachments))
            .col(timestamp(Messages::CreatedAt))
            .col(timestamp_null(Messages::EditedAt))
            .col(timestamp_null(Messages::DeletedAt))
            .foreign_key(&mut fk(
                "fk_messages_channel",
                (Messages::Table, Messages::ChannelId),
                (Channels::Table, Channels::Id),
            ))
            .foreign_key(&mut fk(
                "fk_messages_author",
                (Messages::Table, Messages::AuthorId),
                (Members::Table, Members::Id),
            ))
            .foreign_key(&mut fk(
                "fk_messages_parent",
                (Messages::Table, Messages::ParentMessageId),
                (Messages::Table, Messages::Id),
            ))
            .take(),
        Table::create()
            .table(Reactions::Table)
            .col(c.pk(Reactions::Id))
            .col(c.id_ref(Reactions::MessageId))
            .col(c.id_ref(Reactions::MemberId))
            .col(text(Reactions::Emoji))
            .col(timestamp(Reactions::CreatedAt))
            .foreign_key(&mut fk(
                "fk_reactions_message",
                (Reactions::Table, Reactions::MessageId),
                (Messages::Table, Messages::Id),
            ))
            .foreign_key(&mut fk(
                "fk_reactions_member",
                (Reactions::Table, Reactions::MemberId),
                (Members::Table, Members::Id),
            ))
            .take(),
        Table::create()
            .table(Notifications::Table)
            .col(c.pk(Notifications::Id))
            .col(c.id_ref(Notifications::OrganizationId))
            .col(c.id_ref(Notifications::MemberId))
            .col(text_null(Notifications::TargetedResourceId))
            .col(text_null(Notifications::TargetedResourceType))
            .col(text_null(Notifications::ResourceId))
            .col(text_null(Notifications::ResourceType))
            // NULLs are distinct in a unique index on both backends: notifications without a
            // key never collide.
            .col(text_null(Notifications::DedupeKey).unique_key().take())
            .col(timestamp(Notifications::CreatedAt))
            .col(timestamp_null(Notifications::ReadAt))
            .foreign_key(&mut fk(
                "fk_notifications_organization",
                (Notifications::Table, Notifications::OrganizationId),
                (Organizations::Table, Organizations::Id),
            ))
            .foreign_key(&mut fk(
                "fk_notifications_member",
                (Notifications::Table, Notifications::MemberId),
                (Members::Table, Members::Id),
            ))
            .take(),
        Table::create()
            .table(ChatSyncConnections::Table)
            .col(c.pk(ChatSyncConnections::Id))
            .col(c.id_ref(ChatSyncConnections::OrganizationId))
            .col(text(ChatSyncConnections::Provider))
            .col(text(ChatSyncConnections::ExternalWorkspaceId))
            .col(text_null(ChatSyncConnections::ExternalWorkspaceName))
            .col(text(ChatSyncConnections::Name))
            .col(text(ChatSyncConnections::Status))
            .col(text_null(ChatSyncConnections::ErrorCode))
            .col(text_null(ChatSyncConnections::ErrorMessage))
            .col(text_null(ChatSyncConnections::IntegrationConnectionId))
            .col(
                ColumnDef::new(ChatSyncConnections::Credentials)
                    .blob()
                    .null(),
            )
            .col(boolean(ChatSyncConnections::SyncThreads))
            .col(boolean(ChatSyncConnections::SyncReactions))
            .col(boolean(ChatSyncConnections::SyncEdits))
            .col(boolean(ChatSyncConnections::SyncDeletes))
            .col(text(ChatSyncConnections::Metadata))
            .col(timestamp_null(ChatSyncConnections::LastSyncAt))
            .col(timestamp(ChatSyncConnections::CreatedAt))
            .col(timestamp(ChatSyncConnections::UpdatedAt))
            .col(c.id_ref(ChatSyncConnections::CreatedBy))
            .col(timestamp_null(ChatSyncConnections::DeletedAt))
            // The error columns are set exactly when the status is `error`.
            .check((
                "chat_sync_connections_error_columns",
                Expr::cust(
                    "(status = 'error' AND error_code IS NOT NULL AND error_message IS NOT NULL) \
                     OR (status IN ('connected', 'disconnected') AND error_code IS NULL AND error_message IS NULL)",
                ),
            ))
            .foreign_key(&mut fk(
                "fk_chat_sync_connections_organization",
                (
                    ChatSyncConnections::Table,
                    ChatSyncConnections::OrganizationId,
                ),
                (Organizations::Table, Organizations::Id),
            ))
            .foreign_key(&mut fk(
                "fk_chat_sync_connections_created_by",
                (ChatSyncConnections::Table, ChatSyncConnections::CreatedBy),
                (Users::Table, Users::Id),
            ))
            .take(),
        Table::create()
            .table(ChatSyncChannelLinks::Table)
            .col(c.pk(ChatSyncChannelLinks::Id))
            .col(c.id_ref(ChatSyncChannelLinks::ConnectionId))
            .col(c.id_ref(ChatSyncChannelLinks::HazelChannelId))
            .col(text(ChatSyncChannelLinks::ExternalChannelId))
            .col(text_null(ChatSyncChannelLinks::ExternalChannelName))
            .col(text(ChatSyncChannelLinks::Direction))
            .col(boolean(ChatSyncChannelLinks::IsActive))
            .col(boolean(ChatSyncChannelLinks::SyncPins))
            .col(boolean(ChatSyncChannelLinks::MentionMapping))
            // NULL means "use the connection's setting".
            .col(boolean_null(ChatSyncChannelLinks::SyncThreadsOverride))
            .col(boolean_null(ChatSyncChannelLinks::SyncReactionsOverride))
            .col(boolean_null(ChatSyncChannelLinks::SyncEditsOverride))
            .col(boolean_null(ChatSyncChannelLinks::SyncDeletesOverride))
            .col(timestamp(ChatSyncChannelLinks::CreatedAt))
            .col(timestamp(ChatSyncChannelLinks::UpdatedAt))
            .col(timestamp_null(ChatSyncChannelLinks::DeletedAt))
            .foreign_key(&mut fk(
                "fk_chat_sync_channel_links_connection",
                (
                    ChatSyncChannelLinks::Table,
                    ChatSyncChannelLinks::ConnectionId,
                ),
                (ChatSyncConnections::Table, ChatSyncConnections::Id),
            ))
            .foreign_key(&mut fk(
                "fk_chat_sync_channel_links_channel",
                (
                    ChatSyncChannelLinks::Table,
                    ChatSyncChannelLinks::HazelChannelId,
                ),
                (Channels::Table, Channels::Id),
            ))
            .take(),
    ]
}

/// Indexes serving the list queries (each filters on its first column and pages by id) and
/// the lookups behind foreign keys.
fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create()
            .name("idx_api_tokens_user")
            .table(ApiTokens::Table)
            .col(ApiTokens::UserId)
            .take(),
        // Serves find_for_user; a NULL user_id (shadow member) never collides.
        Index::create()
            .name("uq_members_organization_user")
            .table(Members::Table)
            .col(Members::OrganizationId)
            .col(Members::UserId)
            .unique()
            .take(),
        Index::create()
            .name("uq_members_organization_external_user")
            .table(Members::Table)
            .col(Members::OrganizationId)
            .col(Members::ExternalProvider)
            .col(Members::ExternalUserId)
            .unique()
            .take(),
        Index::create()
            .name("idx_members_user")
            .table(Members::Table)
            .col(Members::UserId)
            .take(),
        Index::create()
            .name("idx_members_organization_id")
            .table(Members::Table)
            .col(Members::OrganizationId)
            .col(Members::Id)
            .take(),
        Index::create()
            .name("idx_channels_organization_id")
            .table(Channels::Table)
            .col(Channels::OrganizationId)
            .col(Channels::Id)
            .take(),
        Index::create()
            .name("idx_messages_channel_id")
            .table(Messages::Table)
            .col(Messages::ChannelId)
            .col(Messages::Id)
            .take(),
        // Also serves loading the reactions of a page of messages (`message_id IN (…)`).
        Index::create()
            .name("uq_reactions_message_member_emoji")
            .table(Reactions::Table)
            .col(Reactions::MessageId)
            .col(Reactions::MemberId)
            .col(Reactions::Emoji)
            .unique()
            .take(),
        Index::create()
            .name("idx_notifications_member_id")
            .table(Notifications::Table)
            .col(Notifications::MemberId)
            .col(Notifications::Id)
            .take(),
        // Deleting notifications about messages and reactions looks them up by resource.
        Index::create()
            .name("idx_notifications_targeted_resource")
            .table(Notifications::Table)
            .col(Notifications::TargetedResourceId)
            .take(),
        Index::create()
            .name("idx_notifications_resource")
            .table(Notifications::Table)
            .col(Notifications::ResourceId)
            .take(),
    ]
}

const PARTIAL_INDEXES: [&str; 5] = [
    "CREATE UNIQUE INDEX uq_chat_sync_connections_live_workspace \
     ON chat_sync_connections (organization_id, provider, external_workspace_id) \
     WHERE deleted_at IS NULL",
    "CREATE INDEX idx_chat_sync_connections_live_organization_id \
     ON chat_sync_connections (organization_id, id) WHERE deleted_at IS NULL",
    "CREATE UNIQUE INDEX uq_chat_sync_channel_links_live_hazel_channel \
     ON chat_sync_channel_links (connection_id, hazel_channel_id) WHERE deleted_at IS NULL",
    "CREATE UNIQUE INDEX uq_chat_sync_channel_links_live_external_channel \
     ON chat_sync_channel_links (connection_id, external_channel_id) WHERE deleted_at IS NULL",
    "CREATE INDEX idx_chat_sync_channel_links_live_connection_id \
     ON chat_sync_channel_links (connection_id, id) WHERE deleted_at IS NULL",
];

#[derive(DeriveIden)]
enum TransactionCounter {
    Table,
    Id,
    Value,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Hash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    Slug,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Members {
    Table,
    Id,
    OrganizationId,
    UserId,
    ExternalProvider,
    ExternalUserId,
    Name,
    AvatarUrl,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Channels {
    Table,
    Id,
    OrganizationId,
    Name,
    Type,
    ParentChannelId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ChannelId,
    AuthorId,
    Content,
    ParentMessageId,
    Attachments,
    CreatedAt,
    EditedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Reactions {
    Table,
    Id,
    MessageId,
    MemberId,
    Emoji,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    OrganizationId,
    MemberId,
    TargetedResourceId,
    TargetedResourceType,
    ResourceId,
    ResourceType,
    DedupeKey,
    CreatedAt,
    ReadAt,
}

#[derive(DeriveIden)]
enum ChatSyncConnections {
    Table,
    Id,
    OrganizationId,
    Provider,
    ExternalWorkspaceId,
    ExternalWorkspaceName,
    Name,
    Status,
    ErrorCode,
    ErrorMessage,
    IntegrationConnectionId,
    Credentials,
    SyncThreads,
    SyncReactions,
    SyncEdits,
    SyncDeletes,
    Metadata,
    LastSyncAt,
    CreatedAt,
    UpdatedAt,
    CreatedBy,
    DeletedAt,
}

#[derive(DeriveIden)]
enum ChatSyncChannelLinks {
    Table,
    Id,
    ConnectionId,
    HazelChannelId,
    ExternalChannelId,
    ExternalChannelName,
    Direction,
    IsActive,
    SyncPins,
    MentionMapping,
    SyncThreadsOverride,
    SyncReactionsOverride,
    SyncEditsOverride,
    SyncDeletesOverride,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}
