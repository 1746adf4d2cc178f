//! Fuzzing, bounded so it fits in every CI run: random filters are compiled and run against
//! the real database (never a panic, never an SQL error, only clear input errors); random
//! hooks files never panic the loader; random HTTP bodies, GraphQL texts and WebSocket frames
//! get protocol errors, never a crash.
//!
//! Each run draws new cases from a fresh seed, printed first; `HOOKQL_FUZZ_SEED=<hex>` replays
//! a run and `HOOKQL_FUZZ_CASES=<n>` sets how many cases each test tries (default 300).

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Map, Value};

use hookql::model::filter::{Filter, OPERATORS};
use hookql::model::sort::{Direction, SortKey};
use hookql::model::CollectionName;
use hookql::store::{ListQuery, StoreError};

use crate::helpers::{spawn_app_with, PUBLIC_RULES};
use crate::ws::{Next, Ws};

fn cases() -> usize {
    std::env::var("HOOKQL_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300)
}

/// Values drawn from `strategy` with a fresh (printed) or given seed.
fn draw<S: Strategy>(name: &str, strategy: S) -> Vec<S::Value> {
    let seed: [u8; 32] = match std::env::var("HOOKQL_FUZZ_SEED") {
        Ok(hex) => {
            let mut seed = [0u8; 32];
            for (i, byte) in seed.iter_mut().enumerate() {
                *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2).unwrap_or("00"), 16)
                    .expect("HOOKQL_FUZZ_SEED is 64 hex digits");
            }
            seed
        }
        Err(_) => rand::random(),
    };
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    eprintln!("{name}: HOOKQL_FUZZ_SEED={hex}");
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    (0..cases())
        .map(|_| strategy.new_tree(&mut runner).expect("a case").current())
        .collect()
}

/// Short strings, with quotes, backslashes, SQL and JSON punctuation, and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        4 => prop::char::range('a', 'e'),
        1 => prop::sample::select(vec!['\'', '"', '\\', '%', '_', '.', '$', '[', ']', '{', ';', '-', ' ', 'é', '\u{0}', '\u{1F600}', '*', '?']),
    ];
    prop::collection::vec(chars, 0..6).prop_map(|c| c.into_iter().collect())
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1000i64..1000).prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::from),
        Just(json!("2026-11-28T10:00:00Z")),
        Just(json!("01890000-0000-7000-8000-000000000000")),
    ]
}

/// Keys a filter might have: operators, meta fields, data paths, and nonsense.
fn key() -> impl Strategy<Value = String> {
    // Every operator the parser knows (so new ones are fuzzed too), plus fields and nonsense.
    let mut names: Vec<&'static str> = vec!["_and", "_or", "_not", "_unknown"];
    names.extend_from_slice(OPERATORS);
    names.extend([
        "id",
        "ownerId",
        "createdAt",
        "updatedAt",
        "version",
        "email",
        "role",
        "title",
        "n",
        "a.b",
        "a.b.c",
        "tags",
        "a..b",
        "$auth.id",
        "",
    ]);
    let known = prop::sample::select(names).prop_map(String::from);
    prop_oneof![4 => known, 1 => text()]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Filters shaped like real ones (fields, operators, nesting), with some nonsense mixed in.
fn filter() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        4 => prop::sample::select(vec!["title", "n", "a.b", "a.b.c", "a", "tags", "id", "ownerId", "createdAt", "updatedAt", "version", "email", "role"]).prop_map(String::from),
        1 => text(),
    ];
    let op = prop::sample::select(OPERATORS);
    let leaf = (
        field,
        op,
        scalar(),
        prop::collection::vec(scalar(), 0..4),
        json_value(),
    )
        .prop_map(|(field, op, value, list, odd)| {
            let operand = match op {
                "_in" | "_nin" => Value::Array(list),
                "_contains" => odd,
                _ => value,
            };
            json!({ field: { op: operand } })
        });
    let tree = leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|f| json!({"_and": f})),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|f| json!({"_or": f})),
            inner.clone().prop_map(|f| json!({"_not": f})),
            (inner.clone(), inner).prop_map(|(a, b)| {
                let mut merged = a.as_object().cloned().unwrap_or_default();
                merged.extend(b.as_object().cloned().unwrap_or_default());
                Value::Object(merged)
            }),
        ]
    });
    prop_oneof![4 => tree, 1 => json_value()]
}

