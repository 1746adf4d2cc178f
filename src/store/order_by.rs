//! Sort orders ([`crate::model::sort`]) compiled to ORDER BY.
//!
//! A data field may hold different JSON types in different documents; both backends order
//! them the same way: missing/null, false, true, numbers, strings (code point order), arrays,
//! objects. Ties, and documents equal on every sort key, fall back to id (creation order), so
//! pages never overlap or skip.

use super::sql::{JsonKind, Sql};
use crate::model::filter::Field;
use crate::model::sort::{Direction, SortKey};

/// Appends ` ORDER BY …` for `keys`, always ending with the id as a tie-breaker.
pub fn push_order_by(sql: &mut Sql, keys: &[SortKey]) {
    sql.push(" ORDER BY ");
    for key in keys {
        let dir = match key.direction {
            Direction::Asc => " ASC, ",
            Direction::Desc => " DESC, ",
        };
        match &key.field {
            Field::Meta(meta) => {
                sql.column(meta.column()).push(dir);
            }
            Field::Data(path) => {
                push_rank(sql, path);
                sql.push(dir);
                sql.push("CASE WHEN ")
                    .json_is(path, JsonKind::Number)
                    .push(" THEN ");
                sql.json_number(path).push(" END").push(dir);
                sql.push("CASE WHEN ")
                    .json_is(path, JsonKind::String)
                    .push(" THEN ");
                sql.json_text(path).push(" END").push(dir);
            }
        }
    }
    sql.column("id").push(" ASC");
}

/// The type rank of the value at `path` (see the module doc).
fn push_rank(sql: &mut Sql, path: &[String]) {
    if sql.is_postgres() {
        sql.push("CASE jsonb_typeof(")
            .json_value(path)
            .push(") WHEN 'boolean' THEN (CASE WHEN ");
        sql.json_value(path);
        sql.push(" = 'true'::jsonb THEN 2 ELSE 1 END) WHEN 'number' THEN 3 WHEN 'string' THEN 4 WHEN 'array' THEN 5 WHEN 'object' THEN 6 ELSE 0 END");
    } else {
        sql.push("CASE ").json_type(path).push(
            " WHEN 'false' THEN 1 WHEN 'true' THEN 2 WHEN 'integer' THEN 3 WHEN 'real' THEN 3 WHEN 'text' THEN 4 WHEN 'array' THEN 5 WHEN 'object' THEN 6 ELSE 0 END",
        );
    }
}
