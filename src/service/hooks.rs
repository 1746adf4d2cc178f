//! Running a before-chain for an operation: its `db` writes open a transaction the operation
//! then joins. Writes go through [`super::hooked_write`], which adds the outbox, the commit
//! and the after-hooks; reads use the chain alone (`pre_read`, `post_read`). Payloads are
//! built only when the event has bindings, so an unbound event costs one map lookup.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::ServiceError;
use crate::hooks::chain::Passed;
use crate::hooks::script::OperationTx;
use crate::hooks::{Payload, Stop, Target};
use crate::manifest::Manifest;
use crate::model::Event;
use crate::state::AppState;
use crate::store::Tx;

/// What a before-chain left: the payload as hooks changed it (`None` when nothing was bound),
/// the claims they added, and the transaction their writes opened (the operation runs in it).
pub struct Before {
    /// The payload after the chain, if one ran.
    pub payload: Option<Payload>,
    /// Claims from `pre_login` hooks.
    pub claims: Map<String, Value>,
    /// The transaction hooks' writes opened, if they wrote.
    pub tx: Option<Tx>,
}

impl Before {
    /// Nothing ran: no payload, no claims, no transaction.
    pub fn none() -> Self {
        Self {
            payload: None,
            claims: Map::new(),
            tx: None,
        }
    }

    /// The value hooks left under `key`, or `None` when no chain ran.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.payload.as_mut().and_then(|p| p.take(key))
    }

    /// Commits the hooks' writes together with what the operation wrote in [`Before::tx`].
    pub async fn commit(self) -> Result<(), ServiceError> {
        if let Some(tx) = self.tx {
            tx.commit().await?;
        }
        Ok(())
    }

    /// Rolls the hooks' writes back (a write that failed or raced).
    pub async fn rollback(self) {
        if let Some(tx) = self.tx {
            let _ = tx.rollback().await;
        }
    }
}

/// Runs `event`'s before-chain on the payload `build` makes (only called when bound).
pub async fn before(
    state: &AppState,
    config: &Arc<Manifest>,
    event: Event,
    target: &Target,
    build: impl FnOnce() -> Payload,
) -> Result<Before, ServiceError> {
    if !config.has_chain(event) {
        return Ok(Before::none());
    }
    let mut payload = build();
    let slot = OperationTx::new();
    let result = state
        .runner()
        .before(config, target, &mut payload, Some(slot.clone()))
        .await;
    let tx = slot.finish().await;
    match result {
        Ok(Passed { claims }) => Ok(Before {
            payload: Some(payload),
            claims,
            tx,
        }),
        Err(stop) => {
            if let Some(tx) = tx {
                let _ = tx.rollback().await;
            }
            Err(stop.into())
        }
    }
}

impl From<Stop> for ServiceError {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::Blocked { hook, reason } => ServiceError::HookBlocked { hook, reason },
            Stop::Failed { hook } => ServiceError::HookFailed { hook },
        }
    }
}
