//! Every filter operator, checked against the same fixture on whichever database runs the
//! suite (the CI runs it on SQLite and PostgreSQL, so both give these exact results).

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

async fn fixture(app: &TestApp) -> Vec<Value> {
    let docs = [
        json!({"name": "alice", "age": 30, "score": 1.5, "active": true, "tags": ["a", "b"], "address": {"city": "Paris"}, "nick": null}),
        json!({"name": "Bob", "age": 25, "score": 2, "active": false, "tags": ["b"], "address": {"city": "Berlin"}}),
        json!({"name": "carol", "age": "35", "tags": [], "address": {"city": "paris"}, "pct": "50%"}),
        json!({"name": "dave", "age": 40.0, "score": -1, "active": true, "tags": [1, 2]}),
    ];
    let mut created = Vec::new();
    for doc in docs {
        created.push(app.create("people", doc).await);
    }
    created
}

async fn names(app: &TestApp, filter: Value) -> Vec<String> {
    let response = app
        .gql("query($f: JSON) { documents(collection: \"people\", filter: $f, sort: [{field: \"name\"}]) { totalCount items { data } } }", json!({"f": filter}))
        .await;
    assert!(
        response.get("errors").is_none(),
        "filter {filter}: {response}"
    );
    let page = &response["data"]["documents"];
    let names: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["data"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        page["totalCount"].as_u64().unwrap() as usize,
        names.len(),
        "totalCount for {filter}"
    );
    names
}

#[tokio::test]
async fn every_operator_matches_by_json_type() {
    let app = spawn_app().await;
    fixture(&app).await;
    // Sorted by name in code point order: upper case first.
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["Bob", "alice", "carol", "dave"]),
        (json!({"name": "alice"}), vec!["alice"]),
        (json!({"name": {"_eq": "alice"}}), vec!["alice"]),
        (
            json!({"name": {"_neq": "alice"}}),
            vec!["Bob", "carol", "dave"],
        ),
        // "35" is a string, so numeric comparisons never match it.
        (json!({"age": {"_gt": 25}}), vec!["alice", "dave"]),
        (json!({"age": {"_gte": 25}}), vec!["Bob", "alice", "dave"]),
        (json!({"age": {"_lt": 30}}), vec!["Bob"]),
        (json!({"age": {"_lte": 30}}), vec!["Bob", "alice"]),
        (json!({"age": {"_eq": 40}}), vec!["dave"]),
        (json!({"age": {"_gt": "30"}}), vec!["carol"]),
        (json!({"score": {"_gt": 1, "_lt": 2}}), vec!["alice"]),
        (
            json!({"score": {"_gte": -1.0}}),
            vec!["Bob", "alice", "dave"],
        ),
        (
            json!({"name": {"_in": ["alice", "dave", "zed"]}}),
            vec!["alice", "dave"],
        ),
        (
            json!({"name": {"_nin": ["alice", "dave"]}}),
            vec!["Bob", "carol"],
        ),
        (json!({"age": {"_nin": [30]}}), vec!["Bob", "dave"]),
        (json!({"age": {"_in": [25, "35"]}}), vec!["Bob", "carol"]),
        (
            json!({"name": {"_like": "%a%"}}),
            vec!["alice", "carol", "dave"],
        ),
        (json!({"name": {"_like": "A%"}}), vec![]),
        (json!({"name": {"_like": "_ob"}}), vec!["Bob"]),
        (json!({"pct": {"_like": "%\\%"}}), vec!["carol"]),
        (json!({"name": {"_ilike": "b%"}}), vec!["Bob"]),
        (json!({"name": {"_ilike": "%O%"}}), vec!["Bob", "carol"]),
        (
            json!({"nick": {"_is_null": true}}),
            vec!["Bob", "alice", "carol", "dave"],
        ),
        (json!({"nick": null}), vec!["Bob", "alice", "carol", "dave"]),
        (json!({"score": {"_is_null": true}}), vec!["carol"]),
        (
            json!({"score": {"_is_null": false}}),
            vec!["Bob", "alice", "dave"],
        ),
        (json!({"tags": {"_contains": "b"}}), vec!["Bob", "alice"]),
        (json!({"tags": {"_contains": ["a", "b"]}}), vec!["alice"]),
        (json!({"tags": {"_contains": 2}}), vec!["dave"]),
        (
            json!({"tags": {"_contains": []}}),
            vec!["Bob", "alice", "carol", "dave"],
        ),
        (json!({"address.city": "Paris"}), vec!["alice"]),
        (
            json!({"address.city": {"_ilike": "paris"}}),
            vec!["alice", "carol"],
        ),
        (json!({"active": true}), vec!["alice", "dave"]),
        (json!({"active": {"_neq": true}}), vec!["Bob"]),
        (json!({"active": {"_in": [false]}}), vec!["Bob"]),
        (
            json!({"_or": [{"name": "alice"}, {"age": {"_lt": 26}}]}),
            vec!["Bob", "alice"],
        ),
        (
            json!({"_and": [{"active": true}, {"score": {"_gt": 0}}]}),
            vec!["alice"],
        ),
        (
            json!({"_not": {"name": "alice"}}),
            vec!["Bob", "carol", "dave"],
        ),
        // `_not` is the complement: documents without a score are included.
        (
            json!({"_not": {"score": {"_gt": 0}}}),
            vec!["carol", "dave"],
        ),
        (json!({"_or": []}), vec![]),
        (json!({"_and": []}), vec!["Bob", "alice", "carol", "dave"]),
        (json!({"missing.deep.path": {"_eq": 1}}), vec![]),
        (json!({"version": 1}), vec!["Bob", "alice", "carol", "dave"]),
        (
            json!({"ownerId": {"_is_null": false}}),
            vec!["Bob", "alice", "carol", "dave"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            names(&app, filter.clone()).await,
            expected,
            "filter {filter}"
        );
    }
}

