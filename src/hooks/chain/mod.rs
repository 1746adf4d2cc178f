//! The before-chain: the bindings of one event, run in file order, each seeing the payload
//! as the previous one left it. A plain loop over typed outcomes that stops at the first
//! block; it knows nothing of Rhai or HTTP (the caller passes how to run a binding), so it is
//! tested here with fake bindings.

use std::time::Instant;

use serde_json::{Map, Value};

use super::matching::Target;
use super::outcome::{self, Outcome};
use super::payload::{self, Payload};
use super::runs::RunOutcome;
use super::HookFailure;
use crate::manifest::{Binding, OnError};
use crate::model::caller::RESERVED_CLAIMS;
use crate::model::filter::Filter;
use crate::model::merge_patch;
use crate::model::DocumentData;
use crate::model::Event;

/// Why a chain stopped the operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A hook said no; the client is told why.
    Blocked {
        /// The hook's name.
        hook: String,
        /// Its reason.
        reason: String,
    },
    /// A hook with `on_error: block` failed; the client is told which hook, nothing more.
    Failed {
        /// The hook's name.
        hook: String,
    },
}

/// What a chain that let the operation go on leaves besides the changed payload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Passed {
    /// Claims `pre_login` hooks add to the access token.
    pub claims: Map<String, Value>,
}

/// The payload key a `data`/`patch` result changes, for events that allow it.
fn data_key(event: Event) -> &'static str {
    match event {
        Event::PreSave => "document",
        _ => "data",
    }
}

/// How a binding is executed: a script run or a URL call, or a fake in tests.
pub trait Execute {
    /// Runs `binding` on `payload`: its raw answer, or why it failed.
    fn execute(
        &self,
        binding: &Binding,
        payload: &Payload,
    ) -> impl std::future::Future<Output = Result<Value, HookFailure>> + Send;

    /// A block reason as the client may see it: secrets the binding can reach (secret-named
    /// `config` values, its signing secrets and headers) masked, as run records mask them.
    /// A script that blocks with `"bad key " + config.get("API_KEY")` must not hand the key
    /// to whoever triggered it (issue 15).
    fn mask(&self, _binding: &Binding, reason: String) -> String {
        reason
    }

    /// Told of every finished run (for the run record and metrics); `payload` is what the
    /// binding was given.
    fn finished(
        &self,
        _binding: &Binding,
        _payload: &Payload,
        _outcome: RunOutcome,
        _started: Instant,
        _error: Option<&HookFailure>,
    ) {
    }
}

/// What one binding did in a traced run (a dry run's report).
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The binding's name.
    pub hook: String,
    /// What it decided.
    pub decision: Decision,
    /// Its raw answer, when it answered.
    pub answer: Option<Value>,
    /// Payload fields it changed, with their new values.
    pub changes: Map<String, Value>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration: std::time::Duration,
}

/// A binding's decision in a traced run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Its narrowing (`collections`, `operations`, `when`, `changed`) did not match.
    Skipped,
    /// It let the operation go on unchanged.
    Continued,
    /// It changed the payload.
    Changed,
    /// It blocked, with this reason.
    Blocked(String),
    /// It failed; `stopped` when its `on_error: block` stopped the operation.
    Failed {
        /// Whether the failure stopped the chain.
        stopped: bool,
    },
}

/// Runs `bindings` (the event's chain) on `payload` with `run`.
pub async fn run_before<'a>(
    bindings: impl Iterator<Item = &'a Binding>,
    target: &Target,
    payload: &mut Payload,
    run: &impl Execute,
) -> Result<Passed, Stop> {
    run_traced(bindings, target, payload, run, None).await
}

