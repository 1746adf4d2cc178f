//! The GraphQL examples of README.md and of every `docs/*.md` file, run in order against a real
//! server, so every example a newcomer copies works. Each file walks on its own fresh server,
//! set up as the README's tour begins: the shipped hooks.yaml, Ann signed up (the tour's curl
//! example) and one post of hers created, and the admin `root@example.com` (password
//! `a long secret`, as in docs/graphql.md's `HOOKQL_ADMIN_*` example).
//!
//! Fenced blocks, by info string:
//! - `graphql`: an operation. A query or mutation is POSTed as the current caller and must
//!   answer without errors; a `subscription` is started over WebSocket and must have delivered
//!   an event without errors by the end of its file (so a later example must cause one).
//! - `graphql-error CODE`: an example of a refusal (a hook blocking, a bad filter), POSTed the
//!   same way; it must fail with `extensions.code` CODE.
//! - `json` right after one of those: its variables (each one used as `$name` in the operation).
//! - `json answer` right after one of those (or after its variables): the answer it must get,
//!   exactly (for refusals; a success's ids and times differ from run to run).
//!
//! Nothing else runs, and nothing else may hold GraphQL: a block of any other kind whose first
//! line starts an operation (`query`, `mutation`, `subscription`, `fragment`) fails the test,
//! so no example is skipped silently.
//!
//! Placeholders are filled in as a reader would: [`DOC_ID`] becomes the id of the set-up's post
//! and [`DOC_REFRESH`] the newest refresh token an example answered with. The newest access
//! token an example answered with (a `login` as the admin, say) is the caller of the examples
//! after it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, NO_HOOKS};
use crate::ws::Ws;

/// The hooks.yaml `cargo run` starts with.
pub fn shipped_hooks() -> PathBuf {
    concat!(env!("CARGO_MANIFEST_DIR"), "/hooks.yaml").into()
}

/// The document id the examples use; replaced by a real one.
const DOC_ID: &str = "01a2133e-8321-7030-a1d0-0dd8b7981235";
/// Where the examples want the latest refresh token.
const DOC_REFRESH: &str = "<refresh token>";
/// The bootstrap admin the docs configure with `HOOKQL_ADMIN_EMAIL` / `HOOKQL_ADMIN_PASSWORD`.
const DOC_ADMIN: (&str, &str) = ("root@example.com", "a long secret");

/// README.md, then every `docs/*.md` in name order.
pub fn doc_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root.join("README.md"));
    docs
}

/// A file's name as the failures give it: `README.md`, `docs/hooks.md`.
pub fn doc_name(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A fenced block of a Markdown file.
pub struct Block {
    /// The info string after the opening ``` (`graphql`, `graphql-error NOT_FOUND`, …).
    pub info: String,
    /// Its text, a newline after each line.
    pub text: String,
    /// The line of its opening fence, from 1.
    pub line: usize,
}

/// Every ``` block of `markdown`, in order.
pub fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start();
        match open.as_mut() {
            None => {
                if let Some(info) = fence.strip_prefix("```") {
                    open = Some(Block {
                        info: info.trim().to_string(),
                        text: String::new(),
                        line: i + 1,
                    });
                }
            }
            Some(_) if fence.trim_end() == "```" => blocks.extend(open.take()),
            Some(block) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
        }
    }
    assert!(
        open.is_none(),
        "a fenced block is never closed: {}",
        open.map_or(0, |b| b.line)
    );
    blocks
}

/// What an example must answer.
enum Expect {
    Data,
    Error(String),
}

/// One GraphQL example: the operation, its variables, what it must answer, where it is.
struct Example {
    query: String,
    variables: Value,
    expect: Expect,
    answer: Option<Value>,
    at: String,
}

/// What the block after an example may add to it.
#[derive(PartialEq)]
enum Next {
    /// Nothing: the last block was no example.
    Nothing,
    /// Variables or an answer.
    Anything,
    /// An answer (the variables came).
    Answer,
}

/// The first keyword of a GraphQL text, comments and blank lines skipped.
fn first_word(text: &str) -> &str {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let end = line
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(line.len());
    &line[..end]
}

