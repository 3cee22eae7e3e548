//! What the store does underneath the API: the transaction id a write answers, writes that are
//! refused leaving nothing behind, and the configured pool.

use hazel_testkit::{Backend, Client, TestApp};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, Statement};
use serde_json::json;

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no row for {sql}"))
        .try_get_by_index::<i64>(0)
        .unwrap()
}

/// The value of the transaction counter row (SQLite's ids; never taken on PostgreSQL).
async fn counter(db: &DatabaseConnection) -> i64 {
    scalar(db, "SELECT value FROM transaction_counter WHERE id = 1").await
}

async fn notification_rows(db: &DatabaseConnection) -> i64 {
    scalar(db, "SELECT COUNT(*) FROM notifications").await
}

async fn notifications_of(client: &Client) -> usize {
    client
        .get("/notifications")
        .await
        .expect_status(200)
        .data()
        .as_array()
        .unwrap()
        .len()
}

/// On PostgreSQL `transactionId` is the writing transaction's own id (the `xmin` of the rows it
/// wrote, modulo the epoch) and the counter row is never taken; on SQLite it is the counter.
async fn the_transaction_id_is_the_writing_transactions_own(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let channel = ada.create_channel(&org, "general").await;
    let db = crate::raw_db(&app).await;
    let mut last = 0;
    for i in 0..5 {
        let posted = ada
            .post(
                &format!("/channels/{channel}/messages"),
                json!({"content": format!("m{i}")}),
            )
            .await
            .expect_status(201);
        let id = posted.transaction_id();
        assert!(id > last, "{id} after {last}");
        last = id;
        let message = posted.id();
        match app.database.backend() {
            "postgres" => {
                let xmin = scalar(
                    &db,
                    &format!(
                        "SELECT CAST(CAST(xmin AS text) AS bigint) FROM messages WHERE id = '{message}'"
                    ),
                )
                .await;
                assert_eq!(
                    id % (1 << 32),
                    xmin,
                    "the id is the inserting transaction's"
                );
                assert_eq!(counter(&db).await, 0, "the counter row was taken");
            }
            _ => assert_eq!(counter(&db).await, id),
        }
    }
}

/// A refused edit (the message is gone) answers 404 and writes neither the edit nor the
/// notifications its text would send.
async fn editing_a_deleted_message_answers_404_and_notifies_nobody(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (mia_id, mia) = ada.add_member(&org, "Mia", "member").await;
    let mia = mia.unwrap();
    let channel = ada.create_channel(&org, "general").await;
    let message = ada.post_message(&channel, "lunch?").await;
    ada.delete(&format!("/messages/{message}"))
        .await
        .expect_status(200);
    let db = crate::raw_db(&app).await;
    let (counter_before, rows_before) = (counter(&db).await, notification_rows(&db).await);
    let refused = ada
        .patch(
            &format!("/messages/{message}"),
            json!({"content": format!("@[member:{mia_id}] @here lunch at 12?")}),
        )
        .await
        .expect_status(404);
    assert_eq!(refused.error_code(), "NotFoundError");
    assert_eq!(notifications_of(&mia).await, 0);
    assert_eq!(notification_rows(&db).await, rows_before);
    assert_eq!(
        counter(&db).await,
        counter_before,
        "a refused write took an id"
    );
}

/// Removing a reaction that is not there answers 404 and writes nothing.
async fn removing_a_missing_reaction_answers_404_and_writes_nothing(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let (_, mia) = ada.add_member(&org, "Mia", "member").await;
    let mia = mia.unwrap();
    let channel = ada.create_channel(&org, "general").await;
    let message = ada.post_message(&channel, "ship it").await;
    let path = format!("/messages/{message}/reactions");
    ada.post(&path, json!({"emoji": "👍"}))
        .await
        .expect_status(201);
    let db = crate::raw_db(&app).await;
    let before = counter(&db).await;
    // Mia never reacted with 👍, and nobody with 🎉.
    for emoji in ["%F0%9F%91%8D", "%F0%9F%8E%89"] {
        let missing = mia.delete(&format!("{path}/{emoji}")).await;
        assert_eq!(missing.status, 404, "{emoji}: {}", missing.text);
        assert_eq!(missing.error_code(), "NotFoundError");
    }
    assert_eq!(counter(&db).await, before, "a refused write took an id");
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM reactions").await, 1);
    let list = ada.get(&format!("/channels/{channel}/messages")).await;
    assert_eq!(list.data()[0]["reactions"][0]["count"], 1, "{}", list.text);
}

