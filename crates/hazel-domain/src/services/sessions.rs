//! [`SessionService`]: which connections' long-lived provider sessions (Slack Socket Mode,
//! the Discord gateway) should run, the lease that lets one process run each, and where
//! their events go (receipts, through [`IngestService::record`]).
//!
//! The service decides; a worker (`hazel-worker`'s session supervisor) runs the sessions it
//! names under the leases it takes.

use std::sync::Arc;

use async_trait::async_trait;

use super::chat_sync::{ChatSyncService, StatusReport};
use super::sync::{CatchUpReport, IngestService};
use crate::ids::{SyncConnectionId, WorkerId};
use crate::model::chat_sync::{
    ConnectionStatus, ExternalChannelId, ExternalMessageId, Provider, SyncConnection,
};
use crate::model::delivery::ReceiptSource;
use crate::model::session::{LeaseTiming, SessionLease};
use crate::model::sync::InboundEvent;
use crate::ports::{
    ChatProviders, ChatSession, Clock, CredentialVault, RepoError, SessionConnections, SessionEnd,
    SessionLeaseError, SessionLeases, SessionSink, SessionSinkError, SessionTarget,
};

/// The ports [`SessionService`] needs.
#[derive(Clone)]
pub struct SessionPorts {
    /// The connections that may run sessions.
    pub connections: Arc<dyn SessionConnections>,
    /// The leases.
    pub leases: Arc<dyn SessionLeases>,
    /// Opens the connections' credentials.
    pub vault: Arc<dyn CredentialVault>,
    /// The session adapters.
    pub providers: ChatProviders,
    /// Where received events are recorded.
    pub ingest: IngestService,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// How long leases last and how often they are renewed.
    pub timing: LeaseTiming,
    /// Where a session's refusal is recorded as its connection's `error` status.
    pub health: ChatSyncService,
}

/// A session that should run now.
#[derive(Clone)]
pub struct WantedSession {
    /// What to run it for.
    pub target: SessionTarget,
    /// The adapter that runs it.
    pub adapter: Arc<dyn ChatSession>,
    /// The connection as it was read, for a compare-and-set status write when the platform
    /// refuses the session.
    pub seen: SyncConnection,
}

impl std::fmt::Debug for WantedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WantedSession")
            .field("connection_id", &self.target.connection_id)
            .field("provider", &self.adapter.provider())
            .finish_non_exhaustive()
    }
}

/// The sessions that should run, and the connections that want one but cannot have it.
#[derive(Debug, Default)]
pub struct WantedSessions {
    /// Connected connections whose credentials ask for a session.
    pub sessions: Vec<WantedSession>,
    /// Connections whose stored credentials cannot be opened (the configured key changed).
    pub unusable: Vec<SyncConnectionId>,
}

/// Long-lived provider sessions: what runs, under which lease, into which receipts.
#[derive(Clone)]
pub struct SessionService {
    ports: SessionPorts,
}

impl SessionService {
    /// Wires the service.
    #[must_use]
    pub fn new(ports: SessionPorts) -> Self {
        Self { ports }
    }

    /// How long leases last and how often they are renewed.
    #[must_use]
    pub fn timing(&self) -> LeaseTiming {
        self.ports.timing
    }

