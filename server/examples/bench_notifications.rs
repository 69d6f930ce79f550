//! Notifications: how soon a change reaches a webhook receiver, and what the sender costs the
//! database while nothing happens. A release server on PostgreSQL (a fresh schema of
//! `--database`, default postgres://postgres@127.0.0.1:5432/test), a local receiver answering 200:
//!
//! 1. `--tests N` (default 100) test notifications, one every 20 ms: from the event's `at` (the
//!    change's transaction) to the receiver's first byte;
//! 2. `--runs N` (default 20) production apply runs reaching "waiting for approval" (the fake
//!    terraform of the test fixtures), each then discarded: the same for `run.needs_approval`;
//! 3. idle: the database's transactions per second over `--idle-seconds` (default 60) of a
//!    server without run workers or drift schedule, with the default `notifications.poll_seconds`
//!    (1) and with the sender's poll pushed out to an hour: the difference is the sender's share;
//!    and the cost of one look (`outbox_due`) with `--rows` (default 100000) delivered
//!    deliveries in the tables.
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

fn start(dir: &Path, database: &str, hook: &str, poll_seconds: f64, workers: u32) -> Server {
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
            .env("ZELLY_RUNS__WORKERS", workers.to_string())
            .env("ZELLY_RUNS__DRIFT_CHECK_MINUTES", if workers == 0 { "0" } else { "360" })
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

/// The idle sender's one query, timed against tables holding `rows` delivered deliveries.
async fn look_cost(database: &str, schema: &str, rows: i64) {
    let db = zelly_control::db::Db::connect(database, 2).await.unwrap();
    db.execute_sql(&format!(
        "INSERT INTO {schema}.notification_events (uid, event, environment, actor, details, created_at, state) \
         SELECT 'bench-evt-' || g, 'test', NULL, 'bench', '{{}}', now() - interval '1 day', 'routed' FROM generate_series(1, {rows}) g"
    ), &[])
    .await
    .unwrap();
    db.execute_sql(&format!(
        "INSERT INTO {schema}.notification_deliveries (uid, event_id, destination, event, body, status, attempts, created_at, delivered_at, next_attempt_at) \
         SELECT 'bench-dlv-' || e.id, e.id, 'bench', 'test', '{{}}', 'delivered', 1, e.created_at, e.created_at, e.created_at \
         FROM {schema}.notification_events e WHERE e.uid LIKE 'bench-evt-%'"
    ), &[])
    .await
    .unwrap();
    db.execute_sql(&format!("ANALYZE {schema}.notification_events"), &[]).await.unwrap();
    db.execute_sql(&format!("ANALYZE {schema}.notification_deliveries"), &[]).await.unwrap();
    let mut times = Vec::new();
    for _ in 0..1000 {
        let started = std::time::Instant::now();
        db.outbox_due().await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "one idle look (outbox_due) with {rows} delivered deliveries: p50 {:.3} ms, p99 {:.3} ms (round trip included)",
        support::percentile(&times, 0.5),
        support::percentile(&times, 0.99)
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tests: usize = arg(&args, "--tests", "100").parse().unwrap();
    let runs: usize = arg(&args, "--runs", "20").parse().unwrap();
    let idle: u64 = arg(&args, "--idle-seconds", "60").parse().unwrap();
    let rows: i64 = arg(&args, "--rows", "100000").parse().unwrap();
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

    let server = start(work.path(), &database, &hook, 1.0, 2);
    println!("release server on PostgreSQL, notifications.poll_seconds = 1, one webhook destination on loopback");
    for _ in 0..tests {
        let url = format!("{}/api/v1/notifications/destinations/bench/test", server.url);
        assert_eq!(client.post(url).bearer_auth(&server.token).send().await.unwrap().status(), 202);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_until("the tests", || latencies(&arrivals, "test").len() == tests).await;
    report("test (queued by this process: sent at once)", &latencies(&arrivals, "test"));
    let slow: Vec<String> = arrivals
        .lock()
        .unwrap()
        .iter()
        .enumerate()
        .filter_map(|(i, (at, body))| {
            let sent: chrono::DateTime<chrono::Utc> = body["at"].as_str()?.parse().ok()?;
            let ms = (*at - sent).num_milliseconds();
            (ms > 20).then(|| format!("#{i}: {ms} ms"))
        })
        .collect();
    println!("  slower than 20 ms: {}", if slow.is_empty() { "none".to_string() } else { slow.join(", ") });

    for i in 0..runs {
        let url = format!("{}/api/v1/environments/production/runs", server.url);
        let run: Value = client.post(url).bearer_auth(&server.token).json(&serde_json::json!({ "kind": "apply", "message": "bench" })).send().await.unwrap().json().await.unwrap();
        let id = run["id"].as_i64().expect("a run");
        wait_until("the approval request", || latencies(&arrivals, "run.needs_approval").len() == i + 1).await;
        let reject = format!("{}/api/v1/runs/{id}/reject", server.url);
        assert!(client.post(reject).bearer_auth(&server.token).json(&serde_json::json!({})).send().await.unwrap().status().is_success());
    }
    report("run.needs_approval (a worker's plan finished)", &latencies(&arrivals, "run.needs_approval"));

    drop(server);
    let idle_server = start(work.path(), &database, &hook, 1.0, 0);
    let with_sender = idle_rate(&mut conn, idle).await;
    drop(idle_server);
    let quiet = start(work.path(), &database, &hook, 3600.0, 0);
    let without = idle_rate(&mut conn, idle).await;
    drop(quiet);
    println!(
        "idle server (no run workers): {with_sender:.2} database transactions/s with poll_seconds = 1; {without:.2}/s with the sender's poll at an hour; \
         the sender's share: {:.2}/s",
        with_sender - without
    );
    look_cost(&database, &schema, rows).await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&mut conn).await.unwrap();
}
