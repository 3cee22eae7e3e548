//! The connection pool, its per-backend set-up, migrations and readiness checks.

use std::fmt;
use std::path::Path;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::cache::ReadCache;
use anyhow::Context as _;
use hazel_domain::ports::{Changeset, Committed, StoreError};
use hazel_migrations::Migrator;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::sqlx::{Connection as _, PgConnection};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, SqlxPostgresConnector,
    SqlxSqliteConnector, TransactionOptions, TransactionTrait as _,
};
use sea_orm_migration::MigratorTrait as _;
use tokio::sync::{Mutex, OwnedMutexGuard, Semaphore, SemaphorePermit, oneshot};

/// How long a SQLite connection waits for a lock held by another connection or process.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections to a SQLite file by default (WAL lets them read while one writer writes).
const SQLITE_FILE_CONNECTIONS: u32 = 8;
/// A pooled PostgreSQL connection idle for this long is pinged before it is used again.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);
/// Connections to PostgreSQL by default.
const POSTGRES_CONNECTIONS: u32 = 24;

/// How the pool is sized.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolSettings {
    /// The most connections the process opens (`HAZEL_DATABASE_MAX_CONNECTIONS`), bookkeeping
    /// included; `None` for the default (8 for a SQLite file, 24 for PostgreSQL). An
    /// in-memory SQLite database always has exactly one.
    pub max_connections: Option<u32>,
}

impl PoolSettings {
    /// How many of `max_connections` (PostgreSQL) go to bookkeeping writes (see
    /// [`Database::bookkeeping`]): a sixth, at least one (4 of the default 24). On SQLite it
    /// is one. A pool of one connection shares it.
    #[must_use]
    pub fn bookkeeping_connections(max_connections: u32) -> u32 {
        (max_connections / 6).clamp(1, max_connections.saturating_sub(1).max(1))
    }

    /// How many write transactions may hold a connection at once, out of `max_connections`:
    /// a quarter of the pool (at least one connection) stays for reads and token checks, so
    /// a burst of writes never starves them. A pool of one connection has to share it.
    #[must_use]
    pub fn write_permits(max_connections: u32) -> u32 {
        let reserved = (max_connections / 4).max(1);
        max_connections.saturating_sub(reserved).max(1)
    }
}

/// A changeset waiting for the SQLite writer, and where to send its answer.
pub(crate) struct Pending {
    /// The changes.
    pub(crate) changeset: Changeset,
    /// The caller, waiting.
    pub(crate) reply: oneshot::Sender<Result<Committed, StoreError>>,
}
/// Key of the PostgreSQL advisory lock that serialises [`Database::migrate`] across processes
/// sharing one database (the ASCII bytes of `HAZELMIG`).
const MIGRATION_LOCK_KEY: i64 = 0x4841_5A45_4C4D_4947;

/// Which database engine a [`Database`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The persistence adapter: a connection pool that implements every repository port and the
/// [`Store`](hazel_domain::ports::Store). Cheap to clone (the state is behind an [`Arc`]).
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    connection: DatabaseConnection,
    /// Where bookkeeping writes go: see [`Database::bookkeeping`].
    bookkeeping: DatabaseConnection,
    backend: Backend,
    /// Held around every write transaction on SQLite, which allows one writer at a time:
    /// concurrent commits queue here instead of failing with `SQLITE_BUSY`.
    write_gate: Arc<Mutex<()>>,
    /// Changesets waiting for the SQLite writer (group commit).
    queue: std::sync::Mutex<Vec<Pending>>,

    /// PostgreSQL: how many write transactions may hold a connection at once.
    write_permits: Semaphore,
    /// Rows that never change once written, as read (tokens, channels, memberships).
    reads: ReadCache,
    /// SQLite: transactions the writer committed, and the changesets they carried.
    batches: AtomicU64,
    batched_changesets: AtomicU64,
    /// Rung after a commit that recorded receipts or enqueued deliveries.
    notices: WorkNotices,
}

