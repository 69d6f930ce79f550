//! Notifications: how soon a change reaches a webhook receiver, and what the sender costs the
//! database while nothing happens. A release server on PostgreSQL (a fresh schema of
//! `--database`, default postgres://postgres@127.0.0.1:5432/test), a local receiver answering 200:
//!
//! 1. `--tests N` (default 100) test notifications, one every 20 ms: from the event's `at` (the
//!    change's transaction) to the receiver's first byte;
//! 2. `--runs N` (default 20) production apply runs reaching "waiting for approval" (the fake
//!    terraform of the test fixtures), each then discarded: the same for `run.needs_approval`;
//! 3. idle: the database's transactions per second over `--idle-seconds` (default 20) with the
//!    default `notifications.poll_seconds` (1), and with the sender's poll pushed out to an hour:
//!    the difference is the sender's share.
//!
//!     cargo run --release --example bench_notifications -- [--tests N] [--runs N] [--idle-seconds N]

mod support;

use serde_json::Value;
use sqlx::Connection;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter().position(|a| a == name).map(|i| args[i + 1].clone()).unwrap_or_else(|| default.to_string())
}

type Arrivals = Arc<Mutex<Vec<(chrono::DateTime<chrono::Utc>, Value)>>>;

async fn receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let seen = seen.clone();
        async move {
            let at = chrono::Utc::now();
            seen.lock().unwrap().push((at, serde_json::from_slice(&body).unwrap()));
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, arrivals)
}

struct Server {
    _child: support::Killed,
    url: String,
    token: String,
}

fn start(dir: &Path, database: &str, hook: &str, poll_seconds: f64) -> Server {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let config = dir.join("zelly.toml");
    std::fs::write(
        &config,
        format!(
            "[notifications]\npoll_seconds = {poll_seconds}\n\n[[notifications.destinations]]\nname = \"bench\"\nkind = \"webhook\"\n\
             url = \"{hook}\"\nsigning_key = \"a-bench-signing-key\"\n"
        ),
    )
    .unwrap();
    let command = |args: &[&str]| {
        let mut cmd = support::zelly(dir, "http://127.0.0.1:9");
        cmd.env("ZELLY_CONFIG", &config)
            .env("DATABASE_URL", database)
            .env("ZELLY_AWS__ENABLED", "false")
            .env("ZELLY_TERRAFORM__BIN", fixtures.join("fake-terraform"))
            .env("ZELLY_TERRAFORM__INFRA_DIR", dir.join("infra"))
            .args(args);
        cmd
    };
    let out = command(&["token", "create", "--user", "bench", "--role", "admin"]).output().unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let mut child = command(&["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).spawn().unwrap();
    let url = support::first_line(&mut child);
    Server { _child: support::Killed(child), url, token }
}

fn latencies(arrivals: &Arrivals, event: &str) -> Vec<f64> {
    let mut ms: Vec<f64> = arrivals
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, body)| body["event"] == event)
        .map(|(at, body)| {
            let sent: chrono::DateTime<chrono::Utc> = body["at"].as_str().unwrap().parse().unwrap();
            (*at - sent).num_microseconds().unwrap() as f64 / 1000.0
        })
        .collect();
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    ms
}

fn report(what: &str, ms: &[f64]) {
    println!(
        "{what}: {} events, change → first attempt p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        ms.len(),
        support::percentile(ms, 0.5),
        support::percentile(ms, 0.95),
        ms[ms.len() - 1]
    );
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn transactions(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        .fetch_one(conn)
        .await
        .unwrap()
}

/// Transactions per second in the whole database while the server idles (this connection's
/// own two reads excluded).
async fn idle_rate(conn: &mut sqlx::PgConnection, seconds: u64) -> f64 {
    // pg_stat_database is updated when backends report, at most every second or so: settle first.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = transactions(conn).await;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = transactions(conn).await;
    (after - before - 1) as f64 / seconds as f64
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tests: usize = arg(&args, "--tests", "100").parse().unwrap();
    let runs: usize = arg(&args, "--runs", "20").parse().unwrap();
    let idle: u64 = arg(&args, "--idle-seconds", "20").parse().unwrap();
    let base = arg(&args, "--database", "postgres://postgres@127.0.0.1:5432/test");
    let schema = format!("bench_notify_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut conn).await.unwrap();
    let database = format!("{base}?options=-c%20search_path%3D{schema}");
    let work = tempfile::tempdir().unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/infra"))
        .arg(work.path().join("infra"))
        .status();
    assert!(copied.unwrap().success());
    let (hook, arrivals) = receiver().await;
    let client = reqwest::Client::new();

    let server = start(work.path(), &database, &hook, 1.0);
    println!("release server on PostgreSQL, notifications.poll_seconds = 1, one webhook destination on loopback");
    for _ in 0..tests {
        let url = format!("{}/api/v1/notifications/destinations/bench/test", server.url);
        assert_eq!(client.post(url).bearer_auth(&server.token).send().await.unwrap().status(), 202);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_until("the tests", || latencies(&arrivals, "test").len() == tests).await;
    report("test (queued by this process: sent at once)", &latencies(&arrivals, "test"));

    for i in 0..runs {
        let url = format!("{}/api/v1/environments/production/runs", server.url);
        let run: Value = client.post(url).bearer_auth(&server.token).json(&serde_json::json!({ "kind": "apply", "message": "bench" })).send().await.unwrap().json().await.unwrap();
        let id = run["id"].as_i64().expect("a run");
        wait_until("the approval request", || latencies(&arrivals, "run.needs_approval").len() == i + 1).await;
        let reject = format!("{}/api/v1/runs/{id}/reject", server.url);
        assert!(client.post(reject).bearer_auth(&server.token).json(&serde_json::json!({})).send().await.unwrap().status().is_success());
    }
    report("run.needs_approval (a worker's plan finished)", &latencies(&arrivals, "run.needs_approval"));

    let with_sender = idle_rate(&mut conn, idle).await;
    drop(server);
    let quiet = start(work.path(), &database, &hook, 3600.0);
    let without = idle_rate(&mut conn, idle).await;
    drop(quiet);
    println!(
        "idle, whole server: {with_sender:.2} database transactions/s with poll_seconds = 1; {without:.2}/s with the sender's poll at an hour; \
         the sender's share: {:.2}/s",
        with_sender - without
    );
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&mut conn).await.unwrap();
}
