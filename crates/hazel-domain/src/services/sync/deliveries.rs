//! Sync observability: a connection's deliveries (both ways), and re-queuing dead letters.

use super::SyncPorts;
use crate::error::AdminError;
use crate::ids::SyncConnectionId;
use crate::model::delivery::DeliveryState;
use crate::model::page::{Page, PageRequest};
use crate::ports::{Changeset, DeliveryFilter, DeliveryRecord, DeliveryRef, SyncChange};
use crate::services::chat_sync::ConnectionAccessError;
use crate::services::{Caller, Mutation, admin_membership, store_failure};

/// The most dead letters one "retry all failed" re-queues.
const MAX_RETRY_ALL: u64 = 10_000;

/// Failures of retrying a connection's dead letters.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryAccessError {
    /// The connection does not exist, is deleted, or is invisible to the caller.
    #[error("connection not found")]
    ConnectionNotFound,
    /// The caller is neither an owner nor an admin of the organization.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Failures of [`DeliveriesService::retry`].
#[derive(Debug, thiserror::Error)]
pub enum RetryDeliveryError {
    /// No such delivery, or one of a connection the caller cannot see.
    #[error("delivery not found")]
    DeliveryNotFound,
    /// The caller is neither an owner nor an admin of the organization.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The delivery is not a dead letter (also when it was re-queued concurrently).
    #[error("the delivery is not failed")]
    NotFailed,
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

crate::error::unexpected_on_read_failure!(DeliveryAccessError, RetryDeliveryError);

/// The deliveries API's use cases.
#[derive(Clone)]
pub struct DeliveriesService {
    ports: SyncPorts,
}

impl DeliveriesService {
    /// Wires the service.
    #[must_use]
    pub fn new(ports: SyncPorts) -> Self {
        Self { ports }
    }

    /// The connection, when the caller may see it.
    async fn visible(
        &self,
        caller: &Caller,
        connection: SyncConnectionId,
    ) -> Result<crate::model::chat_sync::SyncConnection, ConnectionAccessError> {
        Ok(self
            .ports
            .chat_sync
            .get_connection(caller, connection)
            .await?
            .connection)
    }

    /// Requires the caller to be an owner or admin of the connection's organization.
    async fn administered(
        &self,
        caller: &Caller,
        connection: SyncConnectionId,
    ) -> Result<crate::model::chat_sync::SyncConnection, DeliveryAccessError> {
        let connection = match self.visible(caller, connection).await {
            Ok(connection) => connection,
            Err(ConnectionAccessError::ConnectionNotFound) => {
                return Err(DeliveryAccessError::ConnectionNotFound);
            }
            Err(ConnectionAccessError::Unexpected(e)) => {
                return Err(DeliveryAccessError::Unexpected(e));
            }
        };
        match admin_membership(&self.ports.members, connection.organization_id, caller).await {
            Ok(_) => Ok(connection),
            Err(AdminError::OrganizationNotFound) => Err(DeliveryAccessError::ConnectionNotFound),
            Err(AdminError::Forbidden(reason)) => Err(DeliveryAccessError::Forbidden(reason)),
            Err(AdminError::Unexpected(e)) => Err(DeliveryAccessError::Unexpected(e)),
        }
    }

    /// A connection's deliveries, newest first; any member may list them.
    ///
    /// # Errors
    /// [`ConnectionAccessError::ConnectionNotFound`] for an unknown or invisible connection.
    pub async fn list(
        &self,
        caller: &Caller,
        connection: SyncConnectionId,
        filter: DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<DeliveryRecord>, ConnectionAccessError> {
        self.visible(caller, connection).await?;
        self.ports
            .sync
            .list_deliveries(connection, filter, page)
            .await
            .map_err(|crate::ports::RepoError::Unexpected(e)| ConnectionAccessError::Unexpected(e))
    }

    /// Re-queues one dead letter, due now with its attempts reset.
    ///
    /// # Errors
    /// [`RetryDeliveryError::DeliveryNotFound`] for an unknown or invisible delivery;
    /// [`RetryDeliveryError::Forbidden`] for members who are not owners or admins;
    /// [`RetryDeliveryError::NotFailed`] when it is not a dead letter.
    pub async fn retry(
        &self,
        caller: &Caller,
        raw_id: &str,
    ) -> Result<Mutation<DeliveryRecord>, RetryDeliveryError> {
        let record = self
            .ports
            .sync
            .find_delivery(raw_id)
            .await?
            .ok_or(RetryDeliveryError::DeliveryNotFound)?;
        match self.administered(caller, record.connection_id).await {
            Ok(_) => {}
            Err(DeliveryAccessError::ConnectionNotFound) => {
                return Err(RetryDeliveryError::DeliveryNotFound);
            }
            Err(DeliveryAccessError::Forbidden(reason)) => {
                return Err(RetryDeliveryError::Forbidden(reason));
            }
            Err(DeliveryAccessError::Unexpected(e)) => return Err(e.into()),
        }
        if !matches!(record.state, DeliveryState::Failed { .. }) {
            return Err(RetryDeliveryError::NotFailed);
        }
        let committed = self
            .ports
            .store
            .commit(Changeset::new().with(self.requeue(record.id).expect_one()))
            .await
            .map_err(|err| {
                if err.is_precondition_of(0) {
                    RetryDeliveryError::NotFailed
                } else {
                    RetryDeliveryError::Unexpected(store_failure(err))
                }
            })?;
        let data = self
            .ports
            .sync
            .delivery(record.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("a delivery vanished after it was re-queued"))?;
        Ok(Mutation {
            data,
            transaction_id: committed.transaction_id,
        })
    }

    /// Re-queues every dead letter of a connection; answers how many.
    ///
    /// # Errors
    /// [`DeliveryAccessError::ConnectionNotFound`] for an unknown or invisible connection;
    /// [`DeliveryAccessError::Forbidden`] for members who are not owners or admins.
    pub async fn retry_failed(
        &self,
        caller: &Caller,
        connection: SyncConnectionId,
    ) -> Result<Mutation<u64>, DeliveryAccessError> {
        self.administered(caller, connection).await?;
        let failed = self
            .ports
            .sync
            .failed_deliveries(connection, MAX_RETRY_ALL)
            .await?;
        let changes: Changeset = failed.into_iter().map(|id| self.requeue(id)).collect();
        let committed = self
            .ports
            .store
            .commit(changes)
            .await
            .map_err(store_failure)?;
        let retried = committed.outcomes.iter().map(|o| o.rows()).sum();
        Ok(Mutation {
            data: retried,
            transaction_id: committed.transaction_id,
        })
    }

    fn requeue(&self, id: DeliveryRef) -> SyncChange {
        let at = self.ports.clock.now();
        match id {
            DeliveryRef::Outbound(id) => SyncChange::RequeueDelivery { id, at },
            DeliveryRef::Inbound(id) => SyncChange::RequeueReceipt { id, at },
        }
    }
}
