//! Benchmarks for live AWS data, with 100 ms of latency injected in front of every AWS call:
//!
//! 1. the slowest single AWS call the dashboard makes (DescribeServices, GetMetricData);
//! 2. the dashboard cold (first request to a fresh server) vs that call;
//! 3. warm latency at 50 concurrent clients (page and JSON API);
//! 4. AWS calls per refresh of both environments.
//!
//! Needs the emulator's Python (scripts/setup). Run:
//! `cargo run --release --example bench_live` (figures in BENCHMARKS.md).

#[path = "support/mod.rs"]
mod support;

use serde_json::{json, Value};
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{first_line, percentile, Killed};

/// How long each warm figure is measured, after a warm-up of the same length that is not: the
/// warm-up opens every client's connection and lets the server's threads settle, so the figures
/// describe the steady state rather than 50 TCP handshakes (a run of a fixed 2,000 requests lasted
/// about 0.1 s and its p99 was mostly those).
const WARM_UP: Duration = Duration::from_secs(2);
const MEASURED: Duration = Duration::from_secs(5);

/// `clients` concurrent loops of GETs (POSTs of `form`, when given), each timing the requests it
/// sends after the warm-up: (p50, p99, requests/s over the measured period). With `gzip`, they
/// ask for compressed answers as browsers do (and read them compressed).
async fn load(client: &reqwest::Client, url: &str, token: &str, form: Option<&str>, gzip: bool, clients: usize) -> (f64, f64, f64) {
    let measure_from = Instant::now() + WARM_UP;
    let until = measure_from + MEASURED;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, token, form) = (client.clone(), url.to_string(), token.to_string(), form.map(str::to_string));
            tokio::spawn(async move {
                let mut ms = Vec::new();
                loop {
                    let t = Instant::now();
                    if t >= until {
                        break ms;
                    }
                    let mut req = match &form {
                        Some(body) => client.post(&url).header("content-type", "application/x-www-form-urlencoded").body(body.clone()),
                        None => client.get(&url),
                    };
                    if gzip {
                        req = req.header("accept-encoding", "gzip, deflate, br, zstd");
                    }
                    let res = req.bearer_auth(&token).send().await.unwrap();
                    assert!(res.status().is_success());
                    res.bytes().await.unwrap();
                    if t >= measure_from {
                        ms.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rate = all.len() as f64 / MEASURED.as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (percentile(&all, 0.5), percentile(&all, 0.99), rate)
}

/// One AWS call sent straight to the emulator (through the latency), timed.
async fn single_call(client: &reqwest::Client, aws: &str, target: &str, region: &str, body: Value) -> f64 {
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let res = client
            .post(format!("{aws}/"))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .header("authorization", format!("AWS4-HMAC-SHA256 Credential=emulator/20260101/{region}/ecs/aws4_request, SignedHeaders=host, Signature=0"))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        res.bytes().await.unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times[times.len() / 2]
}

#[tokio::main]
async fn main() {
    let (_emulator, aws) = support::emulator();
    let client = reqwest::Client::new();
    client.post(format!("{aws}/_proxy/faults")).json(&json!({ "latency_ms": 100 })).send().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let zelly = || support::zelly(dir.path(), &aws);
    let token = support::token(dir.path(), &aws, "viewer");

    // 1. The slowest single call the dashboard makes.
    let describe = single_call(&client, &aws, "AmazonEC2ContainerServiceV20141113.DescribeServices", "ap-south-1",
        json!({ "cluster": "zelly-production", "services": ["fastify-nova", "customer-panel", "orion-backend", "events-consumer", "storefront", "internal_tools"] })).await;
    let now = chrono::Utc::now().timestamp();
    let queries: Vec<Value> = (0..29).map(|i| json!({ "Id": format!("q{i}"), "MetricStat": { "Metric": { "Namespace": "AWS/ECS", "MetricName": "CPUUtilization",
        "Dimensions": [{ "Name": "ClusterName", "Value": "zelly-production" }, { "Name": "ServiceName", "Value": "fastify-nova" }] }, "Period": 300, "Stat": "Average" } })).collect();
    let metrics = single_call(&client, &aws, "GraniteServiceVersion20100801.GetMetricData", "ap-south-1",
        json!({ "MetricDataQueries": queries, "StartTime": now - 3 * 3600, "EndTime": now })).await;
    let slowest = describe.max(metrics);
    println!("single call (100 ms injected): DescribeServices {describe:.0} ms, GetMetricData {metrics:.0} ms");
    // The cold dashboard opens new connections; so does a single call from a fresh client.
    let mut fresh = Vec::new();
    for _ in 0..5 {
        let fresh_client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        let t = Instant::now();
        fresh_client
            .post(format!("{aws}/"))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", "AmazonEC2ContainerServiceV20141113.DescribeServices")
            .header("authorization", "AWS4-HMAC-SHA256 Credential=emulator/20260101/ap-south-1/ecs/aws4_request, SignedHeaders=host, Signature=0")
            .body(json!({ "cluster": "zelly-production", "services": ["fastify-nova"] }).to_string())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        fresh.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    fresh.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let cold_call = fresh[fresh.len() / 2];
    println!("single call on a new connection: {cold_call:.0} ms");
    // The emulator (Python) serves concurrent calls partly one after another: the floor for the
    // dashboard is the same four calls made at once, straight to it.
    let t = Instant::now();
    let body = json!({ "cluster": "zelly-production", "services": ["fastify-nova"] });
    let four = (0..4).map(|i| {
        let region = if i % 2 == 0 { "ap-south-1" } else { "ap-southeast-1" };
        single_call(&client, &aws, "AmazonEC2ContainerServiceV20141113.DescribeServices", region, body.clone())
    });
    futures_util::future::join_all(four).await;
    let parallel = t.elapsed().as_secs_f64() * 1000.0 / 5.0;
    println!("four calls at once, straight to the emulator: {parallel:.0} ms");

    // 2. Each request kind cold, on a fresh server each time (median of 3): the app's own AWS
    // reads, one kind alone, then the whole dashboard (all four reads at once).
    let mut cold_ms = Vec::new();
    for path in ["/api/v1/environments/production/metrics?range=3h", "/api/v1/environments", "/"] {
        let mut times = Vec::new();
        for _ in 0..3 {
            let mut fresh = zelly().args(["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).spawn().unwrap();
            let fresh_url = first_line(&mut fresh);
            let _fresh = Killed(fresh);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let t = Instant::now();
            let res = client.get(format!("{fresh_url}{path}")).bearer_auth(&token).send().await.unwrap();
            assert!(res.status().is_success());
            res.bytes().await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("cold {path} on a fresh server: {:.0} ms", times[1]);
        cold_ms.push(times[1]);
    }
    let slowest_app = cold_ms[0].max(cold_ms[1]);
    println!("dashboard cold = {:.2} x the slowest single read the app makes (the goal's measure)", cold_ms[2] / slowest_app);

    // The same once more, keeping the server for the warm figures below.
    let mut server = zelly().args(["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).spawn().unwrap();
    let url = first_line(&mut server);
    let _server = Killed(server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.post(format!("{aws}/_proxy/reset")).send().await.unwrap();
    client.post(format!("{aws}/_proxy/faults")).json(&json!({ "latency_ms": 100 })).send().await.unwrap();
    let t = Instant::now();
    let page = client.get(format!("{url}/")).bearer_auth(&token).send().await.unwrap();
    assert!(page.status().is_success());
    let html = page.text().await.unwrap();
    let cold = t.elapsed().as_secs_f64() * 1000.0;
    assert!(html.contains("ECS services, live") && html.contains("polyline"));
    println!(
        "dashboard cold: {cold:.0} ms = {:.2} x the slowest single call, {:.2} x a single call on a new connection, {:.2} x four calls at once",
        cold / slowest,
        cold / cold_call,
        cold / parallel
    );
    if std::env::var("BENCH_KEEP").is_ok() {
        println!("server {url} token {token}; Ctrl-C to stop");
        tokio::time::sleep(Duration::from_secs(120)).await;
    }

    // 4. Calls per refresh of both environments.
    let calls: Vec<Value> = client.get(format!("{aws}/_proxy/calls")).send().await.unwrap().json().await.unwrap();
    let count = |op: &str| calls.iter().filter(|c| c["operation"] == op).count();
    println!(
        "AWS calls for the cold dashboard (both environments): DescribeServices {}, GetMetricData {}, total {}",
        count("DescribeServices"),
        count("GetMetricData"),
        calls.len()
    );

    // 3. Warm, 50 concurrent clients; each figure plain, then compressed as a browser asks.
    // `load_dashboard` is what an open dashboard asks for on every refresh beat: its server function.
    let dashboard = <app::server_fns::LoadDashboard as leptos::server_fn::ServerFn>::PATH;
    let kinds = [
        ("page /", "/", None),
        ("GET /api/v1/environments", "/api/v1/environments", None),
        ("GET /api/v1/environments/production/metrics", "/api/v1/environments/production/metrics?range=3h", None),
        ("load_dashboard (both environments' status and metrics)", dashboard, Some("range=3h")),
    ];
    for (name, path, form) in kinds {
        for gzip in [false, true] {
            let (p50, p99, rate) = load(&client, &format!("{url}{path}"), &token, form, gzip, 50).await;
            let how = if gzip { "gzip" } else { "plain" };
            println!("warm {name}, {how}, 50 clients: p50 {p50:.1} ms, p99 {p99:.1} ms, {rate:.0} req/s");
        }
    }
}
