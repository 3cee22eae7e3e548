//! Bounded, short-lived caches of the facts every request reads and nothing ever changes.
//!
//! A message create reads three rows before it writes one: the caller's token, the channel and
//! the caller's membership of the channel's organization. Each of those rows, once it exists,
//! never changes: tokens are not revoked, channels are not renamed, moved or deleted, and a
//! native member's organization, user and role are fixed when the member is added. So a row
//! that was found may be answered from memory for a while instead of being read again, which
//! takes two or three round trips to the database off every write.
//!
//! A member's first page of notifications, the list clients poll, is kept too, for a second
//! at most and only until a change that can affect it commits: see [`NotificationPages`].
//!
//! Sync routes (links with their connections) and a workspace's connections are kept too, for
//! a second only, because every message write, every delivery and every webhook reads them:
//! see [`ROUTES_TIME_TO_LIVE`].
//!
//! Only rows that were found are kept; "not found" is always asked again, so a token, channel
//! or member created a moment ago (also by another process) is seen at once. Entries expire
//! after [`TIME_TO_LIVE`], which bounds how long a row written by hand in the database (or by
//! a future feature that changes one of these rows) can go unseen, and each cache holds at
//! most [`CAPACITY`] entries, evicting the least used.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use hazel_domain::ids::{
    ChannelId, ChannelLinkId, MemberId, OrganizationId, SyncConnectionId, UserId,
};
use hazel_domain::model::channel::Channel;
use hazel_domain::model::chat_sync::{Provider, SyncConnection};
use hazel_domain::model::identity::{Member, User};
use hazel_domain::model::notification::Notification;
use hazel_domain::model::page::{Page, PageRequest};
use hazel_domain::ports::{Change, NotificationFilter};
use hazel_domain::services::sync::Route;
use moka::sync::Cache;

/// How long a row that was read is answered from memory.
pub(crate) const TIME_TO_LIVE: Duration = Duration::from_secs(30);
/// The most entries each cache holds.
pub(crate) const CAPACITY: u64 = 100_000;

/// How long sync routes (links with their connections) and the connections of a workspace
/// are answered from memory. Unlike the rows above, links and connections change; a change
/// committed by this process empties these caches at once, so this bounds only how long a
/// change committed by another process goes unseen here: for up to this long, a message
/// posted in this process may still be queued for a link another process just removed (its
/// delivery then finds the link gone and is ignored), or not be queued for one it just added,
/// and a delivery or event may still see a connection's previous status or settings. Only
/// routes and connections that were found are kept (a channel's list of routes also when it
/// is empty): an event for a link or workspace just added elsewhere is never refused because
/// this process remembers it missing.
pub(crate) const ROUTES_TIME_TO_LIVE: Duration = Duration::from_secs(1);

/// How long a member's first page of notifications is answered from memory. A change this
/// process commits removes the pages it can affect at once; this bounds only how long a
/// change committed by another process (on a shared PostgreSQL) goes unseen here.
pub(crate) const NOTIFICATIONS_TIME_TO_LIVE: Duration = Duration::from_secs(1);

/// The caches of one [`Database`](crate::Database), shared by its clones.
pub(crate) struct ReadCache {
    /// Token hash → the user holding it.
    pub(crate) users_by_token: Cache<String, User>,
    /// Channel id → the channel.
    pub(crate) channels: Cache<ChannelId, Channel>,
    /// (organization, user) → the user's native membership of it.
    pub(crate) memberships: Cache<(OrganizationId, UserId), Member>,
    /// Channel id → its live links with their connections (also when there are none).
    pub(crate) routes: Guarded<ChannelId, Arc<Vec<Route>>>,
    /// Link id → the live link with its connection (only when found).
    pub(crate) route_by_link: Guarded<ChannelLinkId, Option<Route>>,
    /// (connection, external channel) → the live link with its connection (only when found).
    pub(crate) route_by_external: Guarded<(SyncConnectionId, String), Option<Route>>,
    /// (provider, external workspace) → its live connections (only when there are some).
    pub(crate) workspace_connections: Guarded<(Provider, String), Arc<Vec<SyncConnection>>>,
    /// Members' first pages of notifications (see [`NotificationPages`]).
    pub(crate) notifications: NotificationPages,
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
            routes: Guarded::new(ROUTES_TIME_TO_LIVE),
            route_by_link: Guarded::new(ROUTES_TIME_TO_LIVE),
            route_by_external: Guarded::new(ROUTES_TIME_TO_LIVE),
            workspace_connections: Guarded::new(ROUTES_TIME_TO_LIVE),
            notifications: Guarded::new(NOTIFICATIONS_TIME_TO_LIVE),
        }
    }

    /// Forgets every route and connection kept: called once a changeset that can change
    /// them has ended, committed or not (a failure may be ambiguous).
    pub(crate) fn forget_routes(&self) {
        self.routes.forget_all();
        self.route_by_link.forget_all();
        self.route_by_external.forget_all();
        self.workspace_connections.forget_all();
    }
}

