//! Black-box tests of the persistence adapter through the domain's ports. Every test runs on
//! SQLite, and also on PostgreSQL when `HAZEL_TEST_POSTGRES_URL` is set (see `support`).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions fail the test on any error, as tests do"
)]

mod chat_sync;
mod database;
mod guards;
mod identity;
mod link_secrets;
mod messages;
mod notifications;
mod pagination;
mod session_leases;
mod store;
mod support;
mod sync_engine;
