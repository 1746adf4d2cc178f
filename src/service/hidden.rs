//! Hidden fields (`collections.<name>.hidden_fields`): data only admins and hooks see.
//!
//! Why not leave it to a redacting `post_read` hook: a filter on a field is a yes/no
//! question about its value, and `totalCount` answers it even when the field never appears
//! in a result (issue 15). Hidden fields are refused in filters and sorts of other callers,
//! and left out of what they get back (queries, mutation answers, subscription events),
//! after any `post_read` hook has seen the whole document.

use super::ServiceError;
use crate::manifest::CollectionRules;
use crate::model::filter::{Field, Filter};
use crate::model::sort::SortKey;
use crate::model::Caller;
use crate::model::CollectionName;
use crate::model::Document;
use crate::model::DocumentData;

/// Whether `path` and a hidden path overlap (one holds the other).
fn touches(hidden: &[Vec<String>], path: &[String]) -> Option<String> {
    hidden
        .iter()
        .find(|h| h.starts_with(path) || path.starts_with(h))
        .map(|h| h.join("."))
}

fn refused(field: &str, hidden: String, collection: &CollectionName) -> ServiceError {
    ServiceError::bad_input(
        field,
        format!(
            "`{hidden}` is a hidden field of `{collection}`: only admins may filter or sort on it"
        ),
    )
}

/// Refuses a client's `filter` that names a hidden field, unless the caller is an admin.
pub fn check_filter(
    rules: &CollectionRules,
    caller: &Caller,
    collection: &CollectionName,
    filter: &Filter,
) -> Result<(), ServiceError> {
    if rules.hidden_fields.is_empty() || caller.is_admin() {
        return Ok(());
    }
    let mut stack = vec![filter];
    while let Some(filter) = stack.pop() {
        match filter {
            Filter::And(items) | Filter::Or(items) => stack.extend(items),
            Filter::Not(inner) => stack.push(inner),
            Filter::Compare(Field::Data(path), _) => {
                if let Some(hidden) = touches(&rules.hidden_fields, path) {
                    return Err(refused("filter", hidden, collection));
                }
            }
            Filter::Compare(Field::Meta(_), _) => {}
        }
    }
    Ok(())
}

/// Refuses a sort on a hidden field (its order reveals its values), unless admin.
pub fn check_sort(
    rules: &CollectionRules,
    caller: &Caller,
    collection: &CollectionName,
    sort: &[SortKey],
) -> Result<(), ServiceError> {
    if rules.hidden_fields.is_empty() || caller.is_admin() {
        return Ok(());
    }
    for (i, key) in sort.iter().enumerate() {
        if let Field::Data(path) = &key.field {
            if let Some(hidden) = touches(&rules.hidden_fields, path) {
                return Err(refused(&format!("sort.{i}.field"), hidden, collection));
            }
        }
    }
    Ok(())
}

/// What a replacing update (`merge: false`) by a non-admin stores: the caller cannot see the
/// hidden fields, so replacing the data must not silently drop them; those `next` does not
/// set keep their stored values. (Hidden fields are write-only for other callers: they may
/// set them, never read them back; guard them in a `pre_save` hook to make them admin-only.)
pub fn kept_on_replace(
    rules: &CollectionRules,
    caller: &Caller,
    stored: &serde_json::Value,
    next: DocumentData,
    merge: bool,
) -> Result<DocumentData, ServiceError> {
    if merge || rules.hidden_fields.is_empty() || caller.is_admin() {
        return Ok(next);
    }
    let mut data = next.into_value();
    for path in &rules.hidden_fields {
        let Some(kept) = lookup(stored, path) else {
            continue;
        };
        if lookup(&data, path).is_none() {
            insert(&mut data, path, kept.clone());
        }
    }
    DocumentData::parse(data).map_err(|m| ServiceError::bad_input("data", m))
}

fn lookup<'a>(value: &'a serde_json::Value, path: &[String]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(value, |here, key| here.get(key))
}

/// Sets `path` in `value`, making the objects on the way where they are missing.
fn insert(value: &mut serde_json::Value, path: &[String], field: serde_json::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut here = value;
    for key in parents {
        let Some(fields) = here.as_object_mut() else {
            return;
        };
        here = fields
            .entry(key.clone())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
    }
    if let Some(fields) = here.as_object_mut() {
        fields.insert(last.clone(), field);
    }
}

/// Removes hidden fields from `documents`, unless the caller is an admin.
pub fn strip(rules: &CollectionRules, caller: &Caller, documents: &mut [Document]) {
    if rules.hidden_fields.is_empty() || caller.is_admin() {
        return;
    }
    for document in documents {
        for path in &rules.hidden_fields {
            remove(&mut document.data, path);
        }
    }
}

fn remove(value: &mut serde_json::Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut here = value;
    for key in parents {
        match here.get_mut(key) {
            Some(next) => here = next,
            None => return,
        }
    }
    if let Some(fields) = here.as_object_mut() {
        fields.remove(last);
    }
}
