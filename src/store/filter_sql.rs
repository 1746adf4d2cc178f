//! Compiles a [`Filter`] into an SQL boolean expression with bound parameters.
//!
//! Every comparison compiles to a two-valued expression (`COALESCE(…, FALSE)`), so `_not` is
//! the exact complement and a missing field never turns a whole `_or` into NULL. A comparison
//! matches only values of its operand's JSON type: `{"views": {"_gt": 10}}` never matches the
//! string `"11"`. Strings compare by code point (byte order) and `_ilike` folds ASCII letters
//! only, which is what both SQLite and PostgreSQL can do identically.

use crate::model::filter::{Field, Filter, MetaField, Op, Scalar};
use crate::store::sql::{JsonKind, Sql};

/// Appends `filter` to `sql` as one parenthesised boolean expression.
pub fn push_filter(sql: &mut Sql, filter: &Filter) {
    match filter {
        Filter::And(items) | Filter::Or(items) if items.is_empty() => {
            sql.push(if matches!(filter, Filter::And(_)) {
                "TRUE"
            } else {
                "FALSE"
            });
        }
        Filter::And(items) | Filter::Or(items) => {
            let joiner = if matches!(filter, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            sql.push("(");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sql.push(joiner);
                }
                push_filter(sql, item);
            }
            sql.push(")");
        }
        Filter::Not(inner) => {
            sql.push("(NOT ");
            push_filter(sql, inner);
            sql.push(")");
        }
        Filter::Compare(Field::Data(path), Op::Eq(Scalar::Str(text))) => {
            // The first term decides nothing the guarded one does not (a string equal to the
            // operand has this text), but an index declared on the field can answer it. It
            // stays outside the COALESCE for the planner to see it; the whole is still never
            // NULL (when the field is missing the second term is FALSE).
            sql.push("(")
                .indexed_text(path)
                .push(" = ")
                .bind(text.clone())
                .push(" AND COALESCE(");
            push_guarded(sql, path, "=", &Scalar::Str(text.clone()));
            sql.push(", FALSE))");
        }
        Filter::Compare(field, op) => {
            sql.push("COALESCE(");
            match field {
                Field::Meta(meta) => meta_compare(sql, *meta, op),
                Field::Data(path) => data_compare(sql, path, op),
            }
            sql.push(", FALSE)");
        }
    }
}

fn comparison(op: &Op) -> &'static str {
    match op {
        Op::Eq(_) => "=",
        Op::Neq(_) => "<>",
        Op::Gt(_) => ">",
        Op::Gte(_) => ">=",
        Op::Lt(_) => "<",
        Op::Lte(_) => "<=",
        _ => unreachable!("only called for binary comparisons"),
    }
}

/// Binds a meta-field operand; date-times were turned into microseconds by the parser.
fn bind_meta_operand(sql: &mut Sql, operand: &Scalar) {
    match operand {
        Scalar::Str(s) => sql.bind(s.clone()),
        Scalar::Int(i) => sql.bind(*i),
        Scalar::Float(f) => sql.bind(*f),
        Scalar::Bool(b) => sql.bind(*b),
    };
}

fn meta_compare(sql: &mut Sql, meta: MetaField, op: &Op) {
    let column = format!("{}.{}", sql.rows(), meta.column());
    match op {
        Op::Eq(s) | Op::Neq(s) | Op::Gt(s) | Op::Gte(s) | Op::Lt(s) | Op::Lte(s) => {
            sql.push(&column);
            if sql.is_postgres() && meta.is_text() {
                sql.push(" COLLATE \"C\"");
            }
            sql.push(" ").push(comparison(op)).push(" ");
            bind_meta_operand(sql, s);
        }
        Op::In(items) | Op::Nin(items) => {
            sql.push(&column).push(if matches!(op, Op::In(_)) {
                " IN ("
            } else {
                " NOT IN ("
            });
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                bind_meta_operand(sql, item);
            }
            if items.is_empty() {
                sql.push("NULL");
            }
            sql.push(")");
        }
        Op::Like(pattern) => {
            sql.push(&column)
                .push(" LIKE ")
                .bind(pattern.clone())
                .push(" ESCAPE '\\'");
        }
        Op::Ilike(pattern) => {
            push_ascii_lower(sql, |sql| {
                sql.push(&column);
            });
            sql.push(" LIKE ")
                .bind(pattern.to_ascii_lowercase())
                .push(" ESCAPE '\\'");
        }
        Op::IsNull(true) => {
            sql.push(&column).push(" IS NULL");
        }
        Op::IsNull(false) => {
            sql.push(&column).push(" IS NOT NULL");
        }
        // The parser refuses `_contains` on meta fields.
        Op::Contains(_) => {
            sql.push("FALSE");
        }
    }
}

