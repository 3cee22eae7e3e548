#![doc = include_str!("../README.md")]

mod cache;
mod database;
#[expect(
    unreachable_pub,
    reason = "sea-orm's entity derives generate `pub` items inside this private module"
)]
mod entity;
mod error;
mod link_secrets;
mod page;
mod repositories;
mod session_lease;
mod store;
mod sync_engine;
pub mod testing;

pub use database::{CommitStats, Database, PoolSettings, WorkNotices};
