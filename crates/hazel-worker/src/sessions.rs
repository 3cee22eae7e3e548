//! The session supervisor: runs the long-lived provider session (Slack Socket Mode, the
//! Discord gateway) of every connection that wants one, each in exactly one process.
//!
//! Every scan it asks [`SessionService::wanted`] which sessions should run, tries to take
//! the lease of each one not running here, and starts the session of each lease it took.
//! A running session renews its lease every heartbeat; when a renewal says the lease is
//! lost (this process stalled past its expiry and another took over), the session is
//! dropped at once, closing its socket. A session whose connection is no longer wanted
//! (disconnected, deleted, the app token removed) is stopped and its lease released; one
//! whose connection changed since it started (new credentials) is restarted.

use std::collections::HashMap;
use std::time::Duration;

use hazel_domain::ids::{SyncConnectionId, WorkerId};
use hazel_domain::model::Timestamp;
use hazel_domain::model::session::SessionLease;
use hazel_domain::services::sessions::{SessionService, WantedSession};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How the supervisor runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionSettings {
    /// How often the wanted sessions are looked up and free leases taken: the longest a new
    /// connection, or one whose holder died (after its lease expires), waits for its session.
    pub scan_interval: Duration,
    /// How long a session whose credentials the platform refused waits before it is tried
    /// again (until then its connection's credentials are likely still wrong).
    pub refused_cooldown: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            scan_interval: Duration::from_secs(5),
            refused_cooldown: Duration::from_secs(300),
        }
    }
}

/// How a session task ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Stopped on request; its lease was released.
    Stopped,
    /// Its lease was lost; another process may run it now.
    LeaseLost,
    /// The platform refused the credentials.
    Refused,
}

/// The running supervisor. [`SessionSupervisor::shutdown`] stops every session and releases
/// its lease; dropping it aborts them, as a killed process would (their leases then expire).
pub struct SessionSupervisor {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SessionSupervisor {
    /// Starts supervising the sessions `service` names.
    #[must_use]
    pub fn start(service: SessionService, settings: SessionSettings) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = Some(tokio::spawn(supervise(service, settings, stopped)));
        Self { stop, task }
    }

