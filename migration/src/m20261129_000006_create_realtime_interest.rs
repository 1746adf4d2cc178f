//! Which collections some instance has subscribers for, so that PostgreSQL writes notify only
//! when someone listens (NOTIFY serializes committing transactions on one lock).
//!
//! `hookql_watched(collection)` is what a write statement asks. It takes a shared advisory
//! lock on the collection, then reads the table with a fresh snapshot (a VOLATILE function
//! does, in READ COMMITTED). An instance registering interest takes the same lock exclusively
//! while it writes its row: it waits for every write that may have answered "no", and every
//! write that starts meanwhile waits for it and then sees the row. So once a registration has
//! committed, no write committing later goes unannounced. PostgreSQL only.

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
            "CREATE TABLE IF NOT EXISTS realtime_interest (instance_id VARCHAR(36) NOT NULL, collection VARCHAR(255) NOT NULL, until BIGINT NOT NULL, PRIMARY KEY (instance_id, collection))",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS realtime_interest_collection ON realtime_interest (collection, until)",
        )
        .await?;
        db.execute_unprepared(
            r#"CREATE OR REPLACE FUNCTION hookql_watched(c text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(hashtext(current_schema() || ':' || c));
  RETURN EXISTS (SELECT 1 FROM realtime_interest WHERE collection = c
    AND until > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
END
$$"#,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP FUNCTION IF EXISTS hookql_watched(text)")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS realtime_interest")
            .await?;
        Ok(())
    }
}
