//! Document CRUD over GraphQL.

use serde_json::json;

use futures_util::future::join_all;

use crate::helpers::spawn_app;

const GET: &str =
    "query($c: String!, $id: ID!) { document(collection: $c, id: $id) { id version data } }";
const UPDATE: &str = "mutation($c: String!, $id: ID!, $d: JSON!, $m: Boolean, $v: Int) { updateDocument(collection: $c, id: $id, data: $d, merge: $m, expectedVersion: $v) { id version data createdAt updatedAt } }";
const DELETE: &str = "mutation($c: String!, $id: ID!) { deleteDocument(collection: $c, id: $id) { id version data } }";

#[tokio::test]
async fn created_document_reads_back_with_its_metadata() {
    let app = spawn_app().await;
    let created = app
        .create(
            "posts",
            json!({"title": "Hello", "nested": {"n": 1.5, "list": [1, "two", null, true]}}),
        )
        .await;
    assert_eq!(created["version"], 1);
    assert_eq!(created["collection"], "posts");
    assert_eq!(created["ownerId"], app.user_id.clone().unwrap());
    assert_eq!(created["createdAt"], created["updatedAt"]);
    let id = created["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);

    let read = app.data(GET, json!({"c": "posts", "id": id})).await;
    assert_eq!(
        read["document"]["data"],
        json!({"title": "Hello", "nested": {"n": 1.5, "list": [1, "two", null, true]}})
    );
    // Collections are separate: the same id is not in another one.
    let other = app.error(GET, json!({"c": "pages", "id": id})).await;
    assert_eq!(other["extensions"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn update_merges_by_default_and_replaces_on_request() {
    let app = spawn_app().await;
    let id = app
        .create(
            "posts",
            json!({"title": "A", "meta": {"x": 1, "y": 2}, "drop": true}),
        )
        .await["id"]
        .clone();

    let merged = app
        .data(
            UPDATE,
            json!({"c": "posts", "id": id, "d": {"meta": {"y": 3}, "drop": null, "new": "n"}}),
        )
        .await;
    assert_eq!(
        merged["updateDocument"]["data"],
        json!({"title": "A", "meta": {"x": 1, "y": 3}, "new": "n"})
    );
    assert_eq!(merged["updateDocument"]["version"], 2);
    assert!(
        merged["updateDocument"]["updatedAt"].as_str()
            >= merged["updateDocument"]["createdAt"].as_str()
    );

    let replaced = app
        .data(
            UPDATE,
            json!({"c": "posts", "id": id, "d": {"only": 1}, "m": false}),
        )
        .await;
    assert_eq!(replaced["updateDocument"]["data"], json!({"only": 1}));
    assert_eq!(replaced["updateDocument"]["version"], 3);
}

#[tokio::test]
async fn stale_expected_version_is_a_conflict_and_changes_nothing() {
    let app = spawn_app().await;
    let id = app.create("posts", json!({"n": 1})).await["id"].clone();
    let ok = app
        .data(
            UPDATE,
            json!({"c": "posts", "id": id, "d": {"n": 2}, "v": 1}),
        )
        .await;
    assert_eq!(ok["updateDocument"]["version"], 2);

    let error = app
        .error(
            UPDATE,
            json!({"c": "posts", "id": id, "d": {"n": 3}, "v": 1}),
        )
        .await;
    assert_eq!(error["extensions"]["code"], "CONFLICT");
    assert!(
        error["message"].as_str().unwrap().contains("version 2"),
        "{error}"
    );
    let read = app.data(GET, json!({"c": "posts", "id": id})).await;
    assert_eq!(read["document"]["data"], json!({"n": 2}));
    assert_eq!(read["document"]["version"], 2);
}

#[tokio::test]
async fn delete_returns_the_snapshot_and_the_document_is_gone() {
    let app = spawn_app().await;
    let id = app.create("posts", json!({"t": "bye"})).await["id"].clone();
    let deleted = app.data(DELETE, json!({"c": "posts", "id": id})).await;
    assert_eq!(deleted["deleteDocument"]["data"], json!({"t": "bye"}));
    assert_eq!(
        app.error(GET, json!({"c": "posts", "id": id})).await["extensions"]["code"],
        "NOT_FOUND"
    );
    assert_eq!(
        app.error(DELETE, json!({"c": "posts", "id": id})).await["extensions"]["code"],
        "NOT_FOUND"
    );
    assert_eq!(
        app.error(UPDATE, json!({"c": "posts", "id": id, "d": {}}))
            .await["extensions"]["code"],
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn fifty_parallel_creates_are_all_stored() {
    let app = spawn_app().await;
    let creates = (0..50).map(|i| app.create("load", json!({"i": i})));
    let created = join_all(creates).await;
    assert_eq!(created.len(), 50);
    assert_eq!(app.count("load").await, 50);
}

#[tokio::test]
async fn concurrent_merges_are_not_lost() {
    let app = spawn_app().await;
    let id = app.create("counters", json!({})).await["id"].clone();
    let updates = (0..10).map(|i| {
        let id = id.clone();
        let app = &app;
        async move {
            app.data(
                UPDATE,
                json!({"c": "counters", "id": id, "d": {format!("k{i}"): i}}),
            )
            .await
        }
    });
    join_all(updates).await;
    let read = app.data(GET, json!({"c": "counters", "id": id})).await;
    assert_eq!(read["document"]["version"], 11);
    assert_eq!(
        read["document"]["data"].as_object().unwrap().len(),
        10,
        "{read}"
    );
}

#[tokio::test]
async fn bad_input_is_explained_and_writes_nothing() {
    let app = spawn_app().await;
    let create =
        "mutation($c: String!, $d: JSON!) { createDocument(collection: $c, data: $d) { id } }";
    let cases = [
        (
            create,
            json!({"c": "Bad-Name", "d": {}}),
            "collection",
            "invalid collection name",
        ),
        (
            create,
            json!({"c": "posts", "d": [1, 2]}),
            "data",
            "expected a JSON object",
        ),
        (
            create,
            json!({"c": "posts", "d": "text"}),
            "data",
            "expected a JSON object",
        ),
        (
            GET,
            json!({"c": "posts", "id": "not-a-uuid"}),
            "id",
            "is not a document id",
        ),
        (
            UPDATE,
            json!({"c": "posts", "id": "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", "d": {}, "v": 0}),
            "expectedVersion",
            "versions start at 1",
        ),
        (
            "{ documents(collection: \"posts\", limit: 1001) { totalCount } }",
            json!({}),
            "limit",
            "expected 0 to 1000",
        ),
        (
            "{ documents(collection: \"posts\", offset: -1) { totalCount } }",
            json!({}),
            "offset",
            "expected 0 or more",
        ),
        (
            "{ documents(collection: \"posts\", sort: [{field: \"a;b\"}]) { totalCount } }",
            json!({}),
            "sort.0.field",
            "invalid field path",
        ),
    ];
    for (query, variables, field, message) in cases {
        let error = app.error(query, variables.clone()).await;
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{variables}: {error}"
        );
        assert_eq!(error["extensions"]["field"], field, "{variables}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(message),
            "{variables}: {error}"
        );
    }
    let big = "x".repeat(1024 * 1024);
    let error = app
        .error(create, json!({"c": "posts", "d": {"big": big}}))
        .await;
    assert!(
        error["message"].as_str().unwrap().contains("at most"),
        "{error}"
    );
    assert_eq!(app.count("posts").await, 0);
}

#[tokio::test]
async fn sort_and_pagination_walk_every_document_once() {
    let app = spawn_app().await;
    for i in 0..25 {
        app.create("items", json!({"n": i, "group": i % 3})).await;
    }
    let page = |offset: i64| {
        let app = &app;
        async move {
            app.data(
                "query($o: Int!) { documents(collection: \"items\", sort: [{field: \"group\"}, {field: \"n\", direction: DESC}], limit: 10, offset: $o) { totalCount limit offset items { data } } }",
                json!({"o": offset}),
            )
            .await["documents"]
                .clone()
        }
    };
    let mut seen = Vec::new();
    for offset in [0, 10, 20] {
        let p = page(offset).await;
        assert_eq!(p["totalCount"], 25);
        assert_eq!(p["limit"], 10);
        assert_eq!(p["offset"], offset);
        seen.extend(p["items"].as_array().unwrap().iter().map(|d| {
            (
                d["data"]["group"].as_i64().unwrap(),
                d["data"]["n"].as_i64().unwrap(),
            )
        }));
    }
    let mut expected: Vec<(i64, i64)> = (0..25).map(|i| (i % 3, i)).collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    assert_eq!(seen, expected);

    // limit 0 only counts.
    let counted = app
        .data(
            "{ documents(collection: \"items\", limit: 0) { totalCount items { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(counted["documents"], json!({"totalCount": 25, "items": []}));
    // A null direction means ascending.
    let asc = app.data("{ documents(collection: \"items\", sort: [{field: \"n\", direction: null}], limit: 1) { items { data } } }", json!({})).await;
    assert_eq!(asc["documents"]["items"][0]["data"]["n"], 0);

    // Without a sort, documents come in creation order; meta fields sort too.
    let newest = app.data("{ documents(collection: \"items\", sort: [{field: \"createdAt\", direction: DESC}], limit: 1) { items { data } } }", json!({})).await;
    assert_eq!(newest["documents"]["items"][0]["data"]["n"], 24);
    let first = app
        .data(
            "{ documents(collection: \"items\", limit: 1) { items { data } } }",
            json!({}),
        )
        .await;
    assert_eq!(first["documents"]["items"][0]["data"]["n"], 0);
}

#[tokio::test]
async fn mixed_types_sort_in_one_documented_order() {
    let app = spawn_app().await;
    let values = [
        json!("a"),
        json!(10),
        json!(null),
        json!(true),
        json!("B"),
        json!(2.5),
        json!(false),
        json!([1]),
        json!({"o": 1}),
    ];
    for (i, v) in values.iter().enumerate() {
        app.create("mixed", json!({"v": v, "i": i})).await;
    }
    app.create("mixed", json!({"i": 99})).await;
    let asc = app
        .data(
            "{ documents(collection: \"mixed\", sort: [{field: \"v\"}]) { items { data } } }",
            json!({}),
        )
        .await;
    let order: Vec<i64> = asc["documents"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["data"]["i"].as_i64().unwrap())
        .collect();
    // missing/null (by creation), false, true, 2.5, 10, "B", "a", array, object
    assert_eq!(order, vec![2, 99, 6, 3, 5, 1, 4, 0, 7, 8]);
}
