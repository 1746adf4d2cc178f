//! hooks.yaml: validation at start, hot reload of valid edits, refusal of invalid ones, and
//! the shipped files (sample hooks.yaml, the docs' examples, JSON Schema) kept true.

use std::path::Path;

use hookql::manifest as config;
use hookql::model::Event;
use hookql::{App, Settings};

use crate::helpers::{signed_in, spawn_app_with, test_settings};

const ONE_HOOK: &str = "version: 1\nhooks:\n  - name: first\n    on: pre_save\n    script: \"1\"\n";

fn no_env(_: &str) -> Option<String> {
    None
}

#[tokio::test]
async fn server_refuses_to_start_with_an_invalid_hooks_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hooks.yaml"),
        "version: 1\nhooks:\n  - name: x\n    on: pre_sav\n    script: \"1\"\n",
    )
    .unwrap();
    let settings: Settings = test_settings(
        dir.path(),
        format!("sqlite://{}", dir.path().join("t.db").display()),
    );
    let error = App::build(settings)
        .await
        .err()
        .expect("start must fail")
        .to_string();
    assert!(
        error.contains("hooks.yaml:4:9: unknown event `pre_sav`; did you mean `pre_save`?"),
        "{error}"
    );
}

#[tokio::test]
async fn a_valid_edit_is_applied_without_restart() {
    let app = signed_in(spawn_app_with(ONE_HOOK, |_| {}).await).await;
    assert_eq!(app.state.hooks().current().chain(Event::PreSave).count(), 1);
    std::fs::write(
        &app.hooks_path,
        format!("{ONE_HOOK}  - name: second\n    on: [pre_save, post_delete]\n    script: \"2\"\n"),
    )
    .unwrap();
    app.eventually("the edit is applied", |s| {
        s.hooks().current().chain(Event::PreSave).count() == 2
    })
    .await;
    let names: Vec<String> = app
        .state
        .hooks()
        .current()
        .chain(Event::PreSave)
        .map(|b| b.name.clone())
        .collect();
    assert_eq!(names, ["first", "second"]);
    assert!(app.state.hooks().last_error().is_none());
}

#[tokio::test]
async fn an_invalid_edit_is_refused_whole_and_the_old_configuration_stays() {
    let app = signed_in(spawn_app_with(ONE_HOOK, |_| {}).await).await;
    // The first hook is still valid, the second is not: nothing of the edit may apply.
    let broken = "version: 1\nhooks:\n  - name: renamed\n    on: pre_save\n    script: \"1\"\n  - name: bad\n    on: pre_save\n    script: \"let = ;\"\n";
    std::fs::write(&app.hooks_path, broken).unwrap();
    app.eventually("the edit is refused", |s| s.hooks().last_error().is_some())
        .await;
    let error = app.state.hooks().last_error().unwrap().to_string();
    assert!(error.contains("hooks.yaml:8:"), "{error}");
    assert!(
        error.contains("hook `bad`: script does not compile"),
        "{error}"
    );
    let current = app.state.hooks().current();
    assert_eq!(
        current
            .chain(Event::PreSave)
            .map(|b| b.name.as_str())
            .collect::<Vec<_>>(),
        ["first"]
    );
    // The server still serves.
    assert_eq!(app.count("anything").await, 0);
    // Fixing the file clears the error.
    std::fs::write(&app.hooks_path, "version: 1\n").unwrap();
    app.eventually("the fix is applied", |s| {
        s.hooks().last_error().is_none() && s.hooks().current().bindings.is_empty()
    })
    .await;
}

#[tokio::test]
async fn editing_a_script_file_reloads_it() {
    let hooks =
        "version: 1\nhooks:\n  - name: from-file\n    on: pre_save\n    script_file: check.rhai\n";
    let app = signed_in(
        spawn_app_with(hooks, |s| {
            std::fs::write(s.data_dir.join("check.rhai"), "let x = 1;\n").unwrap()
        })
        .await,
    )
    .await;
    assert_eq!(app.state.hooks().current().chain(Event::PreSave).count(), 1);
    let script = app.hooks_path.parent().unwrap().join("check.rhai");
    std::fs::write(&script, "let x = ;\n").unwrap();
    app.eventually("the broken script is refused", |s| {
        s.hooks().last_error().is_some()
    })
    .await;
    let error = app.state.hooks().last_error().unwrap().to_string();
    assert!(error.contains("check.rhai:1:"), "{error}");
}

#[test]
fn the_shipped_hooks_yaml_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded = config::load(&root.join("hooks.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.chain(Event::PreSave).count() >= 1);
}

/// Every ```yaml block of README.md and `docs/*.md` is a whole hooks.yaml, parsed as the server
/// parses one. A hooks.yaml shown in a block of another kind (``` yml, text) would go
/// unchecked, so one that starts with `version:` fails the test.
#[test]
fn every_yaml_example_in_the_docs_is_valid() {
    let mut counts = std::collections::BTreeMap::new();
    for path in crate::readme::doc_files() {
        let name = crate::readme::doc_name(&path);
        let markdown = std::fs::read_to_string(&path).unwrap();
        let mut count = 0;
        for block in crate::readme::blocks(&markdown) {
            let at = format!("{name}:{}", block.line);
            if block.info == "yaml" {
                config::parse(&path, &block.text, &no_env)
                    .unwrap_or_else(|e| panic!("{at}: yaml block:\n{}\n{e}", block.text));
                count += 1;
            } else {
                assert!(
                    !block.text.trim_start().starts_with("version:"),
                    "{at}: a hooks.yaml not marked ```yaml would go unchecked"
                );
            }
        }
        counts.insert(name, count);
    }
    for name in ["README.md", "docs/hooks.md"] {
        assert!(counts[name] >= 1, "{name} shows at least one hooks.yaml");
    }
}

#[test]
fn the_committed_json_schema_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("hooks.schema.json")).unwrap())
            .unwrap();
    assert_eq!(
        committed,
        config::json_schema(),
        "regenerate with `cargo run -- schema > hooks.schema.json`"
    );
}
