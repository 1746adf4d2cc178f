//! The record of hook runs (`hook_runs`): written in batches by the recorder
//! ([`crate::hooks::runs`]), read by admins (`hookRuns`), pruned by count and age.

use super::sql::Sql;
use super::{Store, StoreError};

/// One run to record.
#[derive(Clone, Debug)]
pub struct NewHookRun {
    /// When it started (microseconds since the epoch).
    pub at: i64,
    /// The binding's name.
    pub hook: String,
    /// The event's name.
    pub event: &'static str,
    /// The collection of the document, for document events.
    pub collection: Option<String>,
    /// `url` or `script`.
    pub kind: &'static str,
    /// `continue`, `changed`, `blocked`, `failed` or `timed_out`.
    pub outcome: &'static str,
    /// How long it took, in microseconds.
    pub duration_us: i64,
    /// Why it failed (secrets redacted).
    pub error: Option<String>,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// The payload as JSON text (`log_payloads: true` only; redacted).
    pub payload: Option<String>,
}

/// A recorded run: the `hook_runs` row, read whole (`SELECTED` names every column).
pub type HookRun = entity::hook_run::Model;

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct HookRunQuery {
    /// Only this hook's.
    pub hook: Option<String>,
    /// Only this event's.
    pub event: Option<String>,
    /// Only runs with this outcome.
    pub outcome: Option<String>,
    /// Only runs started at or after this time (microseconds since the epoch).
    pub since: Option<i64>,
}

/// A page of runs, newest first.
#[derive(Clone, Debug)]
pub struct HookRunPage {
    /// The runs of this page.
    pub items: Vec<HookRun>,
    /// How many match in all.
    pub total: u64,
}

/// Rows per INSERT: small enough that one statement holds SQLite's single write turn for well
/// under a millisecond (writers queue behind it), large enough to be cheap per row.
const ROWS_PER_INSERT: usize = 100;

/// Every column of [`HookRun`] (the entity's row).
const SELECTED: &str =
    "id, at, hook, event, collection, kind, outcome, duration_us, error, request_id, payload";

impl Store {
    /// Records `runs` (a batch from the recorder). The rows travel as one JSON array, so the
    /// statement's text is the same for every batch size: each pooled connection prepares it
    /// once, instead of caching a statement per batch size it ever saw.
    pub async fn record_hook_runs(&self, runs: &[NewHookRun]) -> Result<(), StoreError> {
        for chunk in runs.chunks(ROWS_PER_INSERT) {
            let rows: Vec<serde_json::Value> = chunk
                .iter()
                .map(|run| {
                    serde_json::json!({
                        "at": run.at,
                        "hook": run.hook,
                        "event": run.event,
                        "collection": run.collection,
                        "kind": run.kind,
                        "outcome": run.outcome,
                        "duration_us": run.duration_us,
                        "error": run.error,
                        "request_id": run.request_id,
                        "payload": run.payload,
                    })
                })
                .collect();
            let mut sql = Sql::new(self.backend());
            sql.push("INSERT INTO hook_runs (at, hook, event, collection, kind, outcome, duration_us, error, request_id, payload) ");
            if sql.is_postgres() {
                sql.push("SELECT (r->>'at')::bigint, r->>'hook', r->>'event', r->>'collection', r->>'kind', r->>'outcome', (r->>'duration_us')::bigint, r->>'error', r->>'request_id', r->>'payload' FROM jsonb_array_elements(")
                    .bind(serde_json::Value::Array(rows))
                    .push(") AS r");
            } else {
                sql.push("SELECT json_extract(value, '$.at'), json_extract(value, '$.hook'), json_extract(value, '$.event'), json_extract(value, '$.collection'), json_extract(value, '$.kind'), json_extract(value, '$.outcome'), json_extract(value, '$.duration_us'), json_extract(value, '$.error'), json_extract(value, '$.request_id'), json_extract(value, '$.payload') FROM json_each(")
                    .bind(serde_json::Value::Array(rows).to_string())
                    .push(")");
            }
            self.execute(None, sql).await?;
        }
        Ok(())
    }

    /// Runs matching `query`, newest first.
    pub async fn list_hook_runs(
        &self,
        query: &HookRunQuery,
        limit: u64,
        offset: u64,
    ) -> Result<HookRunPage, StoreError> {
        let narrow = |sql: &mut Sql| {
            sql.push(" WHERE 1 = 1");
            for (column, value) in [
                ("hook", &query.hook),
                ("event", &query.event),
                ("outcome", &query.outcome),
            ] {
                if let Some(value) = value {
                    sql.push(" AND ")
                        .push(column)
                        .push(" = ")
                        .bind(value.clone());
                }
            }
            if let Some(since) = query.since {
                sql.push(" AND at >= ").bind(since);
            }
        };
        let (items, total) = self
            .newest_first("hook_runs", SELECTED, narrow, limit, offset)
            .await?;
        Ok(HookRunPage { items, total })
    }

    /// Deletes runs older than `before` (microseconds since the epoch) and all but the newest
    /// `keep`; how many.
    pub async fn prune_hook_runs(&self, keep: u64, before: i64) -> Result<u64, StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push("DELETE FROM hook_runs WHERE at < ")
            .bind(before)
            .push(" OR id <= (SELECT id FROM hook_runs ORDER BY id DESC LIMIT 1 OFFSET ")
            .bind(i64::try_from(keep).unwrap_or(i64::MAX))
            .push(")");
        Ok(self.execute(None, sql).await?)
    }
}
