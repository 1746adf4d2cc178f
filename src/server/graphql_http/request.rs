//! Reading a GraphQL-over-HTTP request: GET parameters or a JSON body, and which operation
//! it runs (a mutation over GET is refused).

use std::collections::HashMap;

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
use serde_json::{Map, Value};

/// A parsed GraphQL-over-HTTP request.
pub struct GraphqlRequest {
    /// The query text.
    pub query: String,
    /// Its variables, if any.
    pub variables: Option<Map<String, Value>>,
    /// Which operation of the query to run.
    pub operation_name: Option<String>,
}

/// Reads GET parameters: `query`, and JSON-encoded `variables` and `extensions`.
pub fn parse_params(params: &HashMap<String, String>) -> Result<GraphqlRequest, String> {
    let query = params
        .get("query")
        .cloned()
        .ok_or("missing `query` parameter: send ?query=… (GET) or a JSON body (POST)")?;
    let decode = |name: &str| {
        params.get(name).map(|v| {
            serde_json::from_str::<Value>(v)
                .map_err(|_| format!("`{name}` must be a JSON-encoded object"))
        })
    };
    let variables = match decode("variables").transpose()? {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => return Err("`variables` must be a JSON-encoded object".into()),
    };
    if !matches!(
        decode("extensions").transpose()?,
        None | Some(Value::Null) | Some(Value::Object(_))
    ) {
        return Err("`extensions` must be a JSON-encoded object".into());
    }
    let operation_name = params
        .get("operationName")
        .filter(|n| !n.is_empty())
        .cloned();
    Ok(GraphqlRequest {
        query,
        variables,
        operation_name,
    })
}

/// Reads a POST body: a JSON object with `query` and optional (nullable) `variables`,
/// `operationName` and `extensions`; other keys are ignored.
pub fn parse_body(body: &[u8]) -> Result<GraphqlRequest, String> {
    let parsed: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Value::Object(mut fields) = parsed else {
        return Err(if parsed.is_array() {
            "batched requests are not supported; send one request object".into()
        } else {
            "the body must be a JSON object with a `query`".into()
        });
    };
    let query = match fields.remove("query") {
        Some(Value::String(query)) => query,
        Some(_) => return Err("`query` must be a string".into()),
        None => return Err("missing `query` in the request body".into()),
    };
    let variables = match fields.remove("variables") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => return Err("`variables` must be an object or null".into()),
    };
    let operation_name = match fields.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err("`operationName` must be a string or null".into()),
    };
    if !matches!(
        fields.get("extensions"),
        None | Some(Value::Null) | Some(Value::Object(_))
    ) {
        return Err("`extensions` must be an object or null".into());
    }
    Ok(GraphqlRequest {
        query,
        variables,
        operation_name,
    })
}

/// Whether the operation that would run is a mutation or subscription (not allowed over GET).
pub fn is_mutation(query: &str, operation_name: Option<&str>) -> bool {
    matches!(
        operation(query, operation_name),
        Some((OperationType::Mutation | OperationType::Subscription, _))
    )
}

/// The type of the operation that would run and its first root field (the `operation` label
/// of the request metrics), if the query parses and names one.
pub fn operation(
    query: &str,
    operation_name: Option<&str>,
) -> Option<(OperationType, Option<String>)> {
    let document = async_graphql::parser::parse_query(query).ok()?;
    let op = match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        _ => return None,
    };
    let first = op
        .node
        .selection_set
        .node
        .items
        .first()
        .and_then(|s| match &s.node {
            Selection::Field(field) => Some(field.node.name.node.to_string()),
            _ => None,
        });
    Some((op.node.ty, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_detected_for_get() {
        assert!(is_mutation("mutation { a }", None));
        assert!(!is_mutation("{ a }", None));
        assert!(is_mutation("query A { a } mutation B { b }", Some("B")));
        assert!(!is_mutation("query A { a } mutation B { b }", Some("A")));
    }
}
