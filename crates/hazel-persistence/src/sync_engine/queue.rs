//! [`SyncQueue`]: leases on links' queues and on receipts, shared by every process.
//!
//! A link claim is a row of `chat_sync_link_claims`: taken with one
//! `INSERT … ON CONFLICT DO UPDATE … WHERE expires_at <= now`, so of two workers racing for
//! a free (or expired) link exactly one gets it — on PostgreSQL the second waits for the
//! first's row and then finds it held. Receipts are leased in place with `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL (SQLite has one writer, so its claims never race). A worker that dies
//! holding a lease loses it when it expires; its guarded writes (`Holds…`) then refuse.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use hazel_domain::ids::{ChannelLinkId, WorkerId};
use hazel_domain::model::Timestamp;
use hazel_domain::model::chat_sync::Provider;
use hazel_domain::model::delivery::{LinkClaim, QueuedDelivery, ReceiptLease};
use hazel_domain::ports::{QueueError, QueueStats, SyncQueue};
use sea_orm::{ConnectionTrait as _, DbBackend, QueryResult, Value};

use super::{
    OUTBOX_COLUMNS, RECEIPT_COLUMNS, from_micros, micros, queued_of, receipt_of, statement,
};
use crate::Database;
use crate::entity::parse_id;
use crate::error::db_error;

fn lease_end(now: Timestamp, lease: Duration) -> i64 {
    micros(now + lease)
}

impl Database {
    /// Runs one bookkeeping write (with `$n` placeholders) in a transaction of its own on the
    /// [bookkeeping connection](Database::bookkeeping), which commits without waiting for the
    /// disk, and answers the rows it returns. On SQLite it waits for the one writer like every
    /// write.
    async fn write_rows(
        &self,
        sql: &str,
        values: Vec<Value>,
        doing: &str,
    ) -> Result<Vec<QueryResult>, QueueError> {
        let _gate = if self.is_sqlite() {
            Some(self.lock_write_gate().await)
        } else {
            None
        };
        let backend = self.connection().get_database_backend();
        let txn = self
            .begin_bookkeeping()
            .await
            .map_err(|e| db_error(e, "beginning a queue write"))?;
        let rows = match txn.query_all_raw(statement(backend, sql, values)).await {
            Ok(rows) => rows,
            Err(err) => {
                let _ = txn.rollback().await;
                return Err(db_error(err, doing).into());
            }
        };
        txn.commit()
            .await
            .map_err(|e| db_error(e, "committing a queue write"))?;
        Ok(rows)
    }

    async fn read_queue(
        &self,
        sql: &str,
        values: Vec<Value>,
        doing: &str,
    ) -> Result<Vec<QueryResult>, QueueError> {
        let backend = self.connection().get_database_backend();
        self.connection()
            .query_all_raw(statement(backend, sql, values))
            .await
            .map_err(|e| db_error(e, doing).into())
    }
}