/// How this process's sync workers learn that work was committed, instead of waiting for
/// their next poll: after a commit that records receipts, `receipts` is notified once; after
/// one that enqueues deliveries, `deliveries` once per link it enqueued to (up to
/// [`WorkNotices::MAX_LINK_NOTICES`]), so as many idle delivery workers wake as there are
/// links with new work. A notice given while no worker waits is kept for the next one that
/// does (`Notify::notify_one`), so a commit racing with a worker going idle is not missed.
/// Other processes sharing the database find the work at their next poll.
#[derive(Clone, Debug, Default)]
pub struct WorkNotices {
    /// New receipts.
    pub receipts: Arc<tokio::sync::Notify>,
    /// New deliveries.
    pub deliveries: Arc<tokio::sync::Notify>,
}

impl WorkNotices {
    /// The most delivery workers one commit wakes.
    pub const MAX_LINK_NOTICES: usize = 8;

    /// What `changeset` will ring once committed: whether it records receipts, and to how
    /// many links it enqueues deliveries. Read before the commit, which takes the changeset.
    pub(crate) fn rings_for(changeset: &Changeset) -> Rings {
        use hazel_domain::ports::{Change, SyncChange};
        let mut rings = Rings::default();
        let mut links = Vec::new();
        for change in changeset.iter() {
            match change {
                Change::Sync(SyncChange::InsertReceipt(_) | SyncChange::RequeueReceipt { .. }) => {
                    rings.receipts = true;
                }
                Change::Sync(SyncChange::EnqueueDelivery(delivery))
                    if !links.contains(&delivery.channel_link_id) =>
                {
                    links.push(delivery.channel_link_id);
                }
                Change::Sync(SyncChange::RequeueDelivery { .. }) => rings.deliveries += 1,
                _ => {}
            }
        }
        rings.deliveries = (rings.deliveries + links.len()).min(Self::MAX_LINK_NOTICES);
        rings
    }

    /// Rings what a committed changeset asked for.
    pub(crate) fn ring(&self, rings: Rings) {
        if rings.receipts {
            self.receipts.notify_one();
        }
        for _ in 0..rings.deliveries {
            self.deliveries.notify_one();
        }
    }
}

/// The notices one changeset gives once committed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rings {
    receipts: bool,
    deliveries: usize,
}

