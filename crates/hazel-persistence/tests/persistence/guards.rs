//! Guarded changesets, group commit, retries and the write permits.

use std::collections::BTreeSet;
use std::time::Duration;

use hazel_domain::model::chat_sync::{ConnectionStatus, ProviderErrorCode, SealedCredentials};
use hazel_domain::ports::{
    Change, ChangeOutcome, Changeset, ConnectionColumns, ConnectionRepository, Expectation,
    MessageRepository, NotificationRepository, PreconditionFailure, Store as _, StoreError,
    UniqueRule, UserRepository as _,
};
use hazel_persistence::{Database, PoolSettings, testing};
use tokio::task::JoinSet;

use crate::support::{
    World, commit, connection, each_backend, message, migrated, notification, now, user,
    uuid_suffix,
};

#[tokio::test]
async fn a_failed_expectation_names_its_change_and_applies_nothing() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let gone = message(world.channel.id, world.owner.id, "hi");
        commit(&db, vec![Change::InsertMessage(gone.clone())]).await;
        commit(
            &db,
            vec![Change::DeleteMessage {
                id: gone.id,
                at: now(),
            }],
        )
        .await;
        let note = notification(&world.owner, None, Some(("message", "m1")), None);
        let err = db
            .commit(
                Changeset::new()
                    .with(Change::InsertNotification(note.clone()))
                    .with(
                        Change::EditMessage {
                            id: gone.id,
                            content: hazel_domain::model::message::MessageContent::parse(
                                "content", "edited",
                            )
                            .unwrap(),
                            edited_at: now(),
                        }
                        .expect_one(),
                    ),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Precondition {
                    change_index: 1,
                    failure: PreconditionFailure {
                        expected: Expectation::ExactlyOne,
                        outcome: ChangeOutcome::Affected(0)
                    }
                }
            ),
            "{err:?}"
        );
        // The notification computed with the edit was not written.
        assert_eq!(
            NotificationRepository::find(&db, note.id).await.unwrap(),
            None
        );
        let stored = MessageRepository::find(&db, gone.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.content.as_str(), "hi");

        // Met expectations commit.
        let live = message(world.channel.id, world.owner.id, "live");
        commit(&db, vec![Change::InsertMessage(live.clone())]).await;
        let committed = commit(
            &db,
            Changeset::new().with(
                Change::DeleteMessage {
                    id: live.id,
                    at: now(),
                }
                .expect_one(),
            ),
        )
        .await;
        assert_eq!(committed.outcomes, vec![ChangeOutcome::Affected(1)]);
    })
    .await;
}

