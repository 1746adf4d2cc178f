//! The documents table and the index every collection query uses.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Documents {
    Table,
    Id,
    Collection,
    Data,
    OwnerId,
    CreatedAt,
    UpdatedAt,
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Documents::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Documents::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Documents::Collection)
                            .string_len(63)
                            .not_null(),
                    )
                    // JSONB on PostgreSQL; JSON text on SQLite.
                    .col(ColumnDef::new(Documents::Data).json_binary().not_null())
                    .col(ColumnDef::new(Documents::OwnerId).string_len(36).null())
                    .col(
                        ColumnDef::new(Documents::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Documents::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Documents::Version).integer().not_null())
                    .to_owned(),
            )
            .await?;
        // Every query is scoped to one collection and pages in id (= creation) order.
        manager
            .create_index(
                Index::create()
                    .name("documents_collection_id")
                    .table(Documents::Table)
                    .col(Documents::Collection)
                    .col(Documents::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Documents::Table).to_owned())
            .await
    }
}
