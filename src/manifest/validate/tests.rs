//! hooks.yaml validation, with inline fixtures and their exact errors.

use super::*;

fn env(name: &str) -> Option<String> {
    (name == "RECEIVER").then(|| "http://127.0.0.1:9999".to_string())
}

fn errors(text: &str) -> Vec<String> {
    match validate(Path::new("hooks.yaml"), text, &env) {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn a_full_file_loads() {
    let text = r#"
version: 1
config:
  AUDIT_URL: ${RECEIVER}/audit
  LIMIT: 3
defaults:
  timeout_ms: 2000
  on_error: block
collections:
  posts:
    rules: { read: public, create: authenticated, update: owner, delete: { ownerId: { _eq: "$auth.id" } } }
hooks:
  - name: require-title
    on: pre_save
    collections: [posts, "audit_*"]
    operations: [create]
    when: { status: published }
    script: |
      if (data.title ?? "") == "" { block("A post needs a title.") }
  - name: audit
    on: [post_save, post_delete]
    url: ${AUDIT_URL}
    headers: { X-Env: "${STAGE:-dev}" }
    secret: whsec_c2VjcmV0
    ordering: per_document
"#;
    let config = validate(Path::new("hooks.yaml"), text, &env).unwrap();
    assert_eq!(config.chain(Event::PreSave).count(), 1);
    assert_eq!(
        config.chain(Event::PostDelete).next().unwrap().name,
        "audit"
    );
    assert_eq!(config.chain(Event::PreLogin).count(), 0);
    let Action::Url(webhook) = &config.bindings[1].action else {
        panic!()
    };
    assert_eq!(webhook.url.as_str(), "http://127.0.0.1:9999/audit");
    assert_eq!(
        webhook.headers,
        vec![("X-Env".to_string(), "dev".to_string())]
    );
    assert_eq!(webhook.secrets.len(), 1);
    assert!(config.has_durable(Event::PostSave, None) && !config.has_durable(Event::PreSave, None));
    assert_eq!(config.bindings[0].on_error, super::super::OnError::Block);
    assert_eq!(config.rules("posts").read, Rule::Public);
    assert_eq!(config.rules("other").update, Rule::Owner);
}

#[test]
fn delivery_keys_are_checked_where_they_are_written() {
    let hook = |extra: &str| {
        errors(&format!(
            "version: 1\nhooks:\n  - name: a\n    on: post_save\n    url: http://x/\n{extra}"
        ))
    };
    assert!(hook("    retry: { max_attempts: 3, retry_on: [409, 5xx, network] }\n").is_empty());
    let e = hook("    retry: { retry_on: [sometimes] }\n");
    assert!(
        e[0].starts_with("hooks.yaml:6:25: expected a status code"),
        "{e:?}"
    );
    let e = hook("    retry: { max_attempts: 0 }\n");
    assert!(e[0].contains("expected 1 to 100 attempts"), "{e:?}");
    let e = hook("    delivery: background\n    retry: { max_attempts: 3 }\n");
    assert!(
        e[0].contains("`retry` applies to `delivery: outbox`"),
        "{e:?}"
    );
    let e = hook("    secret: whsec_???\n");
    assert!(e[0].contains("must continue in base64"), "{e:?}");
    let e = errors("version: 1\nhooks:\n  - name: a\n    on: pre_save\n    url: http://x/\n    retry: { max_attempts: 3 }\n");
    assert!(e[0].contains("before-hooks are awaited"), "{e:?}");
    let e = errors("version: 1\nhooks:\n  - name: a\n    on: pre_save\n    allow_hosts: [\"https://x.com/\"]\n    script: \"1\"\n");
    assert!(e[0].contains("is not a host"), "{e:?}");
}

#[test]
fn unknown_key_is_reported_at_its_line_with_a_suggestion() {
    let e = errors("version: 1\nhooks:\n  - name: a\n    on: pre_save\n    scrpt: \"1\"\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("hooks.yaml:5:5: unknown key `scrpt`"),
        "{}",
        e[0]
    );
    assert!(e[0].contains("did you mean `script`?"), "{}", e[0]);
}

#[test]
fn unknown_event_suggests_the_nearest() {
    let e = errors(
        "version: 1\nhooks:\n  - name: a\n    on: [post_save, pre_sav]\n    script: \"1\"\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("hooks.yaml:4:21: unknown event `pre_sav`; did you mean `pre_save`?"),
        "{}",
        e[0]
    );
}

#[test]
fn duplicate_names_and_missing_variables_are_all_reported() {
    let text = "version: 1\nhooks:\n  - name: a\n    on: pre_save\n    script: \"1\"\n  - name: a\n    on: post_save\n    url: ${NOT_SET}/x\n";
    let e = errors(text);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("hooks.yaml:6:11: duplicate hook name `a` (first used on line 3)"),
        "{}",
        e[0]
    );
    assert!(
        e[1].starts_with("hooks.yaml:8:10: `${NOT_SET}` is not set"),
        "{}",
        e[1]
    );
}

#[test]
fn script_syntax_errors_point_into_the_file() {
    let text = "version: 1\nhooks:\n  - name: broken\n    on: pre_save\n    script: |\n      let a = 1;\n      let = 2;\n";
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("hooks.yaml:7:"), "{}", e[0]);
    assert!(
        e[0].contains("hook `broken`: script does not compile"),
        "{}",
        e[0]
    );
}

