//! The bot identity of a connection, learnt while validating its credentials.

use sea_orm_migration::prelude::*;

/// Adds `external_bot_user_id` (Slack `auth.test` `user_id`, Discord bot user id; answered as
/// `externalBotUserId`), `external_bot_id` (Slack `bot_id`) and `external_app_id` (Slack
/// `bots.info` `app_id`, Discord application id) to `chat_sync_connections`. All nullable:
/// rows written before this migration learn them at their next validation.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000010_connection_bot_identity"
    }
}

/// The added columns. Plain `ALTER TABLE … ADD COLUMN`, one column per statement: SQLite
/// accepts no more, and PostgreSQL adds a nullable column without rewriting the table.
const COLUMNS: [&str; 3] = ["external_bot_user_id", "external_bot_id", "external_app_id"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for column in COLUMNS {
            db.execute_unprepared(&format!(
                "ALTER TABLE chat_sync_connections ADD COLUMN {column} TEXT NULL"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for column in COLUMNS {
            db.execute_unprepared(&format!(
                "ALTER TABLE chat_sync_connections DROP COLUMN {column}"
            ))
            .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        // Both backends have transactional DDL: a failed migration leaves nothing behind.
        Some(true)
    }
}
