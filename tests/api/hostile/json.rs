//! Deep JSON: one `createDocument` with 200 levels once stored a row that made every later
//! read of its collection fail, and the same through `register` broke the admin's `users`.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

use super::Bystander;
use crate::helpers::{spawn_app_with, with_admin, PASSWORD, PUBLIC_RULES};

/// `{"a": {"a": … 1}}`, `levels` objects deep, as GraphQL literal text.
fn literal(levels: usize) -> String {
    format!("{}1{}", "{a: ".repeat(levels), "}".repeat(levels))
}

fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!({"a": inner}))
}

const USERS: &str = "{ users { items { email data } } }";

#[tokio::test]
async fn two_hundred_levels_of_nesting_are_refused_everywhere_and_store_nothing() {
    let app = crate::helpers::signed_in(spawn_app_with(PUBLIC_RULES, with_admin).await).await;
    let page = app.create("wiki", json!({"title": "Home"})).await;
    let bystander = Bystander::start(&app, Some(("wiki", page["id"].as_str().unwrap())));

    let query = format!(
        "mutation {{ createDocument(collection: \"wiki\", data: {{deep: {}}}) {{ id }} }}",
        literal(200)
    );
    let error = app.error(&query, json!({})).await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("deeper than 32"),
        "{error}"
    );
    let create = "mutation($d: JSON!) { createDocument(collection: \"wiki\", data: $d) { id } }";
    let error = app.error(create, json!({"d": {"deep": nested(40)}})).await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    assert_eq!(app.count("wiki").await, 1);
    assert!(app.create("wiki", json!({"ok": nested(30)})).await["id"].is_string());

    let register = "mutation($d: JSON) { register(email: \"deep@example.com\", password: \"correct horse battery\", data: $d) { accessToken } }";
    let error = app
        .error_as(None, register, json!({"d": {"x": nested(40)}}))
        .await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    let login = app.login("deep@example.com", PASSWORD).await;
    assert!(login["errors"].is_array(), "no account was made: {login}");
    let update = "mutation($d: JSON) { updateMe(data: $d) { id } }";
    let error = app.error(update, json!({"d": {"x": nested(40)}})).await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");

    let admin = app.admin_token().await;
    let users = app.data_as(Some(&admin), USERS, json!({})).await;
    assert_eq!(users["users"]["items"].as_array().unwrap().len(), 2);
    bystander.assert_served().await;
}

#[tokio::test]
async fn rows_nested_too_deep_before_the_limit_still_read() {
    let app = crate::helpers::signed_in(spawn_app_with(PUBLIC_RULES, with_admin).await).await;
    let page = app.create("wiki", json!({"title": "Home"})).await;
    let id = page["id"].as_str().unwrap();
    // What a server before the limit stored: 200 levels, written here past the door.
    let deep = json!({"title": "Old", "deep": nested(200)});
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("database");
    let backend = db.get_database_backend();
    let (documents, users) = match backend {
        sea_orm::DbBackend::Postgres => (
            "UPDATE documents SET data = CAST($1 AS jsonb) WHERE id = $2",
            "UPDATE users SET data = CAST($1 AS jsonb) WHERE id = $2",
        ),
        _ => (
            "UPDATE documents SET data = ? WHERE id = ?",
            "UPDATE users SET data = ? WHERE id = ?",
        ),
    };
    for (sql, row) in [(documents, id), (users, app.user_id.as_deref().unwrap())] {
        db.execute(Statement::from_sql_and_values(
            backend,
            sql,
            [deep.to_string().into(), row.into()],
        ))
        .await
        .expect("old row written");
    }

    let list = "{ documents(collection: \"wiki\") { items { id data } } }";
    let items = app.data(list, json!({})).await["documents"]["items"].clone();
    assert_eq!(items[0]["data"]["title"], "Old", "{items}");
    let mut inner = &items[0]["data"]["deep"];
    while inner.is_object() {
        inner = &inner["a"];
    }
    let rest = inner
        .as_str()
        .expect("the part below the limit, as JSON text");
    assert!(rest.starts_with("{\"a\":"), "{rest}");

    let admin = app.admin_token().await;
    let users = app.data_as(Some(&admin), USERS, json!({})).await;
    assert_eq!(
        users["users"]["items"].as_array().unwrap().len(),
        2,
        "{users}"
    );
    // The old row can be fixed by replacing its data.
    let replace = "mutation($id: ID!) { updateDocument(collection: \"wiki\", id: $id, data: {title: \"New\"}, merge: false) { data } }";
    let fixed = app.data(replace, json!({"id": id})).await;
    assert_eq!(fixed["updateDocument"]["data"], json!({"title": "New"}));
}
