//! Whether a synced message is pinned, per message link.

use sea_orm_migration::prelude::*;

/// Adds `pinned` to `chat_sync_message_links`: whether the external message is pinned as last
/// synced through the link, so a repeated pin (or unpin) event changes nothing and is not
/// relayed again. Rows written before this migration start unpinned.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000050_message_link_pins"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE chat_sync_message_links ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT FALSE",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE chat_sync_message_links DROP COLUMN pinned")
            .await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        // Both backends have transactional DDL: a failed migration leaves nothing behind.
        Some(true)
    }
}
