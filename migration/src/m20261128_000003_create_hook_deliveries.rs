//! The outbox of durable webhook deliveries: one row per (event, URL after-hook), written in
//! the same transaction as the operation, then sent and retried by the delivery worker.
//!
//! Raw SQL per backend, because the id must be a strictly increasing integer on both (it is
//! the commit order `ordering: per_document` relies on): `BIGSERIAL` on PostgreSQL, and
//! `INTEGER PRIMARY KEY AUTOINCREMENT` on SQLite (which never reuses an id).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: &str = "
    event_id VARCHAR(36) NOT NULL,
    hook VARCHAR(64) NOT NULL,
    event VARCHAR(32) NOT NULL,
    ordering_key TEXT NULL,
    payload TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner VARCHAR(36) NULL,
    lease_until BIGINT NULL,
    last_status INTEGER NULL,
    last_error TEXT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let id = match manager.get_database_backend() {
            DbBackend::Postgres => "id BIGSERIAL PRIMARY KEY",
            _ => "id INTEGER PRIMARY KEY AUTOINCREMENT",
        };
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS hook_deliveries ({id},{COLUMNS})"
        ))
        .await?;
        for index in [
            "CREATE INDEX IF NOT EXISTS hook_deliveries_due ON hook_deliveries (status, next_attempt_at)",
            "CREATE INDEX IF NOT EXISTS hook_deliveries_order ON hook_deliveries (ordering_key, id) WHERE ordering_key IS NOT NULL",
            "CREATE INDEX IF NOT EXISTS hook_deliveries_hook ON hook_deliveries (hook, status, id)",
        ] {
            db.execute_unprepared(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS hook_deliveries")
            .await?;
        Ok(())
    }
}
