//! Evaluates a [`Filter`] on a document in memory, with the same meaning the SQL compiler
//! (`store::filter_sql`) gives it: hooks' `when` clauses test the data a hook is about to see,
//! which is not (or not yet) a stored row, and testing it costs no database round trip.
//!
//! The rules mirror the SQL: a comparison matches only values of its operand's JSON type;
//! numbers compare by value (`1` equals `1.0`); strings by code point; `_ilike` folds ASCII
//! letters only; every comparison is two-valued, so `_not` is the exact complement.

use serde_json::{Map, Value};

use super::like::like;
use super::{Field, Filter, MetaField, Op, Scalar};

/// What a filter is tested against: a data object and, where known, the meta fields.
pub trait Subject {
    /// The data object.
    fn data(&self) -> &Map<String, Value>;
    /// A meta field's value (`None`: not known, which compares as null). Timestamps are Unix
    /// microseconds, as the parser turns operands into.
    fn meta(&self, field: MetaField) -> Option<Value>;
}

impl Filter {
    /// Whether `subject` matches.
    pub fn matches(&self, subject: &dyn Subject) -> bool {
        match self {
            Filter::And(items) => items.iter().all(|f| f.matches(subject)),
            Filter::Or(items) => items.iter().any(|f| f.matches(subject)),
            Filter::Not(inner) => !inner.matches(subject),
            Filter::Compare(field, op) => {
                let meta;
                let value = match field {
                    Field::Meta(m) => {
                        meta = subject.meta(*m);
                        meta.as_ref()
                    }
                    Field::Data(path) => lookup(subject.data(), path),
                };
                compare(value, op)
            }
        }
    }
}

impl Filter {
    /// Roughly how much work [`Filter::matches`] does on `subject`, in steps of a few
    /// nanoseconds: `_like` and `_ilike` compile their pattern and scan their text once per
    /// 64-byte word of it (see [`super::like`]), `_contains` looks for each item through the
    /// whole array, and the rest compare once per operand; comparing strings costs a step per
    /// 16 bytes of the shorter. Lets a caller that tests many filters (a change's fan-out to
    /// its subscribers) run the costly ones away from the async workers.
    pub fn work(&self, subject: &dyn Subject) -> usize {
        match self {
            Filter::And(items) | Filter::Or(items) => items
                .iter()
                .fold(0, |sum, f| sum.saturating_add(f.work(subject))),
            Filter::Not(inner) => inner.work(subject),
            Filter::Compare(Field::Data(path), op) => {
                let value = lookup(subject.data(), path);
                match (op, value) {
                    (Op::Like(p) | Op::Ilike(p), Some(Value::String(text))) => text
                        .len()
                        .saturating_mul(p.len() / 64 + 1)
                        .saturating_add(p.len().saturating_mul(32)),
                    // Priced from the items alone (a string item bounds its comparisons):
                    // pricing each element would cost what the test costs.
                    (Op::Contains(items), Some(Value::Array(elements))) => {
                        let per_element: usize = items.iter().map(|s| compare_work(None, s)).sum();
                        per_element.saturating_mul(elements.len())
                    }
                    (Op::In(items) | Op::Nin(items), value) => {
                        items.iter().map(|s| compare_work(value, s)).sum()
                    }
                    (
                        Op::Eq(s) | Op::Neq(s) | Op::Gt(s) | Op::Gte(s) | Op::Lt(s) | Op::Lte(s),
                        value,
                    ) => compare_work(value, s),
                    _ => 1,
                }
            }
            Filter::Compare(..) => 1,
        }
    }
}

/// Comparing `value` with `operand`: a step, and one per 16 bytes of the shorter string
/// (without a value, the operand's own length bounds it).
fn compare_work(value: Option<&Value>, operand: &Scalar) -> usize {
    match (value, operand) {
        (Some(Value::String(text)), Scalar::Str(s)) => 1 + text.len().min(s.len()) / 16,
        (None, Scalar::Str(s)) => 1 + s.len() / 16,
        _ => 1,
    }
}

/// The value at `path` inside `data`, if every step is an object key that exists.
pub fn lookup<'a>(data: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(data.get(first)?, |value, key| value.as_object()?.get(key))
}

fn compare(value: Option<&Value>, op: &Op) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq(s) => order(value, s) == Some(Equal),
        Op::Neq(s) => matches!(order(value, s), Some(Less | Greater)),
        Op::Gt(s) => order(value, s) == Some(Greater),
        Op::Gte(s) => matches!(order(value, s), Some(Greater | Equal)),
        Op::Lt(s) => order(value, s) == Some(Less),
        Op::Lte(s) => matches!(order(value, s), Some(Less | Equal)),
        Op::In(items) => items.iter().any(|s| order(value, s) == Some(Equal)),
        Op::Nin(items) => {
            items.iter().any(|s| order(value, s).is_some())
                && !items.iter().any(|s| order(value, s) == Some(Equal))
        }
        Op::Like(pattern) => match value {
            Some(Value::String(text)) => like(text, pattern, false),
            _ => false,
        },
        Op::Ilike(pattern) => match value {
            Some(Value::String(text)) => like(text, pattern, true),
            _ => false,
        },
        Op::IsNull(is_null) => matches!(value, None | Some(Value::Null)) == *is_null,
        Op::Contains(items) => match value {
            Some(Value::Array(elements)) => items.iter().all(|s| {
                elements
                    .iter()
                    .any(|e| order(Some(e), s) == Some(std::cmp::Ordering::Equal))
            }),
            _ => false,
        },
    }
}

