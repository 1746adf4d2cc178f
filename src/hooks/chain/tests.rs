//! The chain with fake bindings: order, blocks, failures and `on_error`, what each outcome
//! may change.

use super::*;
use crate::manifest as config;
use crate::model::Caller;
use serde_json::json;
use std::path::Path;

fn bindings(yaml: &str) -> config::Manifest {
    config::parse(Path::new("hooks.yaml"), yaml, &|_| None).expect("valid hooks")
}

/// Fake bindings: each hook's answer is looked up by name.
async fn run_chain(
    yaml: &str,
    answers: &[(&str, Result<Value, HookFailure>)],
    data: Value,
) -> (Result<Passed, Stop>, Payload) {
    let config = bindings(yaml);
    let mut payload = Payload::new(Event::PreSave, &Caller::Anonymous)
        .with("collection", "posts")
        .with("document", data);
    let target = Target {
        collection: Some("posts".into()),
        ..Target::default()
    };
    let fake = Fake(
        answers
            .iter()
            .map(|(n, a)| (n.to_string(), a.clone()))
            .collect(),
    );
    let result = run_before(config.chain(Event::PreSave), &target, &mut payload, &fake).await;
    (result, payload)
}

/// Each hook's answer, by name; unnamed hooks answer nothing.
struct Fake(Vec<(String, Result<Value, HookFailure>)>);

impl Execute for Fake {
    async fn execute(&self, binding: &Binding, _: &Payload) -> Result<Value, HookFailure> {
        self.0
            .iter()
            .find(|(name, _)| *name == binding.name)
            .map(|(_, answer)| answer.clone())
            .unwrap_or(Ok(Value::Null))
    }
}

const TWO: &str = "version: 1\nhooks:\n  - { name: a, on: pre_save, script: 'x' }\n  - { name: b, on: pre_save, script: 'x' }\n";

#[tokio::test]
async fn patches_apply_in_order_and_a_block_stops_the_chain() {
    let (result, payload) = run_chain(
        TWO,
        &[
            ("a", Ok(json!({"patch": {"n": 1, "x": null}}))),
            ("b", Ok(json!({"patch": {"m": 2}}))),
        ],
        json!({"x": 0}),
    )
    .await;
    assert!(result.is_ok());
    assert_eq!(payload.get("document"), Some(&json!({"n": 1, "m": 2})));
    let (result, _) = run_chain(
        TWO,
        &[
            ("a", Ok(json!({"block": true, "reason": "no"}))),
            ("b", Err(HookFailure::Failed("never runs".into()))),
        ],
        json!({}),
    )
    .await;
    assert_eq!(
        result,
        Err(Stop::Blocked {
            hook: "a".into(),
            reason: "no".into()
        })
    );
}

#[tokio::test]
async fn failures_follow_on_error() {
    let allow = "version: 1\nhooks:\n  - { name: a, on: pre_save, script: 'x' }\n";
    let (result, _) = run_chain(
        allow,
        &[("a", Err(HookFailure::Failed("boom".into())))],
        json!({}),
    )
    .await;
    assert!(result.is_ok());
    let block = "version: 1\nhooks:\n  - { name: a, on: pre_save, script: 'x', on_error: block }\n";
    let (result, _) = run_chain(
        block,
        &[("a", Err(HookFailure::Failed("boom".into())))],
        json!({}),
    )
    .await;
    assert_eq!(result, Err(Stop::Failed { hook: "a".into() }));
    let (result, _) = run_chain(block, &[("a", Ok(json!({"data": 5})))], json!({})).await;
    assert_eq!(result, Err(Stop::Failed { hook: "a".into() }));
}

#[tokio::test]
async fn a_trace_reports_each_decision_and_change() {
    let yaml = "version: 1\nhooks:\n  - { name: a, on: pre_save, collections: [other], script: 'x' }\n  - { name: b, on: pre_save, script: 'x' }\n  - { name: c, on: pre_save, script: 'x' }\n  - { name: d, on: pre_save, script: 'x' }\n";
    let config = bindings(yaml);
    let mut payload = Payload::new(Event::PreSave, &Caller::Anonymous)
        .with("collection", "posts")
        .with("document", json!({"n": 1}));
    let target = Target {
        collection: Some("posts".into()),
        ..Target::default()
    };
    let fake = Fake(vec![
        ("b".into(), Ok(json!({"patch": {"n": 2}}))),
        ("c".into(), Err(HookFailure::Failed("boom".into()))),
        ("d".into(), Ok(json!({"block": true, "reason": "no"}))),
    ]);
    let mut trace = Vec::new();
    let result = run_traced(
        config.chain(Event::PreSave),
        &target,
        &mut payload,
        &fake,
        Some(&mut trace),
    )
    .await;
    assert!(matches!(result, Err(Stop::Blocked { .. })));
    let decisions: Vec<_> = trace.iter().map(|s| s.decision.clone()).collect();
    assert_eq!(
        decisions,
        [
            Decision::Skipped,
            Decision::Changed,
            Decision::Failed { stopped: false },
            Decision::Blocked("no".into())
        ]
    );
    assert_eq!(trace[1].changes.get("document"), Some(&json!({"n": 2})));
    assert_eq!(trace[2].error.as_deref(), Some("boom"));
}

#[tokio::test]
async fn narrowing_skips_bindings() {
    let yaml = "version: 1\nhooks:\n  - { name: a, on: pre_save, collections: [other], script: 'x' }\n  - { name: b, on: pre_save, when: { status: published }, script: 'x' }\n";
    let answers = [
        ("a", Ok(json!({"block": true}))),
        ("b", Ok(json!({"block": true}))),
    ];
    let (result, _) = run_chain(yaml, &answers, json!({"status": "draft"})).await;
    assert!(result.is_ok());
    let (result, _) = run_chain(yaml, &answers, json!({"status": "published"})).await;
    assert!(matches!(result, Err(Stop::Blocked { hook, .. }) if hook == "b"));
}
