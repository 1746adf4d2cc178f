//! `per_document` ordering: a delivery waits, parked at [`WAITING`], while an earlier one of
//! its ordering key is pending; the statement that ends that one frees it (`lease.rs`), and
//! what follows keeps the parking honest across concurrent transactions and old versions.

use super::super::sql::Sql;
use super::{Store, StoreError, Tx, WAITING};
use crate::model::clock::now_micros;

impl Store {
    /// PostgreSQL: share-locks the last pending delivery of `key` until `tx` ends. A new row
    /// behind it is parked at [`WAITING`]; the statement that ends it frees the next row, but
    /// could not see ours before we commit. The lock makes that statement wait for our
    /// commit, or, if it came first, makes our check see the row ended, so a row is never
    /// parked behind one that has already freed its successor.
    pub(super) async fn hold_last_pending(&self, tx: &Tx, key: &str) -> Result<(), StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT id FROM hook_deliveries WHERE ordering_key = ")
            .bind(key.to_string())
            .push(" AND status = 'pending' ORDER BY id DESC LIMIT 1 FOR SHARE");
        self.execute(Some(tx), sql).await?;
        Ok(())
    }

    /// Frees waiting deliveries that nothing is ahead of any more; how many. The statement
    /// ending a delivery frees the next one of its key itself; this only repairs what an
    /// older version or an admin's replay left behind, so it runs rarely.
    pub async fn free_waiting_deliveries(&self) -> Result<u64, StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push("UPDATE hook_deliveries SET next_attempt_at = ")
            .bind(now_micros())
            .push(" WHERE status = 'pending' AND next_attempt_at = ")
            .bind(WAITING)
            .push(" AND NOT EXISTS (SELECT 1 FROM hook_deliveries e WHERE e.ordering_key = hook_deliveries.ordering_key AND e.status = 'pending' AND e.id < hook_deliveries.id)");
        Ok(self.execute(None, sql).await?)
    }
}
