//! Benchmarks for Terraform runs, against the real `zelly-control serve` in a child process:
//!
//! 1. enqueue → terraform process started (p50/p99 over sequential runs);
//! 2. a log line written by terraform → received by 100 concurrent SSE clients (p50/p99);
//! 3. server memory (RSS) while a 50 MB log is written and streamed.
//!
//! `terraform` here is a small shell script that timestamps its start and its output lines.
//! Run: `cargo run --release --example bench_runs -- [--postgres URL]` (numbers in BENCHMARKS.md).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const FAKE: &str = r#"#!/bin/sh
case "$1" in
  version) echo "Terraform v0.0.0 (simulated bench)" ;;
  init) date +%s%N >> "$BENCH_DIR/starts" ;;
  plan)
    case "$(cat "$BENCH_DIR/mode")" in
      lines) i=0; while [ $i -lt 40 ]; do echo "T $(date +%s%N)"; sleep 0.05; i=$((i+1)); done ;;
      big) yes "$(printf '%0100d' 0)" | head -n 500000 ;;
    esac
    exit 0 ;;
esac
exit 0
"#;

fn now_ns() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i128
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{name}: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().unwrap()
    );
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn zelly(dir: &Path, database: &str) -> Command {
    let bin = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("zelly-control");
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .env("DATABASE_URL", database)
        .env("ZELLY_SERVER__DATA_DIR", dir)
        .env("ZELLY_TERRAFORM__BIN", dir.join("terraform"))
        .env("ZELLY_TERRAFORM__INFRA_DIR", dir.join("infra"))
        .env("BENCH_DIR", dir)
        // No AWS here: runs read no variables secret.
        .env("ZELLY_AWS__ENABLED", "false")
        // A hundred viewers of one token: above the per-user cap a real team never reaches.
        .env("ZELLY_RUNS__LIVE_STREAMS_PER_USER", "200")
        .env("RUST_LOG", "error");
    cmd
}

fn serve(dir: &Path, database: &str) -> Server {
    let mut child = zelly(dir, database).args(["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    Server(child, line.trim().rsplit(' ').next().unwrap().to_string())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let database = match args.iter().position(|a| a == "--postgres") {
        Some(i) => args[i + 1].clone(),
        None => format!("sqlite://{}/bench.db?mode=rwc", dir.display()),
    };
    std::fs::write(dir.join("terraform"), FAKE).unwrap();
    Command::new("chmod").arg("+x").arg(dir.join("terraform")).status().unwrap();
    for root in ["terraform", "terraform/environments/staging"] {
        std::fs::create_dir_all(dir.join("infra").join(root)).unwrap();
    }
    std::fs::write(dir.join("mode"), "start").unwrap();

    let out = zelly(dir, &database).args(["token", "create", "--user", "bench", "--role", "operator"]).output().unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let server = serve(dir, &database);
    let client = reqwest::Client::new();
    let url = server.1.clone();
    println!("database: {}", if database.starts_with("sqlite") { "sqlite" } else { "postgres" });

    let start_run = |url: String, env: &'static str| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            let res = client
                .post(format!("{url}/api/v1/environments/{env}/runs"))
                .bearer_auth(&token)
                .json(&json!({ "kind": "plan" }))
                .send()
                .await
                .unwrap();
            res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
        }
    };
    let wait_done = |url: String, id: i64| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            loop {
                let run: Value = client.get(format!("{url}/api/v1/runs/{id}")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
                if run["status"] != "queued" && run["status"] != "planning" {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };

    // 1. Enqueue -> terraform started.
    let mut latencies = Vec::new();
    for i in 0..200 {
        let before = now_ns();
        let id = start_run(url.clone(), if i % 2 == 0 { "production" } else { "staging" }).await;
        wait_done(url.clone(), id).await;
        let starts = std::fs::read_to_string(dir.join("starts")).unwrap();
        let started: i128 = starts.lines().last().unwrap().parse().unwrap();
        latencies.push((started - before) as f64 / 1e6);
    }
    summary("enqueue -> terraform started", latencies);

    // 2. Log line -> 100 SSE clients.
    std::fs::write(dir.join("mode"), "lines").unwrap();
    let id = start_run(url.clone(), "production").await;
    let mut clients = Vec::new();
    for _ in 0..100 {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        clients.push(tokio::spawn(async move {
            let mut res = client.get(format!("{url}/api/v1/runs/{id}/log/stream")).bearer_auth(&token).send().await.unwrap();
            let mut got = Vec::new();
            let mut buf = String::new();
            while let Some(chunk) = res.chunk().await.unwrap() {
                let at = now_ns();
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(i) = buf.find('\n') {
                    let line: String = buf.drain(..=i).collect();
                    if let Some(ts) = line.trim().strip_prefix("data: T ") {
                        got.push((at - ts.parse::<i128>().unwrap()) as f64 / 1e6);
                    }
                }
                if buf.contains("event: end") {
                    break;
                }
            }
            got
        }));
    }
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await.unwrap());
    }
    summary("log line -> 100 SSE clients", all);

    // 3. Memory while a 50 MB log is written and streamed (one SSE client, one download), on a
    // freshly started server so that "idle" means idle.
    drop(server);
    let server = serve(dir, &database);
    let url = server.1.clone();
    let pid = server.0.id();
    std::fs::write(dir.join("mode"), "big").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_kb(pid);
    let id = start_run(url.clone(), "staging").await;
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(idle));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kb(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let began = Instant::now();
    let stream = {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        tokio::spawn(async move {
            let mut res = client.get(format!("{url}/api/v1/runs/{id}/log/stream")).bearer_auth(&token).send().await.unwrap();
            let mut bytes = 0usize;
            while let Some(chunk) = res.chunk().await.unwrap() {
                bytes += chunk.len();
                if String::from_utf8_lossy(&chunk).contains("event: end") {
                    break;
                }
            }
            bytes
        })
    };
    wait_done(url.clone(), id).await;
    let streamed = stream.await.unwrap();
    let written = Instant::now() - began;
    let mut download = client.get(format!("{url}/api/v1/runs/{id}/log")).bearer_auth(&token).send().await.unwrap();
    let mut downloaded = 0usize;
    while let Some(chunk) = download.chunk().await.unwrap() {
        downloaded += chunk.len();
    }
    sampler.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "50 MB log: written and streamed in {:.1} s, SSE bytes {:.1} MB, download {:.1} MB; RSS idle {} KB, peak {} KB",
        written.as_secs_f64(),
        streamed as f64 / 1e6,
        downloaded as f64 / 1e6,
        idle,
        peak
    );
}
