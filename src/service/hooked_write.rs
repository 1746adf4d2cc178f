//! The one path every hooked write takes, so each operation states only what is its own (its
//! events, its payloads, its store call) and none can forget a step:
//!
//! 1. the before-chain runs on the payload (built only when the event has bindings); a hook
//!    may change it, add claims, or refuse; its `db` writes open a transaction;
//! 2. the write joins that transaction, or opens one when the after-event has durable
//!    webhooks (their deliveries must commit with the write or not at all) or the write asks
//!    for one;
//! 3. the operation's write runs in it;
//! 4. the transaction commits with the after-event's durable deliveries;
//! 5. the other after-hooks get the committed result in the background.
//!
//! A write that raced another writer ([`Wrote::Raced`]) or failed rolls the hooks' writes
//! back with it; the operation decides whether to read again and retry.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::hooks::{self, Before};
use super::ServiceError;
use crate::hooks::{Payload, Target};
use crate::manifest::Manifest;
use crate::model::Event;
use crate::state::AppState;
use crate::store::Tx;

/// What a hooked write is: its two events and what its hooks are narrowed by.
pub struct HookedWrite<'a> {
    /// The before-event (`pre_save`, `pre_register`, …).
    pub before: Event,
    /// The after-event (`post_save`, `post_register`, …).
    pub after: Event,
    /// What the before-chain's bindings are matched against (collection, operation, meta).
    pub target: &'a Target,
    /// The collection written, for durable webhooks bound to one.
    pub collection: Option<&'a str>,
    /// Whether the write needs a transaction even when no hook opens one (it makes more than
    /// one statement that must commit whole).
    pub transaction: bool,
}

/// What the write sees of its before-chain, and where it writes.
pub struct Hooked {
    before: Before,
}

impl Hooked {
    /// The value hooks left under `key` in the payload, or `None` when no chain ran.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.before.take(key)
    }

    /// The claims `pre_login` hooks added.
    pub fn take_claims(&mut self) -> Map<String, Value> {
        std::mem::take(&mut self.before.claims)
    }

    /// The transaction to write in, when there is one (else the write autocommits).
    pub fn tx(&self) -> Option<&Tx> {
        self.before.tx.as_ref()
    }
}

/// What a write did.
pub enum Wrote<T> {
    /// It wrote; this is its result.
    Done(T),
    /// Another writer changed the row first: nothing was written, and the hooks' writes roll
    /// back. Read again and retry.
    Raced,
}

/// The after-event's target and payload, built from the write's result.
pub struct After {
    /// What the after-hooks' bindings are matched against.
    pub target: Target,
    /// Their payload.
    pub payload: Payload,
}

impl HookedWrite<'_> {
    /// Runs the before-chain on `before_payload()`, then `write` in the write's transaction,
    /// commits, and hands the after-hooks `after(&result)` (`None`: the write changed nothing
    /// they should hear of). The payload builders are called only when their event has
    /// bindings.
    pub async fn run<T>(
        self,
        state: &AppState,
        config: &Arc<Manifest>,
        before_payload: impl FnOnce() -> Payload,
        write: impl AsyncFnOnce(&mut Hooked) -> Result<Wrote<T>, ServiceError>,
        after: impl FnOnce(&T) -> Option<After>,
    ) -> Result<Wrote<T>, ServiceError> {
        let before = hooks::before(state, config, self.before, self.target, before_payload).await?;
        let mut hooked = Hooked { before };
        let needs_tx = self.transaction || config.has_durable(self.after, self.collection);
        if needs_tx && hooked.before.tx.is_none() {
            hooked.before.tx = Some(state.store().begin().await?);
        }
        let wrote = match write(&mut hooked).await {
            Ok(Wrote::Done(value)) => value,
            Ok(Wrote::Raced) => {
                hooked.before.rollback().await;
                return Ok(Wrote::Raced);
            }
            Err(error) => {
                hooked.before.rollback().await;
                return Err(error);
            }
        };
        let after = if config.has_chain(self.after) {
            after(&wrote)
        } else {
            None
        };
        match after {
            Some(After { target, payload }) => {
                commit_then_after(state, config, hooked.before, target, payload).await?
            }
            None => hooked.before.commit().await?,
        }
        Ok(Wrote::Done(wrote))
    }
}

impl<T> Wrote<T> {
    /// The result of a write that cannot race (a create): `Raced` would be a bug.
    pub fn done(self) -> Result<T, ServiceError> {
        match self {
            Wrote::Done(value) => Ok(value),
            Wrote::Raced => Err(ServiceError::Internal(
                "a write that cannot race reported a race".into(),
            )),
        }
    }
}

/// Commits `before`'s transaction with the durable deliveries of the after-event's webhooks, then
/// hands the other after-hooks the same payload (one event id for all).
async fn commit_then_after(
    state: &AppState,
    config: &Arc<Manifest>,
    before: Before,
    target: Target,
    payload: Payload,
) -> Result<(), ServiceError> {
    let runner = state.runner();
    let deliveries = runner.deliveries(config, &target, &payload);
    let mut recorded = Vec::new();
    if !deliveries.is_empty() {
        let tx = before.tx.as_ref().ok_or_else(|| {
            ServiceError::Internal("durable deliveries need the write's transaction".into())
        })?;
        let lease = runner.delivery_lease(config);
        recorded = state
            .store()
            .insert_deliveries(tx, &deliveries, Some(lease))
            .await?;
    }
    before.commit().await?;
    if !recorded.is_empty() {
        runner.outbox().hand_over(recorded);
    }
    runner.after(config, target, payload);
    Ok(())
}
