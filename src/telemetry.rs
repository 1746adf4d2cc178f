//! Logging: `RUST_LOG`-style filtering with tracing, `info` by default; colours only on a
//! terminal, so log files and journald get plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber, writing to standard output; a second call (tests) is a
/// no-op.
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .try_init();
}

/// [`init`] for commands whose standard output is their result (a JSON report), so log lines
/// go to standard error instead.
pub fn init_to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"))
}