    /// The clock the leases are measured with.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.ports.clock
    }

    /// Every session that should run now: one per live, `connected` connection of a platform
    /// this build has a session adapter for, whose credentials ask for a session (Slack: an
    /// `appToken`). A disconnected, errored or deleted connection runs none.
    ///
    /// # Errors
    /// [`RepoError`] when the connections cannot be read.
    pub async fn wanted(&self) -> Result<WantedSessions, RepoError> {
        let mut wanted = WantedSessions::default();
        for adapter in self.ports.providers.sessions() {
            for connection in self.ports.connections.connected(adapter.provider()).await? {
                if connection.status != ConnectionStatus::Connected {
                    continue;
                }
                let Some(sealed) = connection.credentials.as_ref() else {
                    continue;
                };
                let Ok(credentials) = self.ports.vault.open(connection.id, sealed) else {
                    wanted.unusable.push(connection.id);
                    continue;
                };
                if adapter.wants_session(&credentials) {
                    wanted.sessions.push(WantedSession {
                        target: SessionTarget {
                            connection_id: connection.id,
                            workspace: connection.external_workspace_id.clone(),
                            credentials,
                            bot: connection.bot.clone(),
                            revision: connection.updated_at,
                        },
                        adapter: Arc::clone(adapter),
                        seen: connection.clone(),
                    });
                }
            }
        }
        Ok(wanted)
    }

    /// Takes the lease of `connection`'s session for `holder`, when no other process holds it.
    ///
    /// # Errors
    /// [`SessionLeaseError`] when the database fails.
    pub async fn acquire(
        &self,
        connection: SyncConnectionId,
        holder: WorkerId,
    ) -> Result<Option<SessionLease>, SessionLeaseError> {
        let now = self.ports.clock.now();
        self.ports
            .leases
            .acquire(connection, holder, self.ports.timing.ttl, now)
            .await
    }

    /// The heartbeat: `None` when the lease was lost and the session must stop.
    ///
    /// # Errors
    /// [`SessionLeaseError`] when the database fails.
    pub async fn renew(
        &self,
        lease: &SessionLease,
    ) -> Result<Option<SessionLease>, SessionLeaseError> {
        let now = self.ports.clock.now();
        self.ports
            .leases
            .renew(lease, self.ports.timing.ttl, now)
            .await
    }

    /// Records that the platform refused the session of `wanted` for good (refused
    /// credentials, a missing privileged intent): its connection's status becomes `error`
    /// with the refusal's code and message, unless the connection changed since it was read
    /// (then the report is stale and nothing is written).
    ///
    /// # Errors
    /// A storage failure.
    pub async fn record_refusal(
        &self,
        wanted: &WantedSession,
        end: &SessionEnd,
    ) -> anyhow::Result<StatusReport> {
        let SessionEnd::CredentialsRefused(error) = end;
        self.ports
            .health
            .record_connection_failure(&wanted.seen, error.code(), error.to_string())
            .await
    }

    /// Gives a lease up after its session stopped.
    ///
    /// # Errors
    /// [`SessionLeaseError`] when the database fails.
    pub async fn release(&self, lease: &SessionLease) -> Result<(), SessionLeaseError> {
        self.ports.leases.release(lease).await
    }

    /// Where the session of `connection` hands its events: receipts of source
    /// [`ReceiptSource::Socket`], recorded before the session acknowledges them.
    #[must_use]
    pub fn sink(&self, connection: SyncConnectionId, provider: Provider) -> Arc<dyn SessionSink> {
        Arc::new(ReceiptSink {
            ingest: self.ports.ingest.clone(),
            connection,
            provider,
        })
    }
}

/// Records a session's events as receipts of its connection.
struct ReceiptSink {
    ingest: IngestService,
    connection: SyncConnectionId,
    provider: Provider,
}

#[async_trait]
impl SessionSink for ReceiptSink {
    async fn record(&self, events: Vec<InboundEvent>) -> Result<(), SessionSinkError> {
        self.ingest
            .record(
                self.connection,
                self.provider,
                ReceiptSource::Socket,
                events,
            )
            .await
            .map(|_| ())
            .map_err(|e| SessionSinkError(e.to_string()))
    }

    async fn catch_up(&self) -> Result<CatchUpReport, SessionSinkError> {
        self.ingest
            .catch_up_connection(self.connection)
            .await
            .map_err(|e| SessionSinkError(e.to_string()))
    }

    async fn synced_pins(
        &self,
        channel: &ExternalChannelId,
    ) -> Result<Vec<ExternalMessageId>, SessionSinkError> {
        self.ingest
            .synced_pins(self.connection, channel)
            .await
            .map_err(|e| SessionSinkError(e.to_string()))
    }
}
