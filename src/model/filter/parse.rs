//! Parsing a filter from JSON, with the exact place of every problem.

use serde_json::Value;

use super::{
    parse_field, parse_timestamp, suggest, Field, Filter, FilterError, MetaField, Op, Scalar,
    Target, MAX_DEPTH, MAX_FILTER_PATTERN_BYTES, MAX_FILTER_STRING_BYTES, MAX_NODES,
    MAX_OPERAND_BYTES, MAX_PATTERN_BYTES, MAX_TERMS, OPERATORS,
};
use crate::model::json::kind;

/// `scale` multiplies the limits on depth, comparisons, objects and string bytes (hooks' own
/// filters get 2; see `Filter::parse_from_hook`).
pub(super) fn parse(
    value: &Value,
    root: &str,
    target: Target,
    scale: usize,
) -> Result<Filter, FilterError> {
    if let Some(object) = value.as_object() {
        if let Some(at) = crate::model::json::nul_at(object) {
            return Err(err(
                &format!("{root}.{at}"),
                "contains the NUL character (\\u0000), which text cannot hold",
            ));
        }
    }
    Parser {
        terms: 0,
        nodes: 0,
        string_bytes: 0,
        pattern_bytes: 0,
        scale,
        target,
    }
    .expression(value, root, 0)
}

struct Parser {
    /// Comparisons seen so far, against [`MAX_TERMS`].
    terms: usize,
    /// Objects seen so far, against [`MAX_NODES`].
    nodes: usize,
    /// String operand bytes seen so far, against [`MAX_FILTER_STRING_BYTES`].
    string_bytes: usize,
    /// Pattern bytes seen so far, against [`MAX_FILTER_PATTERN_BYTES`].
    pattern_bytes: usize,
    /// What the limits are multiplied by.
    scale: usize,
    /// Which top-level names are columns.
    target: Target,
}

fn err(path: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        path: path.to_string(),
        message: message.into(),
    }
}

impl Parser {
    fn count(&mut self, path: &str, n: usize) -> Result<(), FilterError> {
        self.terms += n;
        if self.terms > MAX_TERMS * self.scale {
            return Err(err(
                path,
                format!(
                    "a filter may hold at most {} comparisons",
                    MAX_TERMS * self.scale
                ),
            ));
        }
        Ok(())
    }

    /// Bounds the strings of one comparison: each operand, each pattern, and all together.
    fn strings(&mut self, op: &Op, path: &str) -> Result<(), FilterError> {
        let (texts, max, what): (Vec<&str>, usize, &str) = match op {
            Op::Like(p) | Op::Ilike(p) => {
                if p.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1 {
                    return Err(err(
                        path,
                        "a LIKE pattern may not end with a lone `\\` (write `\\\\` for a backslash)",
                    ));
                }
                (vec![p.as_str()], MAX_PATTERN_BYTES, "a LIKE pattern")
            }
            Op::Eq(s) | Op::Neq(s) | Op::Gt(s) | Op::Gte(s) | Op::Lt(s) | Op::Lte(s) => (
                scalar_text(s).into_iter().collect(),
                MAX_OPERAND_BYTES,
                "a string operand",
            ),
            Op::In(items) | Op::Nin(items) | Op::Contains(items) => (
                items.iter().filter_map(scalar_text).collect(),
                MAX_OPERAND_BYTES,
                "a string operand",
            ),
            Op::IsNull(_) => return Ok(()),
        };
        for text in texts {
            if text.len() > max {
                return Err(err(
                    path,
                    format!("{what} may be at most {max} bytes long, got {}", text.len()),
                ));
            }
            self.string_bytes += text.len();
            if matches!(op, Op::Like(_) | Op::Ilike(_)) {
                self.pattern_bytes += text.len();
            }
        }
        if self.string_bytes > MAX_FILTER_STRING_BYTES * self.scale {
            return Err(err(
                path,
                format!(
                    "a filter's strings may hold at most {} bytes in all; here they reach {}",
                    MAX_FILTER_STRING_BYTES * self.scale,
                    self.string_bytes
                ),
            ));
        }
        if self.pattern_bytes > MAX_FILTER_PATTERN_BYTES * self.scale {
            return Err(err(
                path,
                format!(
                    "a filter's LIKE patterns may hold at most {} bytes in all; here they reach {}",
                    MAX_FILTER_PATTERN_BYTES * self.scale,
                    self.pattern_bytes
                ),
            ));
        }
        Ok(())
    }

