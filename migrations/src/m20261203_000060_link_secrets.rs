//! Link secrets: what an adapter keeps per channel link across restarts (the Discord link's
//! webhook id and token), sealed by the vault.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// Creates `chat_sync_link_secrets`: one row per channel link holding its adapter's secret
/// as the vault sealed it (bound to the link), and when it was written (microseconds since
/// the Unix epoch). The secret lives apart from the link's row, so no read of links (and no
/// API answer built from one) carries it. Links are soft-deleted, so there is no foreign key:
/// the changes that delete a link or its connection delete its secret in the same
/// transaction.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000060_link_secrets"
    }
}

const TABLE: &str = "CREATE TABLE chat_sync_link_secrets (
    channel_link_id {id} PRIMARY KEY,
    sealed {bytes} NOT NULL,
    updated_at BIGINT NOT NULL
)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let (id, bytes) = if manager.get_database_backend() == DatabaseBackend::Postgres {
            (r#"TEXT COLLATE "C""#, "BYTEA")
        } else {
            ("TEXT", "BLOB")
        };
        manager
            .get_connection()
            .execute_unprepared(&TABLE.replace("{id}", id).replace("{bytes}", bytes))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS chat_sync_link_secrets")
            .await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        // Both backends have transactional DDL: a failed migration leaves nothing behind.
        Some(true)
    }
}
