//! Deleted users whose access tokens may still be unexpired: every instance refuses their
//! tokens from the moment of the deletion (access tokens are stateless JWTs, so without this
//! they would work until they expire). A row is kept until the longest-lived token it could
//! concern has expired (`until`, Unix microseconds), then pruned.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE TABLE IF NOT EXISTS revoked_users (user_id VARCHAR(36) PRIMARY KEY, until BIGINT NOT NULL)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS revoked_users")
            .await?;
        Ok(())
    }
}
