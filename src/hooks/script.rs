//! Rhai: the one engine factory that sets every sandbox limit, and compiling scripts at load.
//!
//! Scripts are compiled once when hooks.yaml loads, so a syntax error is a load error naming
//! the hook and line, and no request ever parses a script. Running them (with the scope and
//! helpers of DESIGN §4) belongs to the hook chain.

use std::sync::Arc;

use rhai::{Engine, AST};

/// Most Rhai operations one script run may take; stops runaway loops.
pub const MAX_OPERATIONS: u64 = 1_000_000;

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

/// Builds an engine with hookql's sandbox: bounded operations, call depth, expression depth and
/// value sizes; no `eval`; no module imports (so no file access).
pub fn engine() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(32);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(1024 * 1024);
    engine.set_max_array_size(100_000);
    engine.set_max_map_size(100_000);
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
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
        let engine = engine();
        assert!(compile(&engine, "let x = 1;\nx + 1").is_ok());
        let e = compile(&engine, "let x = 1;\nlet = ;\n").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
    }

    #[test]
    fn runaway_loops_are_stopped() {
        let engine = engine();
        let script = compile(&engine, "let i = 0; loop { i += 1; }").unwrap();
        assert!(engine.eval_ast::<rhai::Dynamic>(&script.0).is_err());
    }
}