/// What the SQLite writer has committed so far: how well group commit shares transactions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Transactions committed by the writer (batches).
    pub batches: u64,
    /// Changesets those transactions carried.
    pub changesets: u64,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens a pool to `url`, creating the SQLite file and its parent directory when missing.
    ///
    /// URL forms: `sqlite://./data/hazel.db` (a file), `sqlite::memory:` (a private in-memory
    /// database, for tests), `postgres://user:password@host:port/database`. SQLite connections
    /// use WAL, a 5 s busy timeout and enforced foreign keys.
    ///
    /// # Errors
    /// When the URL is not one of those forms, the directory cannot be created, or the database
    /// cannot be reached.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, PoolSettings::default()).await
    }

    /// [`Database::connect`] with a pool sized by `pool`.
    ///
    /// # Errors
    /// As [`Database::connect`]; also when `pool.max_connections` is 0.
    pub async fn connect_with(url: &str, pool: PoolSettings) -> anyhow::Result<Self> {
        if pool.max_connections == Some(0) {
            anyhow::bail!("the database pool needs at least one connection");
        }
        let (connection, bookkeeping, backend, size) = if url.starts_with("sqlite:") {
            let size = pool.max_connections.unwrap_or(SQLITE_FILE_CONNECTIONS);
            // A private in-memory database is one connection's, and a pool of one has to be
            // shared: bookkeeping then commits like the data.
            if is_sqlite_memory(url) || size == 1 {
                let connection = connect_sqlite(url, size, SqliteSynchronous::Full).await?;
                (connection.clone(), connection, Backend::Sqlite, size)
            } else {
                let connection = connect_sqlite(url, size - 1, SqliteSynchronous::Full).await?;
                let bookkeeping = connect_sqlite(url, 1, SqliteSynchronous::Normal).await?;
                (connection, bookkeeping, Backend::Sqlite, size - 1)
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let size = pool.max_connections.unwrap_or(POSTGRES_CONNECTIONS);
            if size == 1 {
                let connection = connect_postgres(url, 1, true).await?;
                (connection.clone(), connection, Backend::Postgres, 1)
            } else {
                let kept = PoolSettings::bookkeeping_connections(size);
                let connection = connect_postgres(url, size - kept, true).await?;
                let bookkeeping = connect_postgres(url, kept, false).await?;
                (connection, bookkeeping, Backend::Postgres, size - kept)
            }
        } else {
            anyhow::bail!("unsupported database URL: expected sqlite:… or postgres://…");
        };
        let permits = usize::try_from(PoolSettings::write_permits(size)).unwrap_or(1);
        Ok(Self {
            inner: Arc::new(Inner {
                connection,
                bookkeeping,
                backend,
                write_gate: Arc::new(Mutex::new(())),
                queue: std::sync::Mutex::new(Vec::new()),

                write_permits: Semaphore::new(permits),
                reads: ReadCache::new(),
                batches: AtomicU64::new(0),
                batched_changesets: AtomicU64::new(0),
                notices: WorkNotices::default(),
            }),
        })
    }

    /// Applies the pending migrations, logging each at info. Running it again is a no-op.
    ///
    /// Several processes may migrate one database at once (replicas starting together): on
    /// PostgreSQL they take turns through an advisory lock, and each reads what is pending only
    /// once it holds the lock, so the later ones find nothing left to do. On SQLite the writers
    /// of this process take turns through the write gate.
    ///
    /// # Errors
    /// When a migration fails; that migration is rolled back.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let _gate = self.lock_write_gate().await;
        let lock = match self.inner.backend {
            Backend::Postgres => Some(MigrationLock::acquire(self.connection()).await?),
            Backend::Sqlite => None,
        };
        let applied = self.apply_pending_migrations().await;
        if let Some(lock) = lock {
            lock.release().await;
        }
        applied
    }

    /// Applies what is pending now; call it while no other process can migrate.
    async fn apply_pending_migrations(&self) -> anyhow::Result<()> {
        let db = self.connection();
        let pending: Vec<String> = Migrator::get_pending_migrations(db)
            .await
            .context("reading the applied migrations")?
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        for name in pending {
            Migrator::up(db, Some(1))
                .await
                .with_context(|| format!("applying migration {name}"))?;
            tracing::info!(migration = %name, backend = self.backend(), "applied database migration");
        }
        Ok(())
    }

    /// The number of migrations not applied yet (0 when the schema is current).
    ///
    /// # Errors
    /// When the database cannot be queried.
    pub async fn pending_migrations(&self) -> anyhow::Result<usize> {
        let pending = Migrator::get_pending_migrations_read_only(self.connection())
            .await
            .context("reading the applied migrations")?;
        Ok(pending.len())
    }

    /// Round-trips a trivial query.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.connection()
            .ping()
            .await
            .context("pinging the database")
    }

    /// Which backend this is: `"sqlite"` or `"postgres"`, for logs and metrics.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match self.inner.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The pool, for reads.
    pub(crate) fn connection(&self) -> &DatabaseConnection {
        &self.inner.connection
    }

    /// What the SQLite writer has committed so far (all zero on PostgreSQL, where every
    /// changeset commits in a transaction of its own).
    #[must_use]
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            batches: self.inner.batches.load(Ordering::Relaxed),
            changesets: self.inner.batched_changesets.load(Ordering::Relaxed),
        }
    }

    /// Counts a batch the SQLite writer is about to commit.
    pub(crate) fn count_batch(&self, changesets: usize) {
        self.inner.batches.fetch_add(1, Ordering::Relaxed);
        self.inner
            .batched_changesets
            .fetch_add(changesets as u64, Ordering::Relaxed);
    }

    /// The caches of rows that never change once written.
    pub(crate) fn reads(&self) -> &ReadCache {
        &self.inner.reads
    }

    pub(crate) fn inner_notices(&self) -> &WorkNotices {
        &self.inner.notices
    }

    /// The notices this database gives this process's sync workers (see [`WorkNotices`]).
    #[must_use]
    pub fn work_notices(&self) -> WorkNotices {
        self.inner.notices.clone()
    }

    /// Whether this is SQLite.
    pub(crate) fn is_sqlite(&self) -> bool {
        self.inner.backend == Backend::Sqlite
    }

    /// Waits until this process may write (on SQLite; on PostgreSQL only migrations use it).
    pub(crate) async fn lock_write_gate(&self) -> OwnedMutexGuard<()> {
        Arc::clone(&self.inner.write_gate).lock_owned().await
    }

    /// Queues a changeset for the SQLite writer.
    pub(crate) fn enqueue(&self, pending: Pending) {
        self.queue().push(pending);
    }

    /// Takes up to `max` queued changesets, oldest first.
    pub(crate) fn take_batch(&self, max: usize) -> Vec<Pending> {
        let mut queue = self.queue();
        let take = queue.len().min(max);
        queue.drain(..take).collect()
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        // The queue is only pushed to and drained, never left half changed, so a panic
        // elsewhere while it was locked leaves it usable.
        self.inner
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for one of the write permits (PostgreSQL), so that writes never hold every
    /// connection of the pool.
    pub(crate) async fn write_permit(&self) -> Result<SemaphorePermit<'_>, StoreError> {
        self.inner
            .write_permits
            .acquire()
            .await
            .map_err(|err| StoreError::Unexpected(anyhow::Error::new(err)))
    }

    /// Where bookkeeping writes go: claims of links' queues, leases of receipts and their
    /// renewals and releases. Those rows only say who works on what for the next seconds; a
    /// lease lost in a crash is the same as one that expired. So their commits do not wait
    /// for the disk: a connection of its own with `synchronous = NORMAL` on SQLite (the WAL is
    /// synced by the next data commit or checkpoint), a small pool with
    /// `synchronous_commit = off` on PostgreSQL (visible to every other session at once,
    /// flushed within the WAL writer's delay). What a worker does under a lease that matters
    /// is a data commit guarded by the lease: it reaches the disk, and the lease row before it
    /// in the WAL with it. On a private in-memory database this is the one connection.
    pub(crate) fn bookkeeping(&self) -> &DatabaseConnection {
        &self.inner.bookkeeping
    }

    /// Begins a bookkeeping write transaction ([`Self::bookkeeping`]); on SQLite `BEGIN
    /// IMMEDIATE`, taken while holding [`Self::lock_write_gate`] like every write.
    pub(crate) async fn begin_bookkeeping(&self) -> Result<DatabaseTransaction, sea_orm::DbErr> {
        self.bookkeeping()
            .begin_with_options(self.write_options())
            .await
    }

    fn write_options(&self) -> TransactionOptions {
        TransactionOptions {
            sqlite_transaction_mode: match self.inner.backend {
                Backend::Sqlite => Some(SqliteTransactionMode::Immediate),
                Backend::Postgres => None,
            },
            ..TransactionOptions::default()
        }
    }

    /// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`, which takes the write lock
    /// up front, so that another process's writer makes it wait (busy timeout) rather than
    /// fail halfway. On SQLite, call it while holding [`Self::lock_write_gate`].
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, sea_orm::DbErr> {
        self.connection()
            .begin_with_options(self.write_options())
            .await
    }
}

