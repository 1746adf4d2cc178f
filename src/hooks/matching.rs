//! Whether a binding fires for one event: its `collections`, `operations`, `when` and
//! `changed` all have to agree. Everything here is in memory, so narrowing costs no I/O.

use serde_json::{Map, Value};

use super::payload::Payload;
use crate::manifest::{Binding, Operation};
use crate::model::filter::eval::{lookup, Subject};
use crate::model::filter::MetaField;
use crate::model::Event;

/// What an event is about, beyond its payload: the facts narrowing keys test.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// The collection, for document events.
    pub collection: Option<String>,
    /// Create or update, for `*_save`.
    pub operation: Option<Operation>,
    /// Meta fields of the document or user (`id`, `ownerId`, …) a `when` filter may test.
    pub meta: Vec<(MetaField, Value)>,
}

/// Where the data a `when` filter tests and `changed` compares is in `event`'s payload.
pub fn data_of(payload: &Payload) -> Option<&Map<String, Value>> {
    let fields = payload.fields();
    match payload.event() {
        Event::PreSave | Event::PostSave | Event::PreDelete | Event::PostDelete => {
            fields.get("document")
        }
        Event::PreRegister | Event::PreUserUpdate | Event::PostUserUpdate => fields.get("data"),
        _ => fields.get("user").and_then(|u| u.get("data")),
    }
    .and_then(Value::as_object)
}

struct WhenSubject<'a> {
    data: &'a Map<String, Value>,
    meta: &'a [(MetaField, Value)],
}

impl Subject for WhenSubject<'_> {
    fn data(&self) -> &Map<String, Value> {
        self.data
    }
    fn meta(&self, field: MetaField) -> Option<Value> {
        self.meta
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v.clone())
    }
}

impl Binding {
    /// Whether this binding runs for `payload` about `target`.
    pub fn fires(&self, target: &Target, payload: &Payload) -> bool {
        if let Some(collection) = &target.collection {
            if !self.covers_collection(collection) {
                return false;
            }
        }
        if let (Some(allowed), Some(operation)) = (&self.operations, target.operation) {
            if !allowed.contains(&operation) {
                return false;
            }
        }
        if self.when.is_none() && self.changed.is_none() {
            return true;
        }
        let empty = Map::new();
        let data = data_of(payload).unwrap_or(&empty);
        if let Some(when) = &self.when {
            let subject = WhenSubject {
                data,
                meta: &target.meta,
            };
            if !when.matches(&subject) {
                return false;
            }
        }
        match (
            &self.changed,
            payload.get("old_data").and_then(Value::as_object),
        ) {
            (None, _) => true,
            // A create: every field it sets counts as changed (from nothing).
            (Some(fields), None) => fields.iter().any(|f| value_at(data, f).is_some()),
            (Some(fields), Some(old)) => {
                fields.iter().any(|f| value_at(data, f) != value_at(old, f))
            }
        }
    }
}

/// The value at a `changed` path, treating null as absent.
fn value_at<'a>(data: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    lookup(data, path).filter(|v| !v.is_null())
}