#[async_trait]
impl SyncQueue for Database {
    async fn claim_links(
        &self,
        worker: WorkerId,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<LinkClaim>, QueueError> {
        // Most looks find every link with work claimed already (by this process's other
        // tasks or another process): a read says so without a write transaction, which on
        // SQLite would hold the one writer (measured: four in five claims of a busy
        // engine's delivery tasks found nothing).
        let claimable = self
            .read_queue(
                "SELECT 1 AS found FROM chat_sync_outbox o \
                 JOIN chat_sync_connections c ON c.id = o.connection_id \
                 WHERE o.status = 'pending' AND o.next_attempt_at <= $1 \
                   AND c.deleted_at IS NULL AND c.status = 'connected' \
                   AND NOT EXISTS (SELECT 1 FROM chat_sync_link_claims k \
                       WHERE k.channel_link_id = o.channel_link_id AND k.expires_at > $1) \
                 LIMIT 1",
                vec![micros(now).into()],
                "looking for claimable links",
            )
            .await?;
        if claimable.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .write_rows(
                "INSERT INTO chat_sync_link_claims \
                     (channel_link_id, connection_id, worker_id, expires_at) \
                 SELECT o.channel_link_id, MIN(o.connection_id), $1, $2 \
                 FROM chat_sync_outbox o \
                 JOIN chat_sync_connections c ON c.id = o.connection_id \
                 WHERE o.status = 'pending' AND o.next_attempt_at <= $3 \
                   AND c.deleted_at IS NULL AND c.status = 'connected' \
                   AND o.sequence = (SELECT MIN(p.sequence) FROM chat_sync_outbox p \
                       WHERE p.channel_link_id = o.channel_link_id AND p.status = 'pending') \
                   AND NOT EXISTS (SELECT 1 FROM chat_sync_link_claims k \
                       WHERE k.channel_link_id = o.channel_link_id AND k.expires_at > $3) \
                 GROUP BY o.channel_link_id \
                 LIMIT $4 \
                 ON CONFLICT (channel_link_id) DO UPDATE \
                   SET worker_id = excluded.worker_id, expires_at = excluded.expires_at, \
                       connection_id = excluded.connection_id \
                   WHERE chat_sync_link_claims.expires_at <= $3 \
                 RETURNING channel_link_id, connection_id, worker_id, expires_at",
                vec![
                    worker.to_string().into(),
                    lease_end(now, lease).into(),
                    micros(now).into(),
                    i64::from(max).into(),
                ],
                "claiming links",
            )
            .await?;
        rows.iter()
            .map(|row| -> anyhow::Result<LinkClaim> {
                let link: String = row.try_get("", "channel_link_id")?;
                let connection: String = row.try_get("", "connection_id")?;
                let holder: String = row.try_get("", "worker_id")?;
                Ok(LinkClaim {
                    channel_link_id: parse_id("channel_link_id", &link)?,
                    connection_id: parse_id("connection_id", &connection)?,
                    worker: parse_id("worker_id", &holder)?,
                    expires_at: from_micros(row.try_get("", "expires_at")?)?,
                })
            })
            // The upsert answers only rows it wrote, which are this worker's.
            .filter(|claim| claim.as_ref().map_or(true, |c| c.worker == worker))
            .collect::<anyhow::Result<_>>()
            .map_err(QueueError::Unexpected)
    }

    async fn queue_head(
        &self,
        link: ChannelLinkId,
        limit: u32,
    ) -> Result<Vec<QueuedDelivery>, QueueError> {
        let rows = self
            .read_queue(
                &format!(
                    "SELECT {OUTBOX_COLUMNS} FROM chat_sync_outbox \
                     WHERE channel_link_id = $1 AND status = 'pending' \
                     ORDER BY sequence LIMIT {limit}"
                ),
                vec![link.to_string().into()],
                "reading a link's queue",
            )
            .await?;
        rows.iter()
            .map(queued_of)
            .collect::<anyhow::Result<_>>()
            .map_err(QueueError::Unexpected)
    }

    async fn renew_link(
        &self,
        claim: &LinkClaim,
        lease: Duration,
        now: Timestamp,
    ) -> Result<bool, QueueError> {
        let rows = self
            .write_rows(
                "UPDATE chat_sync_link_claims SET expires_at = $3 \
                 WHERE channel_link_id = $1 AND worker_id = $2 AND expires_at > $4 \
                 RETURNING channel_link_id",
                vec![
                    claim.channel_link_id.to_string().into(),
                    claim.worker.to_string().into(),
                    lease_end(now, lease).into(),
                    micros(now).into(),
                ],
                "renewing a link claim",
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn release_link(&self, claim: &LinkClaim) -> Result<(), QueueError> {
        self.write_rows(
            "DELETE FROM chat_sync_link_claims WHERE channel_link_id = $1 AND worker_id = $2 \
             RETURNING channel_link_id",
            vec![
                claim.channel_link_id.to_string().into(),
                claim.worker.to_string().into(),
            ],
            "releasing a link claim",
        )
        .await?;
        Ok(())
    }

    async fn claim_receipts(
        &self,
        worker: WorkerId,
        max: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<ReceiptLease>, QueueError> {
        let lock = match self.connection().get_database_backend() {
            DbBackend::Postgres => "FOR UPDATE SKIP LOCKED",
            _ => "",
        };
        // As for links: nothing due is seen without a write transaction.
        let due = self
            .read_queue(
                "SELECT 1 AS found FROM chat_sync_event_receipts \
                 WHERE status = 'pending' AND next_attempt_at <= $1 \
                   AND (lease_expires_at IS NULL OR lease_expires_at <= $1) \
                 LIMIT 1",
                vec![micros(now).into()],
                "looking for due receipts",
            )
            .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .write_rows(
                &format!(
                    "UPDATE chat_sync_event_receipts SET lease_owner = $1, lease_expires_at = $2 \
                     WHERE id IN (SELECT id FROM chat_sync_event_receipts \
                         WHERE status = 'pending' AND next_attempt_at <= $3 \
                           AND (lease_expires_at IS NULL OR lease_expires_at <= $3) \
                         ORDER BY id LIMIT $4 {lock}) \
                     RETURNING {RECEIPT_COLUMNS}"
                ),
                vec![
                    worker.to_string().into(),
                    lease_end(now, lease).into(),
                    micros(now).into(),
                    i64::from(max).into(),
                ],
                "claiming receipts",
            )
            .await?;
        let expires_at = now + lease;
        let mut leases = rows
            .iter()
            .map(|row| {
                Ok(ReceiptLease {
                    receipt: receipt_of(row)?,
                    worker,
                    expires_at,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(QueueError::Unexpected)?;
        leases.sort_by_key(|l| l.receipt.id);
        Ok(leases)
    }

    async fn release_receipt(&self, lease: &ReceiptLease) -> Result<(), QueueError> {
        self.write_rows(
            "UPDATE chat_sync_event_receipts SET lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_owner = $2 RETURNING id",
            vec![
                lease.receipt.id.to_string().into(),
                lease.worker.to_string().into(),
            ],
            "releasing a receipt",
        )
        .await?;
        Ok(())
    }

    async fn next_due(&self) -> Result<Option<Timestamp>, QueueError> {
        let rows = self
            .read_queue(
                "SELECT MIN(next_attempt_at) AS due FROM ( \
                   SELECT MIN(next_attempt_at) AS next_attempt_at FROM chat_sync_outbox \
                     WHERE status = 'pending' \
                   UNION ALL \
                   SELECT MIN(next_attempt_at) AS next_attempt_at FROM chat_sync_event_receipts \
                     WHERE status = 'pending') due_times",
                Vec::new(),
                "reading the next due time",
            )
            .await?;
        let due: Option<i64> = rows
            .first()
            .map(|row| row.try_get("", "due"))
            .transpose()
            .map_err(|e| db_error(e, "reading the next due time"))?
            .flatten();
        due.map(from_micros)
            .transpose()
            .map_err(QueueError::Unexpected)
    }

    async fn stats(&self, now: Timestamp) -> Result<QueueStats, QueueError> {
        let rows = self
            .read_queue(
                "SELECT c.provider AS provider, \
                   (SELECT COUNT(*) FROM chat_sync_outbox o WHERE o.status = 'pending' \
                      AND o.connection_id IN (SELECT id FROM chat_sync_connections WHERE provider = c.provider)) AS outbox, \
                   (SELECT COUNT(*) FROM chat_sync_event_receipts r WHERE r.status = 'pending' \
                      AND r.connection_id IN (SELECT id FROM chat_sync_connections WHERE provider = c.provider)) AS receipts, \
                   (SELECT MIN(o.created_at) FROM chat_sync_outbox o WHERE o.status = 'pending' \
                      AND o.connection_id IN (SELECT id FROM chat_sync_connections WHERE provider = c.provider)) AS oldest \
                 FROM (SELECT DISTINCT provider FROM chat_sync_connections) c",
                Vec::new(),
                "reading queue statistics",
            )
            .await?;
        let mut per_provider = Vec::new();
        for row in rows {
            let read = || -> anyhow::Result<(Provider, u64, u64, Duration)> {
                let provider: String = row.try_get("", "provider")?;
                let outbox: i64 = row.try_get("", "outbox")?;
                let receipts: i64 = row.try_get("", "receipts")?;
                let oldest: Option<i64> = row.try_get("", "oldest")?;
                let age = match oldest {
                    Some(at) => (now - from_micros(at)?).try_into().unwrap_or_default(),
                    None => Duration::ZERO,
                };
                Ok((
                    Provider::parse("provider", &provider)?,
                    u64::try_from(outbox).unwrap_or(0),
                    u64::try_from(receipts).unwrap_or(0),
                    age,
                ))
            };
            per_provider.push(read().context("reading queue statistics")?);
        }
        Ok(QueueStats { per_provider })
    }
}
