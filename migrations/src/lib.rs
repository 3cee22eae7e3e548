#![doc = include_str!("../README.md")]
// `MigrationTrait` takes `&SchemaManager` (a type with a hidden lifetime), and the trait's own
// signature cannot be written with `SchemaManager<'_>` in an impl, so the 2018-idioms lint that
// asks for `<'_>` has to be silenced for this crate.
#![expect(
    elided_lifetimes_in_paths,
    reason = "sea-orm-migration's MigrationTrait signatures use `&SchemaManager` without `<'_>`"
)]

mod m20261122_000001_initial_schema;
mod m20261122_000002_sync_lookup_indexes;
mod m20261130_000010_connection_bot_identity;
mod m20261202_000011_messages_without_hot_row_locks;
mod m20261202_000020_sync_engine;
mod m20261202_000040_session_leases;
mod m20261203_000050_message_link_pins;
mod m20261203_000060_link_secrets;

use sea_orm_migration::{MigrationTrait, MigratorTrait};

/// Every migration of Hazel Sync's schema, oldest first. Apply with
/// [`MigratorTrait::up`]; the persistence adapter does so in `Database::migrate`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial_schema::Migration),
            Box::new(m20261122_000002_sync_lookup_indexes::Migration),
            Box::new(m20261130_000010_connection_bot_identity::Migration),
            Box::new(m20261202_000011_messages_without_hot_row_locks::Migration),
            Box::new(m20261202_000020_sync_engine::Migration),
            Box::new(m20261202_000040_session_leases::Migration),
            Box::new(m20261203_000050_message_link_pins::Migration),
            Box::new(m20261203_000060_link_secrets::Migration),
        ]
    }
}