/// [`run_before`], recording each binding's [`Step`] in `trace` when given.
pub async fn run_traced<'a>(
    bindings: impl Iterator<Item = &'a Binding>,
    target: &Target,
    payload: &mut Payload,
    run: &impl Execute,
    mut trace: Option<&mut Vec<Step>>,
) -> Result<Passed, Stop> {
    let event = payload.event();
    let mut passed = Passed::default();
    for binding in bindings {
        if !binding.fires(target, payload) {
            if let Some(trace) = trace.as_deref_mut() {
                trace.push(Step::new(binding, Decision::Skipped));
            }
            continue;
        }
        let started = Instant::now();
        let before = trace.is_some().then(|| payload.fields().clone());
        // Only a binding that logs payloads needs what it was given kept apart.
        let given = binding.log_payloads.then(|| payload.clone());
        let answered = run.execute(binding, payload).await;
        let answer = answered.as_ref().ok().cloned();
        let result = match answered {
            Ok(answer) => outcome::parse(event, answer),
            Err(error) => Err(error),
        };
        let changes_payload =
            matches!(&result, Ok(o) if !matches!(o, Outcome::Continue | Outcome::Block(_)));
        let applied = result.and_then(|outcome| apply(outcome, payload, &mut passed, binding));
        let ran = match &applied {
            Ok(Some(_)) => RunOutcome::Blocked,
            Ok(None) if changes_payload => RunOutcome::Changed,
            Ok(None) => RunOutcome::Continue,
            Err(error) => error.outcome(),
        };
        let error = applied.as_ref().err();
        run.finished(
            binding,
            given.as_ref().unwrap_or(&*payload),
            ran,
            started,
            error,
        );
        let stop = match &applied {
            Ok(Some(reason)) => {
                let reason = run.mask(binding, reason.clone());
                tracing::info!(hook = %binding.name, %event, %reason, "hook blocked the operation");
                Some(Stop::Blocked {
                    hook: binding.name.clone(),
                    reason,
                })
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(hook = %binding.name, %event, on_error = ?binding.on_error, "hook failed: {error}");
                (binding.on_error == OnError::Block).then(|| Stop::Failed {
                    hook: binding.name.clone(),
                })
            }
        };
        if let (Some(trace), Some(before)) = (trace.as_deref_mut(), before) {
            let changes: Map<String, Value> = payload
                .fields()
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let decision = match &applied {
                Ok(Some(reason)) => Decision::Blocked(reason.clone()),
                Ok(None) if changes.is_empty() => Decision::Continued,
                Ok(None) => Decision::Changed,
                Err(_) => Decision::Failed {
                    stopped: stop.is_some(),
                },
            };
            trace.push(Step {
                answer,
                changes,
                error: applied.err().map(|e| e.to_string()),
                duration: started.elapsed(),
                ..Step::new(binding, decision)
            });
        }
        if let Some(stop) = stop {
            return Err(stop);
        }
    }
    Ok(passed)
}

impl Step {
    fn new(binding: &Binding, decision: Decision) -> Self {
        Self {
            hook: binding.name.clone(),
            decision,
            answer: None,
            changes: Map::new(),
            error: None,
            duration: std::time::Duration::ZERO,
        }
    }
}

/// Applies one outcome to the payload; `Some(reason)` for a block, `Err` for a change that
/// is not valid (a hook failure, handled by `on_error`).
fn apply(
    outcome: Outcome,
    payload: &mut Payload,
    passed: &mut Passed,
    binding: &Binding,
) -> Result<Option<String>, HookFailure> {
    let key = data_key(payload.event());
    match outcome {
        Outcome::Continue => {}
        Outcome::Block(reason) => return Ok(Some(reason)),
        Outcome::Data(data) => payload.set(key, checked_data(Value::Object(data))?),
        Outcome::Patch(patch) => {
            let mut data = payload
                .get(key)
                .cloned()
                .unwrap_or(Value::Object(Map::new()));
            merge_patch::apply(&mut data, &patch);
            payload.set(key, checked_data(data)?);
        }
        Outcome::Filter(filter) => {
            if !filter.is_null() {
                Filter::parse(&filter, "filter")
                    .map_err(|e| HookFailure::Unusable(format!("invalid filter: {e}")))?;
            }
            payload.set("filter", filter);
        }
        Outcome::Documents(documents) => {
            for (i, document) in documents.iter().enumerate() {
                payload::parse_document(document)
                    .map_err(|e| HookFailure::Unusable(format!("documents[{i}]: {e}")))?;
            }
            payload.set("documents", Value::Array(documents));
        }
        Outcome::Claims(claims) => {
            for (name, value) in claims {
                if RESERVED_CLAIMS.contains(&name.as_str()) {
                    tracing::warn!(hook = %binding.name, claim = %name, "a hook cannot set a reserved claim; ignored");
                } else {
                    passed.claims.insert(name, value);
                }
            }
            let size = serde_json::to_vec(&passed.claims).map_or(usize::MAX, |v| v.len());
            if size > MAX_CLAIMS_BYTES {
                return Err(HookFailure::Unusable(format!(
                    "the claims hooks added are {size} bytes of JSON; at most {MAX_CLAIMS_BYTES} fit in an access token (keep large data in the profile, not the token)"
                )));
            }
        }
    }
    Ok(None)
}

/// Most bytes of JSON hooks may add to an access token as claims: the token travels in a
/// header on every request, and servers refuse headers much past 8 KiB. A claim copied
/// from a profile a user can write (700 KB) once made tokens no server would accept.
pub const MAX_CLAIMS_BYTES: usize = 4096;

/// Data a hook produced, held to the same rules as a client's: an object within the size
/// limit.
fn checked_data(data: Value) -> Result<Value, HookFailure> {
    DocumentData::parse(data)
        .map(DocumentData::into_value)
        .map_err(|e| HookFailure::Unusable(format!("the data it returned is not valid: {e}")))
}

#[cfg(test)]
mod tests;
