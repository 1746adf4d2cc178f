//! Who holds a delivery: claims, renewals and releases of leases, and the fenced statements
//! that record how an attempt ended.
//!
//! A lease is fenced by its owner and by `attempts`: a claim that takes a row over from a
//! holder whose lease ran out counts an attempt (the holder may have sent it, so the next
//! send is honestly a new attempt), which also makes every later statement of the old holder
//! miss the row, even when the old holder is this same worker after a pause.

use std::time::Duration;

use sea_orm::FromQueryResult;
use serde_json::Value;

use super::super::sql::Sql;
use super::super::tx::Access;
use super::{micros, Attempted, Delivery, Store, StoreError, SELECTED, WAITING};
use crate::model::clock::now_micros;

/// How one attempt ended, for [`Store::finish_deliveries`].
#[derive(Clone, Debug)]
pub struct Finished {
    /// The delivery.
    pub id: i64,
    /// Its `attempts` when it was claimed: the fence.
    pub attempts: i32,
    /// Its ordering key: when it ends, the next delivery of the key is freed.
    pub ordering_key: Option<String>,
    /// The outcome.
    pub outcome: Attempted,
}

impl Store {
    /// Takes up to `limit` due deliveries for `owner` until `lease` from now, those due
    /// longest first. A delivery waits while an earlier one with its ordering key is pending.
    /// Reads only rows it can take (see the module doc of `deliveries`), so it costs the same
    /// with ten pending rows or a hundred thousand.
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let now = now_micros();
        let until = now.saturating_add(micros(lease));
        let mut sql = Sql::new(self.backend());
        sql.push("UPDATE hook_deliveries SET lease_owner = ")
            .bind(owner.to_string())
            .push(", lease_until = ")
            .bind(until)
            .push(", next_attempt_at = ")
            .bind(until)
            .push(", attempts = attempts + CASE WHEN lease_owner IS NULL THEN 0 ELSE 1 END")
            .push(" WHERE id IN (SELECT d.id FROM hook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= ")
            .bind(now)
            .push(" AND (d.lease_until IS NULL OR d.lease_until < ")
            .bind(now)
            // The check stays for rows an admin's replay put due out of order.
            .push(") AND (d.ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM hook_deliveries e WHERE e.ordering_key = d.ordering_key AND e.status = 'pending' AND e.id < d.id)) ORDER BY d.next_attempt_at LIMIT ")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        if sql.is_postgres() {
            sql.push(" FOR UPDATE SKIP LOCKED");
        }
        sql.push(") RETURNING ").push(SELECTED);
        let mut rows: Vec<Delivery> = self.fetch_all(None, Access::Write, sql).await?;
        rows.sort_by_key(|d| d.id);
        Ok(rows)
    }

    /// Extends `owner`'s leases on `held` (id, attempts) to `lease` from now; the ids still
    /// held. A worker renews what waits in its memory, so a row is never taken over only
    /// because the worker was busy (issue 16: slow receivers made duplicates).
    pub async fn renew_deliveries(
        &self,
        owner: &str,
        lease: Duration,
        held: &[(i64, i32)],
    ) -> Result<Vec<i64>, StoreError> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let until = now_micros().saturating_add(micros(lease));
        let mut sql = Sql::new(self.backend());
        sql.push("UPDATE hook_deliveries SET lease_until = ")
            .bind(until)
            .push(", next_attempt_at = ")
            .bind(until)
            .push(" WHERE status = 'pending' AND lease_owner = ")
            .bind(owner.to_string())
            .push(" AND ");
        pairs(&mut sql, held);
        sql.push(" RETURNING id");
        let rows: Vec<Held> = self.fetch_all(None, Access::Write, sql).await?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// Gives up `owner`'s leases on `held` (id, attempts) without an attempt: the rows are
    /// due now for any worker, and no attempt is counted for them.
    pub async fn release_deliveries(
        &self,
        owner: &str,
        held: &[(i64, i32)],
    ) -> Result<u64, StoreError> {
        if held.is_empty() {
            return Ok(0);
        }
        let mut sql = Sql::new(self.backend());
        sql.push(
            "UPDATE hook_deliveries SET lease_owner = NULL, lease_until = NULL, next_attempt_at = ",
        )
        .bind(now_micros())
        .push(" WHERE status = 'pending' AND lease_owner = ")
        .bind(owner.to_string())
        .push(" AND ");
        pairs(&mut sql, held);
        Ok(self.execute(None, sql).await?)
    }

    /// Makes the deliveries of `hooks` that wait for a later time (retries, or deferred
    /// while their URL was paused) due now; how many. For when a paused URL answers again:
    /// its backlog goes at the receiver's pace instead of at the times it was put off to.
    pub async fn hurry_deliveries(&self, hooks: &[String]) -> Result<u64, StoreError> {
        if hooks.is_empty() {
            return Ok(0);
        }
        let now = now_micros();
        let mut sql = Sql::new(self.backend());
        sql.push("UPDATE hook_deliveries SET next_attempt_at = ")
            .bind(now)
            .push(" WHERE status = 'pending' AND lease_owner IS NULL AND next_attempt_at > ")
            .bind(now)
            .push(" AND next_attempt_at < ")
            .bind(WAITING)
            .push(" AND hook IN ");
        json_texts(&mut sql, Value::from(hooks.to_vec()));
        Ok(self.execute(None, sql).await?)
    }

    /// Records how `owner`'s attempts ended, in one transaction: successes with the same
    /// status in one statement, and for each delivery that ended (delivered or dead) the
    /// next one of its ordering key freed. How many results were recorded (a result whose
    /// lease was lost meanwhile is dropped).
    pub async fn finish_deliveries(
        &self,
        owner: &str,
        results: Vec<Finished>,
    ) -> Result<u64, StoreError> {
        let tx = self.begin().await?;
        let mut delivered: std::collections::BTreeMap<u16, Vec<(i64, i32)>> = Default::default();
        let mut ended = Vec::new();
        let mut recorded = 0;
        for result in results {
            if matches!(
                result.outcome,
                Attempted::Delivered { .. } | Attempted::Dead { .. }
            ) {
                ended.extend(result.ordering_key.clone());
            }
            match result.outcome {
                Attempted::Delivered { status } => delivered
                    .entry(status)
                    .or_default()
                    .push((result.id, result.attempts)),
                outcome => {
                    recorded += self
                        .finish_delivery(&tx, owner, result.id, result.attempts, outcome)
                        .await?
                }
            }
        }
        let now = now_micros();
        for (status, held) in delivered {
            let mut sql = Sql::new(self.backend());
            sql.push("UPDATE hook_deliveries SET status = 'delivered', attempts = attempts + 1, lease_owner = NULL, lease_until = NULL, last_error = NULL, last_status = ")
                .bind(i32::from(status))
                .push(", next_attempt_at = ")
                .bind(now)
                .push(", updated_at = ")
                .bind(now)
                .push(" WHERE lease_owner = ")
                .bind(owner.to_string())
                .push(" AND ");
            pairs(&mut sql, &held);
            recorded += self.execute(Some(&tx), sql).await?;
        }
        ended.sort();
        ended.dedup();
        for key in ended {
            let mut sql = Sql::new(self.backend());
            sql.push("UPDATE hook_deliveries SET next_attempt_at = ")
                .bind(now)
                .push(" WHERE next_attempt_at = ")
                .bind(WAITING)
                .push(" AND id = (SELECT MIN(id) FROM hook_deliveries WHERE ordering_key = ")
                .bind(key)
                .push(" AND status = 'pending')");
            self.execute(Some(&tx), sql).await?;
        }
        tx.commit().await?;
        Ok(recorded)
    }

    /// Records one attempt that did not succeed; whether the lease still held.
    async fn finish_delivery(
        &self,
        tx: &super::super::Tx,
        owner: &str,
        id: i64,
        claimed_attempts: i32,
        attempted: Attempted,
    ) -> Result<u64, StoreError> {
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
            .push(" AND attempts = ")
            .bind(claimed_attempts)
            .push(" AND lease_owner = ")
            .bind(owner.to_string());
        Ok(self.execute(Some(tx), sql).await?)
    }
}

