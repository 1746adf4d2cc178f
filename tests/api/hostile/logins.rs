//! Password guessing in parallel (issue 15, item 9): attempts still being checked count
//! against the email's allowance, so a burst of guesses gets no more password checks than the
//! same guesses sent one after another, and the server keeps answering everyone else.

use hookql::auth::limiter::FREE_FAILURES;
use serde_json::{json, Value};

use super::Bystander;
use crate::helpers::{settle_within, spawn_app_with, TestApp, NO_HOOKS, PASSWORD};

/// Guesses sent at once.
const GUESSES: usize = 300;
/// The most password checks guesses one after another get before the first lock: the free
/// failures and the one that starts the lock.
const SEQUENTIAL_CHECKS: usize = FREE_FAILURES as usize + 1;

const LOGIN: &str =
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }";

/// What a burst of guesses got back.
#[derive(Debug, Default)]
struct Answers {
    /// Guesses whose password was checked (wrong, or right and signed in).
    checked: usize,
    /// Guesses that signed in.
    signed_in: usize,
    /// Guesses refused unchecked, with `RATE_LIMITED`.
    refused: usize,
    /// Anything else (each one fails the test).
    unexpected: Vec<Value>,
}

/// Sends [`GUESSES`] logins for `email` at once, the last with `right` (if any).
async fn burst(app: &TestApp, email: &str, right: Option<&str>) -> Answers {
    let guesses = (0..GUESSES).map(|i| {
        let password = match right {
            Some(right) if i == GUESSES - 1 => right.to_string(),
            _ => format!("guess number {i}"),
        };
        let (client, url) = (app.client.clone(), format!("{}/graphql", app.address));
        let body = json!({"query": LOGIN, "variables": {"e": email, "p": password}});
        tokio::spawn(async move {
            let response = client.post(url).json(&body).send().await?;
            response.json::<Value>().await
        })
    });
    let mut answers = Answers::default();
    for answer in futures_util::future::join_all(guesses).await {
        let answer = answer.expect("guess task").expect("a JSON answer");
        let error = &answer["errors"][0];
        match error["extensions"]["code"].as_str() {
            None if answer["data"]["login"]["accessToken"].is_string() => {
                answers.checked += 1;
                answers.signed_in += 1;
            }
            Some("UNAUTHENTICATED") => answers.checked += 1,
            Some("RATE_LIMITED") if error["extensions"]["retryAfter"].as_u64() >= Some(1) => {
                answers.refused += 1
            }
            _ => answers.unexpected.push(answer),
        }
    }
    answers
}

#[tokio::test]
async fn parallel_logins_cannot_bypass_the_limiter() {
    // 300 connections from one address: past the per-address connection cap, which is
    // another limit's business (hostile::connections).
    let app = spawn_app_with(NO_HOOKS, |s| s.max_connections_per_ip = 0).await;
    app.sign_up("ann@example.com").await;
    let bystander = Bystander::start(&app, None);

    let known = burst(&app, "ann@example.com", Some(PASSWORD)).await;
    let unknown = burst(&app, "nobody@example.com", None).await;

    bystander.assert_served().await;
    for (who, answers) in [("a known email", &known), ("an unknown email", &unknown)] {
        assert!(answers.unexpected.is_empty(), "{who}: {answers:?}");
        assert!(
            (1..=SEQUENTIAL_CHECKS).contains(&answers.checked),
            "{who}: {} of {GUESSES} parallel guesses were checked; one after another only {SEQUENTIAL_CHECKS} would be ({answers:?})",
            answers.checked
        );
        assert_eq!(answers.checked + answers.refused, GUESSES, "{who}");
    }
    // The owner is not locked out for long: the lock the burst earned is the first (1 s).
    let owner = settle_within(
        std::time::Duration::from_secs(10),
        async || app.login("ann@example.com", PASSWORD).await,
        |answer| answer["data"]["login"]["accessToken"].is_string(),
    )
    .await;
    assert!(owner["data"]["login"]["accessToken"].is_string(), "{owner}");
}