#[tokio::test]
async fn a_stale_background_status_write_is_refused_and_writes_nothing() {
    each_backend(|db| async move {
        let world = World::create(&db).await;
        let conn = connection(world.organization.id, world.user.id, "T1");
        commit(&db, vec![Change::InsertConnection(conn.clone())]).await;
        // The worker reads the connection...
        let seen = ConnectionRepository::find(&db, conn.id)
            .await
            .unwrap()
            .unwrap()
            .connection;
        // ...a person fixes the credentials meanwhile...
        let fixed = SealedCredentials::from_bytes(vec![7, 7, 7]);
        let fixed_at = now() + time::Duration::milliseconds(5);
        commit(
            &db,
            vec![Change::PatchConnection {
                id: conn.id,
                columns: ConnectionColumns {
                    credentials: Some(fixed.clone()),
                    status: Some(ConnectionStatus::Connected),
                    ..ConnectionColumns::default()
                },
                updated_at: fixed_at,
            }],
        )
        .await;
        // ...and the worker's stale failure is refused.
        let stale = Change::SetConnectionStatusIfUnchanged {
            id: conn.id,
            seen_updated_at: seen.updated_at,
            status: ConnectionStatus::Error {
                code: ProviderErrorCode::AuthExpired,
                message: "token revoked".into(),
            },
            updated_at: fixed_at + time::Duration::milliseconds(5),
        };
        let err = db
            .commit(Changeset::new().with(stale.expect_one()))
            .await
            .unwrap_err();
        assert!(err.is_precondition_of(0), "{err:?}");
        let after = ConnectionRepository::find(&db, conn.id)
            .await
            .unwrap()
            .unwrap()
            .connection;
        assert_eq!(after.status, ConnectionStatus::Connected);
        assert_eq!(after.credentials, Some(fixed));
        assert_eq!(after.updated_at, hazel_domain::model::normalize(fixed_at));

        // A worker that read the current state writes its status.
        let current = Change::SetConnectionStatusIfUnchanged {
            id: conn.id,
            seen_updated_at: after.updated_at,
            status: ConnectionStatus::Error {
                code: ProviderErrorCode::AuthExpired,
                message: "token revoked".into(),
            },
            updated_at: fixed_at + time::Duration::milliseconds(10),
        };
        commit(&db, Changeset::new().with(current.expect_one())).await;
        let errored = ConnectionRepository::find(&db, conn.id)
            .await
            .unwrap()
            .unwrap()
            .connection;
        assert!(matches!(
            errored.status,
            ConnectionStatus::Error {
                code: ProviderErrorCode::AuthExpired,
                ..
            }
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_with_one_failing_in_the_middle_leave_the_others_applied() {
    each_backend(|db| async move {
        let taken = user(&format!("taken-{}@x.io", uuid_suffix()));
        commit(&db, vec![Change::InsertUser(taken.clone())]).await;
        let before = commit(&db, Vec::new()).await.transaction_id;
        let mut tasks = JoinSet::new();
        for i in 0..24 {
            let db = db.clone();
            let taken = taken.clone();
            tasks.spawn(async move {
                let fresh = user(&format!("batch-{i}-{}@x.io", uuid_suffix()));
                let mut duplicate = user(taken.email.as_str());
                duplicate.name = fresh.name.clone();
                let changes = match i {
                    // A fresh user then a duplicate email: the whole changeset is refused.
                    12 => vec![
                        Change::InsertUser(fresh.clone()),
                        Change::InsertUser(duplicate),
                    ],
                    // A lone duplicate (SQLite commits it without a savepoint of its own).
                    6 => vec![Change::InsertUser(duplicate)],
                    _ => vec![Change::InsertUser(fresh.clone())],
                };
                (i, fresh, db.commit(changes.into()).await)
            });
        }
        let mut ids = BTreeSet::new();
        while let Some(joined) = tasks.join_next().await {
            let (i, fresh, result) = joined.unwrap();
            let found = db.find_by_email(&fresh.email).await.unwrap();
            if i == 12 || i == 6 {
                let err = result.unwrap_err();
                let index = if i == 12 { 1 } else { 0 };
                assert!(
                    matches!(
                        err,
                        StoreError::Conflict {
                            change_index,
                            constraint: UniqueRule::UserEmail
                        } if change_index == index
                    ),
                    "{err:?}"
                );
                assert_eq!(found, None, "the refused changeset left a row");
            } else {
                let committed = result.unwrap_or_else(|e| panic!("commit {i} failed: {e:#}"));
                assert!(committed.transaction_id > before);
                assert!(
                    ids.insert(committed.transaction_id),
                    "an id was answered twice"
                );
                assert_eq!(found, Some(fresh));
            }
        }
        assert_eq!(ids.len(), 22);
        let after = commit(&db, Vec::new()).await.transaction_id;
        assert!(ids.iter().all(|id| *id < after));
        if db.backend() == "sqlite" {
            // One counter value per applied changeset; the refused one gave its value back.
            let values: Vec<u64> = ids.iter().map(|id| id.value()).collect();
            let expected: Vec<u64> = (before.value() + 1..=before.value() + 22).collect();
            assert_eq!(values, expected);
        }
    })
    .await;
}

#[test]
fn a_quarter_of_the_pool_stays_for_reads() {
    for (pool, permits) in [(1, 1), (2, 1), (4, 3), (8, 6), (10, 8), (16, 12), (40, 30)] {
        assert_eq!(PoolSettings::write_permits(pool), permits, "{pool}");
    }
}

/// Writers blocked on a row lock hold their connections; reads must still get one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_blocked_writes_does_not_starve_reads_on_postgres() {
    use sea_orm::{ConnectionTrait as _, Statement, TransactionTrait as _};

    let Some(admin_url) = testing::postgres_admin_url() else {
        return;
    };
    let url = testing::fresh_postgres_url(&admin_url).await.unwrap();
    migrated(&url).await;
    let db = Database::connect_with(
        &url,
        PoolSettings {
            max_connections: Some(4),
        },
    )
    .await
    .unwrap();
    let world = World::create(&db).await;
    let msg = message(world.channel.id, world.owner.id, "hi");
    commit(&db, vec![Change::InsertMessage(msg.clone())]).await;

    // Another session locks the message row.
    let locker = sea_orm::Database::connect(&url).await.unwrap();
    let lock = locker.begin().await.unwrap();
    lock.execute_raw(Statement::from_string(
        lock.get_database_backend(),
        format!("SELECT id FROM messages WHERE id = '{}' FOR UPDATE", msg.id),
    ))
    .await
    .unwrap();

    // Sixteen edits queue behind that lock.
    let mut writers = JoinSet::new();
    for _ in 0..16 {
        let db = db.clone();
        writers.spawn(async move {
            db.commit(
                vec![Change::DeleteMessage {
                    id: msg.id,
                    at: now(),
                }]
                .into(),
            )
            .await
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A read (a token check is one) still finds a connection.
    let read = tokio::time::timeout(Duration::from_secs(3), db.find_by_email(&world.user.email))
        .await
        .expect("a read starved behind blocked writes")
        .unwrap();
    assert_eq!(read, Some(world.user.clone()));
    lock.rollback().await.unwrap();
    while let Some(joined) = writers.join_next().await {
        joined.unwrap().unwrap();
    }
    locker.close().await.unwrap();
    drop(db);
    testing::drop_postgres_database(&admin_url, &url)
        .await
        .unwrap();
}

/// A deadlock between two changesets is retried, and both end up committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_is_retried_and_both_changesets_commit_on_postgres() {
    use sea_orm::{ConnectionTrait as _, Statement};

    let Some(admin_url) = testing::postgres_admin_url() else {
        return;
    };
    let url = testing::fresh_postgres_url(&admin_url).await.unwrap();
    // Deadlocks are detected after `deadlock_timeout` (1 s by default): shorten it for the
    // sessions of this database so the rounds stay quick.
    let raw = sea_orm::Database::connect(&url).await.unwrap();
    raw.execute_unprepared(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET deadlock_timeout = ''50ms''', \
         current_database()); END $$",
    )
    .await
    .unwrap();
    let db = migrated(&url).await;
    let world = World::create(&db).await;
    let a = message(world.channel.id, world.owner.id, "a");
    let b = message(world.channel.id, world.owner.id, "b");
    commit(
        &db,
        vec![
            Change::InsertMessage(a.clone()),
            Change::InsertMessage(b.clone()),
        ],
    )
    .await;
    let edit = |id, text: &str| Change::EditMessage {
        id,
        content: hazel_domain::model::message::MessageContent::parse("content", text).unwrap(),
        edited_at: now(),
    };
    // Many rounds of two changesets locking the same rows in opposite orders: PostgreSQL
    // breaks each deadlock by failing one of them (40P01), which the store runs again.
    for round in 0..20 {
        let first = db.commit(
            vec![
                edit(a.id, &format!("a{round}")),
                edit(b.id, &format!("b{round}")),
            ]
            .into(),
        );
        let second = db.commit(
            vec![
                edit(b.id, &format!("B{round}")),
                edit(a.id, &format!("A{round}")),
            ]
            .into(),
        );
        let (first, second) = tokio::join!(first, second);
        first.unwrap_or_else(|e| panic!("round {round}: {e:#}"));
        second.unwrap_or_else(|e| panic!("round {round}: {e:#}"));
    }
    // The rounds did deadlock (so the retries were exercised). Sessions report their
    // statistics when idle, within seconds.
    let mut deadlocks = 0;
    for _ in 0..60 {
        let row = raw
            .query_one_raw(Statement::from_string(
                raw.get_database_backend(),
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
            ))
            .await
            .unwrap()
            .unwrap();
        deadlocks = row.try_get::<i64>("", "deadlocks").unwrap();
        if deadlocks > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(deadlocks > 0, "no round deadlocked");
    raw.close().await.unwrap();
    drop(db);
    testing::drop_postgres_database(&admin_url, &url)
        .await
        .unwrap();
}

/// Concurrent writers share SQLite transactions: while one batch is being made durable, the
/// changesets that arrive wait together and commit in the next one, each with its own id, and
/// a writer whose changeset another writer's batch committed goes on at once (it does not
/// queue for the writer again, which would shrink the batches to one changeset each). A
/// message insert that fails (its channel does not exist) fails alone, also when the batch
/// inserts its messages with one statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_share_sqlite_transactions_and_a_failing_insert_fails_alone() {
    const WRITERS: usize = 16;
    const ROUNDS: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hazel.db").display());
    let db = migrated(&url).await;
    let world = World::create(&db).await;
    let before = db.commit_stats();
    let mut tasks = JoinSet::new();
    for writer in 0..WRITERS {
        let db = db.clone();
        let world_channel = world.channel.id;
        let owner = world.owner.id;
        tasks.spawn(async move {
            let mut outcomes = Vec::new();
            for round in 0..ROUNDS {
                let bad = writer == 3 && round == ROUNDS / 2;
                let channel = if bad {
                    hazel_domain::ids::ChannelId::new()
                } else {
                    world_channel
                };
                let posted = message(channel, owner, &format!("message {writer}/{round}"));
                let result = db
                    .commit(vec![Change::InsertMessage(posted.clone())].into())
                    .await;
                outcomes.push((bad, posted, result));
            }
            outcomes
        });
    }
    let mut ids = BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        for (bad, posted, result) in joined.unwrap() {
            let found = MessageRepository::find(&db, posted.id).await.unwrap();
            if bad {
                assert!(
                    result.is_err(),
                    "a message of an unknown channel was stored"
                );
                assert_eq!(found, None);
            } else {
                let committed = result.unwrap_or_else(|e| panic!("a commit failed: {e:#}"));
                assert!(
                    ids.insert(committed.transaction_id),
                    "an id was answered twice"
                );
                assert_eq!(found.map(|m| m.id), Some(posted.id));
            }
        }
    }
    assert_eq!(ids.len(), WRITERS * ROUNDS - 1);
    let stats = db.commit_stats();
    let changesets = stats.changesets - before.changesets;
    let batches = stats.batches - before.batches;
    assert_eq!(changesets, (WRITERS * ROUNDS) as u64);
    assert!(
        batches * 3 <= changesets,
        "{changesets} changesets took {batches} transactions: group commit did not group"
    );
}
