//! The hooks.yaml file as written: plain serde types, strict (`deny_unknown_fields`), each
//! field documented. These doc comments are also the descriptions in `hookql schema`, which
//! editors use to complete and check the file. [`super::validate`] turns this into the
//! checked, compiled [`super::Manifest`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::model::Event;

/// hooks.yaml: the hook chains and collection settings of a hookql server.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "hookql hooks.yaml")]
pub struct HooksFile {
    /// Version of this file's format. Only `1` exists.
    pub version: u32,
    /// Named values for scripts (`config.get("NAME")`) and for `${NAME}` in a hook's `url`,
    /// `headers` and `secret`. Values may use `${ENV_VAR}` and `${ENV_VAR:-default}`.
    #[serde(default)]
    pub config: BTreeMap<String, Value>,
    /// Settings every hook and collection starts from.
    #[serde(default)]
    pub defaults: Defaults,
    /// Per-collection settings, by collection name.
    #[serde(default)]
    pub collections: BTreeMap<String, CollectionSettings>,
    /// The hook bindings. Bindings on the same event form a chain and run in this order.
    #[serde(default)]
    pub hooks: Vec<HookBinding>,
}

/// Settings every hook and collection starts from.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// How long a hook may run, in milliseconds (default 5000).
    pub timeout_ms: Option<u64>,
    /// What a failing hook does: `allow` the operation (default) or `block` it.
    pub on_error: Option<OnError>,
    /// Access rules of collections that have none of their own.
    pub rules: Option<Rules>,
}

/// What happens when a hook fails (times out, errors, cannot be reached).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Go on as if the hook had not been there (fail-open).
    #[default]
    Allow,
    /// Refuse the operation with `HOOK_FAILED`.
    Block,
}

/// Settings of one collection.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionSettings {
    /// Who may read, create, update and delete its documents.
    pub rules: Option<Rules>,
    /// Data fields (`status`, `author.id`) that filters compare with strings often enough to
    /// deserve an index: `_eq` on them is answered from the index instead of a scan. Created
    /// in the background when the file loads; never dropped automatically.
    pub indexes: Option<Vec<String>>,
    /// Data fields (`secret`, `author.email`) only admins and hooks see: left out of every
    /// answer and event for other callers, who may not filter or sort on them either (a
    /// filter on a field is a yes/no question about its value, through `totalCount`).
    pub hidden_fields: Option<Vec<String>>,
}

/// Access rules; an operation without a rule uses `defaults.rules`, then the built-in default
/// (read and create `authenticated`, update and delete `owner`).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Who may read documents (queries and subscriptions).
    #[schemars(with = "Option<RuleSchema>")]
    pub read: Option<Value>,
    /// Who may create documents.
    #[schemars(with = "Option<RuleSchema>")]
    pub create: Option<Value>,
    /// Who may update documents.
    #[schemars(with = "Option<RuleSchema>")]
    pub update: Option<Value>,
    /// Who may delete documents.
    #[schemars(with = "Option<RuleSchema>")]
    pub delete: Option<Value>,
}

/// One rule: a keyword, or a filter on the document that may use `$auth.id`, `$auth.role`, ….
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum RuleSchema {
    /// `public`, `authenticated`, `owner` or `admin`.
    Keyword(RuleKeyword),
    /// A filter (the query filter language) the document must match.
    Filter(BTreeMap<String, Value>),
}

/// The rule keywords.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum RuleKeyword {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user.
    Authenticated,
    /// The user who created the document.
    Owner,
    /// Admins only.
    Admin,
}

/// One event name or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single item.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T: JsonSchema> JsonSchema for OneOrMany<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("OneOrMany_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let one = generator.subschema_for::<T>();
        let many = generator.subschema_for::<Vec<T>>();
        schemars::json_schema!({ "anyOf": [one, many] })
    }
}

