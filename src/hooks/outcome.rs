//! The one result contract (docs/hooks.md, "Events and payloads"), for scripts and URLs alike: what a hook's answer
//! means. Nothing or `{}` goes on; `{block: true, reason}` stops; `data`, `patch`, `filter`,
//! `documents` and `claims` change what the event allows them to change. Anything else is a
//! mistake in the hook and is reported as its failure, never guessed at.

use serde_json::{Map, Value};

use super::HookFailure;

use crate::model::Event;

/// What one hook decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Go on unchanged.
    Continue,
    /// Stop the chain and the operation; the client is told `reason`.
    Block(String),
    /// Replace the data (`pre_save`, `pre_register`, `pre_user_update`).
    Data(Map<String, Value>),
    /// Merge-patch (RFC 7386) the data.
    Patch(Value),
    /// Replace the read filter (`pre_read`).
    Filter(Value),
    /// Replace the documents a read returns (`post_read`).
    Documents(Vec<Value>),
    /// Add claims to the access token (`pre_login`).
    Claims(Map<String, Value>),
}

/// The result keys `event` accepts besides `block` and `reason`.
pub fn change_keys(event: Event) -> &'static [&'static str] {
    match event {
        Event::PreSave | Event::PreRegister | Event::PreUserUpdate => &["data", "patch"],
        Event::PreRead => &["filter"],
        Event::PostRead => &["documents"],
        Event::PreLogin => &["claims"],
        _ => &[],
    }
}

/// Reads a hook's answer for `event`. `Err` says what is wrong with it: an answer the
/// contract does not allow.
pub fn parse(event: Event, result: Value) -> Result<Outcome, HookFailure> {
    read(event, result).map_err(HookFailure::Unusable)
}

fn read(event: Event, result: Value) -> Result<Outcome, String> {
    let mut map = match result {
        Value::Null => return Ok(Outcome::Continue),
        Value::Object(map) => map,
        other => {
            return Err(format!(
                "a hook returns nothing or an object such as {{\"block\": true, \"reason\": \"…\"}}, not {}",
                crate::model::json::kind(&other)
            ))
        }
    };
    let allowed = change_keys(event);
    if let Some(key) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "block" | "reason") && !allowed.contains(&k.as_str()))
    {
        let expected = if allowed.is_empty() {
            "only `block` and `reason`".to_string()
        } else {
            format!("`block`, `reason`, `{}`", allowed.join("`, `"))
        };
        return Err(format!(
            "unexpected `{key}` in the result of a {event} hook (it may return {expected})"
        ));
    }
    match map.remove("block") {
        None | Some(Value::Bool(false)) | Some(Value::Null) => {}
        Some(Value::Bool(true)) => {
            let reason = match map.remove("reason") {
                Some(Value::String(reason)) if !reason.is_empty() => reason,
                None | Some(Value::Null) => "blocked by a hook".to_string(),
                Some(_) => return Err("`reason` must be a string".into()),
            };
            return Ok(Outcome::Block(reason));
        }
        Some(_) => return Err("`block` must be true or false".into()),
    }
    map.remove("reason");
    if map.len() > 1 {
        return Err(format!(
            "a hook returns one change at a time, not {}",
            map.keys().cloned().collect::<Vec<_>>().join(" and ")
        ));
    }
    let Some((key, value)) = map.into_iter().next() else {
        return Ok(Outcome::Continue);
    };
    match (key.as_str(), value) {
        ("data", Value::Object(data)) => Ok(Outcome::Data(data)),
        ("patch", patch @ Value::Object(_)) => Ok(Outcome::Patch(patch)),
        ("filter", filter @ (Value::Object(_) | Value::Null)) => Ok(Outcome::Filter(filter)),
        ("documents", Value::Array(documents)) => Ok(Outcome::Documents(documents)),
        ("claims", Value::Object(claims)) => Ok(Outcome::Claims(claims)),
        ("documents", other) => Err(format!(
            "`documents` must be an array, not {}",
            crate::model::json::kind(&other)
        )),
        (key, other) => Err(format!(
            "`{key}` must be an object, not {}",
            crate::model::json::kind(&other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_contract() {
        let save = Event::PreSave;
        assert_eq!(read(save, Value::Null), Ok(Outcome::Continue));
        assert_eq!(read(save, json!({})), Ok(Outcome::Continue));
        assert_eq!(
            read(save, json!({"block": true, "reason": "no"})),
            Ok(Outcome::Block("no".into()))
        );
        assert_eq!(
            read(save, json!({"patch": {"a": 1}})),
            Ok(Outcome::Patch(json!({"a": 1})))
        );
        assert!(matches!(
            read(save, json!({"data": {"a": 1}})),
            Ok(Outcome::Data(_))
        ));
        assert!(read(save, json!({"data": 3}))
            .unwrap_err()
            .contains("object"));
        assert!(read(save, json!({"pacth": {}}))
            .unwrap_err()
            .contains("`pacth`"));
        assert!(read(Event::PreDelete, json!({"patch": {}}))
            .unwrap_err()
            .contains("only `block`"));
        assert!(read(save, json!(5)).unwrap_err().contains("not a number"));
        assert_eq!(
            read(Event::PreLogin, json!({"claims": {"plan": "pro"}})),
            Ok(Outcome::Claims(
                json!({"plan": "pro"}).as_object().unwrap().clone()
            ))
        );
    }
}
