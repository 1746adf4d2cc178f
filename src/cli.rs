//! The command line: `serve` (the default), `migrate`, `check`, `schema`, `admin create`,
//! `hooks test`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use clap::{Parser, Subcommand};

use crate::app::App;
use crate::auth::password::Passwords;
use crate::hooks::runs::Recorder;
use crate::hooks::webhook::WebhookClient;
use crate::hooks::{dry_run, HookRunner};
use crate::manifest::{self as config, reload, ManifestHandle};
use crate::service::users::{ensure_admin, Bootstrap};
use crate::settings::Settings;
use crate::store::Store;

/// hookql: a self-hosted Backend-as-a-Service with hooks.
#[derive(Debug, Parser)]
#[command(name = "hookql", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Check a hooks file (default: the configured one); print each error with its line and
    /// column; exit 1 if there is any.
    Check {
        /// The file to check.
        file: Option<PathBuf>,
    },
    /// Print the JSON Schema of hooks.yaml (for editors' YAML language servers).
    Schema,
    /// Manage app users from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Try hooks out.
    #[command(subcommand)]
    Hooks(HooksCommand),
}

#[derive(Debug, Subcommand)]
enum HooksCommand {
    /// Run EVENT's before-chain (a `pre_*` event or `post_read`) on the payload in a JSON
    /// file, writing nothing (scripts' `db` writes are rolled back; URL hooks are really
    /// called), and print a JSON report of each hook's decision, changes, time and error.
    /// Uses the configured hooks file (`--hooks FILE`) and database. Exit status: 0 when the
    /// chain passed, 2 when a hook blocked or failed it, 1 on any other error.
    Test {
        /// The event, e.g. `pre_save`.
        event: String,
        /// A JSON object with the event's fields (e.g. `collection`, `operation`,
        /// `document`, `auth`); `id`, `timestamp` and the like are filled in.
        #[arg(long)]
        payload: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Make sure a user exists and is an admin: create it with the password if missing,
    /// promote it if it exists and the password is its password (which is left alone).
    Create {
        /// The admin's email.
        #[arg(long)]
        email: String,
        /// The password for a new admin, or an existing account's own. Omit it to type it on
        /// standard input, which keeps it out of shell history and process lists.
        #[arg(long)]
        password: Option<String>,
    },
}

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let hooks_text = std::fs::read_to_string(cli.settings.hooks_file().0).unwrap_or_default();
    let names = std::env::vars_os().map(|(name, _)| name);
    for warning in unknown_settings(names, &hooks_text) {
        eprintln!("warning: {warning}");
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Schema => {
            say(serde_json::to_string_pretty(&config::json_schema()).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Command::Check { file } => check(file.unwrap_or_else(|| cli.settings.hooks_file().0)),
        Command::Migrate => block_on(migrate(cli.settings)),
        Command::Serve => block_on(serve(cli.settings)),
        Command::Admin(AdminCommand::Create { email, password }) => {
            block_on(create_admin(cli.settings, email, password))
        }
        Command::Hooks(HooksCommand::Test { event, payload }) => {
            crate::telemetry::init_to_stderr();
            block_on_to_exit(test_hooks(cli.settings, event, payload))
        }
    }
}

/// A warning for each `HOOKQL_…` name in `names` that no setting reads and the hooks file
/// does not use (`${NAME}`): a misspelt setting would otherwise be ignored without a word
/// and its default used. The test suite's own `HOOKQL_TEST_…` variables are not settings.
fn unknown_settings(
    names: impl Iterator<Item = std::ffi::OsString>,
    hooks_text: &str,
) -> Vec<String> {
    use clap::CommandFactory;
    let command = Cli::command();
    let known: Vec<&str> = command
        .get_arguments()
        .filter_map(clap::Arg::get_env)
        .filter_map(std::ffi::OsStr::to_str)
        .collect();
    let mut unknown: Vec<String> = names
        .filter_map(|name| name.into_string().ok())
        .filter(|name| name.starts_with("HOOKQL_") && !name.starts_with("HOOKQL_TEST_"))
        .filter(|name| !known.contains(&name.as_str()))
        .filter(|name| {
            !hooks_text.contains(&format!("${{{name}}}"))
                && !hooks_text.contains(&format!("${{{name}:-"))
        })
        .collect();
    unknown.sort();
    unknown
        .into_iter()
        .map(|name| {
            let hint = match crate::model::filter::suggest(&name, &known) {
                Some(near) => format!("did you mean {near}?"),
                None => "`hookql --help` lists the settings".to_string(),
            };
            format!("{name} is not a hookql setting and the hooks file does not use it; {hint}")
        })
        .collect()
}

/// Prints a line of a command's answer. A closed standard output (`hookql schema | head`)
/// means the reader has what it wanted: not an error, and no panic as `println!` would.
fn say(text: impl std::fmt::Display) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn block_on(task: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    block_on_to_exit(async { task.await.map(|()| ExitCode::SUCCESS) })
}

/// Runs a command whose success has several exit statuses; an error exits 1.
fn block_on_to_exit(task: impl std::future::Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    crate::telemetry::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(task) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    App::build(settings).await?.run_until_stopped().await
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    if settings.database_url.is_none() {
        std::fs::create_dir_all(&settings.data_dir)?;
    }
    let store = Store::connect(&settings.database_url(), 1, None).await?;
    store.migrate().await?;
    say("database is up to date");
    Ok(())
}

async fn create_admin(
    settings: Settings,
    email: String,
    password: Option<String>,
) -> anyhow::Result<()> {
    let password = match password {
        Some(password) => password,
        None => {
            eprintln!("password for {email} (one line on standard input):");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if settings.database_url.is_none() {
        std::fs::create_dir_all(&settings.data_dir)?;
    }
    let store = Store::connect(&settings.database_url(), 1, None).await?;
    store.migrate().await?;
    let passwords = Passwords::new(1).map_err(|e| anyhow::anyhow!(e))?;
    let outcome = ensure_admin(&store, &passwords, &email, &password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    store.close().await;
    if outcome == Bootstrap::Refused {
        anyhow::bail!("{email}: {outcome}");
    }
    say(format!("{email}: {outcome}"));
    Ok(())
}

/// `hooks test`: a dry run of one before-chain; exits 0 when it passed, 2 when a hook
/// stopped it.
async fn test_hooks(
    settings: Settings,
    event: String,
    payload_file: PathBuf,
) -> anyhow::Result<ExitCode> {
    let event = dry_run::check_event(&event).map_err(|e| anyhow::anyhow!(e))?;
    let text = std::fs::read_to_string(&payload_file)
        .with_context(|| format!("cannot read {}", payload_file.display()))?;
    let given: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", payload_file.display()))?;
    let (payload, target) = dry_run::input(event, given)
        .map_err(|e| anyhow::anyhow!("{}: {e}", payload_file.display()))?;
    let (hooks_path, _) = settings.hooks_file();
    let hooks = ManifestHandle::load(&hooks_path, true).map_err(|e| anyhow::anyhow!("{e}"))?;
    if settings.database_url.is_none() {
        std::fs::create_dir_all(&settings.data_dir)?;
    }
    let store = Store::connect(&settings.database_url(), 2, None).await?;
    store.migrate().await?;
    let client = WebhookClient::new().map_err(|e| anyhow::anyhow!(e))?;
    // A dry run records nothing.
    let recorder = Arc::new(Recorder::new(Arc::default(), false));
    let runner = HookRunner::new(Arc::new(hooks), store.clone(), client, recorder);
    let config = runner.config();
    let report = runner.dry_run(&config, &target, payload).await;
    say(serde_json::to_string_pretty(&report)?);
    store.close().await;
    Ok(if report.outcome == "passed" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn check(file: PathBuf) -> ExitCode {
    match config::load(&file, &reload::process_env) {
        Ok(config) => {
            let chains: Vec<String> = config
                .chain_sizes()
                .into_iter()
                .map(|(e, n)| format!("{e}: {n}"))
                .collect();
            say(format!(
                "{}: OK, {} hooks ({})",
                file.display(),
                config.bindings.len(),
                chains.join(", ")
            ));
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{} error(s) in {}", errors.0.len(), file.display());
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_settings_are_named_and_real_ones_are_not() {
        let names = [
            "HOOKQL_LISTEN",
            "HOOKQL_QUERY_TIMEOUT_MSS",
            "PATH",
            "HOOKQL_QUERY_TIMEOUT_MS",
            "HOOKQL_INVITE_ONLY",
            "HOOKQL_TEST_DATABASE_URL",
            "HOOKQL_NOTHING_LIKE_IT",
        ];
        let hooks = "config:\n  INVITE_ONLY: ${HOOKQL_INVITE_ONLY:-false}\n";
        let warnings = unknown_settings(names.iter().map(std::ffi::OsString::from), hooks);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("HOOKQL_NOTHING_LIKE_IT is not a hookql setting"));
        assert!(warnings[0].ends_with("`hookql --help` lists the settings"));
        assert!(
            warnings[1].ends_with("did you mean HOOKQL_QUERY_TIMEOUT_MS?"),
            "{}",
            warnings[1]
        );
    }
}
