//! The `hookql` binary: everything happens in the library.

fn main() -> std::process::ExitCode {
    hookql::cli::run()
}
