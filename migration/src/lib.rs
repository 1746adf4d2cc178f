//! hookql's schema migrations. They run at every start (idempotently) and with `hookql migrate`.
#![forbid(unsafe_code)]

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_documents;
mod m20261125_000002_create_users;
mod m20261128_000003_create_hook_deliveries;
mod m20261129_000004_create_realtime_spill;
mod m20261129_000005_create_server_secrets;
mod m20261129_000006_create_realtime_interest;
mod m20261130_000007_create_hook_runs;
mod m20261201_000008_create_revoked_users;
mod m20261202_000009_index_pending_deliveries_by_key;

/// The ordered list of migrations; append, never edit one that has shipped.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_documents::Migration),
            Box::new(m20261125_000002_create_users::Migration),
            Box::new(m20261128_000003_create_hook_deliveries::Migration),
            Box::new(m20261129_000004_create_realtime_spill::Migration),
            Box::new(m20261129_000005_create_server_secrets::Migration),
            Box::new(m20261129_000006_create_realtime_interest::Migration),
            Box::new(m20261130_000007_create_hook_runs::Migration),
            Box::new(m20261201_000008_create_revoked_users::Migration),
            Box::new(m20261202_000009_index_pending_deliveries_by_key::Migration),
        ]
    }
}
