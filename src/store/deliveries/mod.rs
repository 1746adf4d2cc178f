//! The outbox of durable webhook deliveries (`hook_deliveries`): recorded with the write they
//! report, claimed by workers under a lease ([`lease`]), finished with a fenced update.
//!
//! Claiming is one statement: on PostgreSQL the candidate rows are locked with `FOR UPDATE
//! SKIP LOCKED`, so several instances sharing the table never take the same row, and the lease
//! (`lease_until`) hands a row to another worker only once its holder is surely gone. A
//! worker's result is written only while it still holds the lease (`lease_owner`, and the
//! `attempts` it was claimed with), so a late worker cannot overwrite a newer attempt's
//! outcome. Times are microseconds since the epoch.
//!
//! `next_attempt_at` says when a row may be claimed, so that a claim only ever reads rows it
//! can take (issue 16: it used to wade through every leased and every waiting row, and took
//! over a second with a few thousand pending): a leased row's is its lease's end, and a row
//! waiting behind an earlier delivery of its document (`per_document`) holds [`WAITING`] until
//! that one ends.

use std::time::Duration;

use sea_orm::FromQueryResult;

use super::sql::Sql;
use super::tx::Access;
use super::{Store, StoreError, Tx};
use crate::model::clock::now_micros;

mod lease;
mod order;

pub use lease::Finished;

/// `next_attempt_at` of a delivery waiting for an earlier one of its ordering key to end:
/// later than any real time, so claims never read it, and set back to now by the statement
/// that ends the earlier one.
pub const WAITING: i64 = i64::MAX / 4;

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt, or being attempted.
    Pending,
    /// The receiver accepted it.
    Delivered,
    /// Given up: out of attempts, or a failure that is not retried.
    Dead,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }

    /// Reads a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Dead]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// A delivery to record with a write.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    /// The event id (`webhook-id` on every attempt).
    pub event_id: String,
    /// The binding's name.
    pub hook: String,
    /// The event's name.
    pub event: &'static str,
    /// Deliveries with the same key go out one at a time, in id order (`per_document`).
    pub ordering_key: Option<String>,
    /// The payload as JSON text.
    pub payload: String,
}

/// A stored delivery: the `hook_deliveries` row, read whole (`SELECTED` names every column).
pub type Delivery = entity::hook_delivery::Model;

