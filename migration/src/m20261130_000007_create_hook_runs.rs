//! The record of hook runs (`hookRuns`): one row per binding run, written in batches by the
//! recorder and pruned by count and age. Never on a request's critical path.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: &str = "
    at BIGINT NOT NULL,
    hook VARCHAR(64) NOT NULL,
    event VARCHAR(32) NOT NULL,
    collection VARCHAR(128) NULL,
    kind VARCHAR(8) NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    duration_us BIGINT NOT NULL,
    error TEXT NULL,
    request_id VARCHAR(128) NULL,
    payload TEXT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let id = match manager.get_database_backend() {
            DbBackend::Postgres => "id BIGSERIAL PRIMARY KEY",
            _ => "id INTEGER PRIMARY KEY",
        };
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS hook_runs ({id},{COLUMNS})"
        ))
        .await?;
        for index in [
            "CREATE INDEX IF NOT EXISTS hook_runs_hook ON hook_runs (hook, id)",
            "CREATE INDEX IF NOT EXISTS hook_runs_at ON hook_runs (at)",
        ] {
            db.execute_unprepared(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS hook_runs")
            .await?;
        Ok(())
    }
}
