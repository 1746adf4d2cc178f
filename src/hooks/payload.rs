//! The JSON a hook receives (docs/hooks.md, "Events and payloads"): one shape for scripts and URLs, built here only.
//!
//! Every payload carries `event`, `id` (the event id, a UUID v7 that stays the same across
//! retries), `attempt`, `timestamp` (RFC 3339), `version` (of this format) and `auth` (the
//! caller or null), plus the event's own fields. Documents and users appear in the shapes the
//! GraphQL API gives them (camelCase, RFC 3339 timestamps), so a hook author learns one shape.

use chrono::SecondsFormat;
use serde_json::{json, Map, Value};

use crate::model::clock::now_micros;
use crate::model::filter::MetaField;
use crate::model::Caller;
use crate::model::Document;
use crate::model::Event;
use crate::store::users::User;

/// The version of the payload format; bumped only by incompatible changes.
pub const PAYLOAD_VERSION: u32 = 1;

/// A hook payload under construction; the chain changes its data fields as hooks ask.
#[derive(Clone, Debug, PartialEq)]
pub struct Payload {
    event: Event,
    fields: Map<String, Value>,
}

impl Payload {
    /// A payload for `event` called by `caller`, with the fields every event has.
    pub fn new(event: Event, caller: &Caller) -> Self {
        let mut fields = Map::new();
        fields.insert("event".into(), Value::from(event.name()));
        fields.insert("id".into(), Value::from(uuid::Uuid::now_v7().to_string()));
        fields.insert("attempt".into(), Value::from(1));
        fields.insert("timestamp".into(), Value::from(rfc3339(now_micros())));
        fields.insert("version".into(), Value::from(PAYLOAD_VERSION));
        fields.insert("auth".into(), auth(caller));
        if let Some(id) = crate::request_id::current() {
            fields.insert("request_id".into(), Value::from(&*id));
        }
        Self { event, fields }
    }

    /// A payload for `event` from fields given whole (a dry run's input), with the common
    /// fields filled in where it lacks them.
    pub fn from_fields(event: Event, given: Map<String, Value>) -> Self {
        let mut payload = Self::new(event, &Caller::Anonymous);
        for (key, value) in given {
            if key != "event" {
                payload.fields.insert(key, value);
            }
        }
        payload
    }

    /// The event id: the same on every delivery attempt (`webhook-id`).
    pub fn id(&self) -> &str {
        self.fields
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Adds or replaces a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.set(key, value.into());
        self
    }

    /// Sets a field.
    pub fn set(&mut self, key: &str, value: Value) {
        self.fields.insert(key.to_string(), value);
    }

    /// A field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// Takes a field out (the operation reads back what hooks left).
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.fields.remove(key)
    }

    /// The id of the request that caused the event, if one did.
    pub fn request_id(&self) -> Option<&str> {
        self.fields.get("request_id").and_then(Value::as_str)
    }

    /// The event this payload is for.
    pub fn event(&self) -> Event {
        self.event
    }

    /// The payload's fields.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }
}

/// The caller as hooks see it: `{id, email, role}` and any extra claims, or null.
pub fn auth(caller: &Caller) -> Value {
    match caller.claims() {
        None => Value::Null,
        Some(claims) => {
            let mut auth = claims.extra.clone();
            auth.insert("id".into(), Value::from(claims.sub.clone()));
            auth.insert("email".into(), Value::from(claims.email.clone()));
            auth.insert("role".into(), Value::from(claims.role.clone()));
            Value::Object(auth)
        }
    }
}

/// A whole document as `post_read` hooks and script helpers see it.
pub fn document(doc: &Document) -> Value {
    json!({
        "id": doc.id,
        "collection": doc.collection,
        "data": doc.data,
        "ownerId": doc.owner_id,
        "createdAt": rfc3339(doc.created_at),
        "updatedAt": rfc3339(doc.updated_at),
        "version": doc.version,
    })
}

/// A document back from JSON in [`document`]'s shape (what a `post_read` hook returns).
pub fn parse_document(value: &Value) -> Result<Document, String> {
    let object = value.as_object().ok_or("each document must be an object")?;
    let text = |key: &str| -> Result<String, String> {
        object
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("a document needs `{key}` (a string)"))
    };
    let time =
        |key: &str| -> Result<i64, String> { crate::model::filter::parse_timestamp(&text(key)?) };
    let data = object
        .get("data")
        .filter(|d| d.is_object())
        .cloned()
        .ok_or("a document needs `data` (an object)")?;
    Ok(Document {
        id: text("id")?,
        collection: text("collection")?,
        data,
        owner_id: object
            .get("ownerId")
            .and_then(Value::as_str)
            .map(str::to_string),
        created_at: time("createdAt")?,
        updated_at: time("updatedAt")?,
        version: object
            .get("version")
            .and_then(Value::as_i64)
            .and_then(|v| i32::try_from(v).ok())
            .ok_or("a document needs `version` (an integer)")?,
    })
}

/// A user as hooks see it: `{id, email, role, data, createdAt, lastLoginAt}` (never the hash).
pub fn user(user: &User) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "data": user.data,
        "createdAt": rfc3339(user.created_at),
        "updatedAt": rfc3339(user.updated_at),
        "lastLoginAt": user.last_login_at.map(rfc3339),
    })
}

/// The meta fields of a document a `when` filter may test.
pub fn document_meta(doc: &Document) -> Vec<(MetaField, Value)> {
    vec![
        (MetaField::Id, Value::from(doc.id.clone())),
        (MetaField::OwnerId, json!(doc.owner_id)),
        (MetaField::CreatedAt, Value::from(doc.created_at)),
        (MetaField::UpdatedAt, Value::from(doc.updated_at)),
        (MetaField::Version, Value::from(doc.version)),
    ]
}

/// The meta fields of a user a `when` filter may test.
pub fn user_meta(user: &User) -> Vec<(MetaField, Value)> {
    vec![
        (MetaField::Id, Value::from(user.id.clone())),
        (MetaField::CreatedAt, Value::from(user.created_at)),
        (MetaField::UpdatedAt, Value::from(user.updated_at)),
    ]
}

/// Unix microseconds as RFC 3339 UTC with microseconds, as the API shows them.
pub fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
        .unwrap_or_default()
}