#[tokio::test]
async fn meta_fields_filter_by_id_and_time() {
    let app = spawn_app().await;
    let created = fixture(&app).await;
    let bob = &created[1];
    assert_eq!(names(&app, json!({"id": bob["id"]})).await, vec!["Bob"]);
    assert_eq!(
        names(&app, json!({"id": {"_gt": bob["id"]}})).await,
        vec!["carol", "dave"]
    );
    assert_eq!(
        names(&app, json!({"createdAt": {"_gte": bob["createdAt"]}})).await,
        vec!["Bob", "carol", "dave"]
    );
    assert_eq!(
        names(&app, json!({"updatedAt": {"_lt": "2000-01-01T00:00:00Z"}})).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            &app,
            json!({"id": {"_in": [created[0]["id"], created[3]["id"]]}})
        )
        .await,
        vec!["alice", "dave"]
    );
}

#[tokio::test]
async fn malformed_filters_are_refused_with_the_place() {
    let app = spawn_app().await;
    fixture(&app).await;
    let cases = [
        (
            json!({"age": {"_gtt": 1}}),
            "filter.age._gtt",
            "did you mean `_gt`",
        ),
        (
            json!({"_nor": []}),
            "filter._nor",
            "unknown logical operator",
        ),
        (json!([1]), "filter", "expected an object"),
        (json!({"_or": {"a": 1}}), "filter._or", "expected a list"),
        (
            json!({"a": {"_in": "x"}}),
            "filter.a._in",
            "expected a list",
        ),
        (json!({"a": {"_gt": true}}), "filter.a._gt", "boolean"),
        (
            json!({"a": {"_eq": {"x": 1}}}),
            "filter.a._eq",
            "use `_contains`",
        ),
        (
            json!({"createdAt": {"_gt": "last week"}}),
            "filter.createdAt._gt",
            "RFC 3339",
        ),
        (
            json!({"name') OR 1=1 --": 1}),
            "filter.name') OR 1=1 --",
            "invalid field path",
        ),
        (
            json!({"a\"]') FROM documents; --": 1}),
            "filter.a\"]') FROM documents; --",
            "invalid field path",
        ),
    ];
    for (filter, field, message) in cases {
        let error = app
            .error(
                "query($f: JSON) { documents(collection: \"people\", filter: $f) { totalCount } }",
                json!({"f": filter}),
            )
            .await;
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{filter}: {error}"
        );
        assert_eq!(error["extensions"]["field"], field, "{filter}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(message),
            "{filter}: {error}"
        );
    }
    // An injection attempt in a value is just a value.
    assert_eq!(
        names(&app, json!({"name": "x' OR '1'='1"})).await,
        Vec::<String>::new()
    );
    assert_eq!(app.count("people").await, 4);
}

