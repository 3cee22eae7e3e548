//! Long-lived provider sessions (Slack Socket Mode, the Discord gateway): [`SessionLeases`]
//! keeps each connection's session in exactly one process, [`ChatSession`] is the adapter
//! that runs one, [`SessionSink`] where it hands its events, and [`SessionConnections`]
//! the connections that may run one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::RepoError;
use crate::ids::{SyncConnectionId, WorkerId};
use crate::model::Timestamp;
use crate::model::chat_sync::{
    BotIdentity, Credentials, ExternalChannelId, ExternalMessageId, ExternalWorkspaceId, Provider,
    ProviderError, SyncConnection,
};
use crate::model::session::SessionLease;
use crate::model::sync::InboundEvent;
use crate::services::sync::CatchUpReport;

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

/// The connections whose provider sessions may run: live and `connected`.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionConnections: Send + Sync {
    /// The live, `connected` connections of `provider`.
    ///
    /// # Errors
    /// [`RepoError::Unexpected`] when the database fails.
    async fn connected(&self, provider: Provider) -> Result<Vec<SyncConnection>, RepoError>;
}

/// Where a session hands the events it receives.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionSink: Send + Sync {
    /// Records `events` durably (as receipts); the session acknowledges them to the provider
    /// only once this succeeded, so a failure leaves them to the provider's redelivery.
    ///
    /// # Errors
    /// [`SessionSinkError`] when they could not be recorded.
    async fn record(&self, events: Vec<InboundEvent>) -> Result<(), SessionSinkError>;

    /// The session (re)connected after a gap the platform does not replay (a new Slack
    /// socket, a new Discord Gateway session after Identify): reads the history of the
    /// connection's linked channels from the last message synced through each, as the
    /// start-up catch-up does, so nothing posted while it was away is lost. Answers what it
    /// read and recorded; events also seen live are one message.
    ///
    /// # Errors
    /// [`SessionSinkError`] when the links could not be read at all (a link whose read fails
    /// is named in the report and the others are read all the same).
    async fn catch_up(&self) -> Result<CatchUpReport, SessionSinkError>;

    /// The messages of the linked external `channel` that the service holds pinned (thread
    /// messages named as the adapter names them): the state a platform that reports only
    /// "the pins changed" (Discord's `CHANNEL_PINS_UPDATE`) is compared with, so an unpin is
    /// seen even as the first change a new session hears of.
    ///
    /// # Errors
    /// [`SessionSinkError`] when the state could not be read.
    async fn synced_pins(
        &self,
        channel: &ExternalChannelId,
    ) -> Result<Vec<ExternalMessageId>, SessionSinkError>;
}

/// Events a session received could not be recorded.
#[derive(Debug, thiserror::Error)]
#[error("the events could not be recorded: {0}")]
pub struct SessionSinkError(pub String);

/// One connection's session, as its adapter runs it.
#[derive(Clone, Debug)]
pub struct SessionTarget {
    /// The connection.
    pub connection_id: SyncConnectionId,
    /// Its workspace on the platform: events of other workspaces are not its own.
    pub workspace: ExternalWorkspaceId,
    /// Its credentials, in memory only.
    pub credentials: Credentials,
    /// The bot the credentials belong to, as learnt when they were validated (the Discord
    /// Gateway leaves its own messages out by it).
    pub bot: Option<BotIdentity>,
    /// When the connection last changed (its `updated_at`): a session started from an older
    /// revision runs on credentials or settings that may be stale, and is restarted.
    pub revision: Timestamp,
}

/// Why a session stopped by itself (it otherwise runs until it is dropped).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionEnd {
    /// The platform refused the credentials: retrying cannot help until they change.
    #[error("the session's credentials were refused: {0}")]
    CredentialsRefused(ProviderError),
}

/// A platform's long-lived intake session (Slack Socket Mode; the Discord gateway): opens
/// it with the connection's credentials, hands every event to the sink before it
/// acknowledges it, and reconnects with backoff by itself.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ChatSession: Send + Sync {
    /// Which platform this is.
    fn provider(&self) -> Provider;

    /// Whether a connection with `credentials` takes its intake over a session (Slack: an
    /// `appToken` is set).
    fn wants_session(&self, credentials: &Credentials) -> bool;

    /// Runs the session of `target` until the returned future is dropped (the holder lost its
    /// lease, or stops), reconnecting on drops and refresh requests.
    ///
    /// # Errors
    /// [`SessionEnd::CredentialsRefused`] when the platform refuses the credentials; every
    /// other failure is retried inside.
    async fn run(
        &self,
        target: SessionTarget,
        sink: Arc<dyn SessionSink>,
    ) -> Result<(), SessionEnd>;
}
