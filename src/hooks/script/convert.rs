//! JSON ↔ Rhai values. Integers stay integers, floats floats, `null` is `()`; arrays and
//! objects map to arrays and maps, so a payload goes into a script and a result comes out
//! without losing a type.

use rhai::{Array, Dynamic, Map as RhaiMap};
use serde_json::{Map, Number, Value};

use crate::model::json::MAX_JSON_DEPTH;

/// A JSON value as a Rhai value.
pub fn from_json(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(from_json).collect()),
        Value::Object(map) => {
            let mut out = RhaiMap::new();
            for (k, v) in map {
                out.insert(k.as_str().into(), from_json(v));
            }
            Dynamic::from_map(out)
        }
    }
}

/// A Rhai value as JSON; `Err` names what has no JSON form (a function pointer, NaN…) or
/// nests deeper than [`MAX_JSON_DEPTH`] + 8 levels (room for a payload's envelope around
/// data). Bounded so a script that builds a deep value in a loop fails, instead of
/// exhausting the stack of the thread that converts it.
pub fn to_json(value: Dynamic) -> Result<Value, String> {
    to_json_at(value, 0)
}

fn to_json_at(value: Dynamic, depth: usize) -> Result<Value, String> {
    if depth > MAX_JSON_DEPTH + 8 && (value.is_array() || value.is_map()) {
        return Err(format!(
            "nests deeper than {} levels of maps and arrays",
            MAX_JSON_DEPTH + 8
        ));
    }
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(f) = value.as_float() {
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} has no JSON form"));
    }
    if value.is_string() || value.is_char() {
        return Ok(Value::String(value.to_string()));
    }
    if value.is_array() {
        let items = value.cast::<Array>();
        return items
            .into_iter()
            .map(|item| to_json_at(item, depth + 1))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if value.is_map() {
        let map = value.cast::<RhaiMap>();
        let mut out = Map::new();
        for (k, v) in map {
            out.insert(k.to_string(), to_json_at(v, depth + 1)?);
        }
        return Ok(Value::Object(out));
    }
    Err(format!("a {} has no JSON form", value.type_name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_types() {
        let value = json!({"i": 3, "f": 2.5, "s": "x", "b": true, "n": null, "a": [1, "two", [3.0]], "o": {"k": {}}});
        assert_eq!(to_json(from_json(&value)).unwrap(), value);
        assert_eq!(to_json(from_json(&json!(7))).unwrap(), json!(7));
        assert!(to_json(from_json(&json!(7))).unwrap().is_i64());
    }

    #[test]
    fn values_built_too_deep_are_refused_not_recursed_into() {
        let mut dynamic = Dynamic::from_int(1);
        for _ in 0..200 {
            dynamic = Dynamic::from_array(vec![dynamic]);
        }
        assert!(to_json(dynamic).unwrap_err().contains("deeper than"));
    }
}
