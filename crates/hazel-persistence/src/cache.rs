//! Bounded, short-lived caches of the facts every request reads and nothing ever changes.
//!
//! A message create reads three rows before it writes one: the caller's token, the channel and
//! the caller's membership of the channel's organization. Each of those rows, once it exists,
//! never changes: tokens are not revoked, channels are not renamed, moved or deleted, and a
//! native member's organization, user and role are fixed when the member is added. So a row
//! that was found may be answered from memory for a while instead of being read again, which
//! takes two or three round trips to the database off every write.
//!
//! The sync routes of a channel (its links and their connections) are kept too, for a second
//! only, because every message write reads them to queue its deliveries: see
//! [`ROUTES_TIME_TO_LIVE`].
//!
//! Only rows that were found are kept; "not found" is always asked again, so a token, channel
//! or member created a moment ago (also by another process) is seen at once. Entries expire
//! after [`TIME_TO_LIVE`], which bounds how long a row written by hand in the database (or by
//! a future feature that changes one of these rows) can go unseen, and each cache holds at
//! most [`CAPACITY`] entries, evicting the least used.

use std::sync::Arc;
use std::time::Duration;

use hazel_domain::ids::{ChannelId, OrganizationId, UserId};
use hazel_domain::model::channel::Channel;
use hazel_domain::model::identity::{Member, User};
use hazel_domain::services::sync::Route;
use moka::sync::Cache;

/// How long a row that was read is answered from memory.
pub(crate) const TIME_TO_LIVE: Duration = Duration::from_secs(30);
/// The most entries each cache holds.
pub(crate) const CAPACITY: u64 = 100_000;

/// How long a channel's sync routes (its links with their connections) are answered from
/// memory. Unlike the rows above, links and connections change; a change committed by this
/// process empties the cache at once, so this bounds only how long a change committed by
/// another process goes unseen here: for up to this long, a message posted in this process
/// may still be queued for a link another process just removed (its delivery then finds the
/// link gone and is ignored), or not be queued for one it just added.
pub(crate) const ROUTES_TIME_TO_LIVE: Duration = Duration::from_secs(1);

/// The caches of one [`Database`](crate::Database), shared by its clones.
pub(crate) struct ReadCache {
    /// Token hash → the user holding it.
    pub(crate) users_by_token: Cache<String, User>,
    /// Channel id → the channel.
    pub(crate) channels: Cache<ChannelId, Channel>,
    /// (organization, user) → the user's native membership of it.
    pub(crate) memberships: Cache<(OrganizationId, UserId), Member>,
    /// Channel id → its live links with their connections (also when there are none).
    pub(crate) routes: Cache<ChannelId, Arc<Vec<Route>>>,
}

impl ReadCache {
    pub(crate) fn new() -> Self {
        fn cache<K, V>() -> Cache<K, V>
        where
            K: std::hash::Hash + Eq + Send + Sync + 'static,
            V: Clone + Send + Sync + 'static,
        {
            Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TIME_TO_LIVE)
                .build()
        }
        Self {
            users_by_token: cache(),
            channels: cache(),
            memberships: cache(),
            routes: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ROUTES_TIME_TO_LIVE)
                .build(),
        }
    }
}