/// How an attempt ended, as the worker records it.
#[derive(Clone, Debug, PartialEq)]
pub enum Attempted {
    /// Accepted by the receiver.
    Delivered {
        /// Its status.
        status: u16,
    },
    /// Failed; try again at `at`.
    Retry {
        /// When.
        at: i64,
        /// The receiver's status, if it answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
    /// Failed for good.
    Dead {
        /// The receiver's status, if it answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
    /// Not attempted (its URL is paused); due again at `at`, no attempt counted.
    Deferred {
        /// When.
        at: i64,
        /// Why.
        note: String,
    },
}

/// What asking for a delivery to be sent again did.
#[derive(Clone, Debug)]
pub enum Retried {
    /// It is pending again, due now.
    Pending(Box<Delivery>),
    /// An attempt is in flight; it was left alone.
    InFlight,
    /// There is no such delivery.
    Missing,
}

/// A page of deliveries, newest first.
#[derive(Clone, Debug)]
pub struct DeliveryPage {
    /// The deliveries.
    pub items: Vec<Delivery>,
    /// How many match in all.
    pub total: u64,
}

/// Every column of [`Delivery`] (the entity's row).
const SELECTED: &str = "id, event_id, hook, event, ordering_key, payload, status, attempts, next_attempt_at, lease_owner, lease_until, last_status, last_error, created_at, updated_at";

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl Store {
    /// Records `rows` in `tx`, the transaction of the write they report, and returns them.
    /// With `lease` (owner, until), the unordered ones are born claimed by that worker, which
    /// is handed them after the commit: no claim query, and no other instance takes them
    /// while the lease lasts (after it, anyone may, as with any claim).
    pub async fn insert_deliveries(
        &self,
        tx: &Tx,
        rows: &[NewDelivery],
        lease: Option<(&str, i64)>,
    ) -> Result<Vec<Delivery>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_micros();
        if self.kind() == super::DatabaseKind::Postgres {
            for key in rows.iter().filter_map(|r| r.ordering_key.as_ref()) {
                self.hold_last_pending(tx, key).await?;
            }
        }
        let mut sql = Sql::new(self.backend());
        sql.push("INSERT INTO hook_deliveries (event_id, hook, event, ordering_key, payload, status, attempts, next_attempt_at, lease_owner, lease_until, created_at, updated_at) VALUES ");
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .bind(row.event_id.clone())
                .push(", ")
                .bind(row.hook.clone())
                .push(", ")
                .bind(row.event)
                .push(", ")
                .bind(row.ordering_key.clone())
                .push(", ")
                .bind(row.payload.clone())
                .push(", 'pending', 0, ");
            match (&row.ordering_key, lease) {
                // Behind any pending delivery of the same key. Writes to one document take its
                // row lock before they record deliveries, so the earlier one is visible here.
                (Some(key), _) => sql
                    .push("CASE WHEN EXISTS (SELECT 1 FROM hook_deliveries WHERE ordering_key = ")
                    .bind(key.clone())
                    .push(" AND status = 'pending') THEN ")
                    .bind(WAITING)
                    .push(" ELSE ")
                    .bind(now)
                    .push(" END, NULL, NULL, "),
                (None, Some((owner, until))) => sql
                    .bind(until)
                    .push(", ")
                    .bind(owner.to_string())
                    .push(", ")
                    .bind(until)
                    .push(", "),
                (None, None) => sql.bind(now).push(", NULL, NULL, "),
            };
            sql.bind(now).push(", ").bind(now).push(")");
        }
        // Only ids come back (matched by hook name, unique within one event's rows): the rest
        // is known, and payloads can be large.
        sql.push(" RETURNING id, hook");
        let ids: Vec<Id> = self.fetch_all(Some(tx), Access::Write, sql).await?;
        let mut inserted: Vec<Delivery> = rows
            .iter()
            .filter_map(|row| {
                let id = ids.iter().find(|i| i.hook == row.hook)?.id;
                // Ordered rows are never born leased; whether one was parked behind an earlier
                // delivery is not read back (the worker claims them, it is not handed them).
                let leased = lease.filter(|_| row.ordering_key.is_none());
                Some(Delivery {
                    id,
                    event_id: row.event_id.clone(),
                    hook: row.hook.clone(),
                    event: row.event.to_string(),
                    ordering_key: row.ordering_key.clone(),
                    payload: row.payload.clone(),
                    status: DeliveryStatus::Pending.as_str().to_string(),
                    attempts: 0,
                    next_attempt_at: leased.map_or(now, |(_, until)| until),
                    lease_owner: leased.map(|(owner, _)| owner.to_string()),
                    lease_until: leased.map(|(_, until)| until),
                    last_status: None,
                    last_error: None,
                    created_at: now,
                    updated_at: now,
                })
            })
            .collect();
        inserted.sort_by_key(|d| d.id);
        Ok(inserted)
    }

    /// Deliveries, newest first, optionally of one status and one hook.
    pub async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        hook: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Result<DeliveryPage, StoreError> {
        let narrow = |sql: &mut Sql| {
            sql.push(" WHERE 1 = 1");
            if let Some(status) = status {
                sql.push(" AND status = ").bind(status.as_str());
            }
            if let Some(hook) = hook {
                sql.push(" AND hook = ").bind(hook.to_string());
            }
        };
        let (items, total) = self
            .newest_first("hook_deliveries", SELECTED, narrow, limit, offset)
            .await?;
        Ok(DeliveryPage { items, total })
    }