#[tokio::test]
async fn declared_indexes_answer_equality_with_the_same_results() {
    let hooks = "version: 1\ndefaults:\n  rules: { read: public, create: public }\ncollections:\n  items:\n    indexes: [category, a.b]\n";
    let app = crate::helpers::spawn_app_with(hooks, |_| {}).await;
    for data in [
        json!({"category": "x", "n": 1}),
        json!({"category": "y", "n": 2}),
        json!({"category": {"x": 1}, "n": 3}),
        json!({"category": ["x"], "n": 4}),
        json!({"n": 5, "a": {"b": "x"}}),
        json!({"category": "x", "n": 6}),
    ] {
        app.create("items", data).await;
    }
    app.create("others", json!({"category": "x", "n": 7})).await;
    let list = "query($f: JSON) { documents(collection: \"items\", filter: $f, sort: [{field: \"n\"}]) { items { data } } }";
    let ns = |data: Value| -> Vec<i64> {
        data["documents"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["data"]["n"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        ns(app.data(list, json!({"f": {"category": "x"}})).await),
        [1, 6]
    );
    assert_eq!(
        ns(app.data(list, json!({"f": {"a.b": {"_eq": "x"}}})).await),
        [5]
    );
    assert_eq!(
        ns(app
            .data(list, json!({"f": {"_not": {"category": "x"}}}))
            .await),
        [2, 3, 4, 5]
    );

    // The index exists, and SQLite's planner uses it for the filter hookql writes.
    let url = app.database_url.clone();
    if url.starts_with("sqlite:") {
        use sea_orm::sqlx::{Connection, Row};
        let mut db = sea_orm::sqlx::SqliteConnection::connect(&url)
            .await
            .unwrap();
        let plan: Vec<String> = sea_orm::sqlx::query(
            "EXPLAIN QUERY PLAN SELECT id FROM documents WHERE documents.collection = ? AND (TRUE AND (json_extract(documents.data, '$.\"category\"') = ? AND COALESCE(CASE WHEN json_type(documents.data, ?) = 'text' THEN json_extract(documents.data, ?) = ? ELSE FALSE END, FALSE))) ORDER BY documents.id ASC LIMIT 20",
        )
        .bind("items")
        .bind("x")
        .bind("$.\"category\"")
        .bind("$.\"category\"")
        .bind("x")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>("detail"))
        .collect();
        assert!(
            plan.iter().any(|p| p.contains("documents_by_category")),
            "{plan:?}"
        );
    } else {
        use sea_orm::sqlx::{Connection, Row};
        let mut db = sea_orm::sqlx::PgConnection::connect(&url).await.unwrap();
        let names: Vec<String> = sea_orm::sqlx::query(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'documents' AND schemaname = current_schema()",
        )
        .fetch_all(&mut db)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>("indexname"))
        .collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("documents_by_category_")),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n.starts_with("documents_by_a_b_")),
            "{names:?}"
        );
    }
}

#[tokio::test]
async fn an_index_added_by_a_hooks_edit_is_created_in_the_background() {
    let hooks = "version: 1\ndefaults:\n  rules: { read: public, create: public }\n";
    let app = crate::helpers::spawn_app_with(hooks, |_| {}).await;
    app.create("items", json!({"status": "open"})).await;
    std::fs::write(
        &app.hooks_path,
        format!("{hooks}collections:\n  items:\n    indexes: [status]\n"),
    )
    .unwrap();
    let url = app.database_url.clone();
    let query = if url.starts_with("sqlite:") {
        "SELECT name AS n FROM sqlite_master WHERE type = 'index' AND name LIKE 'documents_by_status_%'"
    } else {
        "SELECT indexname AS n FROM pg_indexes WHERE schemaname = current_schema() AND indexname LIKE 'documents_by_status_%'"
    };
    for _ in 0..100 {
        let found = if url.starts_with("sqlite:") {
            use sea_orm::sqlx::Connection;
            let mut db = sea_orm::sqlx::SqliteConnection::connect(&url)
                .await
                .unwrap();
            sea_orm::sqlx::query(query)
                .fetch_all(&mut db)
                .await
                .unwrap()
                .len()
        } else {
            use sea_orm::sqlx::Connection;
            let mut db = sea_orm::sqlx::PgConnection::connect(&url).await.unwrap();
            sea_orm::sqlx::query(query)
                .fetch_all(&mut db)
                .await
                .unwrap()
                .len()
        };
        if found == 1 {
            let listed = app
                .data(
                    "{ documents(collection: \"items\", filter: {status: \"open\"}) { totalCount } }",
                    json!({}),
                )
                .await;
            assert_eq!(listed["documents"]["totalCount"], 1);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the index was not created after the edit");
}