/// A session-level PostgreSQL advisory lock held on a connection of its own, outside the pool.
/// Should the holder stop without releasing it (an error, a cancelled future), dropping the
/// connection closes the session, and the server releases the lock with it; a pooled
/// connection would instead go back to the pool still holding the lock.
struct MigrationLock {
    connection: PgConnection,
}

impl MigrationLock {
    /// Waits until no other session holds the migration lock, then takes it.
    async fn acquire(db: &DatabaseConnection) -> anyhow::Result<Self> {
        let mut connection = db
            .get_postgres_connection_pool()
            .acquire()
            .await
            .context("opening a connection for the migration lock")?
            .detach();
        sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut connection)
            .await
            .context("taking the migration lock")?;
        Ok(Self { connection })
    }

    /// Releases the lock and closes its connection. A failure is only logged: closing (or
    /// dropping) the connection ends the session, which releases the lock anyway.
    async fn release(mut self) {
        let unlocked = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut self.connection)
            .await;
        if let Err(err) = unlocked {
            tracing::warn!(error = %err, "releasing the migration lock failed; closing its session");
        }
        if let Err(err) = self.connection.close().await {
            tracing::warn!(error = %err, "closing the migration lock's connection failed");
        }
    }
}

/// Whether a SQLite URL names an in-memory database rather than a file.
fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Opens a pool to a SQLite file (or the private in-memory database). `synchronous`: FULL for
/// the data, which syncs the WAL on every commit. With NORMAL, a power loss can roll back
/// commits that were already acknowledged, and the transaction counter with them: their
/// transaction ids would then be handed out again for different changes, breaking the
/// promise that an id names one committed transaction. NORMAL only for bookkeeping (see
/// [`Database::bookkeeping`]).
async fn connect_sqlite(
    url: &str,
    max_connections: u32,
    synchronous: SqliteSynchronous,
) -> anyhow::Result<DatabaseConnection> {
    let options = SqliteConnectOptions::from_str(url)
        .context("parsing the SQLite URL")?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    let pool = if is_sqlite_memory(url) {
        // An in-memory database lives as long as a connection to it: keep exactly one, open
        // for the life of the pool.
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        create_parent_dir(options.get_filename()).await?;
        SqlitePoolOptions::new().max_connections(max_connections)
    };
    // A connection to a local file cannot be cut: sqlx's ping before handing one out would
    // only cost a round trip to the connection's thread per query.
    let pool = pool.test_before_acquire(false);
    let pool = pool
        .connect_with(options)
        .await
        .context("opening the SQLite database")?;
    Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

async fn create_parent_dir(file: &Path) -> anyhow::Result<()> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("creating the database directory {}", dir.display())),
        _ => Ok(()),
    }
}

