//! The GraphQL types of the hook admin fields, each built from the service's values by an
//! explicit conversion.

use async_graphql::{Enum, Json, SimpleObject, ID};
use serde_json::Value;

use crate::graphql::types::DateTime;
use crate::hooks::dry_run::{Report, StepReport};
use crate::hooks::runs::RunOutcome;
use crate::manifest::reload::HooksStatus;
use crate::store::deliveries::{Delivery, DeliveryStatus, WAITING};
use crate::store::hook_runs::HookRun;

/// Where a durable delivery stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "DeliveryStatus")]
pub enum DeliveryStatusObject {
    /// Waiting for its next attempt (or being attempted).
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up; replay it with `retryDelivery` or `retryDeadDeliveries`.
    Dead,
}

impl From<DeliveryStatusObject> for DeliveryStatus {
    fn from(status: DeliveryStatusObject) -> Self {
        match status {
            DeliveryStatusObject::Pending => DeliveryStatus::Pending,
            DeliveryStatusObject::Delivered => DeliveryStatus::Delivered,
            DeliveryStatusObject::Dead => DeliveryStatus::Dead,
        }
    }
}

/// One durable delivery of a URL after-hook.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "HookDelivery")]
pub struct HookDeliveryObject {
    /// The delivery's id (increasing in commit order).
    pub id: ID,
    /// The event id: `webhook-id` on every attempt, for receivers to de-duplicate.
    pub event_id: String,
    /// The hook's name.
    pub hook: String,
    /// The event (`post_save`, …).
    pub event: String,
    /// Where it stands.
    pub status: DeliveryStatusObject,
    /// Attempts made so far.
    pub attempts: i32,
    /// The receiver's status on the last attempt, if it answered.
    pub last_status: Option<i32>,
    /// What went wrong last (our words; never the receiver's body).
    pub last_error: Option<String>,
    /// When the next attempt is due (pending deliveries only): while one is out, when it
    /// counts as lost; null while waiting for an earlier delivery of the same document.
    pub next_attempt_at: Option<DateTime>,
    /// When the write recorded it.
    pub created_at: DateTime,
    /// When it last changed.
    pub updated_at: DateTime,
    /// The payload sent (`attempt` is set per attempt).
    pub payload: Json<Value>,
}