/// Appends `(id, attempts) IN (…)` for `held`. The pairs travel as one JSON array: one
/// statement text for any number of them, so connections do not cache a prepared statement
/// per count.
fn pairs(sql: &mut Sql, held: &[(i64, i32)]) {
    let list = Value::from(
        held.iter()
            .map(|(id, attempts)| Value::from(vec![Value::from(*id), Value::from(*attempts)]))
            .collect::<Vec<_>>(),
    );
    if sql.is_postgres() {
        sql.push(
            "(id, attempts) IN (SELECT (e->>0)::bigint, (e->>1)::int FROM jsonb_array_elements(",
        )
        .bind(list)
        .push(") e)");
    } else {
        sql.push("(id, attempts) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(")
            .bind(list.to_string())
            .push("))");
    }
}

/// Appends `(…)`, the elements of the JSON array of strings `list` as rows of text.
fn json_texts(sql: &mut Sql, list: Value) {
    if sql.is_postgres() {
        sql.push("(SELECT jsonb_array_elements_text(")
            .bind(list)
            .push("))");
    } else {
        sql.push("(SELECT value FROM json_each(")
            .bind(list.to_string())
            .push("))");
    }
}

/// Only the ids a renewal still holds (`RETURNING id`): not the entity.
#[derive(FromQueryResult)]
struct Held {
    id: i64,
}
