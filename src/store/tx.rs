//! Transactions, and the few primitives every query goes through so that one method serves
//! both a plain call (on the pool) and a call inside an open transaction.
//!
//! Why: a before-hook's `db` writes must commit together with the operation they precede, or
//! not at all. Rather than a second copy of every store method for transactions, each method
//! takes `tx: Option<&Tx>` and runs its statements through [`Store::fetch_one`],
//! [`Store::fetch_all`] and [`Store::count`], which pick the connection.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbErr, FromQueryResult, RuntimeErr, TransactionTrait,
};
use tokio::sync::OwnedMutexGuard;

use super::changes::{Change, ChangeFeed};
use super::sql::Sql;
use super::{Store, StoreError};

/// An open transaction. On SQLite it also holds this process's write turn from `BEGIN` to
/// the end, so the transaction can never meet a concurrent writer of ours half-way (SQLite
/// would refuse the upgrade from read to write rather than wait). Dropped without
/// [`Tx::commit`], it rolls back.
pub struct Tx {
    txn: DatabaseTransaction,
    /// SQLite: changes to publish once committed, still inside the write turn so that
    /// subscribers see them in commit order. (PostgreSQL's writes notify by themselves.)
    pending: Mutex<Vec<Change>>,
    feed: ChangeFeed,
    bound: Duration,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

impl Tx {
    /// Makes every write of the transaction durable.
    /// A commit that fails for want of an answer may have been made all the same (the
    /// database can commit and then lose the connection before saying so), so it is
    /// [`StoreError::OutcomeUnknown`], never a plain failure (issue 16).
    pub async fn commit(self) -> Result<(), StoreError> {
        bounded(self.bound, self.txn.commit())
            .await
            .map_err(committing)?;
        let pending = self
            .pending
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        for change in pending {
            self.feed.publish(change);
        }
        Ok(())
    }

    /// Publishes `change` if and when the transaction commits.
    pub(super) fn publish_on_commit(&self, change: Change) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(change);
    }

    /// Undoes every write of the transaction (dropping it does the same, later).
    pub async fn rollback(self) -> Result<(), StoreError> {
        bounded(self.bound, self.txn.rollback()).await?;
        Ok(())
    }

    pub(super) fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

/// What a statement outside a transaction does, which decides where it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access {
    /// Reads: on the read pool, under the query timeout.
    Read,
    /// Writes: on the write pool, once this process's write turn comes (SQLite).
    Write,
    /// Writes by a caller that already holds the write turn.
    WriteInTurn,
}