/// How `value` orders against `operand`, or `None` when it is not of the operand's type.
fn order(value: Option<&Value>, operand: &Scalar) -> Option<std::cmp::Ordering> {
    match (value?, operand) {
        (Value::String(v), Scalar::Str(s)) => Some(v.as_bytes().cmp(s.as_bytes())),
        (Value::Bool(v), Scalar::Bool(b)) => Some(v.cmp(b)),
        (Value::Number(v), Scalar::Int(i)) => match v.as_i64() {
            Some(v) => Some(v.cmp(i)),
            None => v.as_f64()?.partial_cmp(&(*i as f64)),
        },
        (Value::Number(v), Scalar::Float(f)) => v.as_f64()?.partial_cmp(f),
        _ => None,
    }
}

/// A bare data object, with no meta fields known.
impl Subject for Map<String, Value> {
    fn data(&self) -> &Map<String, Value> {
        self
    }
    fn meta(&self, _: MetaField) -> Option<Value> {
        None
    }
}

/// A stored document, as the SQL sees its row: for realtime events, which are tested in
/// memory against the subscriber's read rule and filter.
impl Subject for crate::model::Document {
    fn data(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.data
            .as_object()
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }
    fn meta(&self, field: MetaField) -> Option<Value> {
        match field {
            MetaField::Id => Some(Value::from(self.id.clone())),
            MetaField::OwnerId => self.owner_id.clone().map(Value::from),
            MetaField::CreatedAt => Some(Value::from(self.created_at)),
            MetaField::UpdatedAt => Some(Value::from(self.updated_at)),
            MetaField::Version => Some(Value::from(self.version)),
            MetaField::Email | MetaField::Role | MetaField::LastLoginAt => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn test(filter: Value, data: Value) -> bool {
        let filter = Filter::parse(&filter, "when").unwrap();
        filter.matches(data.as_object().unwrap())
    }

    #[test]
    fn comparisons_match_only_their_type() {
        let doc = json!({"views": 11, "title": "Hello", "n": "11", "ok": true, "f": 1.5});
        assert!(test(json!({"views": {"_gt": 10}}), doc.clone()));
        assert!(!test(json!({"n": {"_gt": 10}}), doc.clone()));
        assert!(test(json!({"views": {"_eq": 11.0}}), doc.clone()));
        assert!(test(json!({"f": {"_lt": 2}}), doc.clone()));
        assert!(test(json!({"ok": true}), doc.clone()));
        assert!(!test(json!({"missing": {"_neq": 1}}), doc.clone()));
        assert!(test(json!({"_not": {"missing": {"_eq": 1}}}), doc.clone()));
        assert!(test(json!({"title": {"_nin": ["a", "b"]}}), doc.clone()));
        assert!(!test(json!({"views": {"_nin": ["a"]}}), doc));
    }

    #[test]
    fn work_counts_scanned_text_by_pattern_words_and_arrays_by_items() {
        let filter = json!({"_or": [{"a": {"_like": "x%"}}, {"_not": {"b": {"_ilike": "y".repeat(64)}}}], "c": 1, "d": {"_contains": [1, 2, 3]}});
        let filter = Filter::parse(&filter, "filter").unwrap();
        let doc = json!({"a": "z".repeat(1000), "b": "w".repeat(10), "c": 1, "d": vec![0; 500]});
        // Each pattern also costs 32 steps a byte to compile.
        assert_eq!(
            filter.work(doc.as_object().unwrap()),
            (1000 + 2 * 32) + (10 * 2 + 64 * 32) + 1 + 3 * 500
        );
        assert_eq!(filter.work(json!({"a": 5}).as_object().unwrap()), 4);
        let long = Filter::parse(&json!({"e": {"_eq": "q".repeat(160)}}), "filter").unwrap();
        let doc = json!({"e": "q".repeat(1600)});
        assert_eq!(long.work(doc.as_object().unwrap()), 1 + 160 / 16);
    }

    #[test]
    fn like_nested_null_and_contains() {
        let doc = json!({"author": {"name": "Ann Lee"}, "tags": ["a", 2], "x": null});
        assert!(test(json!({"author.name": {"_like": "Ann%"}}), doc.clone()));
        assert!(!test(
            json!({"author.name": {"_like": "ann%"}}),
            doc.clone()
        ));
        assert!(test(
            json!({"author.name": {"_ilike": "ann_lee"}}),
            doc.clone()
        ));
        assert!(test(
            json!({"author.name": {"_like": "Ann\\ Lee"}}),
            doc.clone()
        ));
        assert!(test(json!({"x": {"_is_null": true}}), doc.clone()));
        assert!(test(json!({"nope": {"_is_null": true}}), doc.clone()));
        assert!(test(json!({"tags": {"_contains": ["a", 2]}}), doc.clone()));
        assert!(!test(json!({"tags": {"_contains": ["2"]}}), doc.clone()));
        assert!(test(
            json!({"_or": [{"x": 1}, {"tags": {"_contains": [2]}}]}),
            doc
        ));
    }
}
