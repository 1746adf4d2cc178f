//! Changes too large for a PostgreSQL NOTIFY payload (8000 bytes), kept for a short while
//! so that every instance's listener can read them back. PostgreSQL only: SQLite's changes
//! never leave the process.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS realtime_spill (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL, created_at BIGINT NOT NULL)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS realtime_spill_created ON realtime_spill (created_at)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS realtime_spill")
            .await?;
        Ok(())
    }
}
