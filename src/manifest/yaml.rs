//! YAML to JSON, remembering where every key and value stood.
//!
//! hooks.yaml is read into a `serde_json::Value` (so the typed model is plain serde) plus a map
//! from each node's path (`hooks[2].on`) to its line and column. Every later error, from serde
//! or from our own checks, names a path and is reported at that place in the file.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A line and column in the file, both starting at 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// Where each node of the document stood.
#[derive(Debug, Default)]
pub struct Positions {
    values: HashMap<String, Position>,
    keys: HashMap<String, Position>,
    block_scalars: HashMap<String, bool>,
}

impl Positions {
    /// The position of the value at `path`, or of its nearest ancestor that has one.
    pub fn value(&self, path: &str) -> Position {
        let mut path = path.to_string();
        loop {
            if let Some(p) = self.values.get(&path) {
                return *p;
            }
            match parent(&path) {
                Some(up) => path = up,
                None => {
                    return self
                        .values
                        .get("")
                        .copied()
                        .unwrap_or(Position { line: 1, column: 1 })
                }
            }
        }
    }

    /// The position of the key that introduced `path` (for "unknown key" errors), else the value's.
    pub fn key(&self, path: &str) -> Position {
        self.keys
            .get(path)
            .copied()
            .unwrap_or_else(|| self.value(path))
    }

    /// The line on which the text of the string at `path` starts: block scalars (`|`, `>`)
    /// start on the line after their key, blank lines included.
    pub fn text_start_line(&self, path: &str) -> usize {
        if self.block_scalars.contains_key(path) {
            if let Some(key) = self.keys.get(path) {
                return key.line + 1;
            }
        }
        self.value(path).line
    }
}

/// The parent of a path: `a.b[2]` → `a.b`, `a.b` → `a`, `a` → ``.
fn parent(path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(path[..cut].to_string())
}

/// Joins a child key onto a path.
pub fn child_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Joins a child index onto a path.
pub fn child_index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// A YAML syntax error, or a YAML feature hooks.yaml does not use.
#[derive(Debug, Clone)]
pub struct YamlError {
    /// Where.
    pub position: Position,
    /// What.
    pub message: String,
}

/// Parses YAML text into JSON and positions.
pub fn parse(text: &str) -> Result<(Value, Positions), YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| YamlError {
        position: position(e.marker()),
        message: e.info().to_string(),
    })?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok((builder.root.unwrap_or(Value::Null), builder.positions))
}

fn position(marker: &Marker) -> Position {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Position {
        line: marker.line(),
        column: marker.col() + 1,
    }
}

enum Frame {
    Seq {
        path: String,
        items: Vec<Value>,
        anchor: usize,
    },
    Map {
        path: String,
        map: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    anchors: HashMap<usize, Value>,
    positions: Positions,
    error: Option<YamlError>,
}

impl Builder {
    fn fail(&mut self, marker: Marker, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                position: position(&marker),
                message: message.into(),
            });
        }
    }

    /// The path the next value will have.
    fn next_path(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Seq { path, items, .. }) => child_index(path, items.len()),
            Some(Frame::Map { path, key, .. }) => child_key(path, key.as_deref().unwrap_or("")),
        }
    }

    /// Whether the next scalar is a mapping key.
    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn finish_value(&mut self, value: Value, anchor: usize, marker: Marker) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, path, .. }) => {
                let key = key.take().unwrap_or_default();
                if map.contains_key(&key) {
                    let message = format!(
                        "duplicate key `{key}` in `{}`",
                        if path.is_empty() {
                            "the top level"
                        } else {
                            path
                        }
                    );
                    self.fail(marker, message);
                    return;
                }
                map.insert(key, value);
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                if let Some(Frame::Map {
                    key: key @ None,
                    path,
                    map,
                    ..
                }) = self.stack.last_mut()
                {
                    if map.is_empty() {
                        // A block mapping "starts" where its first key is written.
                        self.positions
                            .values
                            .insert(path.clone(), position(&marker));
                    }
                    self.positions
                        .keys
                        .insert(child_key(path, &text), position(&marker));
                    *key = Some(text);
                    return;
                }
                let path = self.next_path();
                self.positions
                    .values
                    .insert(path.clone(), position(&marker));
                if matches!(style, TScalarStyle::Literal | TScalarStyle::Folded) {
                    self.positions.block_scalars.insert(path, true);
                }
                let value = if style == TScalarStyle::Plain {
                    resolve_plain(&text)
                } else {
                    Value::String(text)
                };
                self.finish_value(value, anchor, marker);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.expecting_key() {
                    self.fail(marker, "keys must be plain strings, not lists or maps");
                    return;
                }
                let path = self.next_path();
                self.positions
                    .values
                    .insert(path.clone(), position(&marker));
                let frame = if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq {
                        path,
                        items: Vec::new(),
                        anchor,
                    }
                } else {
                    Frame::Map {
                        path,
                        map: Map::new(),
                        key: None,
                        anchor,
                    }
                };
                self.stack.push(frame);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    None => return,
                };
                self.finish_value(value, anchor, marker);
            }
            Event::Alias(anchor) => {
                if self.expecting_key() {
                    self.fail(marker, "keys must be plain strings, not aliases");
                    return;
                }
                let path = self.next_path();
                self.positions.values.insert(path, position(&marker));
                match self.anchors.get(&anchor).cloned() {
                    Some(value) => self.finish_value(value, 0, marker),
                    None => self.fail(marker, "alias to an unknown anchor"),
                }
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd
            | Event::Nothing => {}
        }
    }
}

/// YAML 1.2 core schema resolution of an unquoted scalar.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::Number(i.into());
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Number(i.into());
        }
    }
    let looks_numeric = text
        .starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
        && text.chars().any(|c| c.is_ascii_digit());
    if looks_numeric {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_and_remembers_positions() {
        let text = "version: 1\nhooks:\n  - name: a\n    on: [pre_save, post_save]\n    script: |\n      let x = 1;\n";
        let (value, positions) = parse(text).unwrap();
        assert_eq!(
            value,
            json!({"version": 1, "hooks": [{"name": "a", "on": ["pre_save", "post_save"], "script": "let x = 1;\n"}]})
        );
        assert_eq!(
            positions.value("hooks[0].name"),
            Position {
                line: 3,
                column: 11
            }
        );
        assert_eq!(
            positions.key("hooks[0].on"),
            Position { line: 4, column: 5 }
        );
        assert_eq!(
            positions.value("hooks[0].on[1]"),
            Position {
                line: 4,
                column: 20
            }
        );
        assert_eq!(positions.text_start_line("hooks[0].script"), 6);
        assert_eq!(
            positions.value("hooks[0].missing"),
            Position { line: 3, column: 5 }
        );
    }

    #[test]
    fn scalars_resolve_like_yaml_1_2() {
        let (value, _) = parse("a: yes\nb: 1.5\nc: '1'\nd: ~\ne: -3\n").unwrap();
        assert_eq!(
            value,
            json!({"a": "yes", "b": 1.5, "c": "1", "d": null, "e": -3})
        );
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_have_positions() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(e.message.contains("duplicate key `a`"), "{}", e.message);
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.position.line >= 1);
    }

    #[test]
    fn aliases_copy_the_anchored_value() {
        let (value, _) = parse("x: &h {a: 1}\ny: *h\n").unwrap();
        assert_eq!(value, json!({"x": {"a": 1}, "y": {"a": 1}}));
    }
}
