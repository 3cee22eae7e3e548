//! Indexes for the lookups the sync engine and the unread lists make.

use sea_orm_migration::prelude::*;

/// Adds partial indexes for finding links by Hazel channel, connections by workspace, and a
/// member's unread notifications.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000002_sync_lookup_indexes"
    }
}

/// `(name, definition)` of each index. Partial indexes are plain SQL that SQLite and
/// PostgreSQL both accept (sea-query cannot express the `WHERE` clause).
const INDEXES: [(&str, &str); 3] = [
    // The sync engine finds the links to deliver to for every Hazel write, by channel.
    (
        "idx_chat_sync_channel_links_live_hazel_channel",
        "ON chat_sync_channel_links (hazel_channel_id) WHERE deleted_at IS NULL",
    ),
    // Webhooks are routed to their connection by the provider's team (workspace) id, across
    // organizations; the unique index on live workspaces starts with the organization.
    (
        "idx_chat_sync_connections_live_provider_workspace",
        "ON chat_sync_connections (provider, external_workspace_id) WHERE deleted_at IS NULL",
    ),
    // Unread lists page a member's unread notifications by id.
    (
        "idx_notifications_unread_member_id",
        "ON notifications (member_id, id) WHERE read_at IS NULL",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, definition) in INDEXES {
            db.execute_unprepared(&format!("CREATE INDEX {name} {definition}"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        // Both backends have transactional DDL: a failed migration leaves nothing behind.
        Some(true)
    }
}