/// The JSON type test for a scalar's kind.
fn push_type_is(sql: &mut Sql, path: &[String], operand: &Scalar) {
    sql.json_is(path, kind_of(operand));
}

fn kind_of(operand: &Scalar) -> JsonKind {
    match operand {
        Scalar::Str(_) => JsonKind::String,
        Scalar::Int(_) | Scalar::Float(_) => JsonKind::Number,
        Scalar::Bool(_) => JsonKind::Boolean,
    }
}

/// `value <op> operand`, for a field already known to hold the operand's type.
fn push_typed_compare(sql: &mut Sql, path: &[String], cmp: &str, operand: &Scalar) {
    match operand {
        Scalar::Str(s) => {
            sql.json_text(path)
                .push(" ")
                .push(cmp)
                .push(" ")
                .bind(s.clone());
        }
        Scalar::Int(_) | Scalar::Float(_) => {
            sql.json_number(path).push(" ").push(cmp).push(" ");
            match operand {
                Scalar::Int(i) => sql.bind(*i),
                Scalar::Float(f) => sql.bind(*f),
                _ => unreachable!(),
            };
        }
        Scalar::Bool(b) => {
            // Booleans only support = and <>; the parser refuses ordering on them.
            if sql.is_postgres() {
                sql.json_value(path).push(" ").push(cmp).push(if *b {
                    " 'true'::jsonb"
                } else {
                    " 'false'::jsonb"
                });
            } else {
                sql.json_type(path).push(" ").push(cmp).push(if *b {
                    " 'true'"
                } else {
                    " 'false'"
                });
            }
        }
    }
}

/// `type matches AND value <op> operand`. On PostgreSQL a CASE guards the numeric cast, since
/// PostgreSQL does not promise to evaluate AND from left to right.
fn push_guarded(sql: &mut Sql, path: &[String], cmp: &str, operand: &Scalar) {
    sql.push("CASE WHEN ");
    push_type_is(sql, path, operand);
    sql.push(" THEN ");
    push_typed_compare(sql, path, cmp, operand);
    sql.push(" ELSE FALSE END");
}

fn push_any_equal(sql: &mut Sql, path: &[String], items: &[Scalar]) {
    if items.is_empty() {
        sql.push("FALSE");
        return;
    }
    sql.push("(");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("COALESCE(");
        push_guarded(sql, path, "=", item);
        sql.push(", FALSE)");
    }
    sql.push(")");
}

fn push_ascii_lower(sql: &mut Sql, inner: impl FnOnce(&mut Sql)) {
    if sql.is_postgres() {
        sql.push("translate(");
        inner(sql);
        sql.push(", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')");
    } else {
        // SQLite's built-in lower() folds ASCII letters only, as translate() does above.
        sql.push("lower(");
        inner(sql);
        sql.push(")");
    }
}

