//! Documents as every layer sees them: the stored row, and data checked once at the edge
//! (a JSON object, within the size and depth limits, without NUL characters).

use serde_json::{Map, Value};

use super::json::{kind, nul_at, too_deep_at, too_deep_message, MAX_JSON_DEPTH};

/// Largest serialized size of one document's data.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// A stored document as the rest of hookql sees it.
pub type Document = entity::document::Model;

/// A document's data: a JSON object within the size limit.
#[derive(Clone, Debug, PartialEq)]
pub struct DocumentData(Map<String, Value>);

impl DocumentData {
    /// Accepts a JSON object of at most [`MAX_DOCUMENT_BYTES`], nested at most
    /// [`MAX_JSON_DEPTH`] levels.
    pub fn parse(value: Value) -> Result<Self, String> {
        if let Some(at) = too_deep_at(&value, MAX_JSON_DEPTH) {
            return Err(too_deep_message(&at));
        }
        let Value::Object(object) = value else {
            return Err(format!(
                "expected a JSON object such as {{\"title\": \"Hello\"}}, got {}",
                kind(&value)
            ));
        };
        let data = Self(object);
        data.check_size()?;
        if let Some(at) = nul_at(&data.0) {
            return Err(format!(
                "`{at}` contains the NUL character (\\u0000), which text cannot hold"
            ));
        }
        Ok(data)
    }

    fn check_size(&self) -> Result<(), String> {
        let size = serde_json::to_vec(&self.0)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "the document is {size} bytes; at most {MAX_DOCUMENT_BYTES} are allowed"
            ));
        }
        Ok(())
    }

    /// The data as a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// How `updateDocument` changes the data.
#[derive(Clone, Debug)]
pub struct UpdateChange {
    /// The new data, or the patch when `merge` is set.
    pub data: DocumentData,
    /// Apply `data` as a JSON Merge Patch (RFC 7386) instead of replacing.
    pub merge: bool,
    /// Fail with a conflict unless the stored version is this one.
    pub expected_version: Option<i32>,
}
