//! The README's GraphQL walk-through, run in order against a real server, so every example a
//! newcomer copies works.

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, NO_HOOKS};

/// The hooks.yaml `cargo run` starts with.
pub fn shipped_hooks() -> std::path::PathBuf {
    concat!(env!("CARGO_MANIFEST_DIR"), "/hooks.yaml").into()
}

/// The document id the README's examples use; replaced by a real one.
const README_ID: &str = "01a2133e-8321-7030-a1d0-0dd8b7981235";
/// Where the README's examples want the latest refresh token.
const README_REFRESH: &str = "<refresh token>";

/// `(query, variables)` for each ```graphql block; a ```json block right after one holds its
/// variables.
fn examples(readme: &str) -> Vec<(String, Value)> {
    let mut examples: Vec<(String, Value)> = Vec::new();
    let mut previous_was_graphql = false;
    for (i, part) in readme.split("```").enumerate() {
        if i % 2 == 0 {
            continue; // prose between blocks
        }
        let (language, body) = part.split_once('\n').unwrap_or((part, ""));
        match language.trim() {
            "graphql" => {
                examples.push((body.to_string(), json!({})));
                previous_was_graphql = true;
            }
            "json" if previous_was_graphql => {
                let variables: Value =
                    serde_json::from_str(body).expect("README variables are JSON");
                examples.last_mut().unwrap().1 = variables;
                previous_was_graphql = false;
            }
            _ => previous_was_graphql = false,
        }
    }
    examples
}

#[tokio::test]
async fn every_graphql_example_in_the_readme_runs() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let examples = examples(&readme);
    assert!(examples.len() >= 4, "the walk-through has its examples");
    // As the README does, with the shipped hooks.yaml: sign up as Ann (its curl example),
    // create the post as Ann.
    let mut app = spawn_app_with(NO_HOOKS, |s| s.hooks = Some(shipped_hooks())).await;
    let signed_up = app
        .data_as(
            None,
            "mutation { register(email: \"ann@example.com\", password: \"correct horse battery\") { accessToken refreshToken } }",
            json!({}),
        )
        .await;
    app.token = signed_up["register"]["accessToken"]
        .as_str()
        .map(str::to_string);
    let mut refresh = signed_up["register"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    let created = app
        .create("posts", json!({"title": "Hello", "status": "published", "views": 10, "tags": ["intro"], "author": {"name": "Ann"}}))
        .await;
    let id = created["id"].as_str().unwrap();
    for (query, variables) in examples {
        let query = query
            .replace(README_ID, id)
            .replace(README_REFRESH, &refresh);
        let response = app.gql(&query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "README example failed:\n{query}\n{response}"
        );
        // Sessions rotate: the next example uses the newest refresh token.
        for (_, value) in response["data"].as_object().into_iter().flatten() {
            if let Some(next) = value["refreshToken"].as_str() {
                refresh = next.to_string();
            }
        }
        if query.contains("documents(") {
            assert_eq!(response["data"]["documents"]["totalCount"], 1, "{response}");
        }
    }
}
