//! Checking one hook binding: its name, events, narrowing keys and its action (a URL with
//! headers and secret, an inline script or a script file), compiled into a [`Binding`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::super::file::{HookBinding, OnError, OneOrMany, Ordering};
use super::super::yaml::child_key;
use super::super::{Binding, CollectionPattern, Delivery};
use super::Checker;
use crate::model::filter::{parse_field, suggest, Field, Filter, Target};
use crate::model::Event;

/// What a binding falls back to when it does not say.
pub(super) struct BindingDefaults<'a> {
    pub config: &'a BTreeMap<String, Value>,
    pub timeout: Duration,
    pub on_error: OnError,
}

/// What a failure of a binding without its own `on_error` does. Read hooks guard what a
/// caller may see (`pre_read` narrows, `post_read` redacts), and a client can make a script
/// fail (issue 15): they fail closed whatever `defaults.on_error` says, unless the binding
/// itself says `on_error: allow`.
fn default_on_error(events: &[Event], default: OnError) -> OnError {
    if events
        .iter()
        .any(|e| matches!(e, Event::PreRead | Event::PostRead))
    {
        OnError::Block
    } else {
        default
    }
}

impl Checker<'_> {
    /// Checks `hook` (at path `at`); `None` if it had any error (already recorded).
    pub(super) fn binding(
        &mut self,
        hook: HookBinding,
        at: &str,
        defaults: &BindingDefaults,
    ) -> Option<Binding> {
        let errors_before = self.errors.len();
        self.check_name(&hook.name, &child_key(at, "name"));
        let events = self.events(&hook.on, &child_key(at, "on"));
        let collections = hook.collections.clone().map(|patterns| {
            self.collection_patterns(patterns, &events, &child_key(at, "collections"))
        });
        if let Some(ops) = &hook.operations {
            let here = child_key(at, "operations");
            if !events
                .iter()
                .all(|e| matches!(e, Event::PreSave | Event::PostSave))
            {
                self.key_error(
                    &here,
                    "`operations` applies to `pre_save` and `post_save` only",
                );
            }
            if ops.is_empty() {
                self.error(&here, "expected at least one of create, update");
            }
        }
        if hook.when.is_some()
            && events
                .iter()
                .any(|e| matches!(e, Event::PreRead | Event::PostRead))
        {
            self.key_error(
                &child_key(at, "when"),
                "`when` tests a document, and read events (pre_read, post_read) have none yet; narrow them with `collections`, or test inside the script",
            );
        }
        let when = hook
            .when
            .as_ref()
            .and_then(|value| self.filter(value, &child_key(at, "when")));
        let changed = hook
            .changed
            .as_ref()
            .map(|fields| self.changed_fields(fields, &events, &child_key(at, "changed")));
        let timeout = self
            .timeout(hook.timeout_ms, &child_key(at, "timeout_ms"))
            .unwrap_or(defaults.timeout);
        self.check_keys_fit_the_kind(&hook, &events, at);
        let action = self.action(&hook, at, defaults.config);
        if self.errors.len() > errors_before || events.is_empty() {
            return None;
        }
        let on_error = hook
            .on_error
            .unwrap_or_else(|| default_on_error(&events, defaults.on_error));
        Some(Binding {
            name: hook.name,
            events,
            collections,
            operations: hook.operations,
            when,
            changed,
            action: action?,
            timeout,
            on_error,
            allow_hosts: hook.allow_hosts.unwrap_or_default().into(),
            ordering: hook.ordering.unwrap_or(Ordering::Unordered),
            log_payloads: hook.log_payloads.unwrap_or(false),
        })
    }

    fn check_name(&mut self, name: &str, at: &str) {
        let valid = name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            self.error(at, format!("invalid hook name `{name}`: use 1 to 64 letters, digits, `-` and `_`, starting with a letter or digit"));
        }
    }

    fn events(&mut self, on: &OneOrMany<String>, at: &str) -> Vec<Event> {
        let names: Vec<(String, String)> = match on {
            OneOrMany::One(name) => vec![(name.clone(), at.to_string())],
            OneOrMany::Many(names) => names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), format!("{at}[{i}]")))
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

    fn collection_patterns(
        &mut self,
        patterns: Vec<String>,
        events: &[Event],
        at: &str,
    ) -> Vec<CollectionPattern> {
        if !events.is_empty() && !events.iter().any(|e| e.is_document_event()) {
            self.key_error(
                at,
                "`collections` narrows document events only; this hook has none",
            );
        }
        let mut valid_patterns = Vec::new();
        for (i, pattern) in patterns.into_iter().enumerate() {
            let valid = !pattern.is_empty()
                && pattern.len() <= 63
                && pattern
                    .chars()
                    .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '*' | '?'));
            if valid {
                valid_patterns.push(CollectionPattern(pattern));
            } else {
                self.error(&format!("{at}[{i}]"), format!("invalid collection pattern `{pattern}`: use a-z, 0-9, `_`, and `*`/`?` as wildcards"));
            }
        }
        valid_patterns
    }

    /// A filter (for `when` and rules), its errors reported at the place inside it.
    pub(super) fn filter(&mut self, value: &Value, at: &str) -> Option<Filter> {
        match Filter::parse(value, at) {
            Ok(filter) => Some(filter),
            Err(e) => {
                self.error(&e.path, format!("invalid filter: {e}"));
                None
            }
        }
    }

    /// The data paths of `changed`, parsed once here rather than at every event.
    fn changed_fields(
        &mut self,
        fields: &[String],
        events: &[Event],
        at: &str,
    ) -> Vec<Vec<String>> {
        if !events.is_empty() && !events.iter().any(|e| e.can_be_update()) {
            self.key_error(at, "`changed` applies to update events (pre_save, post_save, pre_user_update, post_user_update)");
        }
        let mut paths = Vec::new();
        for (i, field) in fields.iter().enumerate() {
            match parse_field(field, Target::Documents) {
                Ok(Field::Data(path)) => paths.push(path),
                Ok(Field::Meta(_)) => self.error(
                    &format!("{at}[{i}]"),
                    format!("`{field}` is not a data field; `changed` compares fields of the data"),
                ),
                Err(message) => self.error(&format!("{at}[{i}]"), message),
            }
        }
        paths
    }

    /// Keys that belong to one kind of binding only.
    fn check_keys_fit_the_kind(&mut self, hook: &HookBinding, events: &[Event], at: &str) {
        let url_only = [
            ("headers", hook.headers.is_some()),
            ("secret", hook.secret.is_some()),
            ("ordering", hook.ordering.is_some()),
            ("delivery", hook.delivery.is_some()),
            ("retry", hook.retry.is_some()),
        ];
        if hook.url.is_none() {
            for (key, present) in url_only {
                if present {
                    self.key_error(
                        &child_key(at, key),
                        format!("`{key}` applies to `url` hooks only"),
                    );
                }
            }
        }
        for (i, host) in hook.allow_hosts.iter().flatten().enumerate() {
            let plain = host.strip_prefix("*.").unwrap_or(host);
            let valid = !plain.is_empty()
                && plain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            if !valid {
                self.error(
                    &format!("{}[{i}]", child_key(at, "allow_hosts")),
                    format!("`{host}` is not a host: write `example.com`, `example.com:8080` or `*.example.com` (no scheme, no path)"),
                );
            }
        }
        if hook.url.is_some() && hook.allow_hosts.is_some() {
            self.key_error(
                &child_key(at, "allow_hosts"),
                "`allow_hosts` applies to script hooks only",
            );
        }
        let after_only = [
            ("ordering", hook.ordering.is_some()),
            ("delivery", hook.delivery.is_some()),
            ("retry", hook.retry.is_some()),
        ];
        if hook.url.is_some() && events.iter().any(|e| !e.is_after_write()) {
            for (key, present) in after_only {
                if present {
                    self.key_error(
                        &child_key(at, key),
                        format!("`{key}` applies to after-hooks of writes (post_* but post_read) only: before-hooks are awaited, not delivered"),
                    );
                }
            }
        }
        if hook.delivery == Some(Delivery::Background) {
            for (key, present) in [
                ("retry", hook.retry.is_some()),
                ("ordering", hook.ordering == Some(Ordering::PerDocument)),
            ] {
                if present {
                    self.key_error(
                        &child_key(at, key),
                        format!("`{key}` applies to `delivery: outbox` (durable) hooks only; `background` sends once"),
                    );
                }
            }
        }
    }
}