impl Store {
    /// Begins a transaction (waiting for the write turn first on SQLite).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let (turn, txn) = bounded(self.bound, async {
            let turn = match &self.write_queue {
                Some(queue) => Some(queue.clone().lock_owned().await),
                None => None,
            };
            Ok((turn, self.db.begin().await?))
        })
        .await?;
        Ok(Tx {
            txn,
            pending: Mutex::new(Vec::new()),
            feed: self.changes.clone(),
            bound: self.bound,
            _turn: turn,
        })
    }

    /// `work`, given up after the store's bound as `gives_up_as`: for the few paths that do
    /// not go through the primitives below (streamed reads give up as
    /// [`StoreError::Unreachable`]; refresh-token writes, whose commits and self-committing
    /// statements go through [`committing`] too, as [`StoreError::OutcomeUnknown`]).
    pub(super) async fn within<T>(
        &self,
        gives_up_as: StoreError,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.bound, work)
            .await
            .unwrap_or(Err(gives_up_as))
    }

    /// One row of `sql` as `M`, in `tx` or (by `access`) on one of the pools.
    pub(super) async fn fetch_one<M: FromQueryResult>(
        &self,
        tx: Option<&Tx>,
        access: Access,
        sql: Sql,
    ) -> Result<Option<M>, DbErr> {
        if access == Access::Read || tx.is_some() {
            let statement = sql.into_statement();
            return bounded(self.bound, async {
                match tx {
                    Some(tx) => M::find_by_statement(statement).one(tx.conn()).await,
                    None => M::find_by_statement(statement).one(&self.reads).await,
                }
            })
            .await;
        }
        // Every row, not the first: outside a transaction a write commits when its statement
        // is stepped to the end. Taking the first row of `… RETURNING` and resetting the
        // statement let SQLite commit out of sight, so a commit that failed (a full disk) was
        // acknowledged as a success (issue 16).
        let rows = self.fetch_all(None, access, sql).await?;
        Ok(rows.into_iter().next())
    }

    /// Every row of `sql` as `M`, in `tx` or (by `access`) on one of the pools.
    pub(super) async fn fetch_all<M: FromQueryResult>(
        &self,
        tx: Option<&Tx>,
        access: Access,
        sql: Sql,
    ) -> Result<Vec<M>, DbErr> {
        let statement = sql.into_statement();
        bounded(self.bound, async {
            match (tx, access) {
                (Some(tx), _) => M::find_by_statement(statement).all(tx.conn()).await,
                (None, Access::Read) => M::find_by_statement(statement).all(&self.reads).await,
                (None, Access::Write) => {
                    let _turn = self.write_turn().await;
                    M::find_by_statement(statement).all(&self.db).await
                }
                (None, Access::WriteInTurn) => M::find_by_statement(statement).all(&self.db).await,
            }
        })
        .await
        .map_err(|e| match (tx, access) {
            (None, Access::Write | Access::WriteInTurn) => committing(e),
            _ => e,
        })
    }

    /// Runs a write statement that returns nothing, in `tx` or on the pool; rows affected.
    pub(super) async fn execute(&self, tx: Option<&Tx>, sql: Sql) -> Result<u64, DbErr> {
        let statement = sql.into_statement();
        bounded(self.bound, async {
            match tx {
                Some(tx) => Ok(tx.conn().execute(statement).await?.rows_affected()),
                None => {
                    let _turn = self.write_turn().await;
                    Ok(self.db.execute(statement).await?.rows_affected())
                }
            }
        })
        .await
        .map_err(|e| if tx.is_none() { committing(e) } else { e })
    }

    /// A page of `table`'s rows (`columns`), newest id first, narrowed by `narrow` (which
    /// appends a `WHERE` clause), and how many rows match in all.
    pub(super) async fn newest_first<M: FromQueryResult>(
        &self,
        table: &str,
        columns: &str,
        narrow: impl Fn(&mut Sql),
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<M>, u64), DbErr> {
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT ").push(columns).push(" FROM ").push(table);
        narrow(&mut sql);
        sql.push(" ORDER BY id DESC LIMIT ")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .push(" OFFSET ")
            .bind(i64::try_from(offset).unwrap_or(i64::MAX));
        let items = self.fetch_all(None, Access::Read, sql).await?;
        let mut count = Sql::new(self.backend());
        count.push("SELECT COUNT(*) AS total FROM ").push(table);
        narrow(&mut count);
        let total = self.count(None, true, count).await?.unwrap_or(0);
        Ok((items, total))
    }

    /// Runs `sql` (a `SELECT COUNT(*) AS total …`) when `wanted`: list queries count only
    /// when the client asked for a total.
    pub(super) async fn count(
        &self,
        tx: Option<&Tx>,
        wanted: bool,
        sql: Sql,
    ) -> Result<Option<u64>, DbErr> {
        if !wanted {
            return Ok(None);
        }
        let row: Option<Total> = self.fetch_one(tx, Access::Read, sql).await?;
        Ok(Some(row.map_or(0, |r| r.total.max(0) as u64)))
    }
}

/// `work` (a statement, with its waits for a connection and the write turn), given up after
/// `bound` with [`NO_ANSWER`]. Dropping it mid-statement is safe: the connection is
/// closed or, inside a transaction, rolled back before it is used again.
async fn bounded<T>(
    bound: Duration,
    work: impl Future<Output = Result<T, DbErr>>,
) -> Result<T, DbErr> {
    tokio::time::timeout(bound, work)
        .await
        .unwrap_or_else(|_| Err(DbErr::Conn(RuntimeErr::Internal(NO_ANSWER.into()))))
}

/// What a failure while committing (a `COMMIT`, or a write outside a transaction, which
/// commits by itself) means: when the database did not answer, it may have committed all the
/// same, and the caller must not be told the write failed.
pub(super) fn committing(error: DbErr) -> DbErr {
    if is_no_answer(&error) || super::connect::is_broken(&error) {
        DbErr::Custom(OUTCOME_UNKNOWN.into())
    } else {
        error
    }
}

/// Whether `error` is a statement given up at the store's bound.
pub(super) fn is_no_answer(error: &DbErr) -> bool {
    matches!(error, DbErr::Conn(RuntimeErr::Internal(text)) if text == NO_ANSWER)
}

/// The text of the [`DbErr`] a statement past the store's bound fails with.
const NO_ANSWER: &str = "hookql: no answer from the database within HOOKQL_DB_TIMEOUT_MS";

/// The text of the [`DbErr`] that becomes [`StoreError::OutcomeUnknown`].
pub(super) const OUTCOME_UNKNOWN: &str = "hookql: no answer to a commit";

/// A computed column (`COUNT(*)`), not a row: not an entity.
#[derive(FromQueryResult)]
struct Total {
    total: i64,
}