/// The examples of one file, in order.
fn examples(name: &str, markdown: &str) -> Vec<Example> {
    let mut examples: Vec<Example> = Vec::new();
    let mut next = Next::Nothing;
    for block in blocks(markdown) {
        let at = format!("{name}:{}", block.line);
        let json = || -> Value {
            serde_json::from_str(&block.text).unwrap_or_else(|e| panic!("{at}: not JSON: {e}"))
        };
        let mut info = block.info.split_whitespace();
        let expect = match (info.next().unwrap_or(""), info.next()) {
            ("graphql", None) => Expect::Data,
            ("graphql-error", Some(code)) => Expect::Error(code.to_string()),
            ("json", None) if next == Next::Anything => {
                let example = examples.last_mut().expect("an example");
                example.variables = json();
                for key in example
                    .variables
                    .as_object()
                    .expect("variables are an object")
                    .keys()
                {
                    assert!(
                        example.query.contains(&format!("${key}")),
                        "{at}: variable `{key}` is not used by the example before it (an answer? mark it ```json answer)"
                    );
                }
                next = Next::Answer;
                continue;
            }
            ("json", Some("answer")) if next != Next::Nothing => {
                examples.last_mut().expect("an example").answer = Some(json());
                next = Next::Nothing;
                continue;
            }
            ("graphql" | "graphql-error", _) | ("json", Some(_)) => {
                panic!("{at}: ```{} is none of ```graphql, ```graphql-error CODE, ```json (variables) or ```json answer after an example", block.info)
            }
            _ => {
                assert!(
                    !matches!(
                        first_word(&block.text),
                        "query" | "mutation" | "subscription" | "fragment"
                    ),
                    "{at}: a GraphQL block not marked ```graphql or ```graphql-error CODE would never run"
                );
                next = Next::Nothing;
                continue;
            }
        };
        examples.push(Example {
            query: block.text,
            variables: json!({}),
            expect,
            answer: None,
            at,
        });
        next = Next::Anything;
    }
    examples
}

/// Runs the examples of the file at `path` in order on a fresh server; how many ran.
async fn walk(path: &Path) -> usize {
    let name = doc_name(path);
    let markdown = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let examples = examples(&name, &markdown);
    if examples.is_empty() {
        return 0;
    }
    let mut app = spawn_app_with(NO_HOOKS, |s| {
        s.hooks = Some(shipped_hooks());
        s.admin_email = Some(DOC_ADMIN.0.into());
        s.admin_password = Some(DOC_ADMIN.1.into());
    })
    .await;
    // As the README's tour does: sign up as Ann (its curl example), create a post as Ann.
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
    let id = created["id"].as_str().unwrap().to_string();
    let mut subscriptions = Vec::new();
    let ran = examples.len();
    for example in examples {
        let Example {
            query,
            variables,
            expect,
            answer,
            at,
        } = example;
        let query = query.replace(DOC_ID, &id).replace(DOC_REFRESH, &refresh);
        if matches!(expect, Expect::Data) && first_word(&query) == "subscription" {
            let mut ws = Ws::connect(&app.address, app.token.as_deref()).await;
            ws.send(json!({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}))
                .await;
            subscriptions.push((ws, at));
            // On PostgreSQL a write reaches a subscription only once its interest is
            // registered: wait for that before the next example writes.
            crate::helpers::subscriptions_open_at(&app.address, subscriptions.len()).await;
            continue;
        }
        let response = app.gql(&query, variables).await;
        match expect {
            Expect::Data => assert!(
                response.get("errors").is_none(),
                "{at}: the example failed:\n{query}\n{response}"
            ),
            Expect::Error(code) => assert_eq!(
                response["errors"][0]["extensions"]["code"], code,
                "{at}: the example should fail with {code}:\n{query}\n{response}"
            ),
        }
        if let Some(answer) = answer {
            assert_eq!(
                response, answer,
                "{at}: the answer shown is not the answer got"
            );
        }
        for (_, value) in response["data"].as_object().into_iter().flatten() {
            // Sessions rotate: the next example uses the newest refresh token, and the
            // newest access token is the caller from now on.
            if let Some(next) = value["refreshToken"].as_str() {
                refresh = next.to_string();
            }
            if let Some(token) = value["accessToken"].as_str() {
                app.token = Some(token.to_string());
            }
        }
        if let Some(total) = response["data"]["documents"]["totalCount"].as_i64() {
            assert!(total > 0, "{at}: the example lists nothing:\n{query}");
        }
    }
    for (mut ws, at) in subscriptions {
        let event = ws
            .recv_within(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| {
                panic!("{at}: the subscription saw no event by the end of the file")
            });
        assert_eq!(event["type"], "next", "{at}: {event}");
        assert!(event["payload"].get("errors").is_none(), "{at}: {event}");
        ws.close().await;
    }
    ran
}

#[tokio::test]
async fn every_graphql_example_in_the_docs_runs() {
    let mut ran = BTreeMap::new();
    for path in doc_files() {
        ran.insert(doc_name(&path), walk(&path).await);
    }
    // The files whose walk-throughs newcomers follow must keep theirs.
    for (name, least) in [
        ("README.md", 4),
        ("docs/graphql.md", 10),
        ("docs/hooks.md", 3),
        ("docs/operating.md", 2),
    ] {
        let count = ran.get(name).copied().unwrap_or(0);
        assert!(
            count >= least,
            "{name} runs {count} GraphQL examples, expected at least {least}"
        );
    }
}
