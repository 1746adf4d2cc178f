//! Checks a parsed hooks file and compiles it into a [`HooksConfig`], collecting every error
//! with its position rather than stopping at the first.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::model::{HookBinding, HooksFile, Ordering, Rules};
use super::yaml::{self, child_key, Position, Positions};
use super::{
    template, Action, Binding, CollectionPattern, CollectionRules, ConfigError, ConfigErrors,
    HooksConfig, Rule, Secret, DEFAULT_TIMEOUT,
};
use crate::hooks::script::{self, ScriptError};
use crate::hooks::Event;
use crate::store::filter::{parse_field, suggest, Filter};
use crate::store::CollectionName;

/// Longest timeout a hook may ask for.
const MAX_TIMEOUT_MS: u64 = 600_000;

pub(super) fn validate(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HooksConfig, ConfigErrors> {
    let one = |position: Position, message: String| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            position,
            message,
        }])
    };
    let (value, positions) =
        yaml::parse(text).map_err(|e| one(e.position, format!("invalid YAML: {}", e.message)))?;
    if value.is_null() {
        return Err(one(
            Position { line: 1, column: 1 },
            "the file is empty: it needs at least `version: 1`".into(),
        ));
    }
    let file: HooksFile = serde_path_to_error::deserialize(value).map_err(|e| {
        let (position, message) = describe_serde_error(&positions, e);
        one(position, message)
    })?;
    let mut checker = Checker {
        path,
        positions: &positions,
        env,
        errors: Vec::new(),
        engine: script::engine(),
    };
    let config = checker.check(file);
    if checker.errors.is_empty() {
        Ok(config)
    } else {
        checker
            .errors
            .sort_by_key(|e| (e.file != path, e.position.line, e.position.column));
        Err(ConfigErrors(checker.errors))
    }
}

/// Turns a serde error into a position and a message that says what is expected.
fn describe_serde_error(
    positions: &Positions,
    error: serde_path_to_error::Error<serde_json::Error>,
) -> (Position, String) {
    let path = match error.path().to_string() {
        p if p == "." => String::new(),
        p => p,
    };
    let message = error.inner().to_string();
    if let Some(field) = between(&message, "unknown field `", "`") {
        let expected: Vec<&str> = message.split('`').skip(3).step_by(2).collect();
        let hint = suggest(field, &expected)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        let at = if path.ends_with(field) {
            path.clone()
        } else {
            child_key(&path, field)
        };
        let place = if path.is_empty() || path.ends_with(field) {
            String::new()
        } else {
            format!(" in `{path}`")
        };
        let expected = if expected.is_empty() {
            String::new()
        } else {
            format!(" (expected one of: {})", expected.join(", "))
        };
        return (
            positions.key(&at),
            format!("unknown key `{field}`{place}{hint}{expected}"),
        );
    }
    let message = if message.contains("untagged enum OneOrMany") {
        "expected an event name or a list of event names".to_string()
    } else {
        message
    };
    let place = if path.is_empty() {
        String::new()
    } else {
        format!("`{path}`: ")
    };
    (positions.value(&path), format!("{place}{message}"))
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

struct Checker<'a> {
    path: &'a Path,
    positions: &'a Positions,
    env: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<ConfigError>,
    engine: rhai::Engine,
}