#[tokio::test]
async fn random_filters_and_sorts_never_fail_in_sql() {
    let app = spawn_app_with(PUBLIC_RULES, |_| {}).await;
    // Data of every JSON type under the same names, so comparisons meet mixed types.
    for data in [
        json!({"title": "x", "n": 5, "a": {"b": 1, "c": [1, 2]}, "tags": ["a", "b"]}),
        json!({"title": 3.5, "n": "5", "a": "text", "tags": "a"}),
        json!({"title": null, "n": true, "a": [1, {"b": "é'\""}], "tags": {"a": 1}}),
        json!({}),
    ] {
        app.create("things", data).await;
    }
    let store = app.state.store();
    let collection = CollectionName::parse("things").unwrap();
    let sorts = prop::collection::vec((key(), any::<bool>()), 0..3);
    let mut parsed = 0;
    for (filter, sort) in draw("filters", (filter(), sorts)) {
        let Ok(compiled) = Filter::parse(&filter, "filter") else {
            continue;
        };
        parsed += 1;
        let sort: Vec<SortKey> = sort
            .iter()
            .filter_map(|(field, asc)| {
                let direction = if *asc {
                    Direction::Asc
                } else {
                    Direction::Desc
                };
                SortKey::parse(field, direction).ok()
            })
            .collect();
        let query = ListQuery {
            filter: compiled,
            sort,
            limit: 20,
            offset: 0,
            count_total: true,
            budget: hookql::store::budget::ReadBudget::unlimited(),
        };
        match store.list_documents(None, &collection, &query).await {
            Ok(_) | Err(StoreError::Invalid(_)) => {}
            Err(e) => panic!("filter {filter} failed in SQL: {e}"),
        }
        if let Ok(users) = Filter::parse_users(&filter, "filter") {
            if let Err(e) = store.list_users(&users, 20, 0, true).await {
                panic!("users filter {filter} failed in SQL: {e}");
            }
        }
    }
    eprintln!("{parsed} of {} random filters were valid and ran", cases());
}

#[test]
fn random_hooks_files_never_panic_the_loader() {
    let valid = "version: 1\nconfig:\n  K: v\ndefaults:\n  timeout_ms: 100\n  rules: { read: public }\ncollections:\n  posts:\n    rules: { create: { ownerId: { _eq: \"$auth.id\" } } }\nhooks:\n  - name: a\n    on: [pre_save, post_save]\n    collections: [posts, 'audit_*']\n    when: { status: { _eq: published } }\n    script: |\n      if data.x == 1 { block(\"no\") }\n      #{ patch: #{ y: 2 } }\n  - { name: b, on: post_save, url: 'http://127.0.0.1:9/x', retry: { retry_on: [500, \"5xx\"] } }\n";
    let edits = prop::collection::vec((0..valid.len(), 0usize..4, text()), 1..6);
    let yaml_tokens = prop::collection::vec(
        prop::sample::select(vec![
            "version: 1\n",
            "hooks:\n",
            "  - ",
            "name: x",
            "on: pre_save",
            "script: '",
            "'",
            "{",
            "}",
            "[",
            "]",
            ": ",
            "\n",
            "  ",
            "&a ",
            "*a",
            "!!binary ",
            "url: ",
            "${X}",
            "- ",
            "#",
            "\"",
            "|\n",
            "when: ",
            "_eq",
            "rules:",
            "collections:",
        ]),
        0..40,
    )
    .prop_map(|tokens| tokens.concat());
    let strategy = prop_oneof![
        edits.prop_map(move |edits| {
            let mut text = valid.to_string();
            for (at, cut, insert) in edits {
                let mut at = at.min(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let mut end = (at + cut).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(at..end, &insert);
            }
            text
        }),
        yaml_tokens,
    ];
    let path = std::path::Path::new("hooks.yaml");
    let mut valid_count = 0;
    for text in draw("hooks files", strategy) {
        if hookql::manifest::parse(path, &text, &|_| None).is_ok() {
            valid_count += 1;
        }
    }
    eprintln!("{valid_count} of {} random hooks files were valid", cases());
}

#[tokio::test]
async fn malformed_requests_and_frames_get_protocol_errors_not_crashes() {
    let app = spawn_app_with(PUBLIC_RULES, |_| {}).await;
    let url = format!("{}/graphql", app.address);
    let bodies = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (text(), json_value())
            .prop_map(|(q, v)| json!({"query": q, "variables": v}).to_string().into_bytes()),
        prop::collection::vec(
            prop::sample::select(vec![
                "{",
                "}",
                "query",
                "mutation",
                "subscription",
                "(",
                ")",
                "$x",
                ":",
                "...",
                "on",
                "documents",
                "me",
                "@skip",
                "\"",
                "#",
                "fragment F on Query",
                "a:",
                "[",
                "]",
                "!",
                "1e99",
                "createDocument"
            ]),
            0..20,
        )
        .prop_map(|t| json!({"query": t.join(" ")}).to_string().into_bytes()),
    ];
    for body in draw("HTTP bodies", bodies) {
        let response = app
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("answered");
        assert!(
            response.status().as_u16() < 500,
            "{} for {:?}",
            response.status(),
            String::from_utf8_lossy(&body)
        );
    }
    let frames = prop_oneof![
        3 => (filter(), text()).prop_map(|(f, c)| json!({"type": "subscribe", "payload": {"query": crate::ws::DOCUMENT_CHANGED, "variables": {"c": c, "f": f}}}).to_string()),
        2 => (text(), json_value()).prop_map(|(q, v)| json!({"type": "subscribe", "payload": {"query": q, "variables": v}}).to_string()),
        1 => json_value().prop_map(|v| v.to_string()),
        1 => (text(), text(), json_value()).prop_map(|(id, kind, payload)| json!({"id": id, "type": kind, "payload": payload}).to_string()),
        1 => json_value().prop_map(|p| json!({"id": "1", "type": "subscribe", "payload": p}).to_string()),
        1 => text(),
    ];
    let mut ws = Ws::connect(&app.address, None).await;
    let mut closes = 0;
    for (i, frame) in draw("WebSocket frames", frames).into_iter().enumerate() {
        // Subscribe frames get a fresh id, so only what is malformed closes the connection.
        let frame = frame.replacen("{\"payload\"", &format!("{{\"id\":\"{i}\",\"payload\""), 1);
        // A frame the protocol cannot take closes the connection with a 44xx code; anything
        // else is answered or ignored. Either way the server goes on.
        let closed = if ws.try_send_text(&frame).await {
            match ws.next_within(std::time::Duration::from_millis(5)).await {
                Next::Message(message) => {
                    assert!(message.get("type").is_some(), "{message}");
                    false
                }
                Next::Closed(code) => {
                    assert!(
                        (4400..4500).contains(&code),
                        "closed with {code} after {frame}"
                    );
                    true
                }
                Next::Nothing => false,
            }
        } else {
            true
        };
        if closed {
            closes += 1;
            ws = Ws::connect(&app.address, None).await;
        }
    }
    eprintln!("{closes} WebSocket connections were closed for protocol errors");
    assert_eq!(app.health().await, 200);
}

