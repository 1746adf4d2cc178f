//! GraphQL over HTTP, as the GraphQL-over-HTTP specification describes it (SHOULDs included).
//!
//! - `POST /graphql` with `Content-Type: application/json`; `GET /graphql?query=…` for
//!   queries only (a mutation over GET is refused with 405, so a link or prefetch can never
//!   write).
//! - The response type follows `Accept`: `application/graphql-response+json` answers request
//!   errors (unparsable, invalid, over a limit) with 4xx; `application/json` (or no `Accept`,
//!   as legacy clients send) answers every well-formed request with 200.
//! - `null` is accepted for `variables`, `operationName` and `extensions`.

mod media;
mod request;

use std::collections::HashMap;

use async_graphql::parser::types::OperationType;
use async_graphql::{ServerError, Variables};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Map, Value};

use super::HttpState;
use crate::graphql::error::code;
use crate::state::per_ip::Peer;
use media::{negotiate, not_acceptable, MediaType, JSON};
use request::{is_mutation, operation, parse_body, parse_params, GraphqlRequest};
use std::net::IpAddr;

/// A request that is not a well-formed GraphQL-over-HTTP request: 4xx for either type.
fn refuse(media: MediaType, status: StatusCode, message: &str) -> Response {
    let body =
        json!({"errors": [{"message": message, "extensions": {"code": code::BAD_USER_INPUT}}]});
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    response
}

/// `GET /graphql`: a WebSocket upgrade ([`super::graphql_ws`]), GraphiQL for browsers,
/// otherwise a query from the URL.
pub async fn get(
    State(state): State<HttpState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    peer: Option<Extension<Peer>>,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Ok(upgrade) = upgrade {
        let header = authorization(&headers).map(str::to_string);
        let peer = peer.map(|Extension(Peer(ip))| ip);
        return super::graphql_ws::upgrade(&state, upgrade, header, peer);
    }
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if !params.contains_key("query") && accept.is_some_and(|a| a.contains("text/html")) {
        return super::graphiql::response(&state.app);
    }
    let Some(media) = negotiate(accept) else {
        return not_acceptable();
    };
    let request = match parse_params(&params) {
        Ok(request) => request,
        Err(message) => return refuse(media, StatusCode::BAD_REQUEST, &message),
    };
    if is_mutation(&request.query, request.operation_name.as_deref()) {
        let mut response = refuse(
            media,
            StatusCode::METHOD_NOT_ALLOWED,
            "mutations cannot be sent with GET: use POST (and subscriptions, a WebSocket to /graphql with the graphql-transport-ws protocol)",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let peer = peer.map(|Extension(Peer(ip))| ip);
    execute(&state, media, request, authorization(&headers), peer).await
}

/// `POST /graphql` with a JSON body.
pub async fn post(
    State(state): State<HttpState>,
    headers: HeaderMap,
    peer: Option<Extension<Peer>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(media) = negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())) else {
        return not_acceptable();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case(JSON) {
        return refuse(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request body as JSON with `Content-Type: application/json`",
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let message = format!(
                "the request body is larger than {} bytes",
                state.app.settings().max_body_bytes
            );
            return refuse(media, StatusCode::PAYLOAD_TOO_LARGE, &message);
        }
        Err(rejection) if super::body_deadline::timed_out(&rejection).is_some() => {
            let message = format!(
                "the request body did not arrive within {} s; send it faster",
                state.app.settings().body_timeout_secs
            );
            return refuse(media, StatusCode::REQUEST_TIMEOUT, &message);
        }
        Err(rejection) => {
            return refuse(media, rejection.status(), "could not read the request body")
        }
    };
    match parse_body(&body) {
        Ok(request) => {
            let peer = peer.map(|Extension(Peer(ip))| ip);
            execute(&state, media, request, authorization(&headers), peer).await
        }
        Err(message) => refuse(media, StatusCode::BAD_REQUEST, &message),
    }
}

/// The `Authorization` header, if any (a non-text value counts as a malformed one).
fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("(not text)"))
}

async fn execute(
    state: &HttpState,
    media: MediaType,
    request: GraphqlRequest,
    authorization: Option<&str>,
    peer: Option<IpAddr>,
) -> Response {
    let started = std::time::Instant::now();
    let (kind, root_field) = operation(&request.query, request.operation_name.as_deref())
        .map_or((None, None), |(kind, field)| (Some(kind), field));
    let subscription = kind == Some(OperationType::Subscription);
    let caller = state.app.auth().caller(authorization);
    let limit = state.app.settings().max_response_bytes;
    let budget = state.app.clients().read_budget(limit, peer);
    let mut gql = async_graphql::Request::new(request.query)
        .data(caller)
        .data(budget);
    if let Some(variables) = request.variables {
        gql = gql.variables(Variables::from_json(Value::Object(variables)));
    }
    if let Some(name) = request.operation_name {
        gql = gql.operation_name(name);
    }
    // Run to the end even if the client goes away: a mutation dropped half-way would abandon
    // its transaction mid-statement (and its durable deliveries with it) at the whim of a
    // closed socket.
    let schema = state.schema.clone();
    let executed = tokio::spawn(crate::request_id::carry(async move {
        if subscription {
            let message = "subscriptions are served over WebSocket: connect to /graphql with the graphql-transport-ws protocol (any graphql-ws client)";
            return async_graphql::Response::from_errors(vec![ServerError::new(message, None)]);
        }
        schema.execute(gql).await
    }));
    let mut response = match executed.await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!("a GraphQL request crashed: {e}");
            let error = crate::graphql::error::internal("the request crashed")
                .into_server_error(async_graphql::Pos::default());
            async_graphql::Response::from_errors(vec![error])
        }
    };
    // A request error (parse, validation, limits, variables) has no path and no data; such a
    // response must not have a `data` entry.
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    // Errors raised by the GraphQL engine itself (syntax, validation, argument coercion)
    // carry no code; they are all the client's input.
    for error in &mut response.errors {
        crate::graphql::error::tag_uncoded_error(error, state.app.settings());
    }
    // Only a request that validated names a real field: label sets stay bounded by the schema.
    let label = match root_field {
        Some(field) if !request_error => field,
        _ => "(invalid)".to_string(),
    };
    let outcome = response
        .errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|x| x.get("code"))
        .and_then(|code| match code {
            async_graphql::Value::String(code) => Some(code.as_str()),
            _ => None,
        })
        .unwrap_or("ok");
    state
        .app
        .metrics()
        .request(&label, outcome, started.elapsed());
    let mut body = Map::new();
    if !request_error {
        body.insert(
            "data".into(),
            serde_json::to_value(&response.data).unwrap_or(Value::Null),
        );
    }
    if !response.errors.is_empty() {
        body.insert(
            "errors".into(),
            serde_json::to_value(&response.errors).unwrap_or(Value::Null),
        );
    }
    if !response.extensions.is_empty() {
        body.insert(
            "extensions".into(),
            serde_json::to_value(&response.extensions).unwrap_or(Value::Null),
        );
    }
    let status = if request_error && media == MediaType::GraphqlResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut http = (status, Value::Object(body).to_string()).into_response();
    http.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    http
}
