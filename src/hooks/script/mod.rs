//! Rhai's sandbox: the one engine factory that sets every limit and registers the helpers,
//! and running scripts on it ([`run`]). Scripts were compiled when hooks.yaml loaded
//! (`manifest::script`, whose syntax limits every engine here applies). One engine serves
//! every script:
//! helpers reach per-run state through values in the run's scope (`db`, `config`) and the
//! thread-local [`current::RunState`] (the hook's name and deadline), never through the engine.
//! The helpers: [`api`] (`block`, `log`, `config`, …), [`db`] and [`http`].

mod api;
mod convert;
mod current;
pub mod db;
mod http;
pub mod run;
mod tx;

use std::sync::{LazyLock, OnceLock};

use rhai::Engine;

pub use convert::{from_json, to_json};
pub use run::{run, ScriptEnv};
pub use tx::OperationTx;

/// Most Rhai operations one script run may take; stops runaway loops even before the time
/// limit does.
pub const MAX_OPERATIONS: u64 = 1_000_000;
pub use crate::manifest::script::{MAX_COLLECTION_ITEMS, MAX_STRING_BYTES};

static ENGINE: LazyLock<Engine> = LazyLock::new(|| build_engine(1));

/// Engines with larger size limits, built when first needed (see [`engine_for`]).
static LARGER: [OnceLock<Engine>; TIERS] = [const { OnceLock::new() }; TIERS];
/// How many larger engines there are; each allows 4 times the sizes of the one before.
const TIERS: usize = 5;

/// The engine every script compiles on, and runs on when its payload is small.
pub fn engine() -> &'static Engine {
    &ENGINE
}

/// The engine to run a script on whose payload holds `sizes` (array items, map entries,
/// string bytes, counted the way Rhai counts them). Why: Rhai's size limits bound what a
/// script builds, but they count what it was given too, so a large page of documents made
/// a redacting `post_read` hook fail (issue 15). A script always gets at least half of its
/// engine's limits beyond its payload: the smallest engine (limits ×1, ×4, ×16 …) where the
/// payload takes at most half.
pub fn engine_for(sizes: (usize, usize, usize)) -> &'static Engine {
    let (arrays, maps, strings) = sizes;
    let fits = |scale: usize| {
        arrays * 2 <= MAX_COLLECTION_ITEMS * scale
            && maps * 2 <= MAX_COLLECTION_ITEMS * scale
            && strings * 2 <= MAX_STRING_BYTES * scale
    };
    if fits(1) {
        return &ENGINE;
    }
    let tier = (0..TIERS)
        .find(|tier| fits(4 << (2 * tier)))
        .unwrap_or(TIERS - 1);
    LARGER[tier].get_or_init(|| build_engine(4 << (2 * tier)))
}

/// Array items, map entries and string bytes in `values`, about as Rhai's size limits count
/// them (keys included, to err on the large side).
pub fn data_sizes<'a>(
    values: impl IntoIterator<Item = &'a serde_json::Value>,
) -> (usize, usize, usize) {
    use serde_json::Value;
    let (mut arrays, mut maps, mut strings) = (0, 0, 0);
    let mut stack: Vec<&Value> = values.into_iter().collect();
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => {
                arrays += items.len();
                stack.extend(items);
            }
            Value::Object(fields) => {
                maps += fields.len();
                strings += fields.keys().map(String::len).sum::<usize>();
                stack.extend(fields.values());
            }
            Value::String(s) => strings += s.len(),
            _ => {}
        }
    }
    (arrays, maps, strings)
}

/// hookql's sandbox: bounded operations, call depth, expression depth and value sizes; a
/// deadline checked as the script runs; no `eval`; no module imports (so no file access);
/// `print`/`debug` go to the server log under the hook's name. Rhai has no process or network
/// access of its own: scripts reach the outside only through the helpers in [`api`].
/// `scale` multiplies the size limits (see [`engine_for`]).
fn build_engine(scale: usize) -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(32);
    // The syntax limits first: they include the literal sizes a script may write, which the
    // larger engines then raise for what scripts are given.
    crate::manifest::script::syntax_limits(&mut engine);
    engine.set_max_string_size(MAX_STRING_BYTES * scale);
    engine.set_max_array_size(MAX_COLLECTION_ITEMS * scale);
    engine.set_max_map_size(MAX_COLLECTION_ITEMS * scale);
    engine.on_progress(current::check_deadline);
    engine.on_print(current::log_line);
    engine.on_debug(|text, _, _| current::log_line(text));
    api::register(&mut engine);
    engine
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::script::compile;

    #[test]
    fn large_payloads_run_on_engines_with_room_beyond_them() {
        let small = data_sizes([&serde_json::json!({"a": [1, 2], "s": "xy"})]);
        assert_eq!(small, (2, 2, 4));
        assert!(std::ptr::eq(engine_for(small), engine()));
        let big = engine_for((150_000, 10, 10));
        assert!(big.max_array_size() >= 300_000, "{}", big.max_array_size());
        assert!(std::ptr::eq(engine_for((150_000, 0, 0)), big));
    }

    #[test]
    fn runaway_loops_are_stopped() {
        let script = compile("let i = 0; loop { i += 1; }").unwrap();
        assert!(engine().eval_ast::<rhai::Dynamic>(&script.0).is_err());
    }
}
