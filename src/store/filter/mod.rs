//! The filter language (DESIGN §3): a JSON boolean expression, parsed into a typed tree.
//!
//! One parser serves queries, access rules, hook `when` clauses and (later) subscriptions, so
//! a filter means the same thing everywhere. Parsing is strict: an unknown operator, a field
//! path with odd characters or an operand of the wrong shape is an error naming the exact
//! place (`filter.status._eq`), never silently ignored. [`sql`] turns the tree into SQL.

pub mod sql;

use serde_json::Value;

/// Longest nesting of `_and`/`_or`/`_not` and field objects a filter may have.
pub const MAX_DEPTH: usize = 16;
/// Most comparisons (and `_in` items) one filter may hold; keeps SQL and bind lists small.
pub const MAX_TERMS: usize = 256;
/// Most dot-separated segments in one field path.
pub const MAX_PATH_SEGMENTS: usize = 8;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// Every sub-filter holds (an empty list always holds).
    And(Vec<Filter>),
    /// At least one sub-filter holds (an empty list never holds).
    Or(Vec<Filter>),
    /// The sub-filter does not hold. Filters are two-valued: `_not` is the exact complement.
    Not(Box<Filter>),
    /// One comparison on one field.
    Compare(Field, Op),
}

/// What a comparison looks at.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    /// A column every document has.
    Meta(MetaField),
    /// A path into the document's data object, one key per segment.
    Data(Vec<String>),
}

/// The document columns a filter or sort may name at the top level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaField {
    /// `id`: the document id (a string).
    Id,
    /// `ownerId`: the creating user's id (a string or null).
    OwnerId,
    /// `createdAt`: compared with RFC 3339 strings.
    CreatedAt,
    /// `updatedAt`: compared with RFC 3339 strings.
    UpdatedAt,
    /// `version`: an integer.
    Version,
}

impl MetaField {
    /// The meta field a top-level name refers to; these names are reserved in filters and sorts.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "id" => Self::Id,
            "ownerId" => Self::OwnerId,
            "createdAt" => Self::CreatedAt,
            "updatedAt" => Self::UpdatedAt,
            "version" => Self::Version,
            _ => return None,
        })
    }

    /// The column holding this field.
    pub fn column(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::OwnerId => "owner_id",
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Version => "version",
        }
    }
}

/// A JSON scalar operand. Null is not an operand: `_is_null` says that.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// A JSON string.
    Str(String),
    /// A JSON number without fraction that fits in an i64.
    Int(i64),
    /// Any other JSON number.
    Float(f64),
    /// A JSON boolean.
    Bool(bool),
}

/// A comparison operator with its operand.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `_eq`, or the shorthand `{"field": value}`.
    Eq(Scalar),
    /// `_neq`: of the operand's type and different.
    Neq(Scalar),
    /// `_gt`: numbers or strings.
    Gt(Scalar),
    /// `_gte`
    Gte(Scalar),
    /// `_lt`
    Lt(Scalar),
    /// `_lte`
    Lte(Scalar),
    /// `_in`: equal to one of the operands.
    In(Vec<Scalar>),
    /// `_nin`: of one of the operands' types and equal to none.
    Nin(Vec<Scalar>),
    /// `_like`: SQL LIKE pattern (`%`, `_`, `\` escapes), case-sensitive.
    Like(String),
    /// `_ilike`: like `_like`, ignoring the case of ASCII letters.
    Ilike(String),
    /// `_is_null: true` matches a missing or null field; `false` any other value.
    IsNull(bool),
    /// `_contains`: the field is an array holding every given scalar.
    Contains(Vec<Scalar>),
}

/// The operators a field object may use, for error messages.
pub const OPERATORS: &[&str] = &[
    "_eq",
    "_neq",
    "_gt",
    "_gte",
    "_lt",
    "_lte",
    "_in",
    "_nin",
    "_like",
    "_ilike",
    "_is_null",
    "_contains",
];

/// Why a filter was refused, and where in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FilterError {
    /// Where the problem is, as a dotted path from the argument (`filter.status._eq`).
    pub path: String,
    /// What was wrong and what was expected.
    pub message: String,
}

impl Filter {
    /// Parses a filter given as JSON; `root` names the argument in error paths (`filter`).
    pub fn parse(value: &Value, root: &str) -> Result<Filter, FilterError> {
        let mut parser = Parser { terms: 0 };
        parser.expression(value, root, 0)
    }

    /// A filter that every document matches.
    pub fn always() -> Filter {
        Filter::And(Vec::new())
    }

    /// Both filters; used to put a rule or a hook's filter next to the caller's.
    pub fn and(self, other: Filter) -> Filter {
        match self {
            Filter::And(mut items) => {
                items.push(other);
                Filter::And(items)
            }
            first => Filter::And(vec![first, other]),
        }
    }
}