/// A cache of rows that change, kept short and forgotten by this process's changes to them.
///
/// A value read from the database is kept only when no change that can affect it began
/// committing in this process while it was read (the `generation` it was read under is still
/// current), so a reader that saw the rows before a change can never keep them after it.
/// Checking the generation and keeping the value happen under the same lock as moving the
/// generation on and forgetting, so neither can fall between the other's two steps. Hits
/// take no lock.
pub(crate) struct Guarded<K, V> {
    values: Cache<K, V>,
    generation: AtomicU64,
    keeping: std::sync::Mutex<()>,
}

impl<K, V> Guarded<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn new(time_to_live: Duration) -> Self {
        Self {
            values: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(time_to_live)
                .support_invalidation_closures()
                .build(),
            generation: AtomicU64::new(0),
            keeping: std::sync::Mutex::new(()),
        }
    }

    /// The value kept under `key`, or else `read` (from the database), kept when `worth_keeping`
    /// says so and no change began committing in this process meanwhile.
    pub(crate) async fn read_through<E>(
        &self,
        key: K,
        worth_keeping: impl FnOnce(&V) -> bool,
        read: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E> {
        if let Some(value) = self.values.get(&key) {
            return Ok(value);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let value = read.await?;
        if worth_keeping(&value) {
            let _keeping = self.keeping.lock().unwrap_or_else(PoisonError::into_inner);
            if self.generation.load(Ordering::Acquire) == generation {
                self.values.insert(key, value.clone());
            }
        }
        Ok(value)
    }

    /// Forgets everything kept.
    pub(crate) fn forget_all(&self) {
        let _keeping = self.keeping.lock().unwrap_or_else(PoisonError::into_inner);
        self.values.invalidate_all();
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Forgets the values whose key `matches`.
    fn forget_if(&self, matches: impl Fn(&K) -> bool + Send + Sync + 'static) {
        let _keeping = self.keeping.lock().unwrap_or_else(PoisonError::into_inner);
        // Cannot fail: the cache was built with invalidation closures.
        let _ = self
            .values
            .invalidate_entries_if(move |key, _| matches(key));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// Which first page of notifications: the member, unread only or all, and the page size.
pub(crate) type FirstPageKey = (MemberId, bool, u32);

/// Members' first pages of notifications (the list clients poll), kept until a change that
/// can affect them commits in this process, or for [`NOTIFICATIONS_TIME_TO_LIVE`].
pub(crate) type NotificationPages = Guarded<FirstPageKey, Arc<Page<Notification>>>;

/// The key of a kept page, when `filter` and `page` ask for one: a single member's first page.
pub(crate) fn first_page_key(
    filter: &NotificationFilter,
    page: &PageRequest,
) -> Option<FirstPageKey> {
    match (filter.member_ids.as_slice(), &page.after) {
        ([member], None) => Some((*member, filter.unread_only, page.limit)),
        _ => None,
    }
}

/// The notifications a committed (or possibly committed) change can affect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NotificationsTouched {
    /// None.
    None,
    /// Only these members' (a notification inserted for each).
    Members(Vec<MemberId>),
    /// Possibly anyone's (a change named by notification, message or reaction id).
    Any,
}

impl NotificationsTouched {
    /// Forgets the kept `pages` this can affect. Called once a changeset's commit has ended,
    /// committed or not (a failure may be ambiguous): until then its writer has no answer, so
    /// a reader may still be answered the page from before it.
    pub(crate) fn forget_from(&self, pages: &NotificationPages) {
        match self {
            Self::None => {}
            Self::Any => pages.forget_all(),
            Self::Members(members) => {
                let members: HashSet<MemberId> = members.iter().copied().collect();
                pages.forget_if(move |(member, _, _)| members.contains(member));
            }
        }
    }

    /// What `changes` can affect, from their kinds alone (no database read).
    pub(crate) fn of(changes: &[Change]) -> Self {
        let mut members = Vec::new();
        for change in changes {
            match change {
                Change::InsertNotification(notification) => members.push(notification.member_id),
                Change::SetNotificationRead { .. }
                | Change::DeleteNotification(_)
                | Change::DeleteReactionNotifications(_) => return Self::Any,
                Change::DeleteMessageNotifications { member_id, .. } => members.push(*member_id),
                _ => {}
            }
        }
        if members.is_empty() {
            Self::None
        } else {
            Self::Members(members)
        }
    }
}
