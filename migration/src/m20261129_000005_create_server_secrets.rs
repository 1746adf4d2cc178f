//! Secrets every instance must share (the generated JWT signing secret), kept in the
//! database so that several instances on one PostgreSQL agree without configuration.
//! Created on both databases; SQLite deployments keep using the data folder's file.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE TABLE IF NOT EXISTS server_secrets (name VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL, created_at BIGINT NOT NULL)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS server_secrets")
            .await?;
        Ok(())
    }
}
