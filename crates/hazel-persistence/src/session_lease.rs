//! [`SessionLeases`] over `chat_sync_session_leases`: one row per connection naming the
//! process that runs its provider session.
//!
//! Taking a lease is one compare-and-set upsert, `INSERT … ON CONFLICT (connection_id) DO
//! UPDATE … WHERE expires_at <= now RETURNING …`: a free connection gets a row, an expired
//! row is overwritten, and a held one is left alone (the statement answers no row). On
//! PostgreSQL two processes racing for one connection serialize on its row: the second
//! waits for the first's insert or update to commit, then re-checks the `WHERE` against the
//! new row, finds it held and answers nothing — exactly one wins, and no other connection's
//! row is locked (no table lock, no `FOR UPDATE` of a row that may not exist yet). On SQLite
//! writes queue behind the one writer, so the same statement cannot race at all.
//!
//! Each taking writes a fresh fencing token. The heartbeat (`renew`) and the release name
//! it, so once a lease expired and was taken over, the old holder's renewal answers nothing
//! and it stops — even when the new holder runs under the same worker id.

use std::time::Duration;

use async_trait::async_trait;
use hazel_domain::ids::{LeaseToken, SyncConnectionId, WorkerId};
use hazel_domain::model::Timestamp;
use hazel_domain::model::chat_sync::{Provider, SyncConnection};
use hazel_domain::model::session::SessionLease;
use hazel_domain::ports::{RepoError, SessionConnections, SessionLeaseError, SessionLeases};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, EntityTrait as _, QueryFilter as _, QueryResult, Value,
};

use crate::Database;
use crate::entity::{connections, parse_id};
use crate::error::{ReadResultExt as _, db_error};
use crate::sync_engine::{from_micros, micros, statement};

/// The columns a lease is read back from.
const RETURNED: &str = "connection_id, holder_id, token, expires_at";

impl Database {
    /// Runs one lease write in a transaction of its own and answers the rows it returns; on
    /// SQLite it waits for the one writer like every write.
    async fn lease_write(
        &self,
        sql: &str,
        values: Vec<Value>,
        doing: &str,
    ) -> Result<Vec<QueryResult>, SessionLeaseError> {
        let unexpected = |e: anyhow::Error| SessionLeaseError::Unexpected(e);
        let _gate = if self.is_sqlite() {
            Some(self.lock_write_gate().await)
        } else {
            None
        };
        let _permit = if self.is_sqlite() {
            None
        } else {
            Some(
                self.write_permit()
                    .await
                    .map_err(|e| unexpected(anyhow::Error::new(e)))?,
            )
        };
        let backend = self.connection().get_database_backend();
        let txn = self
            .begin_write()
            .await
            .map_err(|e| unexpected(db_error(e, "beginning a lease write")))?;
        let rows = match txn.query_all_raw(statement(backend, sql, values)).await {
            Ok(rows) => rows,
            Err(err) => {
                let _ = txn.rollback().await;
                return Err(unexpected(db_error(err, doing)));
            }
        };
        txn.commit()
            .await
            .map_err(|e| unexpected(db_error(e, "committing a lease write")))?;
        Ok(rows)
    }
}

fn lease_of(row: &QueryResult) -> anyhow::Result<SessionLease> {
    let connection: String = row.try_get("", "connection_id")?;
    let holder: String = row.try_get("", "holder_id")?;
    let token: String = row.try_get("", "token")?;
    Ok(SessionLease {
        connection_id: parse_id("connection_id", &connection)?,
        holder: parse_id("holder_id", &holder)?,
        token: parse_id("token", &token)?,
        expires_at: from_micros(row.try_get("", "expires_at")?)?,
    })
}

/// The one lease among `rows` that is this taking's (`token`), if any.
fn taken(
    rows: &[QueryResult],
    token: LeaseToken,
) -> Result<Option<SessionLease>, SessionLeaseError> {
    for row in rows {
        let lease = lease_of(row).map_err(SessionLeaseError::Unexpected)?;
        if lease.token == token {
            return Ok(Some(lease));
        }
    }
    Ok(None)
}

#[async_trait]
impl SessionLeases for Database {
    async fn acquire(
        &self,
        connection: SyncConnectionId,
        holder: WorkerId,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Option<SessionLease>, SessionLeaseError> {
        let token = LeaseToken::new();
        let rows = self
            .lease_write(
                &format!(
                    "INSERT INTO chat_sync_session_leases \
                         (connection_id, holder_id, token, acquired_at, heartbeat_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $4, $5) \
                     ON CONFLICT (connection_id) DO UPDATE \
                       SET holder_id = excluded.holder_id, token = excluded.token, \
                           acquired_at = excluded.acquired_at, \
                           heartbeat_at = excluded.heartbeat_at, \
                           expires_at = excluded.expires_at \
                       WHERE chat_sync_session_leases.expires_at <= $4 \
                     RETURNING {RETURNED}"
                ),
                vec![
                    connection.to_string().into(),
                    holder.to_string().into(),
                    token.to_string().into(),
                    micros(now).into(),
                    micros(now + ttl).into(),
                ],
                "taking a session lease",
            )
            .await?;
        taken(&rows, token)
    }

    async fn renew(
        &self,
        lease: &SessionLease,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Option<SessionLease>, SessionLeaseError> {
        let rows = self
            .lease_write(
                &format!(
                    "UPDATE chat_sync_session_leases SET heartbeat_at = $3, expires_at = $4 \
                     WHERE connection_id = $1 AND token = $2 AND expires_at > $3 \
                     RETURNING {RETURNED}"
                ),
                vec![
                    lease.connection_id.to_string().into(),
                    lease.token.to_string().into(),
                    micros(now).into(),
                    micros(now + ttl).into(),
                ],
                "renewing a session lease",
            )
            .await?;
        taken(&rows, lease.token)
    }

    async fn release(&self, lease: &SessionLease) -> Result<(), SessionLeaseError> {
        self.lease_write(
            "DELETE FROM chat_sync_session_leases WHERE connection_id = $1 AND token = $2 \
             RETURNING connection_id",
            vec![
                lease.connection_id.to_string().into(),
                lease.token.to_string().into(),
            ],
            "releasing a session lease",
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl SessionConnections for Database {
    async fn connected(&self, provider: Provider) -> Result<Vec<SyncConnection>, RepoError> {
        connections::Entity::find()
            .filter(connections::Column::DeletedAt.is_null())
            .filter(connections::Column::Provider.eq(provider.as_str()))
            .filter(connections::Column::Status.eq("connected"))
            .all(self.connection())
            .await
            .read("listing connected connections")?
            .into_iter()
            .map(connections::Model::into_domain)
            .collect::<anyhow::Result<_>>()
            .map_err(RepoError::Unexpected)
    }
}
