//! A hook run: one row of the run record (`hook_runs`), written in batches by the recorder,
//! read by admins (`hookRuns`) and pruned by count and age.

use sea_orm::entity::prelude::*;

/// One recorded run of one binding. The id is `BIGSERIAL` on PostgreSQL and `INTEGER PRIMARY
/// KEY` on SQLite: it grows with recording order.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "hook_runs")]
pub struct Model {
    /// Increasing with recording order.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When it started, Unix microseconds.
    pub at: i64,
    /// The binding's name.
    pub hook: String,
    /// The event's name.
    pub event: String,
    /// The document's collection, for document events.
    pub collection: Option<String>,
    /// `url` or `script`.
    pub kind: String,
    /// What it decided: `continue`, `changed`, `blocked`, `failed` or `timed_out`.
    pub outcome: String,
    /// How long it took, in microseconds.
    pub duration_us: i64,
    /// Why it failed (secrets redacted).
    pub error: Option<String>,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// The payload as JSON text, when the binding logs payloads (`log_payloads: true`;
    /// redacted).
    pub payload: Option<String>,
}

/// Runs name their hook (in `hooks.yaml`), not a row of another table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
