//! Dry runs (`hookql hooks test`, admin `dryRunHooks`): an event's before-chain run on a
//! given payload, writing nothing, with each binding's decision, changes, time and error.
//!
//! Scripts' `db` writes go to a transaction that is rolled back at the end; URL bindings are
//! really called (a dry run is how one checks a receiver answers as expected).

use serde::Serialize;
use serde_json::{Map, Value};

use super::chain::{Decision, Step, Stop};
use super::matching::Target;
use super::payload::Payload;
use crate::manifest::{Manifest, Operation};
use crate::model::filter::MetaField;
use crate::model::Event;

/// A dry run's report; serialised as JSON by the CLI.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The event run.
    pub event: &'static str,
    /// `passed`, `blocked` or `failed`.
    pub outcome: &'static str,
    /// The hook that stopped the chain, if one did.
    pub stopped_by: Option<String>,
    /// The block's reason, if a hook blocked.
    pub reason: Option<String>,
    /// The payload as the chain left it.
    pub payload: Map<String, Value>,
    /// Claims `pre_login` hooks added.
    pub claims: Map<String, Value>,
    /// Each binding of the chain, in order.
    pub steps: Vec<StepReport>,
}

/// One binding in a [`Report`].
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    /// The binding's name.
    pub hook: String,
    /// `url` or `script`.
    pub kind: &'static str,
    /// `skipped`, `continued`, `changed`, `blocked` or `failed`.
    pub decision: &'static str,
    /// The block's reason.
    pub reason: Option<String>,
    /// Its raw answer.
    pub answer: Option<Value>,
    /// Payload fields it changed, with their new values.
    pub changes: Map<String, Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether its failure stopped the chain (`on_error: block`).
    pub stopped: bool,
    /// How long it took, in milliseconds.
    pub duration_ms: f64,
}

/// Events a dry run covers: the ones whose chain is awaited.
pub fn check_event(name: &str) -> Result<Event, String> {
    let known = Event::ALL.map(Event::name).join(", ");
    let event = Event::from_name(name)
        .ok_or_else(|| format!("unknown event `{name}`; expected one of {known}"))?;
    if event.is_after_write() {
        return Err(format!("`{name}` has after-hooks, which are delivered, not dry-run; dry runs cover the chains that decide (pre_* and post_read)"));
    }
    Ok(event)
}

/// The payload for `event` from a dry run's input (an object of the event's fields), and
/// what narrowing tests: the collection, operation and ids it names.
pub fn input(event: Event, given: Value) -> Result<(Payload, Target), String> {
    let Value::Object(fields) = given else {
        return Err("the payload must be a JSON object of the event's fields".into());
    };
    let payload = Payload::from_fields(event, fields);
    let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_string);
    let operation = match text("operation").as_deref() {
        None => None,
        Some("create") => Some(Operation::Create),
        Some("update") => Some(Operation::Update),
        Some(other) => {
            return Err(format!(
                "`operation` must be \"create\" or \"update\", got \"{other}\""
            ))
        }
    };
    let mut meta = Vec::new();
    if let Some(id) = text("document_id") {
        meta.push((MetaField::Id, Value::from(id)));
    } else if let Some(user) = payload.get("user").and_then(Value::as_object) {
        for (field, key) in [
            (MetaField::Id, "id"),
            (MetaField::Email, "email"),
            (MetaField::Role, "role"),
        ] {
            if let Some(value) = user.get(key) {
                meta.push((field, value.clone()));
            }
        }
    }
    let target = Target {
        collection: text("collection"),
        operation,
        meta,
    };
    Ok((payload, target))
}

/// Builds the report of a finished traced run.
pub fn report(
    config: &Manifest,
    payload: Payload,
    result: Result<super::chain::Passed, Stop>,
    steps: Vec<Step>,
) -> Report {
    let (outcome, stopped_by, reason, claims) = match result {
        Ok(passed) => ("passed", None, None, passed.claims),
        Err(Stop::Blocked { hook, reason }) => ("blocked", Some(hook), Some(reason), Map::new()),
        Err(Stop::Failed { hook }) => ("failed", Some(hook), None, Map::new()),
    };
    let steps = steps
        .into_iter()
        .map(|step| {
            let kind = config.binding(&step.hook).map_or("script", |b| b.kind());
            let (decision, reason, stopped) = match step.decision {
                Decision::Skipped => ("skipped", None, false),
                Decision::Continued => ("continued", None, false),
                Decision::Changed => ("changed", None, false),
                Decision::Blocked(reason) => ("blocked", Some(reason), true),
                Decision::Failed { stopped } => ("failed", None, stopped),
            };
            StepReport {
                hook: step.hook,
                kind,
                decision,
                reason,
                answer: step.answer,
                changes: step.changes,
                error: step.error,
                stopped,
                duration_ms: step.duration.as_secs_f64() * 1000.0,
            }
        })
        .collect();
    Report {
        event: payload.event().name(),
        outcome,
        stopped_by,
        reason,
        payload: payload.fields().clone(),
        claims,
        steps,
    }
}
