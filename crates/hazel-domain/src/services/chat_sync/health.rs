//! Connection health written by background work: compare-and-set status writes.

use super::*;
use crate::model::chat_sync::ProviderErrorCode;

/// What became of a status a background worker reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusReport {
    /// Written.
    Recorded,
    /// Not written: the connection changed since the worker read it (a person fixed the
    /// credentials or the status, or deleted it), so the worker's judgement is stale.
    Superseded,
}

impl ChatSyncService {
    /// Sets a connection to `error` after a background failure (a delivery or a socket
    /// refused for `code`), but only while the connection is still exactly as the worker
    /// read it (`seen`, compared on its `updated_at`). Credentials or a status that a person
    /// changed since are never overwritten, and nothing is written then.
    ///
    /// # Errors
    /// A storage failure; a stale report is
    /// `Ok(StatusReport::Superseded)`, not an error.
    pub async fn record_connection_failure(
        &self,
        seen: &SyncConnection,
        code: ProviderErrorCode,
        message: String,
    ) -> anyhow::Result<StatusReport> {
        let change = Change::SetConnectionStatusIfUnchanged {
            id: seen.id,
            seen_updated_at: seen.updated_at,
            status: ConnectionStatus::Error { code, message },
            updated_at: self.clock.now(),
        };
        match self
            .store
            .commit(Changeset::new().with(change.expect_one()))
            .await
        {
            Ok(_) => Ok(StatusReport::Recorded),
            Err(err) if err.is_precondition_of(0) => Ok(StatusReport::Superseded),
            Err(err) => Err(store_failure(err)),
        }
    }
}