#[test]
fn only_writes_a_durable_hook_covers_need_a_transaction() {
    let text = "version: 1\nhooks:\n  - { name: a, on: post_save, collections: [orders], url: 'http://x/' }\n  - { name: b, on: post_save, collections: [posts], url: 'http://x/', delivery: background }\n";
    let config = validate(Path::new("hooks.yaml"), text, &env).unwrap();
    assert!(config.has_durable(Event::PostSave, Some("orders")));
    assert!(!config.has_durable(Event::PostSave, Some("posts")));
    assert!(!config.has_durable(Event::PostDelete, Some("orders")));
}

#[test]
fn indexes_name_data_fields() {
    let e = errors("version: 1\ncollections:\n  posts:\n    indexes: [status, id, 'a b']\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("hooks.yaml:4:23: `id` is a meta field"),
        "{e:?}"
    );
    assert!(e[1].contains("4:27"), "{e:?}");
}

#[test]
fn binding_shape_errors() {
    let e = errors("version: 1\nhooks:\n  - name: a\n    on: pre_save\n");
    assert!(
        e[0].contains("needs exactly one of `url`, `script` or `script_file`"),
        "{e:?}"
    );
    let e = errors(
        "version: 1\nhooks:\n  - name: a\n    on: pre_save\n    script: \"1\"\n    url: http://x\n",
    );
    assert!(e[0].contains("more than one"), "{e:?}");
    let e = errors("version: 1\nhooks:\n  - name: a\n    on: pre_save\n    url: ftp://x/\n");
    assert!(e[0].contains("unsupported URL scheme `ftp`"), "{e:?}");
    let e = errors("version: 1\nhooks:\n  - name: a\n    on: pre_login\n    operations: [create]\n    script: \"1\"\n");
    assert!(e[0].contains("`operations` applies to"), "{e:?}");
    let e = errors("version: 2\n");
    assert!(
        e[0].starts_with("hooks.yaml:1:10: unsupported version 2"),
        "{e:?}"
    );
    let e = errors("version: 1\ncollections:\n  posts:\n    rules: { read: everyone }\n");
    assert!(e[0].contains("unknown rule `everyone`"), "{e:?}");
    let e = errors("version: 1\nhooks:\n  - name: a\n    on: pre_save\n    when: { status: { _eqq: 1 } }\n    script: \"1\"\n");
    assert!(e[0].contains("unknown operator `_eqq`"), "{e:?}");
    let e = errors("");
    assert!(e[0].contains("empty"), "{e:?}");
    let e = errors("version: 1\nhooks:\n  - name: a\n    on: 3\n    script: \"1\"\n");
    assert!(
        e[0].contains("expected an event name or a list of event names"),
        "{e:?}"
    );
}

#[test]
fn changed_takes_data_fields_and_when_needs_a_document() {
    let found = errors(
            "version: 1\nhooks:\n  - { name: a, on: post_save, changed: [ownerId], script: 'x' }\n  - { name: b, on: pre_read, when: { a: 1 }, script: 'x' }\n",
        );
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].contains("`ownerId` is not a data field"),
        "{found:?}"
    );
    assert!(
        found[1].contains("read events (pre_read, post_read) have none"),
        "{found:?}"
    );
}
