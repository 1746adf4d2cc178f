//! Running one compiled script against a payload, off the async runtime and within its time
//! limit.
//!
//! A script runs on tokio's blocking pool, so a slow one never stalls the threads that serve
//! other requests. Its deadline is enforced twice: inside the engine (the progress callback
//! stops the script once the deadline passes) and outside it (the caller stops waiting), so a
//! script stuck in a slow helper call still answers on time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, EvalAltResult, Scope};
use serde_json::Value;

use super::api::{BlockSignal, ConfigApi};
use super::convert;
use super::current::RunState;
use super::db::DbApi;
use super::http::HttpApi;
use super::tx::OperationTx;
use crate::hooks::payload::Payload;
use crate::hooks::webhook::WebhookClient;
use crate::hooks::HookFailure;
use crate::manifest::script::CompiledScript;
use crate::manifest::Binding;
use crate::store::Store;

/// What a script run may reach beyond its payload: the store (and the operation's
/// transaction, for before-hooks) and the `config` section.
#[derive(Clone)]
pub struct ScriptEnv {
    /// The store for `db` helpers.
    pub store: Store,
    /// The transaction a before-chain's writes join; `None` for after-hooks.
    pub tx: Option<Arc<OperationTx>>,
    /// The `config` section of hooks.yaml.
    pub config: Arc<BTreeMap<String, Value>>,
    /// The HTTP client for `http` helpers (and the runner's webhook calls).
    pub client: WebhookClient,
    /// Where finished runs are counted and recorded; `None` for dry runs.
    pub recorder: Option<Arc<crate::hooks::runs::Recorder>>,
}

/// Runs `binding`'s `script` on `payload`; the script's answer as JSON (a `block(…)` call
/// becomes `{"block": true, "reason": …}`), or why it failed.
pub async fn run(
    script: &CompiledScript,
    binding: &Binding,
    payload: &Payload,
    env: &ScriptEnv,
) -> Result<Value, HookFailure> {
    let (hook, timeout) = (binding.name.as_str(), binding.timeout);
    let mut scope = scope(payload, env, binding);
    let engine = super::engine_for(super::data_sizes(payload.fields().values()));
    let ast = script.0.clone();
    let deadline = Instant::now() + timeout;
    let state = RunState::new(hook, deadline);
    let task = tokio::task::spawn_blocking(move || {
        state.enter();
        let result = engine.eval_ast_with_scope::<Dynamic>(&mut scope, &ast);
        RunState::leave();
        drop(scope);
        answer(result, timeout, deadline)
    });
    // A little grace: the engine's own deadline usually fires first, with a better message.
    match tokio::time::timeout(timeout + Duration::from_millis(50), task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(HookFailure::Crashed(join.to_string())),
        Err(_) => Err(HookFailure::TimedOut {
            ms: timeout.as_millis(),
        }),
    }
}

/// The variables a script sees: `event`, `payload`, and shortcuts to the payload's parts
/// (`()` where the event has no such part), plus `db`, `config` and `http`.
fn scope(payload: &Payload, env: &ScriptEnv, binding: &Binding) -> Scope<'static> {
    let get = |key: &str| {
        payload
            .get(key)
            .map(convert::from_json)
            .unwrap_or(Dynamic::UNIT)
    };
    let fields = payload.fields();
    let data = fields
        .get("document")
        .or_else(|| fields.get("data"))
        .or_else(|| fields.get("user").and_then(|u| u.get("data")));
    let mut scope = Scope::new();
    scope.push_constant("event", payload.event().name().to_string());
    scope.push("payload", Dynamic::from_map(convert_object(payload)));
    scope.push(
        "data",
        data.map(convert::from_json).unwrap_or(Dynamic::UNIT),
    );
    scope.push("old", get("old_data"));
    scope.push("document", get("document"));
    scope.push("document_id", get("document_id"));
    scope.push("collection", get("collection"));
    scope.push("operation", get("operation"));
    scope.push("user", get("user"));
    scope.push("email", get("email"));
    scope.push("filter", get("filter"));
    scope.push("documents", get("documents"));
    scope.push("auth", get("auth"));
    scope.push_constant("db", DbApi::new(env.store.clone(), env.tx.clone()));
    scope.push_constant("config", ConfigApi(env.config.clone()));
    scope.push_constant(
        "http",
        HttpApi::new(env.client.http().clone(), binding.allow_hosts.clone()),
    );
    scope
}

fn convert_object(payload: &Payload) -> rhai::Map {
    payload
        .fields()
        .iter()
        .map(|(k, v)| (k.as_str().into(), convert::from_json(v)))
        .collect()
}

/// A script's result or error, as the result contract reads it.
fn answer(
    result: Result<Dynamic, Box<EvalAltResult>>,
    timeout: Duration,
    deadline: Instant,
) -> Result<Value, HookFailure> {
    let failed = |message: String| Err(HookFailure::Failed(message));
    match result {
        Ok(value) => convert::to_json(value)
            .map_err(|e| HookFailure::Unusable(format!("the script returned a value that {e}"))),
        Err(error) => match *error {
            EvalAltResult::ErrorRuntime(value, _) if value.is::<BlockSignal>() => {
                let BlockSignal(reason) = value.cast::<BlockSignal>();
                Ok(serde_json::json!({"block": true, "reason": reason}))
            }
            EvalAltResult::ErrorTerminated(_, _) => Err(HookFailure::TimedOut {
                ms: timeout.as_millis(),
            }),
            EvalAltResult::ErrorTooManyOperations(_) => failed(format!(
                "stopped after {} operations (is there an endless loop?)",
                super::MAX_OPERATIONS
            )),
            EvalAltResult::ErrorDataTooLarge(what, position) => failed(format!(
                "{what} grew past its limit (line {})",
                position.line().unwrap_or(0)
            )),
            // A helper that gave up because the script's time was up (an `http` call, a `db`
            // wait) ends the script with its own error: the run still ran out of time.
            _ if Instant::now() >= deadline => Err(HookFailure::TimedOut {
                ms: timeout.as_millis(),
            }),
            other => failed(format!("script error: {other}")),
        },
    }
}
