//! The app's manifest: everything the app declares in hooks.yaml and the files it names
//! (access rules, indexes, hidden fields, `config` values, hook bindings and their scripts).
//! Loading goes YAML with positions ([`yaml`]) → strict serde model ([`file`]) → checked,
//! compiled [`Manifest`] ([`validate`], [`script`]); [`reload`] swaps it on edit. Every error
//! names the file, line and column, and a file with any error is refused whole. Nothing here
//! runs a hook: [`crate::hooks`] does, with what this module hands it.

mod file;
pub mod reload;
pub mod script;
mod template;
mod validate;
pub mod webhook;
pub mod yaml;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use file::{HooksFile, OnError, Operation, Ordering};
pub use reload::ManifestHandle;
use serde_json::Value;
pub use webhook::{Delivery, RetryOn, RetryPolicy, Webhook};
pub use yaml::Position;

use crate::manifest::script::CompiledScript;
use crate::model::filter::Filter;
use crate::model::Event;
use crate::model::Secret;

/// Default time a hook may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5000);

/// One problem in a hooks file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file with the problem (hooks.yaml or a script file).
    pub file: PathBuf,
    /// Where in it.
    pub position: Position,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.position.line,
            self.position.column,
            self.message
        )
    }
}

/// Every problem found in a hooks file; never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A checked, compiled hooks.yaml, ready to serve requests. Immutable: a reload builds a new
/// one and swaps it in whole.
#[derive(Debug)]
pub struct Manifest {
    /// The file it came from.
    pub source: PathBuf,
    /// Every file it was built from (hooks.yaml and script files), for the watcher.
    pub files: Vec<PathBuf>,
    /// The `config` section, expanded.
    pub config: Arc<BTreeMap<String, Value>>,
    /// Access rules of collections named in the file.
    pub collections: HashMap<String, CollectionRules>,
    /// Access rules of every other collection.
    pub default_rules: CollectionRules,
    /// Data paths with a declared index (`collections.<name>.indexes`), sorted, each once.
    pub indexes: Vec<Vec<String>>,
    /// All bindings in file order.
    pub bindings: Vec<Binding>,
    /// For each event, the indexes into `bindings` of its chain, in file order.
    chains: HashMap<Event, Vec<usize>>,
    /// Events with a durable (outbox) webhook: their writes record deliveries.
    durable: HashSet<Event>,
}

impl Manifest {
    /// A configuration with no hooks and the default rules (used when no file exists).
    pub fn empty(source: PathBuf) -> Self {
        Self {
            files: vec![source.clone()],
            source,
            config: Arc::default(),
            collections: HashMap::new(),
            default_rules: CollectionRules::builtin(),
            indexes: Vec::new(),
            bindings: Vec::new(),
            chains: HashMap::new(),
            durable: HashSet::new(),
        }
    }

    /// The bindings on `event`, in chain order. Empty (and free) when none are bound.
    pub fn chain(&self, event: Event) -> impl Iterator<Item = &Binding> {
        self.chains
            .get(&event)
            .into_iter()
            .flatten()
            .map(|&i| &self.bindings[i])
    }

    /// Whether any binding is on `event` (one map lookup: an unbound event costs nothing).
    pub fn has_chain(&self, event: Event) -> bool {
        self.chains.contains_key(&event)
    }

    /// Whether a write firing `event` (on a document of `collection`, for document events)
    /// may record durable deliveries, so it needs a transaction to record them in. Decided by
    /// the bindings' events and collections only: writes elsewhere keep their one-statement
    /// path.
    pub fn has_durable(&self, event: Event, collection: Option<&str>) -> bool {
        self.durable.contains(&event)
            && self.chain(event).any(|b| {
                b.durable_webhook().is_some() && collection.is_none_or(|c| b.covers_collection(c))
            })
    }

    /// The binding named `name`, if the file in force still has it.
    pub fn binding(&self, name: &str) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.name == name)
    }

    /// How many bindings each event has (for status pages and logs).
    pub fn chain_sizes(&self) -> BTreeMap<&'static str, usize> {
        self.chains
            .iter()
            .map(|(e, c)| (e.name(), c.len()))
            .collect()
    }

    /// The access rules of `collection`.
    pub fn rules(&self, collection: &str) -> &CollectionRules {
        self.collections
            .get(collection)
            .unwrap_or(&self.default_rules)
    }
}

/// Who may do what in one collection.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectionRules {
    /// Queries and subscriptions.
    pub read: Rule,
    /// `createDocument`.
    pub create: Rule,
    /// `updateDocument`.
    pub update: Rule,
    /// `deleteDocument`.
    pub delete: Rule,
    /// Data paths only admins (and hooks) see (`collections.<name>.hidden_fields`).
    pub hidden_fields: Vec<Vec<String>>,
}