fn data_compare(sql: &mut Sql, path: &[String], op: &Op) {
    match op {
        Op::Eq(s) | Op::Neq(s) | Op::Gt(s) | Op::Gte(s) | Op::Lt(s) | Op::Lte(s) => {
            push_guarded(sql, path, comparison(op), s);
        }
        Op::In(items) => push_any_equal(sql, path, items),
        Op::Nin(items) => {
            // Of one of the operands' types, and equal to none of them.
            sql.push("(");
            let mut first = true;
            sql.push("(");
            for item in items {
                if !first {
                    sql.push(" OR ");
                }
                first = false;
                sql.push("COALESCE(");
                push_type_is(sql, path, item);
                sql.push(", FALSE)");
            }
            if first {
                sql.push("FALSE");
            }
            sql.push(") AND NOT ");
            push_any_equal(sql, path, items);
            sql.push(")");
        }
        Op::Like(pattern) | Op::Ilike(pattern) => {
            sql.push("CASE WHEN ")
                .json_is(path, JsonKind::String)
                .push(" THEN ");
            if matches!(op, Op::Like(_)) {
                sql.json_text(path).push(" LIKE ").bind(pattern.clone());
            } else {
                push_ascii_lower(sql, |sql| {
                    sql.json_text(path);
                });
                sql.push(" LIKE ").bind(pattern.to_ascii_lowercase());
            }
            sql.push(" ESCAPE '\\' ELSE FALSE END");
        }
        Op::IsNull(is_null) => {
            sql.push("COALESCE(").json_type(path).push(", 'null')");
            sql.push(if *is_null { " = 'null'" } else { " <> 'null'" });
        }
        Op::Contains(items) => push_contains(sql, path, items),
    }
}

/// The field is an array holding every item (JSON containment of scalars).
fn push_contains(sql: &mut Sql, path: &[String], items: &[Scalar]) {
    sql.push("(");
    sql.json_type(path).push(" = 'array'");
    if sql.is_postgres() {
        let array: Vec<serde_json::Value> = items.iter().map(scalar_json).collect();
        sql.push(" AND ")
            .json_value(path)
            .push(" @> ")
            .bind(serde_json::Value::Array(array));
    } else {
        for item in items {
            sql.push(" AND EXISTS (SELECT 1 FROM json_each(")
                .column("data")
                .push(", ");
            sql.bind(crate::store::sql::sqlite_path(path));
            sql.push(") AS element WHERE ");
            match item {
                Scalar::Str(s) => {
                    sql.push("element.type = 'text' AND element.value = ")
                        .bind(s.clone());
                }
                Scalar::Int(i) => {
                    sql.push("element.type IN ('integer', 'real') AND element.value = ")
                        .bind(*i);
                }
                Scalar::Float(f) => {
                    sql.push("element.type IN ('integer', 'real') AND element.value = ")
                        .bind(*f);
                }
                Scalar::Bool(b) => {
                    sql.push(if *b {
                        "element.type = 'true'"
                    } else {
                        "element.type = 'false'"
                    });
                }
            }
            sql.push(")");
        }
    }
    sql.push(")");
}

fn scalar_json(scalar: &Scalar) -> serde_json::Value {
    match scalar {
        Scalar::Str(s) => serde_json::Value::String(s.clone()),
        Scalar::Int(i) => serde_json::Value::from(*i),
        Scalar::Float(f) => serde_json::Value::from(*f),
        Scalar::Bool(b) => serde_json::Value::Bool(*b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbBackend;
    use serde_json::json;

    fn compile(backend: DbBackend, v: serde_json::Value) -> Sql {
        let filter = Filter::parse(&v, "filter").unwrap();
        let mut sql = Sql::new(backend);
        push_filter(&mut sql, &filter);
        sql
    }

    #[test]
    fn values_are_bound_never_spliced() {
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let sql = compile(
                backend,
                json!({"title": {"_eq": "x'); DROP TABLE documents; --"}}),
            );
            assert!(!sql.text().contains("DROP"), "{}", sql.text());
            // Paths appear only where an index must match them, as quoted literals of keys
            // the parser allowed (letters, digits, `_`, `-`).
            let literal = if backend == DbBackend::Postgres {
                "->> 'title'"
            } else {
                "'$.\"title\"'"
            };
            assert!(sql.text().contains(literal), "{}", sql.text());
        }
        assert_eq!(
            crate::store::sql::indexed_expression(true, "data", &["it's".into()]),
            "(data ->> 'it''s')"
        );
    }

    #[test]
    fn postgres_uses_numbered_placeholders() {
        let sql = compile(DbBackend::Postgres, json!({"a.b": {"_gt": 3}}));
        assert!(
            sql.text().contains("$1") && sql.text().contains("$4"),
            "{}",
            sql.text()
        );
        assert_eq!(sql.value_count(), 5);
    }
}