struct Parser {
    terms: usize,
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
        if self.terms > MAX_TERMS {
            return Err(err(
                path,
                format!("a filter may hold at most {MAX_TERMS} comparisons"),
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
        if depth > MAX_DEPTH {
            return Err(err(
                path,
                format!("a filter may nest at most {MAX_DEPTH} levels deep"),
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
        let field = parse_field(key).map_err(|message| err(path, message))?;
        let Value::Object(ops) = value else {
            self.count(path, 1)?;
            return Ok(Filter::Compare(field.clone(), equality(value, path)?));
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
            check_meta_operand(&field, &op, &here)?;
            all.push(Filter::Compare(field.clone(), op));
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::And(all)
        })
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
fn check_meta_operand(field: &Field, op: &Op, path: &str) -> Result<(), FilterError> {
    let Field::Meta(meta) = field else {
        return Ok(());
    };
    let operands: Vec<&Scalar> = match op {
        Op::Eq(s) | Op::Neq(s) | Op::Gt(s) | Op::Gte(s) | Op::Lt(s) | Op::Lte(s) => vec![s],
        Op::In(items) | Op::Nin(items) => items.iter().collect(),
        Op::Like(_) | Op::Ilike(_) => {
            return match meta {
                MetaField::Id | MetaField::OwnerId => Ok(()),
                _ => Err(err(path, "`_like` works on strings; this field is not one")),
            }
        }
        Op::IsNull(_) => return Ok(()),
        Op::Contains(_) => {
            return Err(err(
                path,
                "`_contains` works on arrays in the document's data, not on meta fields",
            ))
        }
    };
    for operand in operands {
        match (meta, operand) {
            (MetaField::Id | MetaField::OwnerId, Scalar::Str(_)) => {}
            (MetaField::Version, Scalar::Int(_)) => {}
            (MetaField::CreatedAt | MetaField::UpdatedAt, Scalar::Str(s)) => {
                parse_timestamp(s).map_err(|m| err(path, m))?;
            }
            (MetaField::Version, _) => return Err(err(path, "expected an integer version")),
            (MetaField::CreatedAt | MetaField::UpdatedAt, _) => {
                return Err(err(
                    path,
                    "expected an RFC 3339 date-time string such as \"2026-01-31T12:00:00Z\"",
                ))
            }
            _ => return Err(err(path, "expected a string id")),
        }
    }
    Ok(())
}

/// Parses an RFC 3339 date-time into Unix microseconds, the form timestamps are stored in.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|_| {
            format!("`{text}` is not an RFC 3339 date-time such as \"2026-01-31T12:00:00Z\"")
        })
}

/// Parses a field path: a meta field name, or dot-separated data keys of safe characters.
///
/// Keys are restricted to letters, digits, `_` and `-` so that a path can never carry SQL or
/// JSON-path syntax; paths are still bound as parameters, never spliced.
pub fn parse_field(key: &str) -> Result<Field, String> {
    if let Some(meta) = MetaField::from_name(key) {
        return Ok(Field::Meta(meta));
    }
    let segments: Vec<&str> = key.split('.').collect();
    if segments.len() > MAX_PATH_SEGMENTS {
        return Err(format!(
            "a field path may have at most {MAX_PATH_SEGMENTS} segments"
        ));
    }
    for segment in &segments {
        let valid = !segment.is_empty()
            && segment.len() <= 128
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(format!(
                "invalid field path `{key}`: each dot-separated key must be 1 to 128 letters, digits, `_` or `-`"
            ));
        }
    }
    Ok(Field::Data(
        segments.into_iter().map(str::to_string).collect(),
    ))
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

/// The closest known name to a misspelt one, if it is close enough to be a likely typo.
pub fn suggest<'a>(wrong: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (levenshtein(wrong, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Filter, FilterError> {
        Filter::parse(&v, "filter")
    }

    #[test]
    fn shorthand_means_eq() {
        assert_eq!(
            parse(json!({"status": "published"})).unwrap(),
            Filter::Compare(
                Field::Data(vec!["status".into()]),
                Op::Eq(Scalar::Str("published".into()))
            )
        );
    }

    #[test]
    fn nested_paths_and_meta_fields() {
        let f = parse(json!({"author.name": {"_eq": "ann"}, "id": {"_eq": "x"}})).unwrap();
        let Filter::And(items) = f else {
            panic!("expected and")
        };
        assert_eq!(
            items[0],
            Filter::Compare(
                Field::Data(vec!["author".into(), "name".into()]),
                Op::Eq(Scalar::Str("ann".into()))
            )
        );
        assert_eq!(
            items[1],
            Filter::Compare(Field::Meta(MetaField::Id), Op::Eq(Scalar::Str("x".into())))
        );
    }

    #[test]
    fn unknown_operator_names_place_and_suggests() {
        let e = parse(json!({"views": {"_gtee": 3}})).unwrap_err();
        assert_eq!(e.path, "filter.views._gtee");
        assert!(e.message.contains("did you mean `_gte`"), "{}", e.message);
    }

    #[test]
    fn injection_in_path_is_refused() {
        let e = parse(json!({"a'); DROP TABLE documents; --": 1})).unwrap_err();
        assert!(e.message.contains("invalid field path"), "{}", e.message);
    }

    #[test]
    fn malformed_shapes_are_refused() {
        assert!(parse(json!([1])).is_err());
        assert!(parse(json!({"_or": {}})).is_err());
        assert!(parse(json!({"_nand": []})).is_err());
        assert!(parse(json!({"a": {"_in": 3}})).is_err());
        assert!(parse(json!({"a": {"_gt": true}})).is_err());
        assert!(parse(json!({"a": {"_eq": [1]}})).is_err());
        assert!(parse(json!({"createdAt": {"_gt": "yesterday"}})).is_err());
        assert!(parse(json!({"a": {}})).is_err());
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let mut deep = json!({"a": 1});
        for _ in 0..20 {
            deep = json!({"_not": deep});
        }
        assert!(parse(deep).unwrap_err().message.contains("nest"));
        let many: Vec<i64> = (0..300).collect();
        assert!(parse(json!({"a": {"_in": many}}))
            .unwrap_err()
            .message
            .contains("at most"));
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(
            suggest("pre_sav", &["pre_save", "post_save"]),
            Some("pre_save")
        );
        assert_eq!(suggest("zzzzzzzz", &["pre_save"]), None);
    }
}