impl Checker<'_> {
    fn error(&mut self, at: &str, message: impl Into<String>) {
        let position = self.positions.value(at);
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            position,
            message: message.into(),
        });
    }

    fn key_error(&mut self, at: &str, message: impl Into<String>) {
        let position = self.positions.key(at);
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            position,
            message: message.into(),
        });
    }

    fn check(&mut self, file: HooksFile) -> HooksConfig {
        if file.version != 1 {
            self.error(
                "version",
                format!(
                    "unsupported version {}: this hookql reads `version: 1`",
                    file.version
                ),
            );
        }
        let config = self.check_config(file.config);
        let default_timeout = self
            .timeout(file.defaults.timeout_ms, "defaults.timeout_ms")
            .unwrap_or(DEFAULT_TIMEOUT);
        let default_on_error = file.defaults.on_error.unwrap_or_default();
        let default_rules = self.rules(
            file.defaults.rules,
            &CollectionRules::builtin(),
            "defaults.rules",
        );
        let mut collections = HashMap::new();
        for (name, settings) in file.collections {
            let at = child_key("collections", &name);
            if let Err(message) = CollectionName::parse(&name) {
                self.key_error(&at, message);
            }
            let rules = self.rules(settings.rules, &default_rules, &child_key(&at, "rules"));
            collections.insert(name, rules);
        }
        let mut bindings = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        for (i, hook) in file.hooks.into_iter().enumerate() {
            let at = format!("hooks[{i}]");
            let name_at = child_key(&at, "name");
            if let Some(first) = names.get(&hook.name) {
                let line = self.positions.value(&format!("hooks[{first}].name")).line;
                self.error(&name_at, format!("duplicate hook name `{}` (first used on line {line}); hook names must be unique", hook.name));
            }
            names.insert(hook.name.clone(), i);
            if let Some(binding) =
                self.binding(hook, &at, &config, default_timeout, default_on_error)
            {
                bindings.push(binding);
            }
        }
        let mut chains: HashMap<Event, Vec<usize>> = HashMap::new();
        for (i, binding) in bindings.iter().enumerate() {
            for event in &binding.events {
                chains.entry(*event).or_default().push(i);
            }
        }
        let mut files = vec![self.path.to_path_buf()];
        files.extend(bindings.iter().filter_map(|b| match &b.action {
            Action::Script { file: Some(f), .. } => Some(f.clone()),
            _ => None,
        }));
        HooksConfig {
            source: self.path.to_path_buf(),
            files,
            config,
            collections,
            default_rules,
            bindings,
            chains,
        }
    }

    fn check_config(&mut self, raw: BTreeMap<String, Value>) -> BTreeMap<String, Value> {
        let mut config = BTreeMap::new();
        for (name, value) in raw {
            let at = child_key("config", &name);
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                self.key_error(&at, format!("invalid config name `{name}`: use letters, digits and `_`, not starting with a digit"));
                continue;
            }
            let value = match value {
                Value::String(text) => match template::expand(&text, self.env) {
                    Ok(expanded) => Value::String(expanded),
                    Err(message) => {
                        self.error(&at, message);
                        continue;
                    }
                },
                other => other,
            };
            config.insert(name, value);
        }
        config
    }

    fn timeout(&mut self, ms: Option<u64>, at: &str) -> Option<Duration> {
        let ms = ms?;
        if ms == 0 || ms > MAX_TIMEOUT_MS {
            self.error(
                at,
                format!("expected a timeout from 1 to {MAX_TIMEOUT_MS} milliseconds, got {ms}"),
            );
            return None;
        }
        Some(Duration::from_millis(ms))
    }

    fn rules(
        &mut self,
        rules: Option<Rules>,
        fallback: &CollectionRules,
        at: &str,
    ) -> CollectionRules {
        let Some(rules) = rules else {
            return fallback.clone();
        };
        let mut one = |value: Option<Value>, name: &str, fallback: &Rule| match value {
            None => fallback.clone(),
            Some(value) => self
                .rule(&value, &child_key(at, name))
                .unwrap_or_else(|| fallback.clone()),
        };
        CollectionRules {
            read: one(rules.read, "read", &fallback.read),
            create: one(rules.create, "create", &fallback.create),
            update: one(rules.update, "update", &fallback.update),
            delete: one(rules.delete, "delete", &fallback.delete),
        }
    }

    fn rule(&mut self, value: &Value, at: &str) -> Option<Rule> {
        match value {
            Value::String(keyword) => match keyword.as_str() {
                "public" => Some(Rule::Public),
                "authenticated" => Some(Rule::Authenticated),
                "owner" => Some(Rule::Owner),
                "admin" => Some(Rule::Admin),
                other => {
                    let keywords = ["public", "authenticated", "owner", "admin"];
                    let hint = suggest(other, &keywords)
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    self.error(at, format!("unknown rule `{other}`{hint} (expected public, authenticated, owner, admin or a filter)"));
                    None
                }
            },
            Value::Object(_) => match Filter::parse(value, at) {
                Ok(filter) => Some(Rule::Filter(filter)),
                Err(e) => {
                    self.error(&e.path.clone(), format!("in rule `{at}`: {e}"));
                    None
                }
            },
            _ => {
                self.error(
                    at,
                    "expected public, authenticated, owner, admin or a filter object",
                );
                None
            }
        }
    }

    fn binding(
        &mut self,
        hook: HookBinding,
        at: &str,
        config: &BTreeMap<String, Value>,
        default_timeout: Duration,
        default_on_error: super::OnError,
    ) -> Option<Binding> {
        let errors_before = self.errors.len();
        let name_ok = hook.name.len() <= 64
            && hook.name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && hook
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            self.error(&child_key(at, "name"), format!("invalid hook name `{}`: use 1 to 64 letters, digits, `-` and `_`, starting with a letter or digit", hook.name));
        }
        let events = self.events(hook.on, &child_key(at, "on"));
        let has = |pred: fn(Event) -> bool| events.iter().any(|e| pred(*e));

        let collections = hook.collections.map(|patterns| {
            let here = child_key(at, "collections");
            if !events.is_empty() && !has(Event::is_document_event) {
                self.key_error(&here, "`collections` narrows document events only; this hook has none");
            }
            patterns
                .into_iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    let valid = !p.is_empty() && p.len() <= 63 && p.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '*' | '?'));
                    if !valid {
                        self.error(&format!("{here}[{i}]"), format!("invalid collection pattern `{p}`: use a-z, 0-9, `_`, and `*`/`?` as wildcards"));
                    }
                    valid.then_some(CollectionPattern(p))
                })
                .collect()
        });
        if let Some(ops) = &hook.operations {
            let all_saves = events
                .iter()
                .all(|e| matches!(e, Event::PreSave | Event::PostSave));
            if !all_saves {
                self.key_error(
                    &child_key(at, "operations"),
                    "`operations` applies to `pre_save` and `post_save` only",
                );
            }
            if ops.is_empty() {
                self.error(
                    &child_key(at, "operations"),
                    "expected at least one of create, update",
                );
            }
        }
        let when = hook.when.and_then(|value| {
            let here = child_key(at, "when");
            match Filter::parse(&value, &here) {
                Ok(filter) => Some(filter),
                Err(e) => {
                    self.error(&e.path.clone(), format!("in `when`: {e}"));
                    None
                }
            }
        });
        if let Some(fields) = &hook.changed {
            let here = child_key(at, "changed");
            if !events.is_empty() && !has(Event::can_be_update) {
                self.key_error(&here, "`changed` applies to update events (pre_save, post_save, pre_user_update, post_user_update)");
            }
            for (i, field) in fields.iter().enumerate() {
                if let Err(message) = parse_field(field) {
                    self.error(&format!("{here}[{i}]"), message);
                }
            }
        }
        let timeout = self
            .timeout(hook.timeout_ms, &child_key(at, "timeout_ms"))
            .unwrap_or(default_timeout);

        let lookup = |name: &str| match config.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => (self.env)(name),
            Some(other) => Some(other.to_string()),
        };
        let kinds = [
            hook.url.is_some(),
            hook.script.is_some(),
            hook.script_file.is_some(),
        ];
        let action = match kinds.iter().filter(|k| **k).count() {
            0 => {
                self.error(
                    at,
                    format!(
                        "hook `{}` needs exactly one of `url`, `script` or `script_file`",
                        hook.name
                    ),
                );
                None
            }
            1 => None,
            _ => {
                self.error(at, format!("hook `{}` has more than one of `url`, `script`, `script_file`; keep exactly one", hook.name));
                None
            }
        };
        let action = action.or_else(|| {
            if let Some(url) = &hook.url {
                let here = child_key(at, "url");
                let url = match template::expand(url, &lookup) {
                    Ok(url) => url,
                    Err(message) => {
                        self.error(&here, message);
                        return None;
                    }
                };
                let parsed = match url::Url::parse(&url) {
                    Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => parsed,
                    Ok(parsed) => {
                        self.error(
                            &here,
                            format!(
                                "unsupported URL scheme `{}`: hook URLs must be http or https",
                                parsed.scheme()
                            ),
                        );
                        return None;
                    }
                    Err(e) => {
                        self.error(&here, format!("invalid URL `{url}`: {e}"));
                        return None;
                    }
                };
                let mut headers = Vec::new();
                for (name, value) in hook.headers.clone().unwrap_or_default() {
                    let header_at = child_key(&child_key(at, "headers"), &name);
                    let valid = !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                    if !valid {
                        self.key_error(&header_at, format!("invalid header name `{name}`"));
                    }
                    match template::expand(&value, &lookup) {
                        Ok(value) if value.contains(['\r', '\n']) => {
                            self.error(&header_at, "header values cannot contain line breaks")
                        }
                        Ok(value) => headers.push((name, value)),
                        Err(message) => self.error(&header_at, message),
                    }
                }
                let secret =
                    hook.secret
                        .as_ref()
                        .and_then(|s| match template::expand(s, &lookup) {
                            Ok(s) if s.is_empty() => {
                                self.error(&child_key(at, "secret"), "the secret is empty");
                                None
                            }
                            Ok(s) => Some(Secret::new(s)),
                            Err(message) => {
                                self.error(&child_key(at, "secret"), message);
                                None
                            }
                        });
                return Some(Action::Url {
                    url: parsed,
                    headers,
                    secret,
                });
            }
            if let Some(source) = &hook.script {
                let here = child_key(at, "script");
                return match script::compile(&self.engine, source) {
                    Ok(script) => Some(Action::Script { script, file: None }),
                    Err(e) => {
                        let line = self.positions.text_start_line(&here) + e.line.saturating_sub(1);
                        self.script_error(self.path.to_path_buf(), line, e, &hook.name);
                        None
                    }
                };
            }
            let relative = hook.script_file.as_ref()?;
            let here = child_key(at, "script_file");
            let file = self.path.parent().unwrap_or(Path::new(".")).join(relative);
            let source = match std::fs::read_to_string(&file) {
                Ok(source) => source,
                Err(e) => {
                    self.error(
                        &here,
                        format!("cannot read script file `{}`: {e}", file.display()),
                    );
                    return None;
                }
            };
            match script::compile(&self.engine, &source) {
                Ok(script) => Some(Action::Script {
                    script,
                    file: Some(file),
                }),
                Err(e) => {
                    let line = e.line;
                    self.script_error(file, line, e, &hook.name);
                    None
                }
            }
        });
        let is_url = hook.url.is_some();
        if !is_url {
            for key in ["headers", "secret", "ordering"] {
                let present = match key {
                    "headers" => hook.headers.is_some(),
                    "secret" => hook.secret.is_some(),
                    _ => hook.ordering.is_some(),
                };
                if present {
                    self.key_error(
                        &child_key(at, key),
                        format!("`{key}` applies to `url` hooks only"),
                    );
                }
            }
        }
        if is_url && hook.allow_hosts.is_some() {
            self.key_error(
                &child_key(at, "allow_hosts"),
                "`allow_hosts` applies to script hooks only",
            );
        }
        if hook.ordering == Some(Ordering::PerDocument) && has(Event::is_before) {
            self.key_error(
                &child_key(at, "ordering"),
                "`ordering` applies to after-hooks (post_*) only",
            );
        }
        if self.errors.len() > errors_before || events.is_empty() {
            return None;
        }
        Some(Binding {
            name: hook.name,
            events,
            collections,
            operations: hook.operations,
            when,
            changed: hook.changed,
            action: action?,
            timeout,
            on_error: hook.on_error.unwrap_or(default_on_error),
            allow_hosts: hook.allow_hosts.unwrap_or_default(),
            ordering: hook.ordering.unwrap_or(Ordering::Unordered),
        })
    }

    fn script_error(&mut self, file: PathBuf, line: usize, error: ScriptError, hook: &str) {
        self.errors.push(ConfigError {
            file,
            position: Position {
                line,
                column: error.column,
            },
            message: format!("hook `{hook}`: script does not compile: {}", error.message),
        });
    }

    fn events(&mut self, on: super::model::OneOrMany<String>, at: &str) -> Vec<Event> {
        let names: Vec<(String, String)> = match on {
            super::model::OneOrMany::One(name) => vec![(name, at.to_string())],
            super::model::OneOrMany::Many(names) => names
                .into_iter()
                .enumerate()
                .map(|(i, n)| (n, format!("{at}[{i}]")))
                .collect(),
        };
        if names.is_empty() {
            self.error(at, "expected at least one event");
        }
        let known: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
        let mut events = Vec::new();
        for (name, here) in names {
            match Event::from_name(&name) {
                Some(event) if !events.contains(&event) => events.push(event),
                Some(_) => {}
                None => {
                    let hint = suggest(&name, &known)
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    self.error(
                        &here,
                        format!(
                            "unknown event `{name}`{hint} (events: {})",
                            known.join(", ")
                        ),
                    );
                }
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "RECEIVER").then(|| "http://127.0.0.1:9999".to_string())
    }

    fn errors(text: &str) -> Vec<String> {
        match validate(Path::new("hooks.yaml"), text, &env) {
            Ok(_) => vec![],
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_full_file_loads() {
        let text = r#"
version: 1
config:
  AUDIT_URL: ${RECEIVER}/audit
  LIMIT: 3
defaults:
  timeout_ms: 2000
  on_error: block
collections:
  posts:
    rules: { read: public, create: authenticated, update: owner, delete: { ownerId: { _eq: "$auth.id" } } }
hooks:
  - name: require-title
    on: pre_save
    collections: [posts, "audit_*"]
    operations: [create]
    when: { status: published }
    script: |
      if (data.title ?? "") == "" { block("A post needs a title.") }
  - name: audit
    on: [post_save, post_delete]
    url: ${AUDIT_URL}
    headers: { X-Env: "${STAGE:-dev}" }
    secret: whsec_c2VjcmV0
    ordering: per_document
"#;
        let config = validate(Path::new("hooks.yaml"), text, &env).unwrap();
        assert_eq!(config.chain(Event::PreSave).count(), 1);
        assert_eq!(
            config.chain(Event::PostDelete).next().unwrap().name,
            "audit"
        );
        assert_eq!(config.chain(Event::PreLogin).count(), 0);
        let Action::Url { url, headers, .. } = &config.bindings[1].action else {
            panic!()
        };
        assert_eq!(url.as_str(), "http://127.0.0.1:9999/audit");
        assert_eq!(headers, &vec![("X-Env".to_string(), "dev".to_string())]);
        assert_eq!(config.bindings[0].on_error, super::super::OnError::Block);
        assert_eq!(config.rules("posts").read, Rule::Public);
        assert_eq!(config.rules("other").update, Rule::Owner);
    }

    #[test]
    fn unknown_key_is_reported_at_its_line_with_a_suggestion() {
        let e = errors("version: 1\nhooks:\n  - name: a\n    on: pre_save\n    scrpt: \"1\"\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("hooks.yaml:5:5: unknown key `scrpt`"),
            "{}",
            e[0]
        );
        assert!(e[0].contains("did you mean `script`?"), "{}", e[0]);
    }

    #[test]
    fn unknown_event_suggests_the_nearest() {
        let e = errors(
            "version: 1\nhooks:\n  - name: a\n    on: [post_save, pre_sav]\n    script: \"1\"\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("hooks.yaml:4:21: unknown event `pre_sav`; did you mean `pre_save`?"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn duplicate_names_and_missing_variables_are_all_reported() {
        let text = "version: 1\nhooks:\n  - name: a\n    on: pre_save\n    script: \"1\"\n  - name: a\n    on: post_save\n    url: ${NOT_SET}/x\n";
        let e = errors(text);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("hooks.yaml:6:11: duplicate hook name `a` (first used on line 3)"),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with("hooks.yaml:8:10: `${NOT_SET}` is not set"),
            "{}",
            e[1]
        );
    }

    #[test]
    fn script_syntax_errors_point_into_the_file() {
        let text = "version: 1\nhooks:\n  - name: broken\n    on: pre_save\n    script: |\n      let a = 1;\n      let = 2;\n";
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("hooks.yaml:7:"), "{}", e[0]);
        assert!(
            e[0].contains("hook `broken`: script does not compile"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn binding_shape_errors() {
        let e = errors("version: 1\nhooks:\n  - name: a\n    on: pre_save\n");
        assert!(
            e[0].contains("needs exactly one of `url`, `script` or `script_file`"),
            "{e:?}"
        );
        let e = errors("version: 1\nhooks:\n  - name: a\n    on: pre_save\n    script: \"1\"\n    url: http://x\n");
        assert!(e[0].contains("more than one"), "{e:?}");
        let e = errors("version: 1\nhooks:\n  - name: a\n    on: pre_save\n    url: ftp://x/\n");
        assert!(e[0].contains("unsupported URL scheme `ftp`"), "{e:?}");
        let e = errors("version: 1\nhooks:\n  - name: a\n    on: pre_login\n    operations: [create]\n    script: \"1\"\n");
        assert!(e[0].contains("`operations` applies to"), "{e:?}");
        let e = errors("version: 2\n");
        assert!(
            e[0].starts_with("hooks.yaml:1:10: unsupported version 2"),
            "{e:?}"
        );
        let e = errors("version: 1\ncollections:\n  posts:\n    rules: { read: everyone }\n");
        assert!(e[0].contains("unknown rule `everyone`"), "{e:?}");
        let e = errors("version: 1\nhooks:\n  - name: a\n    on: pre_save\n    when: { status: { _eqq: 1 } }\n    script: \"1\"\n");
        assert!(e[0].contains("unknown operator `_eqq`"), "{e:?}");
        let e = errors("");
        assert!(e[0].contains("empty"), "{e:?}");
        let e = errors("version: 1\nhooks:\n  - name: a\n    on: 3\n    script: \"1\"\n");
        assert!(
            e[0].contains("expected an event name or a list of event names"),
            "{e:?}"
        );
    }
}
