//! Checks a parsed hooks file and compiles it into a [`Manifest`], collecting every error
//! with its position rather than stopping at the first. The file-level sections are checked
//! here; each hook binding in [`binding`].

mod action;
mod binding;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::file::{HooksFile, Rules};
use super::yaml::{self, child_key, Position, Positions};
use super::{
    template, Action, CollectionRules, ConfigError, ConfigErrors, Manifest, Rule, DEFAULT_TIMEOUT,
};
use crate::model::filter::suggest;
use crate::model::CollectionName;
use crate::model::Event;

/// Longest timeout a hook may ask for.
const MAX_TIMEOUT_MS: u64 = 600_000;

pub(super) fn validate(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Manifest, ConfigErrors> {
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

    fn check(&mut self, file: HooksFile) -> Manifest {
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
        let mut indexes = std::collections::BTreeSet::new();
        for (name, settings) in file.collections {
            let at = child_key("collections", &name);
            if let Err(message) = CollectionName::parse(&name) {
                self.key_error(&at, message);
            }
            for (i, field) in settings.indexes.iter().flatten().enumerate() {
                let field_at = format!("{}[{i}]", child_key(&at, "indexes"));
                match crate::model::filter::parse_field(field, crate::model::filter::Target::Documents) {
                    Ok(crate::model::filter::Field::Data(path)) => {
                        indexes.insert(path);
                    }
                    Ok(_) => self.error(&field_at, format!("`{field}` is a meta field, already indexed where it matters; list data fields such as `status` or `author.id`")),
                    Err(message) => self.error(&field_at, message),
                }
            }
            let mut rules = self.rules(settings.rules, &default_rules, &child_key(&at, "rules"));
            for (i, field) in settings.hidden_fields.iter().flatten().enumerate() {
                let field_at = format!("{}[{i}]", child_key(&at, "hidden_fields"));
                match crate::model::filter::parse_field(field, crate::model::filter::Target::Documents) {
                    Ok(crate::model::filter::Field::Data(path)) => rules.hidden_fields.push(path),
                    Ok(_) => self.error(&field_at, format!("`{field}` is a meta field, which every reader sees; list data fields such as `secret` or `author.email`")),
                    Err(message) => self.error(&field_at, message),
                }
            }
            collections.insert(name, rules);
        }
        let defaults = binding::BindingDefaults {
            config: &config,
            timeout: default_timeout,
            on_error: default_on_error,
        };
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
            if let Some(binding) = self.binding(hook, &at, &defaults) {
                bindings.push(binding);
            }
        }
        let mut chains: HashMap<Event, Vec<usize>> = HashMap::new();
        let mut durable = HashSet::new();
        for (i, binding) in bindings.iter().enumerate() {
            for event in &binding.events {
                chains.entry(*event).or_default().push(i);
                if binding.durable_webhook().is_some() {
                    durable.insert(*event);
                }
            }
        }
        let mut files = vec![self.path.to_path_buf()];
        files.extend(bindings.iter().filter_map(|b| match &b.action {
            Action::Script { file: Some(f), .. } => Some(f.clone()),
            _ => None,
        }));
        Manifest {
            source: self.path.to_path_buf(),
            files,
            config: std::sync::Arc::new(config),
            collections,
            default_rules,
            indexes: indexes.into_iter().collect(),
            bindings,
            chains,
            durable,
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
            hidden_fields: Vec::new(),
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
            Value::Object(_) => self.filter(value, at).map(Rule::Filter),
            _ => {
                self.error(
                    at,
                    "expected public, authenticated, owner, admin or a filter object",
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
