//! Opening, migrating and checking the database.

use hazel_domain::ports::{Change, UserRepository as _};
use hazel_persistence::{Database, testing};

use crate::support::{commit, each_backend, migrated, user};

#[tokio::test]
async fn migrations_apply_once_and_readiness_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    // The parent directory does not exist yet: connecting creates it.
    let path = dir.path().join("nested").join("data").join("hazel.db");
    let sqlite = Database::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.exists(), "the SQLite file is created");
    check_migrations(sqlite, "sqlite").await;

    if let Some(admin_url) = testing::postgres_admin_url() {
        let url = testing::fresh_postgres_url(&admin_url).await.unwrap();
        check_migrations(Database::connect(&url).await.unwrap(), "postgres").await;
        testing::drop_postgres_database(&admin_url, &url)
            .await
            .unwrap();
    }
}

async fn check_migrations(db: Database, backend: &str) {
    assert_eq!(db.backend(), backend);
    db.ping().await.unwrap();
    assert!(db.pending_migrations().await.unwrap() > 0);
    db.migrate().await.unwrap();
    assert_eq!(db.pending_migrations().await.unwrap(), 0);
    db.migrate().await.unwrap();
    assert_eq!(db.pending_migrations().await.unwrap(), 0);
}

#[tokio::test]
async fn an_in_memory_sqlite_database_keeps_its_data_across_calls() {
    let db = migrated("sqlite::memory:").await;
    let ada = user("ada@example.com");
    commit(&db, vec![Change::InsertUser(ada.clone())]).await;
    assert_eq!(db.find_by_email(&ada.email).await.unwrap(), Some(ada));
}

#[tokio::test]
async fn in_memory_databases_are_private_to_their_pool() {
    let first = migrated("sqlite::memory:").await;
    let second = migrated("sqlite::memory:").await;
    let ada = user("ada@example.com");
    commit(&first, vec![Change::InsertUser(ada.clone())]).await;
    assert_eq!(second.find_by_email(&ada.email).await.unwrap(), None);
}

#[tokio::test]
async fn data_survives_reopening_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hazel.db").display());
    let ada = user("ada@example.com");
    {
        let db = migrated(&url).await;
        commit(&db, vec![Change::InsertUser(ada.clone())]).await;
    }
    let reopened = migrated(&url).await;
    assert_eq!(reopened.find_by_email(&ada.email).await.unwrap(), Some(ada));
}

#[tokio::test]
async fn a_database_can_be_pinged_and_names_its_backend() {
    each_backend(|db| async move {
        db.ping().await.unwrap();
        assert!(["sqlite", "postgres"].contains(&db.backend()));
        assert!(format!("{db:?}").contains(db.backend()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_migrating_one_postgres_database_at_once_all_succeed() {
    let Some(admin_url) = testing::postgres_admin_url() else {
        return;
    };
    let url = testing::fresh_postgres_url(&admin_url).await.unwrap();
    // Separate pools stand for separate processes (replicas starting together).
    let mut handles = Vec::new();
    for _ in 0..4 {
        handles.push(Database::connect(&url).await.unwrap());
    }
    let mut migrations = tokio::task::JoinSet::new();
    for db in &handles {
        let db = db.clone();
        migrations.spawn(async move { db.migrate().await });
    }
    while let Some(joined) = migrations.join_next().await {
        if let Err(err) = joined.unwrap() {
            panic!("a concurrent migration failed: {err:#}");
        }
    }
    for db in &handles {
        assert_eq!(db.pending_migrations().await.unwrap(), 0);
    }
    // Every migration was applied exactly once.
    let first = commit(&handles[0], Vec::new()).await;
    assert!(first.transaction_id.value() > 0);
    drop(handles);
    testing::drop_postgres_database(&admin_url, &url)
        .await
        .unwrap();
}
