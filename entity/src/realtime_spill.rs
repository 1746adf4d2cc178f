//! A spilled change: a realtime change too large for a PostgreSQL NOTIFY payload (8000 bytes),
//! kept for a short while so that every instance's listener can read it back. PostgreSQL only:
//! SQLite's changes never leave the process, and the table exists only on PostgreSQL.

use sea_orm::entity::prelude::*;

/// One spilled change (`realtime_spill`); the notification carries only its id.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "realtime_spill")]
pub struct Model {
    /// `BIGSERIAL`: what the notification names (`{"spill": id}`).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The change's notice as JSON text, as it would have been notified inline.
    pub payload: String,
    /// When it was written, Unix microseconds; pruned once every listener has long read it.
    pub created_at: i64,
}

/// Spilled changes stand alone (the document they report may be gone).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
