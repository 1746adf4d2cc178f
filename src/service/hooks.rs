//! How operations run their hooks: a before-chain whose `db` writes open a transaction the
//! operation then joins, durable webhook deliveries recorded in that same transaction, and
//! the other after-hooks handed to the background once the operation has committed. Payloads
//! are built only when the event has bindings, so an unbound event costs one map lookup.

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

    /// Call before the operation writes: when `after`'s hooks include durable webhooks (for
    /// `collection`, on document events), makes sure the write runs in a transaction, so their
    /// deliveries commit with it or not at all.
    pub async fn join_outbox(
        &mut self,
        state: &AppState,
        config: &Manifest,
        after: Event,
        collection: Option<&str>,
    ) -> Result<(), ServiceError> {
        if self.tx.is_none() && config.has_durable(after, collection) {
            self.tx = Some(state.store().begin().await?);
        }
        Ok(())
    }

    /// Commits the operation with the durable deliveries of `after`'s webhooks, then hands the
    /// other after-hooks the same payload (one event id for all). `build` is called only when
    /// `after` has bindings.
    pub async fn commit_then_after(
        self,
        state: &AppState,
        config: &Arc<Manifest>,
        after: Event,
        target: Target,
        build: impl FnOnce() -> Payload,
    ) -> Result<(), ServiceError> {
        if !config.has_chain(after) {
            return self.commit().await;
        }
        let payload = build();
        let runner = state.runner();
        let deliveries = runner.deliveries(config, &target, &payload);
        let mut recorded = Vec::new();
        if !deliveries.is_empty() {
            let tx = self.tx.as_ref().ok_or_else(|| {
                ServiceError::Internal("durable deliveries need the write's transaction".into())
            })?;
            let lease = runner.delivery_lease(config);
            recorded = state
                .store()
                .insert_deliveries(tx, &deliveries, Some(lease))
                .await?;
        }
        self.commit().await?;
        if !recorded.is_empty() {
            runner.outbox().hand_over(recorded);
        }
        runner.after(config, target, payload);
        Ok(())
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