    /// Stops every session, releasing its lease, and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SessionSupervisor {
    fn drop(&mut self) {
        // Without a shutdown the sessions die with the supervisor, as in a killed process.
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn supervise(
    service: SessionService,
    settings: SessionSettings,
    mut stopped: watch::Receiver<bool>,
) {
    let holder = WorkerId::new();
    // The stop signal and connection revision of each session running here; the tasks
    // themselves live in `tasks`, which aborts them all when the supervisor is aborted (a
    // killed process).
    let mut running: HashMap<SyncConnectionId, (watch::Sender<bool>, Timestamp)> = HashMap::new();
    let mut tasks: JoinSet<(SyncConnectionId, Ended)> = JoinSet::new();
    // Sessions whose credentials were refused: not retried before the instant, unless the
    // connection changed since (new credentials).
    let mut refused: HashMap<SyncConnectionId, (tokio::time::Instant, Timestamp)> = HashMap::new();
    loop {
        while let Some(joined) = tasks.try_join_next() {
            reap(joined, &mut running, &mut refused, settings);
        }
        match service.wanted().await {
            Ok(wanted) => {
                for connection in &wanted.unusable {
                    tracing::warn!(
                        connection_id = %connection,
                        "a connection's credentials cannot be opened with the configured key; its session cannot run"
                    );
                }
                let revisions: HashMap<SyncConnectionId, Timestamp> = wanted
                    .sessions
                    .iter()
                    .map(|s| (s.target.connection_id, s.target.revision))
                    .collect();
                // Not wanted any more, or started from an older revision of the connection
                // (its credentials may have changed): stopped; a changed one starts again
                // at the next scan, once its task has ended.
                for (id, (stop, revision)) in &running {
                    if revisions.get(id) != Some(revision) {
                        let _ = stop.send(true);
                    }
                }
                let now = tokio::time::Instant::now();
                refused.retain(|id, (until, revision)| {
                    *until > now && revisions.get(id) == Some(revision)
                });
                for wanted in wanted.sessions {
                    let id = wanted.target.connection_id;
                    if running.contains_key(&id) || refused.contains_key(&id) {
                        continue;
                    }
                    let revision = wanted.target.revision;
                    match service.acquire(id, holder).await {
                        Ok(Some(lease)) => {
                            let (stop, stop_rx) = watch::channel(false);
                            running.insert(id, (stop, revision));
                            let service = service.clone();
                            tasks.spawn(async move {
                                (id, run_session(service, wanted, lease, stop_rx).await)
                            });
                        }
                        Ok(None) => {}
                        Err(error) => tracing::warn!(
                            connection_id = %id,
                            error = %format!("{error:#}"),
                            "cannot take a session lease"
                        ),
                    }
                }
            }
            Err(error) => tracing::warn!(
                error = %format!("{error:#}"),
                "cannot read the connections that want sessions"
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(settings.scan_interval) => {}
            _ = stopped.changed() => {}
        }
        if *stopped.borrow() {
            break;
        }
    }
    for (stop, _) in running.values() {
        let _ = stop.send(true);
    }
    while tasks.join_next().await.is_some() {}
}

/// Forgets a finished session, noting it when its credentials were refused.
fn reap(
    joined: Result<(SyncConnectionId, Ended), tokio::task::JoinError>,
    running: &mut HashMap<SyncConnectionId, (watch::Sender<bool>, Timestamp)>,
    refused: &mut HashMap<SyncConnectionId, (tokio::time::Instant, Timestamp)>,
    settings: SessionSettings,
) {
    match joined {
        Ok((id, ended)) => {
            if let Some((_, revision)) = running.remove(&id)
                && ended == Ended::Refused
            {
                let until = tokio::time::Instant::now() + settings.refused_cooldown;
                refused.insert(id, (until, revision));
            }
        }
        Err(error) => {
            tracing::error!(error = %error, "a session task failed");
            // Its id is unknown: forget every session whose task is gone (its receiver
            // dropped with it).
            running.retain(|_, (stop, _)| !stop.is_closed());
        }
    }
}

/// Runs one session under its lease until it is stopped, fails for good, or loses the lease.
async fn run_session(
    service: SessionService,
    wanted: WantedSession,
    mut lease: SessionLease,
    mut stopped: watch::Receiver<bool>,
) -> Ended {
    let connection = wanted.target.connection_id;
    let provider = wanted.adapter.provider();
    tracing::info!(connection_id = %connection, provider = provider.as_str(), "session lease taken; starting the session");
    let sink = service.sink(connection, provider);
    // A boxed future (the port is an `async_trait`): dropping it closes the socket.
    let mut session = wanted.adapter.run(wanted.target.clone(), sink);
    let heartbeat = service.timing().heartbeat;
    let ended = loop {
        tokio::select! {
            end = &mut session => {
                break match end {
                    Ok(()) => Ended::Stopped,
                    Err(error) => {
                        tracing::warn!(
                            connection_id = %connection,
                            error = %error,
                            "the session's credentials were refused; it stops until they change"
                        );
                        match service.record_refusal(&wanted, &error).await {
                            Ok(report) => tracing::debug!(connection_id = %connection, ?report, "session refusal reported"),
                            Err(failure) => tracing::warn!(
                                connection_id = %connection,
                                error = %format!("{failure:#}"),
                                "cannot record a session's refusal as its connection's status"
                            ),
                        }
                        Ended::Refused
                    }
                };
            }
            () = tokio::time::sleep(heartbeat) => {
                match service.renew(&lease).await {
                    Ok(Some(renewed)) => lease = renewed,
                    Ok(None) => {
                        tracing::warn!(connection_id = %connection, "session lease lost; stopping the session");
                        return Ended::LeaseLost;
                    }
                    Err(error) => {
                        tracing::warn!(connection_id = %connection, error = %format!("{error:#}"), "cannot renew a session lease");
                        // Without a renewal the lease ends at its expiry: stop before it.
                        if !lease.holds_at(service.clock().now() + heartbeat) {
                            tracing::warn!(connection_id = %connection, "session lease about to expire unrenewed; stopping the session");
                            return Ended::LeaseLost;
                        }
                    }
                }
            }
            _ = stopped.changed() => break Ended::Stopped,
        }
    };
    // Dropping the session closes its socket before the lease is given up, so the next
    // holder never overlaps with it.
    drop(session);
    if let Err(error) = service.release(&lease).await {
        tracing::warn!(connection_id = %connection, error = %format!("{error:#}"), "cannot release a session lease; it will expire");
    }
    tracing::info!(connection_id = %connection, "session stopped");
    ended
}
