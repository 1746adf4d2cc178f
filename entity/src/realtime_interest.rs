//! Realtime interest: which collections some instance has subscribers for, so that PostgreSQL
//! writes notify only when someone listens (NOTIFY serializes committing transactions on one
//! lock). PostgreSQL only: the table exists only there.
//!
//! Writes ask `hookql_watched(collection)`, a SQL function over this table (see its
//! migration for the locking that makes a registration never miss a later write).

use sea_orm::entity::prelude::*;

/// One instance's interest in one collection (`realtime_interest`), renewed while it has
/// subscribers and pruned once it lapses (the instance stopped or crashed).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "realtime_interest")]
pub struct Model {
    /// The instance's name (a UUID v4 chosen at start).
    #[sea_orm(primary_key, auto_increment = false)]
    pub instance_id: String,
    /// The collection it has subscribers for.
    #[sea_orm(primary_key, auto_increment = false)]
    pub collection: String,
    /// Until when (Unix microseconds, the database's clock) the interest holds unless renewed.
    pub until: i64,
}

/// Interest names a collection, not a row of another table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
