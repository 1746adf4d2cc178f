//! Which response type a client gets, from its `Accept` header (GraphQL over HTTP, "Accept").

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
/// The JSON media type, which is also what a request body must be.
pub const JSON: &str = "application/json";

/// The response media type chosen from `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: request errors get 4xx.
    GraphqlResponseJson,
    /// `application/json`: always 200 for well-formed requests.
    Json,
}

impl MediaType {
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }
}

/// Chooses the response type. No `Accept` means `application/json` (legacy clients); a pure
/// wildcard also gets `application/json`; an explicit `application/graphql-response+json`
/// wins ties. `None` when neither is acceptable (406).
pub fn negotiate(accept: Option<&str>) -> Option<MediaType> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(MediaType::Json);
    };
    // (q, specificity) of the best range matching each type.
    let mut best = [(0.0f32, 0u8, false); 2];
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        for param in parts {
            if let Some((k, v)) = param.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
        }
        for (i, candidate) in [GRAPHQL_RESPONSE_JSON, JSON].iter().enumerate() {
            let specificity = if media == *candidate {
                3
            } else if media == "application/*" {
                2
            } else if media == "*/*" {
                1
            } else {
                0
            };
            if specificity > best[i].1 {
                best[i] = (q, specificity, specificity == 3);
            }
        }
    }
    let (gr, js) = (best[0], best[1]);
    match (gr.0 > 0.0, js.0 > 0.0) {
        (false, false) => None,
        (true, false) => Some(MediaType::GraphqlResponseJson),
        (false, true) => Some(MediaType::Json),
        (true, true) if gr.2 && gr.0 >= js.0 => Some(MediaType::GraphqlResponseJson),
        (true, true) if gr.0 > js.0 => Some(MediaType::GraphqlResponseJson),
        _ => Some(MediaType::Json),
    }
}

/// No response type the client accepts can be given.
pub fn not_acceptable() -> Response {
    (
        StatusCode::NOT_ACCEPTABLE,
        "acceptable response types: application/graphql-response+json, application/json",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        use MediaType::*;
        assert_eq!(negotiate(None), Some(Json));
        assert_eq!(negotiate(Some("application/json")), Some(Json));
        assert_eq!(
            negotiate(Some("application/graphql-response+json")),
            Some(GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(Some(
                "application/json, application/graphql-response+json;q=0.5"
            )),
            Some(Json)
        );
        assert_eq!(negotiate(Some("*/*")), Some(Json));
        assert_eq!(
            negotiate(Some("application/graphql-response+json, */*;q=0.1")),
            Some(GraphqlResponseJson)
        );
        assert_eq!(negotiate(Some("text/html")), None);
    }
}
