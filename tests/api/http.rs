//! GraphQL over HTTP as the GraphQL-over-HTTP specification describes it, GraphiQL and health.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{signed_in, spawn_app, spawn_app_with, NO_HOOKS, PUBLIC_RULES};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations_with_405() {
    let app = signed_in(spawn_app_with(PUBLIC_RULES, |_| {}).await).await;
    app.create("posts", json!({"t": 1})).await;
    let url = format!("{}/graphql", app.address);
    let ok = app
        .client
        .get(&url)
        .query(&[(
            "query",
            "{ documents(collection: \"posts\") { totalCount } }",
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        ok.json::<Value>().await.unwrap()["data"]["documents"]["totalCount"],
        1
    );

    let with_vars = app
        .client
        .get(&url)
        .query(&[
            (
                "query",
                "query Q($c: String!) { documents(collection: $c) { totalCount } }",
            ),
            ("variables", "{\"c\":\"posts\"}"),
            ("operationName", "Q"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        with_vars.json::<Value>().await.unwrap()["data"]["documents"]["totalCount"],
        1
    );

    let mutation = app
        .client
        .get(&url)
        .query(&[(
            "query",
            "mutation { createDocument(collection: \"posts\", data: {t: 2}) { id } }",
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(mutation.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(mutation.headers()["allow"], "POST");
    assert_eq!(app.count("posts").await, 1);
}

#[tokio::test]
async fn response_type_follows_accept_and_request_errors_get_400_only_for_graphql_response_json() {
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.address);
    let invalid = json!({"query": "{ noSuchField }"});

    let modern = app
        .client
        .post(&url)
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .json(&invalid)
        .send()
        .await
        .unwrap();
    assert_eq!(modern.status(), StatusCode::BAD_REQUEST);
    assert!(modern.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with(GRAPHQL_RESPONSE));
    let body: Value = modern.json().await.unwrap();
    assert!(
        body.get("data").is_none(),
        "a request error has no data entry: {body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    let legacy = app
        .client
        .post(&url)
        .header(ACCEPT, "application/json")
        .json(&invalid)
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), StatusCode::OK);
    assert!(legacy.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/json"));

    let syntax = app
        .client
        .post(&url)
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .json(&json!({"query": "{ documents("}))
        .send()
        .await
        .unwrap();
    assert_eq!(syntax.status(), StatusCode::BAD_REQUEST);

    // A field error is not a request error: 200 with data and errors.
    let field_error = app
        .client
        .post(&url)
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .json(&json!({"query": "{ documents(collection: \"Bad\") { totalCount } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(field_error.status(), StatusCode::OK);
    let body: Value = field_error.json().await.unwrap();
    assert!(body.get("data").is_some(), "{body}");

    let refused = app
        .client
        .post(&url)
        .header(ACCEPT, "text/html")
        .json(&invalid)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn null_variables_operation_name_and_extensions_are_accepted() {
    let app = signed_in(spawn_app_with(PUBLIC_RULES, |_| {}).await).await;
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({"query": "{ documents(collection: \"x\") { totalCount } }", "variables": null, "operationName": null, "extensions": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["data"]["documents"]["totalCount"],
        0
    );
}

#[tokio::test]
async fn malformed_requests_get_4xx() {
    let app = spawn_app_with(NO_HOOKS, |s| s.max_body_bytes = 4096).await;
    let url = format!("{}/graphql", app.address);
    let send = |body: String, content_type: &'static str| {
        let request = app
            .client
            .post(&url)
            .header(CONTENT_TYPE, content_type)
            .header(ACCEPT, GRAPHQL_RESPONSE)
            .body(body);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(
        send("{\"query\": \"{ a }\"}".into(), "text/plain")
            .await
            .status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        send("{not json".into(), "application/json").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send("{\"variables\": {}}".into(), "application/json")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send("[{\"query\": \"{ a }\"}]".into(), "application/json")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(
            "{\"query\": \"{ a }\", \"variables\": [1]}".into(),
            "application/json"
        )
        .await
        .status(),
        StatusCode::BAD_REQUEST
    );
    let big = format!("{{\"query\": \"{{ documents(collection: \\\"x\\\") {{ totalCount }} }}\", \"variables\": {{\"pad\": \"{}\"}}}}", "x".repeat(8000));
    let too_big = send(big, "application/json").await;
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = too_big.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("4096 bytes"),
        "{body}"
    );
}

#[tokio::test]
async fn query_depth_and_complexity_are_limited() {
    let app = signed_in(
        spawn_app_with(NO_HOOKS, |s| {
            s.max_query_depth = 3;
            s.max_query_complexity = 10;
        })
        .await,
    )
    .await;
    let deep = app
        .gql(
            "{ documents(collection: \"x\", limit: 2) { items { id data } } }",
            json!({}),
        )
        .await;
    assert!(deep.get("errors").is_none(), "{deep}");
    let complex = app
        .gql("{ a: documents(collection: \"x\") { totalCount items { id data collection version } } b: documents(collection: \"x\") { totalCount items { id data collection version } } }", json!({}))
        .await;
    let message = complex["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("at most 10 (HOOKQL_MAX_QUERY_COMPLEXITY)"),
        "{complex}"
    );
}

#[tokio::test]
async fn graphiql_page_is_pinned_and_healthz_answers() {
    let app = spawn_app().await;
    let page = app
        .client
        .get(format!("{}/graphql", app.address))
        .header(ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("graphiql@3.9.0/graphiql.min.js"), "{html}");
    assert_eq!(html.matches("integrity=\"sha384-").count(), 5);
    assert!(
        html.contains("createClient"),
        "the subscription endpoint is set"
    );

    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn graphiql_offline_mode_serves_the_pinned_files_from_a_folder() {
    let assets = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(assets.path().join("graphiql")).unwrap();
    std::fs::write(
        assets.path().join("graphiql/graphiql.min.js"),
        "/* graphiql */",
    )
    .unwrap();
    let folder = assets.path().to_path_buf();
    let app = spawn_app_with(NO_HOOKS, move |s| s.graphiql_assets = Some(folder)).await;
    let html = app
        .client
        .get(format!("{}/graphql", app.address))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("src=\"/graphiql/assets/graphiql/graphiql.min.js\""),
        "{html}"
    );
    assert!(!html.contains("cdn.jsdelivr.net"));
    let js = app
        .client
        .get(format!(
            "{}/graphiql/assets/graphiql/graphiql.min.js",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert_eq!(js.text().await.unwrap(), "/* graphiql */");
    // Only the pinned files are served: no other path, no traversal.
    for path in [
        "graphiql/package.json",
        "graphiql/..%2F..%2Fetc%2Fpasswd",
        "react/umd/react.production.min.js",
    ] {
        let other = app
            .client
            .get(format!("{}/graphiql/assets/{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

/// The introspection query GraphiQL sends (graphql-js `getIntrospectionQuery` with every
/// option on): it must pass the default depth and complexity limits, or GraphiQL has no schema.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL isOneOf
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}
"#;

#[tokio::test]
async fn graphiql_introspection_fits_the_default_limits() {
    let app = spawn_app().await;
    let response = app.gql(INTROSPECTION, json!({})).await;
    assert!(response.get("errors").is_none(), "{response}");
    let types = response["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Document"));
}

#[tokio::test]
async fn browsers_may_call_from_allowed_origins_only() {
    let app = spawn_app_with(NO_HOOKS, |s| {
        s.cors_origins = "http://localhost:3000, https://app.example.com".into()
    })
    .await;
    let url = format!("{}/graphql", app.address);
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
            .send()
    };
    let allowed = preflight("http://localhost:3000").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert!(allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let post = app
        .client
        .post(&url)
        .header("origin", "https://app.example.com")
        .json(&json!({"query": "{ documents(collection: \"x\") { totalCount } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        post.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
}

#[tokio::test]
async fn subscriptions_over_http_are_pointed_at_the_websocket() {
    let app = spawn_app_with(PUBLIC_RULES, |_| {}).await;
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .json(&json!({"query": "subscription { documentChanged(collection: \"posts\") { type } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("data").is_none(), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("graphql-transport-ws"), "{body}");
}
