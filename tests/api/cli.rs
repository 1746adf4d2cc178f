//! The `hookql` binary itself: `check`, `schema`, `migrate`, `hooks test`, and `serve` until
//! SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn hookql() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookql"));
    command
        .env_remove("RUST_LOG")
        .env_remove("HOOKQL_HOOKS")
        .env_remove("HOOKQL_DATABASE_URL")
        .env_remove("HOOKQL_ADMIN_EMAIL")
        .env_remove("HOOKQL_ADMIN_PASSWORD");
    command
}

#[tokio::test]
async fn admin_create_makes_an_admin_who_can_sign_in() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = hookql()
        .args([
            "admin",
            "create",
            "--email",
            "Root@Example.com",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"root password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Root@Example.com: created as admin"
    );
    let again = hookql()
        .args([
            "admin",
            "create",
            "--email",
            "root@example.com",
            "--password",
            "ignored!!",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("already an admin"));
    let short = hookql()
        .args([
            "admin",
            "create",
            "--email",
            "new@example.com",
            "--password",
            "short",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8 characters"));

    // A server on that database signs the admin in with the password typed on stdin.
    let database = format!("sqlite://{}", dir.path().join("hookql.db").display());
    let app = crate::helpers::spawn_app_with(crate::helpers::NO_HOOKS, |s| {
        s.database_url = Some(database)
    })
    .await;
    let login = app.login("root@example.com", "root password").await;
    assert_eq!(login["data"]["login"]["user"]["role"], "admin", "{login}");
}

#[test]
fn check_accepts_the_sample_and_reports_errors_with_positions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ok = hookql()
        .arg("check")
        .arg(root.join("hooks.yaml"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("OK, 12 hooks"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("hooks.yaml");
    std::fs::write(&bad, "version: 1\nhooks:\n  - name: a\n    on: pre_save\n    script: \"1\"\n  - name: a\n    on: post_sav\n    script: \"1\"\n").unwrap();
    let failed = hookql().arg("check").arg(&bad).output().unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("hooks.yaml:6:11: duplicate hook name `a`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hooks.yaml:7:9: unknown event `post_sav`; did you mean `post_save`?"),
        "{stderr}"
    );
    assert!(stderr.contains("2 error(s)"), "{stderr}");
}

#[test]
fn hooks_test_dry_runs_a_chain_and_says_how_it_ended() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hooks.yaml"),
        "version: 1\nhooks:\n  - name: slug\n    on: pre_save\n    script: |\n      db.create(\"log\", #{ n: 1 });\n      #{ patch: #{ slug: data.title.to_lower() } }\n  - name: no-spam\n    on: pre_save\n    when: { title: SPAM }\n    script: block(\"No spam.\")\n",
    )
    .unwrap();
    let run = |title: &str| {
        let payload = dir.path().join("payload.json");
        std::fs::write(
            &payload,
            format!(r#"{{"collection": "posts", "operation": "create", "document": {{"title": "{title}"}}}}"#),
        )
        .unwrap();
        hookql()
            .args(["hooks", "test", "pre_save", "--payload"])
            .arg(&payload)
            .arg("--hooks")
            .arg(dir.path().join("hooks.yaml"))
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let passed = run("Hello");
    assert_eq!(
        passed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&passed.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&passed.stdout).unwrap();
    assert_eq!(report["outcome"], "passed");
    assert_eq!(report["payload"]["document"]["slug"], "hello");
    assert_eq!(report["steps"][0]["decision"], "changed");
    assert_eq!(report["steps"][1]["decision"], "skipped");

    let blocked = run("SPAM");
    assert_eq!(blocked.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&blocked.stdout).unwrap();
    assert_eq!(report["outcome"], "blocked");
    assert_eq!(report["stoppedBy"], "no-spam");
    assert_eq!(report["reason"], "No spam.");

    let wrong = hookql()
        .args(["hooks", "test", "post_save", "--payload", "nowhere.json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("dry runs cover"));
}

#[test]
fn schema_prints_the_committed_json_schema() {
    let out = hookql().arg("schema").output().unwrap();
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks.schema.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(printed, committed);
}

#[test]
fn serve_answers_then_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = hookql()
        .arg("migrate")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    assert!(dir.path().join("data/hookql.db").exists());

    // No hooks.yaml in this folder: the server starts with none (zero configuration). The
    // environment names a bootstrap admin.
    let mut server = hookql()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HOOKQL_ADMIN_EMAIL", "root@example.com")
        .env("HOOKQL_ADMIN_PASSWORD", "root password")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let health = std::net::TcpStream::connect(&address).and_then(|mut stream| {
        use std::io::{Read, Write};
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    });
    assert!(health.unwrap().starts_with("HTTP/1.1 200"));
    let login = r#"{"query":"mutation { login(email: \"root@example.com\", password: \"root password\") { user { role } } }"}"#;
    let signed_in = std::net::TcpStream::connect(&address).and_then(|mut stream| {
        use std::io::{Read, Write};
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let request = format!("POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{login}", login.len());
        stream.write_all(request.as_bytes())?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    });
    let signed_in = signed_in.unwrap();
    assert!(
        signed_in.contains(r#"{"data":{"login":{"user":{"role":"admin"}}}}"#),
        "{signed_in}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "{status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("hookql stopped")),
        "{rest:?}"
    );
}
