//! Oversized responses: twenty ~1 MB documents and 50 aliases of `documents(limit: 1000)`
//! once made a 953 MB response and held 3 GB of server memory.

use serde_json::json;

use super::Bystander;
use crate::helpers::{spawn_app_with, PUBLIC_RULES};

fn aliases(n: usize, limit: usize) -> String {
    let fields: Vec<String> = (0..n)
        .map(|i| {
            format!("a{i}: documents(collection: \"big\", limit: {limit}) {{ items {{ data }} }}")
        })
        .collect();
    format!("{{ {} }}", fields.join(" "))
}

#[tokio::test]
async fn fifty_aliases_of_a_thousand_rows_are_refused_by_complexity() {
    let app = spawn_app_with(PUBLIC_RULES, |_| {}).await;
    let error = app.error(&aliases(50, 1000), json!({})).await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("complex"),
        "{error}"
    );
    // One full page is a normal query.
    let page = app.data(&aliases(1, 1000), json!({})).await;
    assert!(page["a0"]["items"].is_array());
}

#[tokio::test]
async fn a_response_past_the_byte_limit_ends_with_a_clear_error() {
    let app = spawn_app_with(PUBLIC_RULES, |s| s.max_response_bytes = 5_000_000).await;
    let body = "x".repeat(900_000);
    let mut first = None;
    for i in 0..8 {
        let doc = app.create("big", json!({"n": i, "body": body})).await;
        first.get_or_insert(doc["id"].as_str().unwrap().to_string());
    }
    let bystander = Bystander::start(&app, Some(("big", first.as_deref().unwrap())));
    // Five aliases pass complexity; together they would read 36 MB.
    let response = app.gql(&aliases(5, 1000), json!({})).await;
    let errors = response["errors"].as_array().expect("errors");
    assert!(!errors.is_empty());
    for error in errors {
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("HOOKQL_MAX_RESPONSE_BYTES"), "{message}");
    }
    let text = response.to_string();
    assert!(
        text.len() < 6_000_000,
        "the response holds {} bytes",
        text.len()
    );
    // A page within the limit still answers.
    let page = app.data(&aliases(1, 4), json!({})).await;
    assert_eq!(page["a0"]["items"].as_array().unwrap().len(), 4);
    bystander.assert_served().await;
}

#[tokio::test]
async fn aliases_of_one_large_document_or_profile_share_the_byte_limit() {
    let app = crate::helpers::signed_in(
        spawn_app_with(PUBLIC_RULES, |s| s.max_response_bytes = 5_000_000).await,
    )
    .await;
    let body = "x".repeat(900_000);
    let doc = app.create("big", json!({"body": body})).await;
    let id = doc["id"].as_str().unwrap();
    let fields: Vec<String> = (0..50)
        .map(|i| format!("a{i}: document(collection: \"big\", id: \"{id}\") {{ data }}"))
        .collect();
    let response = app
        .gql(&format!("{{ {} }}", fields.join(" ")), json!({}))
        .await;
    assert_cut_short(&response);

    app.data(
        "mutation($d: JSON) { updateMe(data: $d) { id } }",
        json!({"d": {"blob": body}}),
    )
    .await;
    let fields: Vec<String> = (0..50).map(|i| format!("m{i}: me {{ data }}")).collect();
    let response = app
        .gql(&format!("{{ {} }}", fields.join(" ")), json!({}))
        .await;
    assert_cut_short(&response);
}

