//! [`SessionLeases`]: the port that keeps each connection's provider session (Slack Socket
//! Mode, the Discord gateway) in exactly one process.

use std::time::Duration;

use async_trait::async_trait;

use crate::ids::{SyncConnectionId, WorkerId};
use crate::model::Timestamp;
use crate::model::session::SessionLease;

/// A failed lease operation.
#[derive(Debug, thiserror::Error)]
pub enum SessionLeaseError {
    /// The database failed; the caller does not know whether it holds the lease and must act
    /// as if it did not.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// One lease row per connection, shared by every process. Taking it is a compare-and-set:
/// of two processes racing for a free or expired lease exactly one gets it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionLeases: Send + Sync {
    /// Takes the lease of `connection`'s session for `holder` until `now + ttl`, when nobody
    /// holds it or its lease expired by `now`; `None` while another holder (or another taking
    /// by the same holder) has it.
    ///
    /// # Errors
    /// [`SessionLeaseError::Unexpected`] when the database fails.
    async fn acquire(
        &self,
        connection: SyncConnectionId,
        holder: WorkerId,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Option<SessionLease>, SessionLeaseError>;

    /// The heartbeat: extends `lease` to `now + ttl` if it is still this taking's and has not
    /// expired; `None` when it was lost (expired, taken over or released), and the holder must
    /// stop its session.
    ///
    /// # Errors
    /// [`SessionLeaseError::Unexpected`] when the database fails.
    async fn renew(
        &self,
        lease: &SessionLease,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Option<SessionLease>, SessionLeaseError>;

    /// Gives the lease up (a clean stop), so another process may take it at once; a lease
    /// already lost is left to its new holder.
    ///
    /// # Errors
    /// [`SessionLeaseError::Unexpected`] when the database fails.
    async fn release(&self, lease: &SessionLease) -> Result<(), SessionLeaseError>;
}
