//! The smaller holes: a redacted field as a yes/no oracle through filters, and secrets in a
//! hook's block reason.

use serde_json::json;

use crate::helpers::{spawn_app_with, with_admin};

const PEOPLE: &str = r#"version: 1
collections:
  people:
    rules: { read: public, create: authenticated, update: owner, delete: owner }
    hidden_fields: [ssn, contact.email]
"#;

const LIST: &str = "query($f: JSON, $s: [SortField!]) { documents(collection: \"people\", filter: $f, sort: $s) { totalCount items { data } } }";

#[tokio::test]
async fn hidden_fields_answer_no_filter_and_never_show() {
    let app = crate::helpers::signed_in(spawn_app_with(PEOPLE, with_admin).await).await;
    let made = app
        .create(
            "people",
            json!({"name": "Ann", "ssn": "123-45", "contact": {"email": "ann@example.com", "phone": "1"}}),
        )
        .await;
    assert_eq!(
        made["data"],
        json!({"name": "Ann", "contact": {"phone": "1"}}),
        "hidden even from the owner's answer"
    );
    for filter in [
        json!({"ssn": "123-45"}),
        json!({"ssn": {"_like": "1%"}}),
        json!({"_or": [{"name": "x"}, {"_not": {"contact.email": {"_is_null": true}}}]}),
        json!({"contact": {"_is_null": false}}),
    ] {
        let error = app.error_as(None, LIST, json!({"f": filter})).await;
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{filter}: {error}"
        );
        assert!(
            error["message"].as_str().unwrap().contains("hidden field"),
            "{error}"
        );
    }
    let error = app
        .error_as(None, LIST, json!({"s": [{"field": "ssn"}]}))
        .await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    let seen = app.data_as(None, LIST, json!({"f": {"name": "Ann"}})).await;
    assert_eq!(
        seen["documents"]["items"][0]["data"],
        json!({"name": "Ann", "contact": {"phone": "1"}})
    );

    // The owner replaces the data: the hidden fields she cannot see are kept.
    app.data(
        "mutation($id: ID!) { updateDocument(collection: \"people\", id: $id, data: {name: \"Ann\"}, merge: false) { id } }",
        json!({"id": made["id"]}),
    )
    .await;
    let admin = app.admin_token().await;
    let all = app
        .data_as(Some(&admin), LIST, json!({"f": {"ssn": "123-45"}}))
        .await;
    assert_eq!(all["documents"]["items"][0]["data"]["ssn"], "123-45");
    assert_eq!(
        all["documents"]["items"][0]["data"]["contact"],
        json!({"email": "ann@example.com"})
    );
}

#[tokio::test]
async fn block_reasons_never_carry_config_secrets() {
    let hooks = r#"version: 1
config:
  PAYMENT_API_KEY: sk_live_0123456789
defaults:
  rules: { read: public, create: public, update: public, delete: public }
hooks:
  - name: check-payment
    on: pre_save
    script: |
      block(`payment refused with key ${config.get("PAYMENT_API_KEY")}`)
"#;
    let app = spawn_app_with(hooks, |_| {}).await;
    let response = app
        .gql_as(
            None,
            "mutation { createDocument(collection: \"orders\", data: {total: 1}) { id } }",
            json!({}),
        )
        .await;
    let error = &response["errors"][0];
    assert_eq!(error["extensions"]["code"], "HOOK_BLOCKED", "{response}");
    let text = response.to_string();
    assert!(!text.contains("sk_live_0123456789"), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
}

#[tokio::test]
async fn a_nul_in_an_admin_filter_is_bad_input_not_internal() {
    let app = spawn_app_with(crate::helpers::NO_HOOKS, with_admin).await;
    let admin = app.admin_token().await;
    for query in [
        "query($h: String) { hookRuns(hook: $h) { totalCount } }",
        "query($h: String) { hookDeliveries(hook: $h) { totalCount } }",
        "mutation($h: String) { retryDeadDeliveries(hook: $h) }",
    ] {
        let error = app
            .error_as(Some(&admin), query, json!({"h": "a\u{0}b"}))
            .await;
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{query}: {error}"
        );
    }
}
