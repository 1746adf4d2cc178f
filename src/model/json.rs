//! JSON as hookql accepts it: how deep it may nest (checked at the door, tolerated on the way
//! out), which characters its text may hold, and the names of its types in error messages.
//!
//! Why a depth limit: JSON is read back with serde_json, which refuses more than 128 levels, and
//! walked recursively by scripts, filters and the GraphQL engine. Before the limit, one
//! `createDocument` with 200 levels stored a row that made every later read of its
//! collection fail (issue 15). Every path that accepts JSON (documents, profiles, hook
//! answers) refuses more than [`MAX_JSON_DEPTH`] levels, and rows stored before the limit
//! existed are still read: [`parse_stored`] hands back what lies below the limit as its JSON
//! text, a string, instead of failing.

use serde_json::Value;

/// Most levels of objects and arrays in one document's data or a user's profile (the data
/// object itself is level 1). Firestore allows 20, MongoDB 100; 32 leaves room for any
/// real document while every reader stays far from its own limits.
pub const MAX_JSON_DEPTH: usize = 32;

/// Levels below which stored JSON is handed back as text when read (see [`parse_stored`]):
/// the same as the limit, so an old row reads back as any new one could be written, and a
/// hook that returns it (`#{documents: documents}`) stays within its own limits.
const STORED_DEPTH: usize = MAX_JSON_DEPTH;

/// The first place where `value` nests deeper than `max` levels, as a dotted path (`a.b[3]`),
/// or `None`. Iterative, so no input can exhaust the stack; the paths are only spelt out for
/// a value that is refused, so a write that passes pays one walk and no allocation per node.
pub fn too_deep_at(value: &Value, max: usize) -> Option<String> {
    if !deeper_than(value, max) {
        return None;
    }
    let mut stack: Vec<(&Value, usize, String)> = vec![(value, 1, String::new())];
    while let Some((value, depth, path)) = stack.pop() {
        let children: Vec<(&Value, String)> = match value {
            Value::Object(fields) => fields.iter().map(|(k, v)| (v, join(&path, k))).collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (v, format!("{path}[{i}]")))
                .collect(),
            _ => continue,
        };
        for (child, here) in children {
            if matches!(child, Value::Object(_) | Value::Array(_)) {
                if depth + 1 > max {
                    return Some(here);
                }
                stack.push((child, depth + 1, here));
            }
        }
    }
    None
}

/// Whether `value` has objects or arrays nested more than `max` levels (itself level 1).
fn deeper_than(value: &Value, max: usize) -> bool {
    let mut stack = vec![(value, 1usize)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(fields) => Box::new(fields.values()),
            Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        for child in children.filter(|c| c.is_object() || c.is_array()) {
            if depth + 1 > max {
                return true;
            }
            stack.push((child, depth + 1));
        }
    }
    false
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The error for JSON nested too deep at `at`.
pub fn too_deep_message(at: &str) -> String {
    let at: String = at.chars().take(120).collect();
    format!("nests deeper than {MAX_JSON_DEPTH} levels of objects and arrays (at `{at}`…); flatten the structure")
}

/// Stored JSON text as a value. Rows written before the depth limit may nest deeper than
/// serde_json reads; their parts below [`STORED_DEPTH`] levels come back as JSON text
/// (a string), so the row can be read, shown, fixed or deleted.
pub fn parse_stored(text: &str) -> serde_json::Result<Value> {
    if depth_of_text(text) <= STORED_DEPTH {
        return serde_json::from_str(text);
    }
    serde_json::from_str(&flatten_below(text, STORED_DEPTH))
}

/// The bytes of a JSON text that shape it (`{ } [ ]`), with their index: the contents of
/// strings are skipped, escapes included.
fn structure(text: &str) -> impl Iterator<Item = (usize, u8)> + '_ {
    let (mut in_string, mut escaped) = (false, false);
    text.bytes().enumerate().filter(move |&(_, b)| {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            return false;
        }
        in_string = b == b'"';
        matches!(b, b'{' | b'[' | b'}' | b']')
    })
}

