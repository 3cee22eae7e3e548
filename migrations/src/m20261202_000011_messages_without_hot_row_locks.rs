//! PostgreSQL: messages no longer take a row lock on their channel and author.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Drops the foreign keys `fk_messages_channel` and `fk_messages_author` on PostgreSQL.
///
/// PostgreSQL checks a foreign key by locking the referenced row (`FOR KEY SHARE`) until the
/// inserting transaction ends. Every message of a busy channel references the same channel
/// row, and every message a bridge relays from one external author the same member row, so
/// concurrent inserts share those locks, and a row share-locked by several transactions at once
/// becomes a MultiXact, which PostgreSQL records in a log of its own: measured with `pgbench`
/// (16 clients, one referenced row), a foreign key cost 25–40 % of the insert rate.
///
/// Nothing is lost by dropping them: channels and members are never deleted (nor their ids
/// changed), and a message is only written after the service found its channel and author
/// (`MessageService::post`, the sync engine's ingest). SQLite keeps the constraints: it takes
/// no row locks (one writer at a time), so they cost nothing there, and it cannot drop a
/// constraint without rebuilding the table. `fk_messages_parent` stays on both: it is only
/// checked for replies, whose parents are spread over many rows.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000011_messages_without_hot_row_locks"
    }
}

/// The constraints dropped, and how to put each back.
const CONSTRAINTS: [(&str, &str); 2] = [
    (
        "fk_messages_channel",
        "FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE RESTRICT ON UPDATE RESTRICT",
    ),
    (
        "fk_messages_author",
        "FOREIGN KEY (author_id) REFERENCES members (id) ON DELETE RESTRICT ON UPDATE RESTRICT",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (name, _) in CONSTRAINTS {
            db.execute_unprepared(&format!(
                "ALTER TABLE messages DROP CONSTRAINT IF EXISTS {name}"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (name, definition) in CONSTRAINTS {
            db.execute_unprepared(&format!(
                "ALTER TABLE messages ADD CONSTRAINT {name} {definition}"
            ))
            .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        // PostgreSQL has transactional DDL: a failed migration leaves nothing behind.
        Some(true)
    }
}
