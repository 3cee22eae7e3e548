//! Session leases: one row per connection naming the process that runs its provider session.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// Creates `chat_sync_session_leases`: one row per connection whose long-lived provider
/// session (Slack Socket Mode, the Discord gateway) some process runs or ran, with the holder,
/// the fencing token of its taking, and the heartbeat and expiry times (microseconds since
/// the Unix epoch, like the sync engine's claims). No foreign key: a deleted connection's row
/// is simply never renewed again.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000040_session_leases"
    }
}

const TABLE: &str = "CREATE TABLE chat_sync_session_leases (
    connection_id {id} PRIMARY KEY,
    holder_id {id} NOT NULL,
    token {id} NOT NULL,
    acquired_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let id = if manager.get_database_backend() == DatabaseBackend::Postgres {
            r#"TEXT COLLATE "C""#
        } else {
            "TEXT"
        };
        manager
            .get_connection()
            .execute_unprepared(&TABLE.replace("{id}", id))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS chat_sync_session_leases")
            .await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        // Both backends have transactional DDL: a failed migration leaves nothing behind.
        Some(true)
    }
}
