//! What a binding runs: a script (inline or from a file, compiled here) or a URL (its
//! address, headers, signing secrets, durable delivery and retry policy).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::super::file::{HookBinding, OneOrMany, RetrySettings};
use super::super::yaml::{child_key, Position};
use super::super::{template, Action, ConfigError, RetryOn, RetryPolicy, Webhook};
use super::Checker;
use crate::manifest::script::{self, ScriptError};
use crate::model::secret::signing_key;
use crate::model::Secret;

impl Checker<'_> {
    /// Exactly one of `url`, `script`, `script_file`, checked and compiled.
    pub(super) fn action(
        &mut self,
        hook: &HookBinding,
        at: &str,
        config: &BTreeMap<String, Value>,
    ) -> Option<Action> {
        let kinds = [
            hook.url.is_some(),
            hook.script.is_some(),
            hook.script_file.is_some(),
        ];
        match kinds.iter().filter(|k| **k).count() {
            0 => {
                self.error(
                    at,
                    format!(
                        "hook `{}` needs exactly one of `url`, `script` or `script_file`",
                        hook.name
                    ),
                );
                return None;
            }
            1 => {}
            _ => {
                self.error(at, format!("hook `{}` has more than one of `url`, `script`, `script_file`; keep exactly one", hook.name));
                return None;
            }
        }
        if let Some(url) = &hook.url {
            return self.url_action(hook, url, at, config);
        }
        if let Some(source) = &hook.script {
            return match script::compile(source) {
                Ok(script) => Some(Action::Script { script, file: None }),
                Err(e) => {
                    let line = self.positions.text_start_line(&child_key(at, "script"))
                        + e.line.saturating_sub(1);
                    self.script_error(self.path.to_path_buf(), line, e, &hook.name);
                    None
                }
            };
        }
        let relative = hook.script_file.as_ref()?;
        let file = self.path.parent().unwrap_or(Path::new(".")).join(relative);
        let source = match std::fs::read_to_string(&file) {
            Ok(source) => source,
            Err(e) => {
                self.error(
                    &child_key(at, "script_file"),
                    format!("cannot read script file `{}`: {e}", file.display()),
                );
                return None;
            }
        };
        match script::compile(&source) {
            Ok(script) => Some(Action::Script {
                script,
                file: Some(file),
            }),
            Err(e) => {
                self.script_error(file, e.line, e, &hook.name);
                None
            }
        }
    }

    /// A webhook: URL, headers and secret with `${NAME}` expanded from `config`, then the
    /// environment.
    fn url_action(
        &mut self,
        hook: &HookBinding,
        url: &str,
        at: &str,
        config: &BTreeMap<String, Value>,
    ) -> Option<Action> {
        let env = self.env;
        let lookup = |name: &str| match config.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => env(name),
            Some(other) => Some(other.to_string()),
        };
        let here = child_key(at, "url");
        let url = template::expand(url, &lookup)
            .map_err(|message| self.error(&here, message))
            .ok()?;
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
            let valid_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid_name {
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
        let secrets = match &hook.secret {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => self.secret(s, &child_key(at, "secret"), &lookup),
            Some(OneOrMany::Many(list)) => list
                .iter()
                .enumerate()
                .flat_map(|(i, s)| {
                    self.secret(s, &format!("{}[{i}]", child_key(at, "secret")), &lookup)
                })
                .collect(),
        };
        let retry = self.retry_policy(hook.retry.as_ref(), &child_key(at, "retry"));
        Some(Action::Url(Arc::new(Webhook {
            url: parsed,
            headers,
            secrets,
            delivery: hook.delivery.unwrap_or_default(),
            retry,
        })))
    }

    /// One signing secret, expanded and checked to be usable (a `whsec_` one must be base64).
    fn secret(
        &mut self,
        text: &str,
        at: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<Secret> {
        match template::expand(text, lookup) {
            Ok(s) if s.is_empty() => self.error(at, "the secret is empty"),
            Ok(s) => match signing_key(&s) {
                Ok(_) => return vec![Secret::new(s)],
                Err(message) => self.error(at, message),
            },
            Err(message) => self.error(at, message),
        }
        Vec::new()
    }

    /// `retry`, with defaults for what it leaves out.
    fn retry_policy(&mut self, retry: Option<&RetrySettings>, at: &str) -> RetryPolicy {
        let mut policy = RetryPolicy::default();
        let Some(retry) = retry else {
            return policy;
        };
        if let Some(n) = retry.max_attempts {
            if (1..=100).contains(&n) {
                policy.max_attempts = n;
            } else {
                self.error(
                    &child_key(at, "max_attempts"),
                    format!("expected 1 to 100 attempts, got {n}"),
                );
            }
        }
        const DAY_MS: u64 = 24 * 3600 * 1000;
        for (key, value, slot) in [
            ("backoff_ms", retry.backoff_ms, &mut policy.backoff),
            (
                "max_backoff_ms",
                retry.max_backoff_ms,
                &mut policy.max_backoff,
            ),
        ] {
            match value {
                Some(ms @ 1..=DAY_MS) => *slot = Duration::from_millis(ms),
                Some(ms) => self.error(
                    &child_key(at, key),
                    format!("expected 1 to {DAY_MS} milliseconds, got {ms}"),
                ),
                None => {}
            }
        }
        if policy.max_backoff < policy.backoff {
            self.error(
                &child_key(at, "max_backoff_ms"),
                "`max_backoff_ms` is shorter than `backoff_ms`",
            );
        }
        if let Some(items) = &retry.retry_on {
            policy.retry_on.clear();
            for (i, item) in items.iter().enumerate() {
                match RetryOn::parse(item) {
                    Ok(r) => policy.retry_on.push(r),
                    Err(message) => {
                        self.error(&format!("{}[{i}]", child_key(at, "retry_on")), message)
                    }
                }
            }
        }
        policy
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
}
