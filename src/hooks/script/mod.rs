//! Rhai: the one engine that sets every sandbox limit and registers the helpers, compiling
//! scripts at load ([`compile`]) and running them ([`run`]).
//!
//! Scripts are compiled once when hooks.yaml loads, so a syntax error is a load error naming
//! the hook and line, and no request ever parses a script. One engine serves every script:
//! helpers reach per-run state through values in the run's scope (`db`, `config`) and the
//! thread-local [`run::RunState`] (the hook's name and deadline), never through the engine.
//! The helpers: [`api`] (`block`, `log`, `config`, …), [`db`] and [`http`].

mod api;
mod convert;
pub mod db;
mod http;
pub mod run;

use std::sync::{Arc, LazyLock};

use rhai::{Engine, AST};

pub use convert::{from_json, to_json};
pub use db::OperationTx;
pub use run::{run, ScriptEnv};

/// Most Rhai operations one script run may take; stops runaway loops even before the time
/// limit does.
pub const MAX_OPERATIONS: u64 = 1_000_000;
/// Longest string a script may build (also bounds what it can return).
pub const MAX_STRING_BYTES: usize = 1024 * 1024;
/// Most items in one array or map a script may build.
pub const MAX_COLLECTION_ITEMS: usize = 100_000;

/// A compiled script, shared by every run.
#[derive(Clone)]
pub struct CompiledScript(pub Arc<AST>);

impl std::fmt::Debug for CompiledScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledScript")
    }
}

/// A script that does not compile: the line (in the script) and what is wrong.
#[derive(Debug, Clone)]
pub struct ScriptError {
    /// Line within the script, from 1.
    pub line: usize,
    /// Column within the line, from 1.
    pub column: usize,
    /// Rhai's description.
    pub message: String,
}

static ENGINE: LazyLock<Engine> = LazyLock::new(build_engine);

/// The engine every script compiles and runs on.
pub fn engine() -> &'static Engine {
    &ENGINE
}

/// hookql's sandbox: bounded operations, call depth, expression depth and value sizes; a
/// deadline checked as the script runs; no `eval`; no module imports (so no file access);
/// `print`/`debug` go to the server log under the hook's name. Rhai has no process or network
/// access of its own: scripts reach the outside only through the helpers in [`api`].
fn build_engine() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(32);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(MAX_STRING_BYTES);
    engine.set_max_array_size(MAX_COLLECTION_ITEMS);
    engine.set_max_map_size(MAX_COLLECTION_ITEMS);
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
    engine.on_progress(run::check_deadline);
    engine.on_print(run::log_line);
    engine.on_debug(|text, _, _| run::log_line(text));
    api::register(&mut engine);
    engine
}

/// Compiles a script with `engine`.
pub fn compile(engine: &Engine, source: &str) -> Result<CompiledScript, ScriptError> {
    engine
        .compile(source)
        .map(|ast| CompiledScript(Arc::new(ast)))
        .map_err(|e| ScriptError {
            line: e.1.line().unwrap_or(1),
            column: e.1.position().unwrap_or(1),
            message: e.0.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_scripts_compile_and_bad_ones_name_the_line() {
        assert!(compile(engine(), "let x = 1;\nx + 1").is_ok());
        let e = compile(engine(), "let x = 1;\nlet = ;\n").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
    }

    #[test]
    fn runaway_loops_are_stopped() {
        let script = compile(engine(), "let i = 0; loop { i += 1; }").unwrap();
        assert!(engine().eval_ast::<rhai::Dynamic>(&script.0).is_err());
    }
}
