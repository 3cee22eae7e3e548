//! Black-box tests of the HTTP API through `hazel_testkit::TestApp`: the real wiring, a fresh
//! database per test (SQLite always, PostgreSQL when `HAZEL_TEST_POSTGRES_URL` is set) and the
//! provider simulators.
#![expect(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

mod auth;
mod bridge_e2e;
mod channel_links;
mod channels;
mod chat_sync;
mod connections;
mod contract;
mod external_channels;
mod members;
mod messages;
mod notifications;
mod operations;
mod organizations;
mod pagination;
mod slack_channels;
mod slack_e2e;
mod slack_socket_mode;
mod store_effects;
mod sync_engine;
mod sync_tenancy;
mod tenancy;
mod transactions;

/// A connection of its own to the test app's database, for reading or writing what the API
/// does not show (stored columns, rows from before a migration).
async fn raw_db(app: &hazel_testkit::TestApp) -> sea_orm::DatabaseConnection {
    sea_orm::Database::connect(&app.config.database_url)
        .await
        .unwrap()
}
