//! Benchmarks for secrets, against the seeded emulator with 100 ms of latency injected in front
//! of every AWS call (so round trips, not the emulator's Python, dominate):
//!
//! 1. latency of each operation (list, detail, the /secrets page of both environments, reveal,
//!    edit, rotate) and the AWS calls each one makes;
//! 2. 20 concurrent edits of one version: how long until all are answered, and the outcome.
//!
//! Run: `cargo run --release --example bench_secrets` (figures in BENCHMARKS.md).

#[path = "support/mod.rs"]
mod support;

use serde_json::{json, Value};
use std::time::Instant;
use support::median;

struct Bench {
    client: reqwest::Client,
    url: String,
    aws: String,
    token: String,
}

impl Bench {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut req = self.client.request(method.parse().unwrap(), format!("{}{path}", self.url)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        assert!(res.status().is_success(), "{method} {path}: {}", res.status());
        let text = res.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn aws_calls(&self) -> usize {
        let calls: Vec<Value> = self.client.get(format!("{}/_proxy/calls", self.aws)).send().await.unwrap().json().await.unwrap();
        calls.len()
    }

    async fn reset_calls(&self) {
        self.client.post(format!("{}/_proxy/reset", self.aws)).send().await.unwrap();
        self.client.post(format!("{}/_proxy/faults", self.aws)).json(&json!({ "latency_ms": 100 })).send().await.unwrap();
    }

    /// Median of 5 runs of `op`, and the AWS calls one run makes.
    async fn time<F: std::future::Future<Output = Value>>(&self, name: &str, mut op: impl FnMut() -> F) {
        let mut times = Vec::new();
        let mut calls = 0;
        for _ in 0..5 {
            self.reset_calls().await;
            let t = Instant::now();
            op().await;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            calls = self.aws_calls().await;
        }
        println!("{name}: {:.0} ms, {calls} AWS calls", median(times));
    }
}

const REDIS: &str = "/api/v1/environments/staging/secrets/zelly%2Fredis%2Fauth";
const REVEAL: &str = "/api/v1/environments/staging/secrets/zelly%2Fredis%2Fauth/reveal";
const ROTATE: &str = "/api/v1/environments/staging/secrets/zelly%2Fredis%2Fauth/rotate";

#[tokio::main]
async fn main() {
    let (_emulator, aws) = support::emulator();
    let dir = tempfile::tempdir().unwrap();
    let token = support::token(dir.path(), &aws, "admin");
    // Each figure is a fresh read, not the brief sharing of repeated reads.
    let (_server, url) = support::serve_with(dir.path(), &aws, &[("ZELLY_AWS__REPEAT_READ_SECONDS", "0")]);
    let b = &Bench { client: reqwest::Client::new(), url, aws, token };
    // Warm the ECS status cache and the task definitions the consumers are read from.
    b.call("GET", REDIS, None).await;

    b.time("list one environment (GET .../secrets)", || b.call("GET", "/api/v1/environments/staging/secrets", None)).await;
    b.time("detail (GET .../secrets/{name})", || b.call("GET", REDIS, None)).await;
    b.time("the /secrets page (both environments and parity)", || async { b.client.get(format!("{}/secrets", b.url)).bearer_auth(&b.token).send().await.unwrap().text().await.unwrap(); Value::Null }).await;
    b.time("reveal one key", || b.call("POST", REVEAL, Some(json!({ "key": "REDIS_PASSWORD" })))).await;
    // Each edit names the version the previous one created, as a user who just read it would.
    let version = std::sync::Mutex::new(b.call("GET", REDIS, None).await["version_id"].clone());
    let n = std::sync::atomic::AtomicUsize::new(0);
    b.time("edit one key (PUT, read at the current version)", || async {
        let body = json!({ "version_id": version.lock().unwrap().clone(), "set": { "REDIS_PORT": format!("bench-{}", n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) } });
        let done = b.call("PUT", REDIS, Some(body)).await;
        *version.lock().unwrap() = done["version_id"].clone();
        done
    })
    .await;
    b.time("rotate one key", || b.call("POST", ROTATE, Some(json!({ "keys": ["REDIS_PASSWORD"] })))).await;

    let version = b.call("GET", REDIS, None).await["version_id"].clone();
    b.reset_calls().await;
    let t = Instant::now();
    let edits = (0..20).map(|i| {
        let req = b.client.put(format!("{}{REDIS}", b.url)).bearer_auth(&b.token)
            .json(&json!({ "version_id": version, "set": { "REDIS_PORT": format!("race-{i}") } }));
        async move { req.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(edits).await;
    let took = t.elapsed().as_secs_f64() * 1000.0;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    println!("20 concurrent edits of one version: all answered in {took:.0} ms; {ok} × 200, {conflicts} × 409, {} AWS calls", b.aws_calls().await);
}
