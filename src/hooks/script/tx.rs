//! The transaction of one operation and its before-hooks. In a before-hook, the first `db`
//! write opens it; the operation itself then runs in it (`service::hooked_write`) and
//! everything commits together, or rolls back together when a later hook blocks or fails.
//! Reads before any write run on the pool, so a hook that only reads never holds SQLite's
//! write turn.

use std::sync::Arc;

use crate::store::{Store, Tx};

/// The transaction of one operation and its before-hooks, opened by the first write.
#[derive(Debug)]
pub struct OperationTx {
    state: tokio::sync::Mutex<TxState>,
}

#[derive(Debug)]
enum TxState {
    /// No hook has written yet.
    Idle,
    /// A hook wrote: the operation must run in this transaction.
    Open(Tx),
    /// The chain is over; a script still running (past its deadline) may not write.
    Ended,
}

impl OperationTx {
    /// A transaction slot for one operation.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: tokio::sync::Mutex::new(TxState::Idle),
        })
    }

    /// Ends the chain: the open transaction, if a hook wrote, for the operation to run in and
    /// commit (or drop, to roll back).
    pub async fn finish(&self) -> Option<Tx> {
        let mut state = self.state.lock().await;
        match std::mem::replace(&mut *state, TxState::Ended) {
            TxState::Open(tx) => Some(tx),
            _ => None,
        }
    }

    /// Runs a `db` helper's `work` where it belongs: in the transaction once a hook wrote (a
    /// `write` opens it), on the pool before that; refused once the chain is over.
    pub(super) async fn run<T>(
        &self,
        store: &Store,
        write: bool,
        work: impl AsyncFnOnce(&Store, Option<&Tx>) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut state = self.state.lock().await;
        if write && matches!(*state, TxState::Idle) {
            let tx = store.begin().await.map_err(|e| e.to_string())?;
            *state = TxState::Open(tx);
        }
        match &*state {
            TxState::Open(tx) => work(store, Some(tx)).await,
            TxState::Idle => work(store, None).await,
            TxState::Ended => Err("the operation this hook ran for is over".into()),
        }
    }
}
