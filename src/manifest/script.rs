//! Scripts as the manifest holds them: compiled once when hooks.yaml loads, so a syntax error
//! is a load error naming the hook and line, and no request ever parses a script.
//!
//! Compiling is parsing: Rhai resolves function calls when a script runs, so the helpers
//! scripts call (`db`, `http`, `block`, …) need not be registered here. What does shape
//! parsing is set in one place, [`syntax_limits`], which the sandbox that runs the scripts
//! (`hooks::script`) applies to its engines too: a script that compiles here parses the
//! same way there.

use std::sync::{Arc, LazyLock};

use rhai::{Engine, AST};

/// Longest string a script may build (also bounds what it can return, and its literals).
pub const MAX_STRING_BYTES: usize = 1024 * 1024;
/// Most items in one array or map a script may build (or write as a literal).
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

/// What parsing allows: expression nesting bounded (so a deeply nested script cannot
/// overflow the stack while it is parsed or run), literals no larger than what a script may
/// build (Rhai checks string, array and map literals against the size limits while parsing),
/// no `eval`, no module imports (so no file access).
pub fn syntax_limits(engine: &mut Engine) {
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(MAX_STRING_BYTES);
    engine.set_max_array_size(MAX_COLLECTION_ITEMS);
    engine.set_max_map_size(MAX_COLLECTION_ITEMS);
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
}

/// The engine scripts are compiled with: the syntax limits and nothing else.
static COMPILER: LazyLock<Engine> = LazyLock::new(|| {
    let mut engine = Engine::new();
    syntax_limits(&mut engine);
    engine
});

/// Compiles a script.
pub fn compile(source: &str) -> Result<CompiledScript, ScriptError> {
    COMPILER
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
        assert!(compile("let x = 1;\nx + 1").is_ok());
        let e = compile("let x = 1;\nlet = ;\n").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
        assert!(
            compile("eval(\"1\")").is_err(),
            "eval is not a thing scripts may call"
        );
        // Literals past what a script may build are refused when the file loads, not at run.
        let long = format!("let s = \"{}\"; s", "x".repeat(MAX_STRING_BYTES + 1));
        assert!(compile(&long).is_err(), "a string literal past the limit");
        let items = vec!["1"; MAX_COLLECTION_ITEMS + 1].join(",");
        assert!(
            compile(&format!("[{items}]")).is_err(),
            "an array literal past the limit"
        );
        assert!(compile(&format!("[{}]", ["1"; 10].join(","))).is_ok());
    }
}