impl CollectionRules {
    /// The built-in default: read and create `authenticated`, update and delete `owner`.
    pub fn builtin() -> Self {
        Self {
            read: Rule::Authenticated,
            create: Rule::Authenticated,
            update: Rule::Owner,
            delete: Rule::Owner,
            hidden_fields: Vec::new(),
        }
    }
}

/// One access rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    /// Anyone.
    Public,
    /// Any signed-in user.
    Authenticated,
    /// The document's owner.
    Owner,
    /// Admins only.
    Admin,
    /// Documents matching this filter (which may use `$auth.*` values).
    Filter(Filter),
}

/// What a binding runs.
#[derive(Clone, Debug)]
pub enum Action {
    /// POST the payload to a URL.
    Url(Arc<Webhook>),
    /// Run a compiled Rhai script.
    Script {
        /// The compiled script.
        script: CompiledScript,
        /// The script file, for `script_file` bindings.
        file: Option<PathBuf>,
    },
}

/// Whether a field or `config` name suggests its value is secret (`password`, `apiToken`,
/// `SIGNING_SECRET`, `api_key`, …).
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "apikey",
        "api_key",
        "private",
        "credential",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// A collection name or glob (`*` any run of characters, `?` one character).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectionPattern(String);

impl CollectionPattern {
    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        glob_match(self.0.as_bytes(), name.as_bytes())
    }
}

fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pattern[1..], name) || (!name.is_empty() && glob_match(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_match(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// One checked binding of hooks.yaml.
#[derive(Clone, Debug)]
pub struct Binding {
    /// Its unique name.
    pub name: String,
    /// The events it runs on.
    pub events: Vec<Event>,
    /// Collections it is limited to; `None` means all.
    pub collections: Option<Vec<CollectionPattern>>,
    /// Operations it is limited to (`*_save` only); `None` means both.
    pub operations: Option<Vec<Operation>>,
    /// A filter the payload's document must match.
    pub when: Option<Filter>,
    /// Data paths of which one must have changed (updates only), one key per segment.
    pub changed: Option<Vec<Vec<String>>>,
    /// What it runs.
    pub action: Action,
    /// How long it may take.
    pub timeout: Duration,
    /// What a failure does.
    pub on_error: OnError,
    /// Hosts a script may call (shared by every run).
    pub allow_hosts: Arc<[String]>,
    /// Delivery order of durable after-hooks.
    pub ordering: Ordering,
    /// Whether run records keep the payload (redacted).
    pub log_payloads: bool,
}

impl Binding {
    /// `url` or `script`, as run records and dry runs name it.
    pub fn kind(&self) -> &'static str {
        match self.action {
            Action::Url(_) => "url",
            Action::Script { .. } => "script",
        }
    }

    /// Text that must never be stored or logged from this binding's runs: its signing
    /// secrets and header values (tokens), and the `config` values whose names say they are
    /// secret.
    pub fn secrets<'a>(&'a self, config: &'a BTreeMap<String, Value>) -> Vec<&'a str> {
        let mut secrets: Vec<&str> = config
            .iter()
            .filter(|(name, _)| is_secret_name(name))
            .filter_map(|(_, value)| value.as_str())
            .collect();
        if let Action::Url(hook) = &self.action {
            secrets.extend(hook.secrets.iter().map(Secret::expose));
            secrets.extend(hook.headers.iter().map(|(_, value)| value.as_str()));
        }
        secrets.retain(|s| s.len() >= 4);
        secrets
    }
    /// The webhook of a `url` binding whose after-hook calls go through the durable outbox.
    pub fn durable_webhook(&self) -> Option<&Arc<Webhook>> {
        match &self.action {
            Action::Url(hook) if hook.delivery == Delivery::Outbox => Some(hook),
            _ => None,
        }
    }

    /// Whether this binding applies to documents of `collection`.
    pub fn covers_collection(&self, collection: &str) -> bool {
        self.collections
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|p| p.matches(collection)))
    }
}

/// Loads and checks a hooks file, expanding `${VAR}` with `env`.
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Manifest, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            position: Position { line: 1, column: 1 },
            message: format!("cannot read the hooks file: {e}"),
        }])
    })?;
    parse(path, &text, env)
}

/// Checks hooks-file text as if it were the file at `path` (script files resolve beside it).
pub fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Manifest, ConfigErrors> {
    validate::validate(path, text, env)
}

/// The JSON Schema of hooks.yaml (for `hookql schema` and editors).
pub fn json_schema() -> Value {
    let schema = schemars::schema_for!(HooksFile);
    serde_json::to_value(schema).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match() {
        let p = |s: &str| CollectionPattern(s.to_string());
        assert!(p("audit_*").matches("audit_log"));
        assert!(p("audit_*").matches("audit_"));
        assert!(!p("audit_*").matches("posts"));
        assert!(p("post?").matches("posts"));
        assert!(p("*").matches("anything"));
        assert!(p("posts").matches("posts") && !p("posts").matches("posts2"));
    }
}
