//! A document: one JSON object in a named collection.

use sea_orm::entity::prelude::*;

/// One stored document. Timestamps are Unix microseconds so that they sort and compare the same
/// way on SQLite and PostgreSQL; ids are UUID v7 text, so ordering by id is creation order.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "documents")]
pub struct Model {
    /// UUID v7 in its hyphenated lower-case form.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The collection name (validated before it gets here).
    pub collection: String,
    /// The document's data, always a JSON object.
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    /// The app user who created it, if any.
    pub owner_id: Option<String>,
    /// Creation time, Unix microseconds.
    pub created_at: i64,
    /// Last update time, Unix microseconds.
    pub updated_at: i64,
    /// Starts at 1 and grows by one on each update (optimistic concurrency).
    pub version: i32,
}

/// Documents relate to nothing yet; users and their documents come with authentication.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
