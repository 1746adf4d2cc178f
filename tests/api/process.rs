//! The real `hookql` binary in a child process: for crash tests and for several instances.

use std::time::Duration;

use serde_json::{json, Value};

use crate::receiver::free_port;

/// The real binary, for tests that kill it or need a second process.
pub struct Server {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    client: reqwest::Client,
}

impl Server {
    /// Starts `hookql serve` on a free port with `dir/hooks.yaml` on `database_url`.
    pub fn start(dir: &std::path::Path, database_url: &str) -> Self {
        Self::start_with(dir, database_url, &[])
    }

    /// [`Server::start`] with extra environment variables.
    pub fn start_with(dir: &std::path::Path, database_url: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_hookql"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .envs(env.iter().copied())
            .env("HOOKQL_DATABASE_URL", database_url)
            .env("HOOKQL_HOOKS", dir.join("hooks.yaml"))
            .env("HOOKQL_DATA_DIR", dir.join("data"))
            .env("HOOKQL_JWT_SECRET", "a-test-secret-of-at-least-32-bytes!")
            .env("HOOKQL_ADMIN_EMAIL", "root@example.com")
            .env("HOOKQL_ADMIN_PASSWORD", "root password")
            .env("HOOKQL_DELIVERY_POLL_MS", "200")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server starts");
        Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        }
    }

    /// A GraphQL request (retried until the server answers), as `token` (empty: anonymous).
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        for _ in 0..200 {
            let mut request = self
                .client
                .post(format!("{}/graphql", self.address))
                .json(&json!({"query": query, "variables": variables}));
            if !token.is_empty() {
                request = request.bearer_auth(token);
            }
            if let Ok(response) = request.send().await {
                return response.json().await.expect("JSON");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server never answered");
    }

    /// Creates a post anonymously; its id.
    pub async fn create_post(&self) -> String {
        let response = self
            .gql(
                "",
                "mutation { createDocument(collection: \"posts\", data: {title: \"Hi\"}) { id } }",
                json!({}),
            )
            .await;
        response["data"]["createDocument"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{response}"))
            .to_string()
    }

    /// The bootstrap admin's access token.
    pub async fn admin_token(&self) -> String {
        let response = self
            .gql("", "mutation { login(email: \"root@example.com\", password: \"root password\") { accessToken } }", json!({}))
            .await;
        response["data"]["login"]["accessToken"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// SIGTERM, then waits (bounded) for the process to exit; its status.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running {within:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the process.
    pub fn signal(&self, signal: &str) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal}");
    }

    /// SIGKILL: no shutdown, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