impl From<Delivery> for HookDeliveryObject {
    fn from(d: Delivery) -> Self {
        let status = match DeliveryStatus::parse(&d.status) {
            Some(DeliveryStatus::Delivered) => DeliveryStatusObject::Delivered,
            Some(DeliveryStatus::Dead) => DeliveryStatusObject::Dead,
            _ => DeliveryStatusObject::Pending,
        };
        Self {
            id: ID(d.id.to_string()),
            event_id: d.event_id,
            hook: d.hook,
            event: d.event,
            status,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            next_attempt_at: (status == DeliveryStatusObject::Pending
                && d.next_attempt_at != WAITING)
                .then_some(DateTime(d.next_attempt_at)),
            created_at: DateTime(d.created_at),
            updated_at: DateTime(d.updated_at),
            payload: Json(serde_json::from_str(&d.payload).unwrap_or(Value::Null)),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(SimpleObject, Clone, Debug)]
pub struct HookDeliveryPage {
    /// The deliveries of this page.
    pub items: Vec<HookDeliveryObject>,
    /// How many match in all.
    pub total_count: i64,
    /// The page size asked for.
    pub limit: i32,
    /// How many were skipped.
    pub offset: i32,
}

/// What a dry run of a before-chain did.
#[derive(SimpleObject, Clone, Debug)]
pub struct DryRunReport {
    /// The event run.
    pub event: String,
    /// `passed`, `blocked` or `failed`.
    pub outcome: String,
    /// The hook that stopped the chain, if one did.
    pub stopped_by: Option<String>,
    /// The block's reason, if a hook blocked.
    pub reason: Option<String>,
    /// The payload as the chain left it.
    pub payload: Json<Value>,
    /// Claims `pre_login` hooks would add to the token.
    pub claims: Json<Value>,
    /// Each binding of the chain, in order.
    pub steps: Vec<DryRunStep>,
}

/// One binding in a dry run.
#[derive(SimpleObject, Clone, Debug)]
pub struct DryRunStep {
    /// The binding's name.
    pub hook: String,
    /// `url` or `script`.
    pub kind: String,
    /// `skipped` (narrowing did not match), `continued`, `changed`, `blocked` or `failed`.
    pub decision: String,
    /// The block's reason.
    pub reason: Option<String>,
    /// The binding's raw answer.
    pub answer: Option<Json<Value>>,
    /// Payload fields it changed, with their new values.
    pub changes: Json<Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether its failure stopped the chain (`on_error: block`).
    pub stopped: bool,
    /// How long it took, in milliseconds.
    pub duration_ms: f64,
}

impl From<Report> for DryRunReport {
    fn from(r: Report) -> Self {
        Self {
            event: r.event.to_string(),
            outcome: r.outcome.to_string(),
            stopped_by: r.stopped_by,
            reason: r.reason,
            payload: Json(Value::Object(r.payload)),
            claims: Json(Value::Object(r.claims)),
            steps: r.steps.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<StepReport> for DryRunStep {
    fn from(s: StepReport) -> Self {
        Self {
            hook: s.hook,
            kind: s.kind.to_string(),
            decision: s.decision.to_string(),
            reason: s.reason,
            answer: s.answer.map(Json),
            changes: Json(Value::Object(s.changes)),
            error: s.error,
            stopped: s.stopped,
            duration_ms: s.duration_ms,
        }
    }
}

/// What a hook run decided.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum HookRunOutcome {
    /// Let the operation go on unchanged (for after-hooks and deliveries: succeeded).
    Continue,
    /// Changed the payload.
    Changed,
    /// Blocked the operation.
    Blocked,
    /// Failed.
    Failed,
    /// Ran out of time.
    TimedOut,
}

impl From<HookRunOutcome> for RunOutcome {
    fn from(outcome: HookRunOutcome) -> Self {
        match outcome {
            HookRunOutcome::Continue => RunOutcome::Continue,
            HookRunOutcome::Changed => RunOutcome::Changed,
            HookRunOutcome::Blocked => RunOutcome::Blocked,
            HookRunOutcome::Failed => RunOutcome::Failed,
            HookRunOutcome::TimedOut => RunOutcome::TimedOut,
        }
    }
}

/// One run of a hook: a binding in a before-chain, an after-hook, or a delivery attempt.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "HookRun")]
pub struct HookRunObject {
    /// Increasing with recording order.
    pub id: ID,
    /// The hook's name.
    pub hook: String,
    /// The event.
    pub event: String,
    /// The document's collection, for document events.
    pub collection: Option<String>,
    /// `url` or `script`.
    pub kind: String,
    /// What it decided.
    pub outcome: HookRunOutcome,
    /// When it started.
    pub at: DateTime,
    /// How long it took, in milliseconds.
    pub duration_ms: f64,
    /// Why it failed (secrets redacted).
    pub error: Option<String>,
    /// The request that caused it (`X-Request-Id`).
    pub request_id: Option<String>,
    /// The payload it was given, for bindings with `log_payloads: true` (redacted).
    pub payload: Option<Json<Value>>,
}

impl From<HookRun> for HookRunObject {
    fn from(run: HookRun) -> Self {
        let outcome = match run.outcome.as_str() {
            "changed" => HookRunOutcome::Changed,
            "blocked" => HookRunOutcome::Blocked,
            "failed" => HookRunOutcome::Failed,
            "timed_out" => HookRunOutcome::TimedOut,
            _ => HookRunOutcome::Continue,
        };
        Self {
            id: ID(run.id.to_string()),
            hook: run.hook,
            event: run.event,
            collection: run.collection,
            kind: run.kind,
            outcome,
            at: DateTime(run.at),
            duration_ms: run.duration_us as f64 / 1000.0,
            error: run.error,
            request_id: run.request_id,
            payload: run
                .payload
                .map(|p| Json(serde_json::from_str(&p).unwrap_or(Value::Null))),
        }
    }
}

/// A page of hook runs, newest first.
#[derive(SimpleObject, Clone, Debug)]
pub struct HookRunPage {
    /// The runs of this page.
    pub items: Vec<HookRunObject>,
    /// How many match in all.
    pub total_count: i64,
    /// The page size asked for.
    pub limit: i32,
    /// How many were skipped.
    pub offset: i32,
}

/// The hooks configuration in force.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "HooksStatus")]
pub struct HooksStatusObject {
    /// The hooks file.
    pub path: String,
    /// When the configuration in force was loaded.
    pub loaded_at: DateTime,
    /// SHA-256 (hex) of the files it was loaded from: compare it with a deployed file's.
    pub hash: String,
    /// Bindings per event (events with none are left out).
    pub bindings: Vec<EventBindings>,
    /// The newest refused edit, while the file has not been fixed: the configuration in
    /// force is the older one.
    pub last_error: Option<HooksReloadError>,
}

/// How many bindings an event has.
#[derive(SimpleObject, Clone, Debug)]
pub struct EventBindings {
    /// The event.
    pub event: String,
    /// Its bindings, in chain order.
    pub count: i32,
}

/// A refused edit of the hooks files.
#[derive(SimpleObject, Clone, Debug)]
pub struct HooksReloadError {
    /// When it was refused.
    pub at: DateTime,
    /// Every problem found.
    pub errors: Vec<HooksConfigError>,
}

/// One problem in a hooks file.
#[derive(SimpleObject, Clone, Debug)]
pub struct HooksConfigError {
    /// The file (hooks.yaml or a script file).
    pub file: String,
    /// Line, from 1.
    pub line: i32,
    /// Column, from 1.
    pub column: i32,
    /// What is wrong and what is expected.
    pub message: String,
}

impl From<HooksStatus> for HooksStatusObject {
    fn from(status: HooksStatus) -> Self {
        Self {
            path: status.path.display().to_string(),
            loaded_at: DateTime(status.loaded_at),
            hash: status.hash,
            bindings: status
                .chains
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(event, count)| EventBindings {
                    event: event.to_string(),
                    count: i32::try_from(count).unwrap_or(i32::MAX),
                })
                .collect(),
            last_error: status.last_error.map(|(at, errors)| HooksReloadError {
                at: DateTime(at),
                errors: errors
                    .0
                    .into_iter()
                    .map(|e| HooksConfigError {
                        file: e.file.display().to_string(),
                        line: i32::try_from(e.position.line).unwrap_or(i32::MAX),
                        column: i32::try_from(e.position.column).unwrap_or(i32::MAX),
                        message: e.message,
                    })
                    .collect(),
            }),
        }
    }
}
