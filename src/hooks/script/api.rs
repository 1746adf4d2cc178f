//! The helpers scripts call besides `db` (docs/hooks.md, "Scripts"): `block(reason)`, `config.get(name)`,
//! `log(…)`, `now()`, `uuid()`. Kept small and namespaced: everything a script can reach
//! outside its own values is listed here and in [`super::db`].

use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalAltResult, Position};
use serde_json::Value;

use super::{convert, current, db, http};

/// What `block(reason)` throws; the runner turns it into a block, and nothing a script can
/// build looks like it.
#[derive(Clone)]
pub(super) struct BlockSignal(pub String);

/// The `config` section of hooks.yaml, as the script variable `config`.
#[derive(Clone)]
pub(super) struct ConfigApi(pub Arc<BTreeMap<String, Value>>);

fn block(reason: &str) -> Result<Dynamic, Box<EvalAltResult>> {
    Err(EvalAltResult::ErrorRuntime(
        Dynamic::from(BlockSignal(reason.to_string())),
        Position::NONE,
    )
    .into())
}

fn log(parts: &[&Dynamic]) {
    let line: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
    current::log_line(&line.join(" "));
}

/// Registers every helper on `engine`.
pub(super) fn register(engine: &mut Engine) {
    engine.register_fn("block", block);
    engine.register_fn("block", || block("blocked by a hook"));
    engine.register_fn("log", |a: Dynamic| log(&[&a]));
    engine.register_fn("log", |a: Dynamic, b: Dynamic| log(&[&a, &b]));
    engine.register_fn("log", |a: Dynamic, b: Dynamic, c: Dynamic| {
        log(&[&a, &b, &c])
    });
    engine.register_fn("now", || {
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    });
    engine.register_fn("uuid", || uuid::Uuid::now_v7().to_string());
    engine.register_type_with_name::<ConfigApi>("Config");
    engine.register_fn("get", |config: &mut ConfigApi, name: &str| {
        config
            .0
            .get(name)
            .map(convert::from_json)
            .unwrap_or(Dynamic::UNIT)
    });
    engine.register_type_with_name::<BlockSignal>("BlockSignal");
    db::register(engine);
    http::register(engine);
}
