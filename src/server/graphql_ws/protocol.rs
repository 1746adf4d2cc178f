//! The `graphql-transport-ws` protocol's messages and close codes, as the graphql-ws project
//! specifies them (<https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>), and
//! what hookql reads from `connection_init`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The subprotocol name clients must offer.
pub const SUBPROTOCOL: &str = "graphql-transport-ws";

/// Close codes of the protocol (4xxx) and of WebSocket itself.
pub mod close {
    /// The server is going away (shutting down) or the peer stopped answering.
    pub const GOING_AWAY: u16 = 1001;
    /// Try again later: the client fell behind; graphql-ws clients reconnect on it.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// A message that is not valid in the protocol.
    pub const BAD_REQUEST: u16 = 4400;
    /// `subscribe` before the connection was acknowledged.
    pub const UNAUTHORIZED: u16 = 4401;
    /// The connection's credentials were refused (or have expired).
    pub const FORBIDDEN: u16 = 4403;
    /// The client did not offer `graphql-transport-ws`.
    pub const SUBPROTOCOL_NOT_ACCEPTABLE: u16 = 4406;
    /// No `connection_init` in time.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// A `subscribe` reused the id of an operation still running.
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    /// A second `connection_init`.
    pub const TOO_MANY_INIT: u16 = 4429;
}

/// A message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Opens the connection, with credentials in the payload.
    ConnectionInit {
        /// `{"Authorization": "Bearer …"}` or `{"authToken": "…"}`, or nothing.
        #[serde(default)]
        payload: Option<Value>,
    },
    /// Answered with a pong.
    Ping {
        /// Echoed back.
        #[serde(default)]
        payload: Option<Value>,
    },
    /// An answer to a ping.
    Pong {
        /// Ignored.
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    /// Starts an operation (a subscription, or a query or mutation with one result).
    Subscribe {
        /// The client's name for the operation.
        id: String,
        /// The GraphQL request.
        payload: SubscribePayload,
    },
    /// Stops an operation.
    Complete {
        /// The operation's id.
        id: String,
    },
}

/// A GraphQL request inside `subscribe`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribePayload {
    /// The document.
    pub query: String,
    /// Variables (an object or null).
    #[serde(default)]
    pub variables: Option<Map<String, Value>>,
    /// Which operation of the document to run.
    #[serde(default)]
    pub operation_name: Option<String>,
    /// Accepted and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    pub extensions: Option<Value>,
}

/// Reads a client message; the error says what was wrong, for the 4400 close reason.
pub fn parse(text: &str) -> Result<ClientMessage, String> {
    serde_json::from_str(text).map_err(|e| format!("invalid message: {e}"))
}

/// The `Authorization` value a `connection_init` payload carries: `Authorization` (or
/// `authorization`), `authToken` (a bare token), or either inside `headers`; otherwise the
/// upgrade request's own header. A value that is not text counts as a malformed one.
pub fn authorization(payload: Option<&Value>, header: Option<&str>) -> Option<String> {
    fn from(object: &Map<String, Value>) -> Option<String> {
        for key in ["Authorization", "authorization"] {
            if let Some(value) = object.get(key) {
                return Some(value.as_str().unwrap_or("(not text)").to_string());
            }
        }
        if let Some(value) = object.get("authToken") {
            return Some(match value.as_str() {
                Some(token) => format!("Bearer {token}"),
                None => "(not text)".to_string(),
            });
        }
        object
            .get("headers")
            .and_then(Value::as_object)
            .and_then(from)
    }
    payload
        .and_then(Value::as_object)
        .and_then(from)
        .or_else(|| header.map(str::to_string))
}

/// `connection_ack`.
pub fn ack() -> String {
    json!({"type": "connection_ack"}).to_string()
}

/// `pong`, echoing a ping's payload.
pub fn pong(payload: Option<Value>) -> String {
    match payload {
        Some(payload) => json!({"type": "pong", "payload": payload}),
        None => json!({"type": "pong"}),
    }
    .to_string()
}

/// `next`: one result of operation `id`, serialized straight from the response (no JSON tree
/// in between: this runs once per event per subscriber).
pub fn next(id: &str, payload: &impl Serialize) -> String {
    #[derive(Serialize)]
    struct Next<'a, P> {
        id: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
        payload: &'a P,
    }
    let next = Next {
        id,
        kind: "next",
        payload,
    };
    serde_json::to_string(&next).unwrap_or_else(|e| {
        error(
            id,
            json!([{"message": format!("the result could not be serialized: {e}")}]),
        )
    })
}

/// `error`: operation `id` failed before producing results.
pub fn error(id: &str, errors: Value) -> String {
    json!({"id": id, "type": "error", "payload": errors}).to_string()
}

/// `error` for an operation refused before it ran: one error with `message` and `code`.
pub fn refusal(id: &str, code: &str, message: &str) -> String {
    error(
        id,
        json!([{"message": message, "extensions": {"code": code}}]),
    )
}

/// `complete`: operation `id` has no more results.
pub fn complete(id: &str) -> String {
    json!({"id": id, "type": "complete"}).to_string()
}

/// A close reason cut to the 123 bytes a close frame allows, on a character boundary.
pub fn close_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_payload_first() {
        let bearer = json!({"Authorization": "Bearer a"});
        assert_eq!(
            authorization(Some(&bearer), Some("Bearer h")).as_deref(),
            Some("Bearer a")
        );
        let token = json!({"authToken": "b"});
        assert_eq!(
            authorization(Some(&token), None).as_deref(),
            Some("Bearer b")
        );
        let nested = json!({"headers": {"authorization": "Bearer c"}});
        assert_eq!(
            authorization(Some(&nested), None).as_deref(),
            Some("Bearer c")
        );
        assert_eq!(
            authorization(Some(&json!({})), Some("Bearer h")).as_deref(),
            Some("Bearer h")
        );
        assert_eq!(authorization(None, None), None);
        let odd = json!({"authToken": 5});
        assert_eq!(
            authorization(Some(&odd), None).as_deref(),
            Some("(not text)")
        );
    }

    #[test]
    fn messages_parse_or_say_why_not() {
        assert!(matches!(
            parse(
                r#"{"type":"subscribe","id":"1","payload":{"query":"{ me { id } }","variables":null}}"#
            ),
            Ok(ClientMessage::Subscribe { .. })
        ));
        assert!(matches!(
            parse(r#"{"type":"connection_init"}"#),
            Ok(ClientMessage::ConnectionInit { payload: None })
        ));
        assert!(parse(r#"{"type":"start","id":"1"}"#)
            .unwrap_err()
            .contains("unknown variant"));
        assert!(parse("not json").is_err());
    }

    #[test]
    fn close_reasons_fit_a_frame() {
        let long = "é".repeat(100);
        let cut = close_reason(&long);
        assert!(cut.len() <= 123 && long.starts_with(&cut));
    }
}