/// One hook: which events it binds to, what narrows it, and what runs (a URL or a script).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookBinding {
    /// A unique name (letters, digits, `-`, `_`): shown in errors, logs and `HOOK_BLOCKED`.
    pub name: String,
    /// The event or events this hook runs on.
    #[schemars(with = "OneOrMany<Event>")]
    pub on: OneOrMany<String>,
    /// Only documents in these collections (names or globs such as `audit_*`); all if omitted.
    pub collections: Option<Vec<String>>,
    /// For `pre_save`/`post_save`: only these operations (`create`, `update`).
    pub operations: Option<Vec<Operation>>,
    /// Only when the payload's document matches this filter (the query filter language).
    #[schemars(with = "Option<BTreeMap<String, Value>>")]
    pub when: Option<Value>,
    /// For updates: only when one of these data fields changed.
    pub changed: Option<Vec<String>>,
    /// A webhook: POST the payload to this http(s) URL. `${NAME}` is replaced from `config`
    /// or the environment.
    pub url: Option<String>,
    /// An inline Rhai script.
    pub script: Option<String>,
    /// A Rhai script in a file, relative to this file's folder.
    pub script_file: Option<String>,
    /// How long this hook may run, in milliseconds (overrides `defaults.timeout_ms`).
    pub timeout_ms: Option<u64>,
    /// What a failure does (overrides `defaults.on_error`). Read hooks (`pre_read`,
    /// `post_read`) block on failure unless they say `allow` here: they guard what callers see.
    pub on_error: Option<OnError>,
    /// Extra HTTP headers for `url` hooks; values may use `${NAME}`.
    pub headers: Option<BTreeMap<String, String>>,
    /// Signs `url` calls with the Standard Webhooks scheme (`whsec_…` base64, or plain text).
    /// A list signs with each (for rotating secrets: receivers accept any one).
    #[schemars(with = "Option<OneOrMany<String>>")]
    pub secret: Option<OneOrMany<String>>,
    /// Hosts a script may reach with its `http` helpers.
    pub allow_hosts: Option<Vec<String>>,
    /// For `url` after-hooks: `per_document` delivers one document's events in commit order.
    pub ordering: Option<Ordering>,
    /// For `url` after-hooks: `outbox` (default) records the delivery with the write and
    /// retries it until delivered; `background` sends it once, fire-and-forget.
    pub delivery: Option<Delivery>,
    /// For `url` after-hooks delivered through the outbox: how failed deliveries are retried.
    pub retry: Option<RetrySettings>,
    /// Keep each run's payload in the run record (`hookRuns`), with secrets and password-like
    /// fields redacted. Off by default: payloads hold user data.
    pub log_payloads: Option<bool>,
}

/// How a `url` after-hook is delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Recorded in the same transaction as the write, then sent with retries until delivered
    /// or dead (at least once; survives restarts).
    #[default]
    Outbox,
    /// Sent once in the background after the commit; a failure is only logged.
    Background,
}

/// Retries of a durable delivery: exponential backoff with jitter, `Retry-After` respected.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempts in all, the first included, before the delivery is dead (default 8).
    pub max_attempts: Option<u32>,
    /// Wait before the second attempt in milliseconds, doubled after each failure (default 500).
    pub backoff_ms: Option<u64>,
    /// Longest wait between two attempts in milliseconds (default 3600000, one hour).
    pub max_backoff_ms: Option<u64>,
    /// Which failures are retried: status codes (`409`), classes (`"5xx"`, `"4xx"`) and
    /// `"network"` (refused connections, timeouts, broken responses). Others make the delivery
    /// dead at once. Default: `[408, 429, "5xx", "network"]`.
    #[schemars(with = "Option<Vec<RetryOnSchema>>")]
    pub retry_on: Option<Vec<Value>>,
}

/// One `retry_on` item.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum RetryOnSchema {
    /// An HTTP status code.
    Status(u16),
    /// `1xx`…`5xx`, or `network`.
    Class(String),
}

/// Which document operations a `*_save` hook runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// A new document.
    Create,
    /// A change to an existing document.
    Update,
}

/// Delivery order of durable after-hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ordering {
    /// Deliver as soon as possible, in any order (default).
    Unordered,
    /// One document's events in commit order.
    PerDocument,
}