    /// A boolean expression: an object whose keys are `_and`/`_or`/`_not` or field paths.
    fn expression(
        &mut self,
        value: &Value,
        path: &str,
        depth: usize,
    ) -> Result<Filter, FilterError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES * self.scale {
            return Err(err(
                path,
                format!(
                    "a filter may hold at most {} objects (`_and`/`_or` items, `_not`s, fields)",
                    MAX_NODES * self.scale
                ),
            ));
        }
        if depth > MAX_DEPTH * self.scale {
            return Err(err(
                path,
                format!(
                    "a filter may nest at most {} levels deep",
                    MAX_DEPTH * self.scale
                ),
            ));
        }
        let Value::Object(object) = value else {
            return Err(err(
                path,
                format!(
                    "expected an object like {{\"field\": {{\"_eq\": 1}}}}, got {}",
                    kind(value)
                ),
            ));
        };
        let mut all = Vec::with_capacity(object.len());
        for (key, value) in object {
            let here = format!("{path}.{key}");
            let filter = match key.as_str() {
                "_and" | "_or" => {
                    let Value::Array(items) = value else {
                        return Err(err(
                            &here,
                            format!("expected a list of filters, got {}", kind(value)),
                        ));
                    };
                    let items = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| self.expression(item, &format!("{here}.{i}"), depth + 1))
                        .collect::<Result<Vec<_>, _>>()?;
                    if key == "_and" {
                        Filter::And(items)
                    } else {
                        Filter::Or(items)
                    }
                }
                "_not" => Filter::Not(Box::new(self.expression(value, &here, depth + 1)?)),
                _ if key.starts_with('_') => {
                    return Err(err(&here, format!("unknown logical operator `{key}`; expected `_and`, `_or`, `_not` or a field name")));
                }
                _ => self.field(key, value, &here)?,
            };
            all.push(filter);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::And(all)
        })
    }

    /// The conditions on one field: an operator object, or a bare value meaning `_eq`.
    fn field(&mut self, key: &str, value: &Value, path: &str) -> Result<Filter, FilterError> {
        let field = parse_field(key, self.target).map_err(|message| err(path, message))?;
        let Value::Object(ops) = value else {
            self.count(path, 1)?;
            let op = check_meta_operand(&field, equality(value, path)?, path)?;
            self.strings(&op, path)?;
            return Ok(Filter::Compare(field, op));
        };
        if ops.is_empty() {
            return Err(err(
                path,
                format!("expected at least one operator ({})", OPERATORS.join(" ")),
            ));
        }
        let mut all = Vec::with_capacity(ops.len());
        for (name, operand) in ops {
            let here = format!("{path}.{name}");
            self.count(&here, 1)?;
            let op = match name.as_str() {
                "_eq" => equality(operand, &here)?,
                "_neq" => match operand {
                    Value::Null => Op::IsNull(false),
                    _ => Op::Neq(scalar(operand, &here)?),
                },
                "_gt" => Op::Gt(ordered(operand, &here)?),
                "_gte" => Op::Gte(ordered(operand, &here)?),
                "_lt" => Op::Lt(ordered(operand, &here)?),
                "_lte" => Op::Lte(ordered(operand, &here)?),
                "_in" | "_nin" => {
                    let items = scalar_list(operand, &here)?;
                    self.count(&here, items.len())?;
                    if name == "_in" {
                        Op::In(items)
                    } else {
                        Op::Nin(items)
                    }
                }
                "_like" | "_ilike" => {
                    let Value::String(pattern) = operand else {
                        return Err(err(
                            &here,
                            format!("expected a LIKE pattern string, got {}", kind(operand)),
                        ));
                    };
                    if name == "_like" {
                        Op::Like(pattern.clone())
                    } else {
                        Op::Ilike(pattern.clone())
                    }
                }
                "_is_null" => match operand {
                    Value::Bool(b) => Op::IsNull(*b),
                    _ => {
                        return Err(err(
                            &here,
                            format!("expected true or false, got {}", kind(operand)),
                        ))
                    }
                },
                "_contains" => {
                    let items = match operand {
                        Value::Array(_) => scalar_list(operand, &here)?,
                        _ => vec![scalar(operand, &here)?],
                    };
                    self.count(&here, items.len())?;
                    Op::Contains(items)
                }
                other => {
                    let hint = suggest(other, OPERATORS)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    return Err(err(
                        &here,
                        format!(
                            "unknown operator `{other}`{hint}; expected one of {}",
                            OPERATORS.join(" ")
                        ),
                    ));
                }
            };
            self.strings(&op, &here)?;
            let op = check_meta_operand(&field, op, &here)?;
            all.push(Filter::Compare(field.clone(), op));
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::And(all)
        })
    }
}

