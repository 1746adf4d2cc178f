//! The outbox of durable webhook deliveries (`hook_deliveries`): recorded with the write they
//! report, claimed by workers under a lease, finished with a fenced update.
//!
//! Claiming is one statement: on PostgreSQL the candidate rows are locked with `FOR UPDATE
//! SKIP LOCKED`, so several instances sharing the table never take the same row, and the lease
//! (`lease_until`) hands a row to another worker only once its holder is surely gone. A
//! worker's result is written only while it still holds the lease (`lease_owner`), so a late
//! worker cannot overwrite a newer attempt's outcome. Times are microseconds since the epoch.

use std::time::Duration;

use sea_orm::FromQueryResult;

use super::sql::Sql;
use super::tx::Access;
use super::{Store, StoreError, Tx};

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

/// A stored delivery.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Delivery {
    /// Increasing with commit order.
    pub id: i64,
    /// The event id.
    pub event_id: String,
    /// The binding's name.
    pub hook: String,
    /// The event's name.
    pub event: String,
    /// Its ordering key (`per_document`), if any.
    pub ordering_key: Option<String>,
    /// The payload as JSON text.
    pub payload: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: i64,
    /// The receiver's last status, if it answered.
    pub last_status: Option<i32>,
    /// What went wrong last, if anything.
    pub last_error: Option<String>,
    /// When the write recorded it.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

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

/// Now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

const SELECTED: &str = "id, event_id, hook, event, ordering_key, payload, status, attempts, next_attempt_at, last_status, last_error, created_at, updated_at";

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
                .push(", 'pending', 0, ")
                .bind(now)
                .push(", ");
            match lease.filter(|_| row.ordering_key.is_none()) {
                Some((owner, until)) => sql
                    .bind(owner.to_string())
                    .push(", ")
                    .bind(until)
                    .push(", "),
                None => sql.push("NULL, NULL, "),
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
                Some(Delivery {
                    id,
                    event_id: row.event_id.clone(),
                    hook: row.hook.clone(),
                    event: row.event.to_string(),
                    ordering_key: row.ordering_key.clone(),
                    payload: row.payload.clone(),
                    status: DeliveryStatus::Pending.as_str().to_string(),
                    attempts: 0,
                    next_attempt_at: now,
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

    /// Takes up to `limit` due deliveries for `owner` until `lease` from now, oldest first.
    /// A delivery waits while an earlier one with its ordering key is still pending.
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let now = now_micros();
        let mut sql = Sql::new(self.backend());
        sql.push("UPDATE hook_deliveries SET lease_owner = ")
            .bind(owner.to_string())
            .push(", lease_until = ")
            .bind(now.saturating_add(micros(lease)))
            .push(" WHERE id IN (SELECT d.id FROM hook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= ")
            .bind(now)
            .push(" AND (d.lease_until IS NULL OR d.lease_until < ")
            .bind(now)
            .push(") AND (d.ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM hook_deliveries e WHERE e.ordering_key = d.ordering_key AND e.status = 'pending' AND e.id < d.id)) ORDER BY d.id LIMIT ")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        if sql.is_postgres() {
            sql.push(" FOR UPDATE SKIP LOCKED");
        }
        sql.push(") RETURNING ").push(SELECTED);
        let mut rows: Vec<Delivery> = self.fetch_all(None, Access::Write, sql).await?;
        rows.sort_by_key(|d| d.id);
        Ok(rows)
    }

    /// Records how `owner`'s attempts ended, in as few statements as possible: successes with
    /// the same status in one. How many results were recorded (a result whose lease was lost
    /// meanwhile is dropped).
    pub async fn finish_deliveries(
        &self,
        owner: &str,
        results: Vec<(i64, Attempted)>,
    ) -> Result<u64, StoreError> {
        let mut delivered: std::collections::BTreeMap<u16, Vec<i64>> = Default::default();
        let mut recorded = 0;
        for (id, attempted) in results {
            match attempted {
                Attempted::Delivered { status } => delivered.entry(status).or_default().push(id),
                other => recorded += u64::from(self.finish_delivery(id, owner, other).await?),
            }
        }
        let now = now_micros();
        for (status, ids) in delivered {
            let mut sql = Sql::new(self.backend());
            sql.push("UPDATE hook_deliveries SET status = 'delivered', attempts = attempts + 1, lease_owner = NULL, lease_until = NULL, last_error = NULL, last_status = ")
                .bind(i32::from(status))
                .push(", next_attempt_at = ")
                .bind(now)
                .push(", updated_at = ")
                .bind(now)
                .push(" WHERE lease_owner = ")
                .bind(owner.to_string())
                .push(" AND id IN ");
            // The ids travel as one JSON array: one statement text for any number of them,
            // so connections do not cache a prepared statement per count.
            let ids = serde_json::Value::from(ids);
            if sql.is_postgres() {
                sql.push("(SELECT jsonb_array_elements_text(")
                    .bind(ids)
                    .push(")::bigint)");
            } else {
                sql.push("(SELECT value FROM json_each(")
                    .bind(ids.to_string())
                    .push("))");
            }
            recorded += self.execute(None, sql).await?;
        }
        Ok(recorded)
    }

    /// Records how `owner`'s attempt of delivery `id` ended; `false` if it no longer held the
    /// lease (the row was taken over or reset meanwhile, and this result is dropped).
    async fn finish_delivery(
        &self,
        id: i64,
        owner: &str,
        attempted: Attempted,
    ) -> Result<bool, StoreError> {
        let now = now_micros();
        let (status, attempts, next, last_status, error) = match attempted {
            Attempted::Delivered { status } => ("delivered", 1, now, Some(status), None),
            Attempted::Retry { at, status, error } => ("pending", 1, at, status, Some(error)),
            Attempted::Dead { status, error } => ("dead", 1, now, status, Some(error)),
            Attempted::Deferred { at, note } => ("pending", 0, at, None, Some(note)),
        };
        let mut sql = Sql::new(self.backend());
        sql.push("UPDATE hook_deliveries SET status = ")
            .bind(status)
            .push(", attempts = attempts + ")
            .bind(attempts)
            .push(", next_attempt_at = ")
            .bind(next)
            .push(", lease_owner = NULL, lease_until = NULL, updated_at = ")
            .bind(now);
        if attempts == 1 {
            sql.push(", last_status = ")
                .bind(last_status.map(i32::from))
                .push(", last_error = ")
                .bind(error);
        } else {
            sql.push(", last_error = ").bind(error);
        }
        sql.push(" WHERE id = ")
            .bind(id)
            .push(" AND lease_owner = ")
            .bind(owner.to_string());
        Ok(self.execute(None, sql).await? == 1)
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
        sql.push("UPDATE hook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ")
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

    /// When the earliest pending delivery is due, if any (the worker sleeps until then).
    pub async fn next_delivery_due(&self) -> Result<Option<i64>, StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push(
            "SELECT MIN(next_attempt_at) AS due FROM hook_deliveries WHERE status = 'pending'",
        );
        let row: Option<Due> = self.fetch_one(None, Access::Read, sql).await?;
        Ok(row.and_then(|r| r.due))
    }
}

#[derive(FromQueryResult)]
struct Id {
    id: i64,
    hook: String,
}

#[derive(FromQueryResult)]
struct Due {
    due: Option<i64>,
}
