//! A durable webhook delivery: one row of the outbox (`hook_deliveries`), recorded with the
//! write it reports and sent, retried and fenced by the delivery worker.

use sea_orm::entity::prelude::*;

/// One stored delivery, for one (event, durable URL after-hook). Times are Unix microseconds.
/// The id is `BIGSERIAL` on PostgreSQL and `INTEGER PRIMARY KEY AUTOINCREMENT` on SQLite, so
/// on both it grows with commit order and is never reused (`ordering: per_document` needs it).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "hook_deliveries")]
pub struct Model {
    /// Increasing with commit order.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The event id (`webhook-id` on every attempt).
    pub event_id: String,
    /// The binding's name.
    pub hook: String,
    /// The event's name.
    pub event: String,
    /// Deliveries with the same key go out one at a time, in id order (`per_document`); none
    /// for unordered hooks.
    pub ordering_key: Option<String>,
    /// The payload as JSON text.
    pub payload: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// When the row may next be claimed (pending only): its next attempt, its lease's end
    /// while it is out, or the store's `WAITING` (later than any real time) while it waits
    /// behind an earlier delivery of its ordering key.
    pub next_attempt_at: i64,
    /// The worker holding the row while an attempt is out, if any: the fence of its result.
    pub lease_owner: Option<String>,
    /// When the holder's lease ends; after it, any worker may take the row over.
    pub lease_until: Option<i64>,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<i32>,
    /// What went wrong last, if anything.
    pub last_error: Option<String>,
    /// When the write recorded it.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

/// Deliveries name their hook (in `hooks.yaml`), not a row of another table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