    /// How many deliveries each status has, and the age of the oldest pending one in
    /// seconds (for `/metrics`).
    pub async fn delivery_figures(&self) -> Result<(Vec<(String, u64)>, Option<f64>), StoreError> {
        // Counts per status, not rows: not the entity.
        #[derive(FromQueryResult)]
        struct Row {
            status: String,
            total: i64,
            oldest: Option<i64>,
        }
        let mut sql = Sql::new(self.backend());
        sql.push(
            "SELECT status, COUNT(*) AS total, MIN(created_at) AS oldest FROM hook_deliveries GROUP BY status",
        );
        let rows: Vec<Row> = self.fetch_all(None, Access::Read, sql).await?;
        let now = now_micros();
        let mut oldest = None;
        let mut counts: Vec<(String, u64)> = [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Dead,
        ]
        .iter()
        .map(|s| (s.as_str().to_string(), 0))
        .collect();
        for row in rows {
            if row.status == DeliveryStatus::Pending.as_str() {
                oldest = row.oldest.map(|t| (now - t).max(0) as f64 / 1e6);
            }
            if let Some(entry) = counts.iter_mut().find(|(s, _)| *s == row.status) {
                entry.1 = row.total.max(0) as u64;
            }
        }
        Ok((counts, oldest))
    }

    /// Sends delivery `id` again from its first attempt (same event id), unless an attempt is
    /// in flight.
    pub async fn retry_delivery(&self, id: i64) -> Result<Retried, StoreError> {
        let now = now_micros();
        let mut sql = self.replay(now);
        sql.push(" WHERE id = ")
            .bind(id)
            .push(" AND (lease_until IS NULL OR lease_until < ")
            .bind(now)
            .push(") RETURNING ")
            .push(SELECTED);
        if let Some(row) = self.fetch_one(None, Access::Write, sql).await? {
            return Ok(Retried::Pending(Box::new(row)));
        }
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT ")
            .push(SELECTED)
            .push(" FROM hook_deliveries WHERE id = ")
            .bind(id);
        Ok(
            match self.fetch_one::<Delivery>(None, Access::Read, sql).await? {
                Some(_) => Retried::InFlight,
                None => Retried::Missing,
            },
        )
    }

    /// Sends every dead delivery (of `hook`, or all) again from its first attempt; how many.
    pub async fn retry_dead_deliveries(&self, hook: Option<&str>) -> Result<u64, StoreError> {
        let mut sql = self.replay(now_micros());
        sql.push(" WHERE status = 'dead'");
        if let Some(hook) = hook {
            sql.push(" AND hook = ").bind(hook.to_string());
        }
        Ok(self.execute(None, sql).await?)
    }

    /// The start of an update that makes deliveries pending from their first attempt, due
    /// `now`.
    fn replay(&self, now: i64) -> Sql {
        let mut sql = Sql::new(self.backend());
        sql.push("UPDATE hook_deliveries SET status = 'pending', attempts = 0, lease_owner = NULL, lease_until = NULL, next_attempt_at = ")
            .bind(now)
            .push(", updated_at = ")
            .bind(now);
        sql
    }

    /// Deletes deliveries delivered more than `retention` ago; how many.
    pub async fn prune_delivered(&self, retention: Duration) -> Result<u64, StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push("DELETE FROM hook_deliveries WHERE status = 'delivered' AND updated_at < ")
            .bind(now_micros().saturating_sub(micros(retention)));
        Ok(self.execute(None, sql).await?)
    }

    /// When a pending delivery next falls due, if any does later than now (the worker sleeps
    /// until then). Rows due already but not claimed are waiting for something that wakes
    /// the worker (an earlier delivery of their document ending) or for the next poll: counting
    /// them made the worker spin (issue 16).
    pub async fn next_delivery_due(&self) -> Result<Option<i64>, StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT MIN(next_attempt_at) AS due FROM hook_deliveries WHERE status = 'pending' AND next_attempt_at > ")
            .bind(now_micros())
            .push(" AND next_attempt_at < ")
            .bind(WAITING);
        let row: Option<Due> = self.fetch_one(None, Access::Read, sql).await?;
        Ok(row.and_then(|r| r.due))
    }
}

/// What an insert returns: not the entity, as the rest of the row is known already.
#[derive(FromQueryResult)]
struct Id {
    id: i64,
    hook: String,
}

/// A computed column (`MIN(next_attempt_at)`), not a row: not the entity.
#[derive(FromQueryResult)]
struct Due {
    due: Option<i64>,
}
