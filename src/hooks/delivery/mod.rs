//! Durable delivery of URL after-hooks (the outbox): which deliveries a write records
//! ([`deliveries_for`]), and the worker that sends and retries them ([`worker`]), pausing URLs
//! that keep failing ([`breaker`]).
//!
//! At least once: a delivery is recorded in the write's transaction, so an acknowledged write
//! always has it; it is marked delivered only after the receiver's 2xx, so a crash in between
//! sends it again (with the same `webhook-id`, for receivers to de-duplicate).

pub mod breaker;
pub mod worker;

use serde_json::Value;

use super::config::{HooksConfig, Ordering};
use super::matching::Target;
use super::payload::Payload;
use crate::store::deliveries::NewDelivery;

pub use worker::Worker;

/// The deliveries `payload` (an after-write event) makes for the durable webhooks that fire.
pub fn deliveries_for(
    config: &HooksConfig,
    target: &Target,
    payload: &Payload,
) -> Vec<NewDelivery> {
    let event = payload.event();
    let mut rows = Vec::new();
    let mut body = None;
    for binding in config.chain(event) {
        if binding.durable_webhook().is_none() || !binding.fires(target, payload) {
            continue;
        }
        let payload_json = body
            .get_or_insert_with(|| serde_json::to_string(payload.fields()).unwrap_or_default())
            .clone();
        rows.push(NewDelivery {
            event_id: payload.id().to_string(),
            hook: binding.name.clone(),
            event: event.name(),
            ordering_key: (binding.ordering == Ordering::PerDocument)
                .then(|| ordering_key(&binding.name, payload))
                .flatten(),
            payload: payload_json,
        });
    }
    rows
}

/// One document's (or user's) key within one hook: its deliveries go out in commit order.
fn ordering_key(hook: &str, payload: &Payload) -> Option<String> {
    let subject = match (payload.get("collection"), payload.get("document_id")) {
        (Some(Value::String(c)), Some(Value::String(id))) => format!("{c}/{id}"),
        _ => match payload.get("user").and_then(|u| u.get("id")) {
            Some(Value::String(id)) => format!("user/{id}"),
            _ => return None,
        },
    };
    Some(format!("{hook}:{subject}"))
}
