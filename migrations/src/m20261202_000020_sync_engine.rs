//! The sync engine's state: event receipts, the outbox, message links and link claims.
//!
//! Queue times (`next_attempt_at`, leases, `created_at`, `completed_at`, …) are integers:
//! microseconds since the Unix epoch, so that due-work queries compare plain numbers the same
//! way on SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// Creates `chat_sync_event_receipts`, `chat_sync_outbox`, `chat_sync_message_links` and
/// `chat_sync_link_claims` (and, on PostgreSQL, the outbox's sequence).
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000020_sync_engine"
    }
}

/// The tables, with `{id}` standing for the id column type (byte-wise collation on
/// PostgreSQL, so UUID v7 strings sort in creation order whatever the locale).
const TABLES: [&str; 4] = [
    // One row per inbound event; unique per (connection, source, dedupe key).
    "CREATE TABLE chat_sync_event_receipts (
        id {id} PRIMARY KEY,
        connection_id {id} NOT NULL,
        source TEXT NOT NULL,
        dedupe_key TEXT NOT NULL,
        kind TEXT NULL,
        event TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NULL,
        attempts BIGINT NOT NULL,
        next_attempt_at BIGINT NULL,
        last_error_code TEXT NULL,
        last_error_message TEXT NULL,
        hazel_message_id {id} NULL,
        channel_link_id {id} NULL,
        external_message_id TEXT NULL,
        lease_owner {id} NULL,
        lease_expires_at BIGINT NULL,
        created_at BIGINT NOT NULL,
        completed_at BIGINT NULL
    )",
    // One row per change to carry to one link, delivered in `sequence` order per link.
    "CREATE TABLE chat_sync_outbox (
        id {id} PRIMARY KEY,
        connection_id {id} NOT NULL,
        channel_link_id {id} NOT NULL,
        sequence BIGINT NOT NULL,
        kind TEXT NOT NULL,
        hazel_message_id {id} NOT NULL,
        emoji TEXT NULL,
        status TEXT NOT NULL,
        reason TEXT NULL,
        attempts BIGINT NOT NULL,
        next_attempt_at BIGINT NULL,
        unresolved_since BIGINT NULL,
        last_error_code TEXT NULL,
        last_error_message TEXT NULL,
        external_message_id TEXT NULL,
        created_at BIGINT NOT NULL,
        completed_at BIGINT NULL
    )",
    // What a Hazel message is through one link: every part, thread, last content and reactions.
    "CREATE TABLE chat_sync_message_links (
        id {id} PRIMARY KEY,
        channel_link_id {id} NOT NULL,
        hazel_message_id {id} NOT NULL,
        external_root_id TEXT NOT NULL,
        external_parts TEXT NOT NULL,
        source TEXT NOT NULL,
        thread_parent_id TEXT NULL,
        thread_channel_id TEXT NULL,
        content_hash TEXT NOT NULL,
        reactions TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    )",
    // Which worker holds a link's queue, until when.
    "CREATE TABLE chat_sync_link_claims (
        channel_link_id {id} PRIMARY KEY,
        connection_id {id} NOT NULL,
        worker_id {id} NOT NULL,
        expires_at BIGINT NOT NULL
    )",
];

/// `(name, definition)` of each index; partial indexes are plain SQL both backends accept.
const INDEXES: [(&str, &str); 8] = [
    (
        "uq_chat_sync_event_receipts_dedupe",
        "UNIQUE INDEX {name} ON chat_sync_event_receipts (connection_id, source, dedupe_key)",
    ),
    // Receipt workers take due pending receipts, oldest first.
    (
        "idx_chat_sync_event_receipts_due",
        "INDEX {name} ON chat_sync_event_receipts (next_attempt_at) WHERE status = 'pending'",
    ),
    // The deliveries API pages a connection's receipts by id.
    (
        "idx_chat_sync_event_receipts_connection",
        "INDEX {name} ON chat_sync_event_receipts (connection_id, id)",
    ),
    (
        "uq_chat_sync_outbox_link_sequence",
        "UNIQUE INDEX {name} ON chat_sync_outbox (channel_link_id, sequence)",
    ),
    // Delivery workers find each link's pending head.
    (
        "idx_chat_sync_outbox_pending",
        "INDEX {name} ON chat_sync_outbox (channel_link_id, sequence) WHERE status = 'pending'",
    ),
    (
        "idx_chat_sync_outbox_connection",
        "INDEX {name} ON chat_sync_outbox (connection_id, id)",
    ),
    (
        "uq_chat_sync_message_links_hazel",
        "UNIQUE INDEX {name} ON chat_sync_message_links (channel_link_id, hazel_message_id)",
    ),
    (
        "uq_chat_sync_message_links_external",
        "UNIQUE INDEX {name} ON chat_sync_message_links (channel_link_id, external_root_id)",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        let id = if postgres {
            r#"TEXT COLLATE "C""#
        } else {
            "TEXT"
        };
        let db = manager.get_connection();
        for table in TABLES {
            db.execute_unprepared(&table.replace("{id}", id)).await?;
        }
        for (name, definition) in INDEXES {
            db.execute_unprepared(&format!("CREATE {}", definition.replace("{name}", name)))
                .await?;
        }
        if postgres {
            // The outbox's order: a sequence, never a counter row, so writers run in parallel.
            db.execute_unprepared("CREATE SEQUENCE chat_sync_outbox_sequence")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in [
            "chat_sync_link_claims",
            "chat_sync_message_links",
            "chat_sync_outbox",
            "chat_sync_event_receipts",
        ] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared("DROP SEQUENCE IF EXISTS chat_sync_outbox_sequence")
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        // Both backends have transactional DDL: a failed migration leaves nothing behind.
        Some(true)
    }
}
