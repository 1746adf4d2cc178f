//! Argument checks shared by document and user operations.

use serde_json::Value;

use super::ServiceError;
use crate::model::filter::{Filter, FilterError};
use crate::store::documents::MAX_LIMIT;

/// `limit` and `offset` of a page request, checked.
pub fn page_bounds(limit: i32, offset: i32) -> Result<(u64, u64), ServiceError> {
    if limit < 0 || limit as u64 > MAX_LIMIT {
        return Err(ServiceError::bad_input(
            "limit",
            format!("expected 0 to {MAX_LIMIT}, got {limit}"),
        ));
    }
    if offset < 0 {
        return Err(ServiceError::bad_input(
            "offset",
            format!("expected 0 or more, got {offset}"),
        ));
    }
    Ok((limit as u64, offset as u64))
}

/// The `filter` argument parsed by `parse`; absent or null matches everything.
pub fn filter(
    value: Option<&Value>,
    parse: fn(&Value, &str) -> Result<Filter, FilterError>,
) -> Result<Filter, ServiceError> {
    match value {
        None | Some(Value::Null) => Ok(Filter::always()),
        Some(value) => {
            parse(value, "filter").map_err(|e| ServiceError::bad_input(e.path, e.message))
        }
    }
}

/// A text argument that goes into SQL as is (a hook name to look up): PostgreSQL cannot hold
/// the NUL character in text, so it is refused here rather than failing in the database.
pub fn text(field: &str, value: Option<&str>) -> Result<(), ServiceError> {
    match value {
        Some(text) if text.contains('\0') => Err(ServiceError::bad_input(
            field,
            "contains the NUL character (\\u0000), which no name holds",
        )),
        _ => Ok(()),
    }
}