fn scalar_text(s: &Scalar) -> Option<&str> {
    match s {
        Scalar::Str(s) => Some(s),
        _ => None,
    }
}

/// `_eq` and the shorthand: a scalar, or null meaning "missing or null".
fn equality(value: &Value, path: &str) -> Result<Op, FilterError> {
    match value {
        Value::Null => Ok(Op::IsNull(true)),
        _ => Ok(Op::Eq(scalar(value, path)?)),
    }
}

fn scalar(value: &Value, path: &str) -> Result<Scalar, FilterError> {
    match value {
        Value::String(s) => Ok(Scalar::Str(s.clone())),
        Value::Bool(b) => Ok(Scalar::Bool(*b)),
        Value::Number(n) => Ok(match n.as_i64() {
            Some(i) => Scalar::Int(i),
            None => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        _ => Err(err(path, format!("expected a string, number or boolean, got {} (use `_contains` for arrays, `_is_null` for null)", kind(value)))),
    }
}

/// Operands of `_gt` and friends: only numbers and strings have an order.
fn ordered(value: &Value, path: &str) -> Result<Scalar, FilterError> {
    match scalar(value, path)? {
        Scalar::Bool(_) => Err(err(
            path,
            "expected a number or a string to compare with, got a boolean",
        )),
        s => Ok(s),
    }
}

fn scalar_list(value: &Value, path: &str) -> Result<Vec<Scalar>, FilterError> {
    let Value::Array(items) = value else {
        return Err(err(
            path,
            format!(
                "expected a list of strings, numbers or booleans, got {}",
                kind(value)
            ),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| scalar(item, &format!("{path}.{i}")))
        .collect()
}

/// Meta fields have fixed types; an operand of another type could never match, so say so.
/// Date-time operands become Unix microseconds here, the form timestamps are stored in.
fn check_meta_operand(field: &Field, mut op: Op, path: &str) -> Result<Op, FilterError> {
    let Field::Meta(meta) = field else {
        return Ok(op);
    };
    let operands: Vec<&mut Scalar> = match &mut op {
        Op::Eq(s) | Op::Neq(s) | Op::Gt(s) | Op::Gte(s) | Op::Lt(s) | Op::Lte(s) => vec![s],
        Op::In(items) | Op::Nin(items) => items.iter_mut().collect(),
        Op::Like(_) | Op::Ilike(_) => {
            return match meta.is_text() {
                true => Ok(op),
                false => Err(err(path, "`_like` works on strings; this field is not one")),
            }
        }
        Op::IsNull(_) => return Ok(op),
        Op::Contains(_) => {
            return Err(err(
                path,
                "`_contains` works on arrays in the document's data, not on meta fields",
            ))
        }
    };
    for operand in operands {
        let stored_form = match (meta, &*operand) {
            (MetaField::Version, Scalar::Int(_)) => None,
            (m, Scalar::Str(_)) if m.is_text() => None,
            (m, Scalar::Str(s)) if m.is_timestamp() => {
                Some(Scalar::Int(parse_timestamp(s).map_err(|m| err(path, m))?))
            }
            (MetaField::Version, _) => return Err(err(path, "expected an integer version")),
            (m, _) if m.is_timestamp() => {
                return Err(err(
                    path,
                    "expected an RFC 3339 date-time string such as \"2026-01-31T12:00:00Z\"",
                ))
            }
            _ => return Err(err(path, "expected a string")),
        };
        if let Some(stored_form) = stored_form {
            *operand = stored_form;
        }
    }
    Ok(op)
}
