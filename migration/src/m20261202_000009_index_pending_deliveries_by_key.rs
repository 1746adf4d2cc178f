//! Pending deliveries by ordering key: the claim asks, for each candidate of a `per_document`
//! hook, whether an earlier delivery of its document is still pending. The older index also
//! held every delivered row, so the answer walked a document's whole history (issue 16).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS hook_deliveries_pending_order ON hook_deliveries (ordering_key, id) WHERE status = 'pending' AND ordering_key IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS hook_deliveries_pending_order")
            .await?;
        Ok(())
    }
}