/// `response` was ended by the 5 MB read budget: a clear error, and far less than was asked.
fn assert_cut_short(response: &serde_json::Value) {
    let message = response["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("HOOKQL_MAX_RESPONSE_BYTES"), "{message}");
    assert!(response.to_string().len() < 6_000_000);
}

#[tokio::test]
async fn aliased_mutations_of_a_large_document_stop_before_writing_past_the_byte_limit() {
    let app = spawn_app_with(PUBLIC_RULES, |s| s.max_response_bytes = 100_000).await;
    let doc = app.create("big", json!({"body": "x".repeat(40_000)})).await;
    let id = doc["id"].as_str().unwrap();
    let fields: Vec<String> = (0..10)
        .map(|i| {
            format!("m{i}: updateDocument(collection: \"big\", id: \"{id}\", data: {{}}) {{ version data }}")
        })
        .collect();
    let response = app
        .gql(&format!("mutation {{ {} }}", fields.join(" ")), json!({}))
        .await;
    // Three answers reach 120,000 bytes (the third crosses the limit and still answers);
    // the seven after it are refused before they write.
    let answered = (0..10)
        .filter(|i| response["data"][format!("m{i}")]["version"].is_number())
        .count();
    assert_eq!(answered, 3, "{response}");
    let errors = response["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 7, "{response}");
    for error in errors {
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    }
    let read = "query($id: ID!) { document(collection: \"big\", id: $id) { version } }";
    let now = app.data(read, json!({"id": id})).await;
    assert_eq!(now["document"]["version"], 4, "{now}");
}

#[tokio::test]
async fn an_unread_subscription_is_bounded_by_bytes_not_only_by_messages() {
    let app = spawn_app_with(PUBLIC_RULES, |s| s.max_response_bytes = 1_000_000).await;
    let mut unread = crate::ws::Ws::connect(&app.address, None).await;
    unread.subscribe("1", "posts", None).await;
    super::subscriptions_open(&app, 1).await;
    // With the default 256-message queue, 128 KiB events would queue 32 MiB before the
    // message count gave up on the client; the byte budget gives up past the socket buffers
    // and 1 MB.
    let writes = app
        .write_until_slow_disconnect("posts", 128 * 1024, 250)
        .await;
    let (code, reason) = unread.closed().await;
    assert_eq!(code, 1013, "after {writes} writes: {reason}");
    assert!(reason.contains("bytes were waiting"), "{reason}");
}

#[tokio::test]
async fn aliased_profile_updates_stop_before_writing_past_the_byte_limit() {
    let app = crate::helpers::signed_in(
        spawn_app_with(PUBLIC_RULES, |s| s.max_response_bytes = 100_000).await,
    )
    .await;
    let fields: Vec<String> = (0..10)
        .map(|i| format!("m{i}: updateMe(data: $d) {{ id }}"))
        .collect();
    let query = format!("mutation($d: JSON) {{ {} }}", fields.join(" "));
    let response = app
        .gql(&query, json!({"d": {"blob": "x".repeat(40_000)}}))
        .await;
    let answered = (0..10)
        .filter(|i| response["data"][format!("m{i}")]["id"].is_string())
        .count();
    assert_eq!(answered, 3, "{response}");
    let errors = response["errors"].as_array().expect("errors");
    assert!(errors
        .iter()
        .all(|e| e["extensions"]["code"] == "BAD_USER_INPUT"));
}

#[tokio::test]
async fn first_events_of_many_unread_subscriptions_count_against_the_connection() {
    let app = spawn_app_with(PUBLIC_RULES, |s| s.max_response_bytes = 1_000_000).await;
    let mut unread = crate::ws::Ws::connect(&app.address, None).await;
    for n in 0..40 {
        unread.subscribe(&n.to_string(), "posts", None).await;
    }
    super::subscriptions_open(&app, 40).await;
    // One 500 KB write is forty first events: 20 MB for a client that reads none of them.
    app.create("posts", json!({"pad": "x".repeat(500_000)}))
        .await;
    let (code, reason) = unread.closed().await;
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("bytes were waiting"), "{reason}");
}

#[tokio::test]
async fn aliases_of_data_inside_fragments_count_every_copy() {
    let app = spawn_app_with(PUBLIC_RULES, |s| s.max_response_bytes = 1_000_000).await;
    for _ in 0..4 {
        app.create("big", json!({"body": "x".repeat(100_000)}))
            .await;
    }
    // 25 spreads of 25 `data` aliases: 625 copies of each row for the price of one read.
    let copies: Vec<String> = (0..25).map(|i| format!("d{i}: data")).collect();
    let spreads: Vec<String> = (0..25).map(|i| format!("i{i}: items {{ ...F }}")).collect();
    let query = format!(
        "{{ documents(collection: \"big\", limit: 4) {{ {} }} }} fragment F on Document {{ {} }}",
        spreads.join(" "),
        copies.join(" ")
    );
    let response = app.gql(&query, json!({})).await;
    let message = response["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("HOOKQL_MAX_RESPONSE_BYTES"), "{message}");
    assert!(response.to_string().len() < 2_000_000);
}