/// Opens a pool to PostgreSQL; `durable: false` for bookkeeping (see
/// [`Database::bookkeeping`]), whose commits do not wait for the WAL flush
/// (`synchronous_commit = off`).
async fn connect_postgres(
    url: &str,
    max_connections: u32,
    durable: bool,
) -> anyhow::Result<DatabaseConnection> {
    let mut options = PgConnectOptions::from_str(url).context("parsing the PostgreSQL URL")?;
    if !durable {
        options = options.options([("synchronous_commit", "off")]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        // sqlx pings every connection it hands out by default: a round trip per query, as
        // many as the query itself for a message create. A connection in steady use is known
        // to be alive, so only one that sat idle is checked (it may have been cut by a
        // server restart or an idle timeout in between).
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE_FOR {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")?;
    Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_urls_are_recognised() {
        assert!(is_sqlite_memory("sqlite::memory:"));
        assert!(is_sqlite_memory("sqlite://file:x?mode=memory&cache=shared"));
        assert!(!is_sqlite_memory("sqlite://./data/hazel.db"));
    }

    /// The first column of the one row `sql` answers on `connection`, as text.
    async fn setting(connection: &DatabaseConnection, sql: &str) -> String {
        use sea_orm::{ConnectionTrait as _, Statement};
        let row = connection
            .query_one_raw(Statement::from_string(
                connection.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<String>(0)
            .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v.to_string()))
            .unwrap()
    }

    #[tokio::test]
    async fn sqlite_files_use_wal_full_sync_a_busy_timeout_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hazel.db").display());
        let db = Database::connect(&url).await.unwrap();
        let data = db.connection();
        assert_eq!(setting(data, "PRAGMA journal_mode").await, "wal");
        // 2 is FULL.
        assert_eq!(setting(data, "PRAGMA synchronous").await, "2");
        assert_eq!(setting(data, "PRAGMA foreign_keys").await, "1");
        assert_eq!(setting(data, "PRAGMA busy_timeout").await, "5000");
        // Leases and claims only: 1 is NORMAL (no sync per commit), the rest alike.
        let bookkeeping = db.bookkeeping();
        assert_eq!(setting(bookkeeping, "PRAGMA synchronous").await, "1");
        assert_eq!(setting(bookkeeping, "PRAGMA journal_mode").await, "wal");
        assert_eq!(setting(bookkeeping, "PRAGMA busy_timeout").await, "5000");
    }

    #[tokio::test]
    async fn postgres_bookkeeping_commits_without_waiting_for_the_flush_and_data_does() {
        let Some(admin) = crate::testing::postgres_admin_url() else {
            eprintln!("skipped: HAZEL_TEST_POSTGRES_URL is not set");
            return;
        };
        let db = Database::connect(&admin).await.unwrap();
        assert_eq!(
            setting(db.connection(), "SHOW synchronous_commit").await,
            "on"
        );
        assert_eq!(
            setting(db.bookkeeping(), "SHOW synchronous_commit").await,
            "off"
        );
    }

    /// The indexes of `db` as (name, definition), definitions lowercased.
    async fn indexes(db: &Database) -> Vec<(String, String)> {
        use sea_orm::{ConnectionTrait as _, Statement};

        let sql = match db.inner.backend {
            Backend::Sqlite => {
                "SELECT name, sql AS definition FROM sqlite_master \
                 WHERE type = 'index' AND sql IS NOT NULL"
            }
            Backend::Postgres => {
                "SELECT indexname AS name, indexdef AS definition FROM pg_indexes \
                 WHERE schemaname = 'public'"
            }
        };
        let rows = db
            .connection()
            .query_all_raw(Statement::from_string(
                db.connection().get_database_backend(),
                sql,
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|row| {
                let name: String = row.try_get("", "name").unwrap();
                let definition: String = row.try_get("", "definition").unwrap();
                (name, definition.to_lowercase())
            })
            .collect()
    }

    async fn assert_lookup_indexes(url: &str) {
        let db = Database::connect(url).await.unwrap();
        db.migrate().await.unwrap();
        let indexes = indexes(&db).await;
        for (name, columns, condition) in [
            (
                "idx_chat_sync_channel_links_live_hazel_channel",
                "(hazel_channel_id)",
                "deleted_at is null",
            ),
            (
                "idx_chat_sync_connections_live_provider_workspace",
                "(provider, external_workspace_id)",
                "deleted_at is null",
            ),
            (
                "idx_notifications_unread_member_id",
                "(member_id, id)",
                "read_at is null",
            ),
        ] {
            let definition = indexes
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, d)| d.as_str())
                .unwrap_or_else(|| panic!("{name} is missing on {}", db.backend()));
            assert!(
                definition.contains(columns) && definition.contains(condition),
                "{name} on {}: {definition}",
                db.backend()
            );
        }
    }

    #[tokio::test]
    async fn migrations_create_the_partial_lookup_indexes() {
        let dir = tempfile::tempdir().unwrap();
        assert_lookup_indexes(&format!(
            "sqlite://{}",
            dir.path().join("hazel.db").display()
        ))
        .await;
        if let Some(admin_url) = crate::testing::postgres_admin_url() {
            let url = crate::testing::fresh_postgres_url(&admin_url)
                .await
                .unwrap();
            assert_lookup_indexes(&url).await;
            crate::testing::drop_postgres_database(&admin_url, &url)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn unknown_schemes_are_refused() {
        let err = Database::connect("mysql://localhost/x").await.unwrap_err();
        assert!(err.to_string().contains("unsupported database URL"));
    }
}