/// Concurrent writes, some refused by a uniqueness rule at commit: the refused ones write
/// nothing, every other one is applied with its own transaction id (on SQLite they share group
/// commits with the refused ones).
async fn concurrent_writes_with_refusals_leave_the_others_applied(app: TestApp) {
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let channel = ada.create_channel(&org, "general").await;
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..24 {
        let ada = ada.clone();
        let (org, channel) = (org.clone(), channel.clone());
        writes.spawn(async move {
            if i % 4 == 0 {
                // Six requests add the same person: one is applied.
                let resp = ada
                    .post(
                        &format!("/organizations/{org}/members"),
                        json!({"email": "dup@example.test", "name": "Dup", "role": "member"}),
                    )
                    .await;
                (true, resp)
            } else {
                let resp = ada
                    .post(
                        &format!("/channels/{channel}/messages"),
                        json!({"content": format!("m{i}")}),
                    )
                    .await;
                (false, resp)
            }
        });
    }
    let mut ids = Vec::new();
    let (mut added, mut refused) = (0, 0);
    for (member, resp) in writes.join_all().await {
        match resp.status {
            201 => {
                ids.push(resp.transaction_id());
                added += usize::from(member);
            }
            400 if member => {
                assert_eq!(resp.error_field(), "email", "{}", resp.text);
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", resp.text),
        }
    }
    assert_eq!((added, refused), (1, 5));
    assert_eq!(ids.len(), 19);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 19, "a transaction id was answered twice");
    let messages = ada
        .get(&format!("/channels/{channel}/messages?limit=200"))
        .await;
    assert_eq!(messages.data().as_array().unwrap().len(), 18);
    let members = ada.get(&format!("/organizations/{org}/members")).await;
    let dups = members
        .data()
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"] == "Dup")
        .count();
    assert_eq!(dups, 1, "{}", members.text);
    let db = crate::raw_db(&app).await;
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM users WHERE email = 'dup@example.test'"
        )
        .await,
        1
    );
}

hazel_testkit::on_every_backend!(
    the_transaction_id_is_the_writing_transactions_own,
    editing_a_deleted_message_answers_404_and_notifies_nobody,
    removing_a_missing_reaction_answers_404_and_writes_nothing,
    concurrent_writes_with_refusals_leave_the_others_applied
);

/// `HAZEL_DATABASE_MAX_CONNECTIONS` bounds the connections the service opens, and a burst of
/// concurrent writes and token checks all succeed within them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_pool_size_bounds_the_connections_on_postgres() {
    let Some(app) = TestApp::spawn_with(Backend::Postgres, |config| {
        config.database_max_connections = Some(3);
    })
    .await
    else {
        return;
    };
    let ada = app.user("Ada").await;
    let org = ada.create_org("Acme").await;
    let channel = ada.create_channel(&org, "general").await;
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..40 {
        let ada = ada.clone();
        let channel = channel.clone();
        burst.spawn(async move {
            if i % 2 == 0 {
                ada.post(
                    &format!("/channels/{channel}/messages"),
                    json!({"content": format!("m{i}")}),
                )
                .await
                .status
            } else {
                ada.get(&format!("/channels/{channel}/messages"))
                    .await
                    .status
            }
        });
    }
    let statuses = burst.join_all().await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 201),
        "{statuses:?}"
    );
    let db = crate::raw_db(&app).await;
    // Every connection of the service is still open (the pool keeps idle ones); this one is
    // the test's own.
    let open = scalar(
        &db,
        "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await;
    assert!((1..=3).contains(&open), "{open} connections open");
    db.close().await.unwrap();
}