/// The deepest nesting of a JSON text, by one scan.
fn depth_of_text(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0);
    for (_, b) in structure(text) {
        if matches!(b, b'{' | b'[') {
            depth += 1;
            deepest = deepest.max(depth);
        } else {
            depth = depth.saturating_sub(1);
        }
    }
    deepest
}

/// `text` with every object or array that opens at level `max + 1` replaced by a JSON string
/// of its text. One pass; the input is a valid JSON text (it was stored as one).
fn flatten_below(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let (mut depth, mut copied, mut opened_at) = (0usize, 0usize, None);
    for (i, b) in structure(text) {
        if matches!(b, b'{' | b'[') {
            depth += 1;
            if depth == max + 1 {
                opened_at = Some(i);
            }
            continue;
        }
        if depth == max + 1 {
            if let Some(start) = opened_at.take() {
                out.push_str(&text[copied..start]);
                out.push_str(&Value::String(text[start..=i].to_string()).to_string());
                copied = i + 1;
            }
        }
        depth = depth.saturating_sub(1);
    }
    out.push_str(&text[copied..]);
    out
}

/// A short name for a JSON value's type, for error messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The path of the first key or string in `object` holding a NUL character: PostgreSQL
/// cannot store one in text or jsonb, so it is refused on both databases alike.
pub fn nul_at(object: &serde_json::Map<String, Value>) -> Option<String> {
    fn holds_nul(value: &Value) -> bool {
        match value {
            Value::String(text) => text.contains('\0'),
            Value::Array(items) => items.iter().any(holds_nul),
            Value::Object(fields) => fields
                .iter()
                .any(|(key, field)| key.contains('\0') || holds_nul(field)),
            _ => false,
        }
    }
    fn first(fields: &serde_json::Map<String, Value>, path: &str) -> Option<String> {
        let (key, field) = fields
            .iter()
            .find(|(key, field)| key.contains('\0') || holds_nul(field))?;
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match field {
            _ if key.contains('\0') => Some(here),
            Value::Object(inner) => first(inner, &here),
            Value::Array(items) => {
                let i = items.iter().position(holds_nul)?;
                match &items[i] {
                    Value::Object(inner) => first(inner, &format!("{here}[{i}]")),
                    _ => Some(format!("{here}[{i}]")),
                }
            }
            _ => Some(here),
        }
    }
    first(object, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> String {
        format!("{}1{}", "{\"a\":[".repeat(levels), "]}".repeat(levels))
    }

    #[test]
    fn depth_is_found_with_its_place() {
        assert_eq!(too_deep_at(&json!({"a": {"b": [1]}}), 3), None);
        assert_eq!(
            too_deep_at(&json!({"a": {"b": [1]}}), 2).as_deref(),
            Some("a.b")
        );
        assert_eq!(
            too_deep_at(&json!({"x": 1, "a": [{"b": {}}]}), 2).as_deref(),
            Some("a[0]")
        );
    }

    #[test]
    fn stored_rows_deeper_than_serde_reads_come_back_with_text_below_the_limit() {
        let text = format!("{{\"s\": \"[{{\\\"\", \"deep\": {}}}", nested(150));
        assert!(serde_json::from_str::<Value>(&text).is_err());
        let value = parse_stored(&text).unwrap();
        assert_eq!(value["s"], "[{\"");
        let mut inner = &value["deep"];
        for _ in 0..15 {
            inner = &inner["a"][0];
        }
        let rest = inner["a"].as_str().expect("text below the limit");
        assert!(rest.starts_with("[{\"a\":["), "{rest}");
        assert!(serde_json::from_str::<Value>(rest).is_err(), "still deep");
    }

    #[test]
    fn shallow_rows_read_as_they_are() {
        let text = nested(15);
        assert_eq!(
            parse_stored(&text).unwrap(),
            serde_json::from_str::<Value>(&text).unwrap()
        );
    }
}
