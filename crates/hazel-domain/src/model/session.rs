//! Session leases: which process runs a connection's long-lived provider session (a Slack
//! Socket Mode websocket, a Discord gateway session).
//!
//! A provider delivers each event once to each open session, so two processes holding one
//! connection's session would record every event twice and race each other's reconnects.
//! One lease row per connection says who runs it; a holder renews it with a heartbeat, and a
//! lease whose holder stops renewing expires and is taken over.

use std::time::Duration;

use crate::ids::{LeaseToken, SyncConnectionId, WorkerId};
use crate::model::Timestamp;

/// One process's hold on one connection's provider session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionLease {
    /// The connection whose session it is.
    pub connection_id: SyncConnectionId,
    /// The process holding it.
    pub holder: WorkerId,
    /// This taking of the lease: renewals and the release name it, so they fail once another
    /// holder has taken over, even one with the same [`WorkerId`].
    pub token: LeaseToken,
    /// Until when it holds without a heartbeat.
    pub expires_at: Timestamp,
}

impl SessionLease {
    /// Whether the lease still holds at `now`, as far as its holder knows (the database may
    /// already have given it to another holder only after [`SessionLease::expires_at`]).
    #[must_use]
    pub fn holds_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// How long a session lease lasts and how often its holder renews it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long a lease holds without renewal: the longest a dead holder keeps a session
    /// from being taken over.
    pub ttl: Duration,
    /// How often the holder renews it; well below `ttl`, so a slow renewal does not lose it.
    pub heartbeat: Duration,
}

impl LeaseTiming {
    /// A lease of `ttl` renewed every third of it.
    #[must_use]
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            ttl,
            heartbeat: ttl / 3,
        }
    }
}

impl Default for LeaseTiming {
    /// 30 s, renewed every 10 s: a crashed process's sessions restart elsewhere within 30 s.
    fn default() -> Self {
        Self::with_ttl(Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_holds_until_it_expires_and_heartbeats_well_within_it() {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let lease = SessionLease {
            connection_id: SyncConnectionId::new(),
            holder: WorkerId::new(),
            token: LeaseToken::new(),
            expires_at: now + Duration::from_secs(30),
        };
        assert!(lease.holds_at(now));
        assert!(!lease.holds_at(now + Duration::from_secs(30)));
        let timing = LeaseTiming::default();
        assert_eq!(timing.ttl, Duration::from_secs(30));
        assert!(timing.heartbeat * 3 <= timing.ttl);
    }
}