/// The shapes that found issue 15's holes, drawn at random: long `_like` patterns (matched
/// in memory and in SQL), documents nested deeper than the limit, and huge arrays that a
/// redacting `post_read` script must still handle. Fewer cases: each writes and reads.
#[tokio::test]
async fn long_patterns_deep_nesting_and_huge_arrays_stay_bounded() {
    let hooks = "version: 1\ndefaults:\n  rules: { read: public, create: public, update: public, delete: public }\nhooks:\n  - name: redact\n    on: post_read\n    collections: [big]\n    script: |\n      #{ documents: documents.map(|d| { d.data.remove(\"secret\"); d }) }\n";
    let app = spawn_app_with(hooks, |_| {}).await;
    app.create("things", json!({"title": "a".repeat(200)}))
        .await;
    let store = app.state.store();
    let collection = CollectionName::parse("things").unwrap();
    let pattern = prop::collection::vec(
        prop::sample::select(vec!['%', '%', '_', 'a', 'b', '\\']),
        0..3000,
    )
    .prop_map(|c| c.into_iter().collect::<String>());
    let shapes = (pattern, 0usize..70, 0usize..160_000);
    let runs = (cases() / 20).max(5);
    let create =
        "mutation($c: String!, $d: JSON!) { createDocument(collection: $c, data: $d) { id } }";
    let list = "query($c: String!) { documents(collection: $c, limit: 5) { items { id } } }";
    for (pattern, depth, items) in draw("shapes", shapes).into_iter().take(runs) {
        let filter = json!({"title": {"_like": pattern}});
        if let Ok(compiled) = Filter::parse(&filter, "filter") {
            let row = json!({"title": "a".repeat(200)});
            let _ = compiled.matches(row.as_object().unwrap());
            let query = ListQuery {
                filter: compiled,
                sort: Vec::new(),
                limit: 5,
                offset: 0,
                count_total: true,
                budget: hookql::store::budget::ReadBudget::unlimited(),
            };
            if let Err(e) = store.list_documents(None, &collection, &query).await {
                panic!("pattern of {} bytes failed in SQL: {e}", pattern.len());
            }
        }
        let deep = (0..depth).fold(json!(1), |inner, _| json!({"a": inner}));
        let array = json!({"n": vec![1; items], "secret": "s"});
        for (collection, data) in [("deep", json!({"d": deep})), ("big", array)] {
            let made = app.gql(create, json!({"c": collection, "d": data})).await;
            if let Some(error) = made["errors"].get(0) {
                assert_eq!(
                    error["extensions"]["code"], "BAD_USER_INPUT",
                    "{collection}: {error}"
                );
            }
            let read = app.gql(list, json!({"c": collection})).await;
            assert!(
                read["errors"].is_null(),
                "{collection} ({depth} deep, {items} items): {read}"
            );
        }
    }
}
