//! Benchmarks for cost:
//!
//! 1. in process: the estimate of both built-in environments, pricing a 14-change plan, the CSV;
//! 2. over HTTP against a release server and the seeded emulator: `GET /api/v1/costs` cold (Cost
//!    Explorer asked: four calls) and warm (answers kept), and the Cost Explorer calls made.
//!
//! Run: `cargo run --release --example bench_costs` (figures in BENCHMARKS.md).

#[path = "support/mod.rs"]
mod support;

use std::time::Instant;
use support::{median, percentile};
use zelly_control::config::Config;
use zelly_control::costs::{catalog::Catalog, estimate, export, plan, Costs};

fn time_us(iterations: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / iterations as f64
}

#[tokio::main]
async fn main() {
    let mut config = Config::defaults();
    config.aws.enabled = false;
    let catalog = Catalog::built_in();
    let envs = config.environments();
    let plan_json = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/plans/mixed.json")).unwrap();
    let costs = Costs::new(&config, zelly_control::clock::Clock::System).await.unwrap();
    let overview = costs.overview().await;

    println!("in process (mean of 10,000)");
    println!("  catalog parse           {:8.1} µs", time_us(1_000, || drop(Catalog::built_in())));
    println!("  estimate, both envs     {:8.1} µs", time_us(10_000, || envs.iter().for_each(|e| drop(estimate::estimate(&catalog, e, 730.0)))));
    println!("  price a 14-change plan  {:8.1} µs", time_us(10_000, || drop(plan::price_plan(&catalog, &envs[0], 730.0, &plan_json).unwrap())));
    println!("  CSV of both envs        {:8.1} µs", time_us(10_000, || drop(export::to_csv(&overview))));

    let (_aws, aws) = support::emulator();
    let dir = tempfile::tempdir().unwrap();
    let token = support::token(dir.path(), &aws, "viewer");
    let (_server, url) = support::serve(dir.path(), &aws);
    let client = reqwest::Client::new();
    let get = |path: &'static str| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            let start = Instant::now();
            let res = client.get(format!("{url}{path}")).bearer_auth(&token).send().await.unwrap();
            assert!(res.status().is_success());
            res.bytes().await.unwrap();
            start.elapsed().as_secs_f64() * 1000.0
        }
    };
    let cold = get("/api/v1/costs").await;
    let mut warm: Vec<f64> = Vec::new();
    for _ in 0..500 {
        warm.push(get("/api/v1/costs").await);
    }
    warm.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let csv = median({
        let mut v = Vec::new();
        for _ in 0..200 {
            v.push(get("/api/v1/costs.csv").await);
        }
        v
    });
    let calls: Vec<serde_json::Value> = client.get(format!("{aws}/_proxy/calls")).send().await.unwrap().json().await.unwrap();
    let ce = calls.iter().filter(|c| c["operation"] == "GetCostAndUsage").count();
    println!("over HTTP (release server, emulator)");
    println!("  GET /api/v1/costs cold  {cold:8.2} ms  (asks Cost Explorer)");
    println!("  GET /api/v1/costs warm  {:8.2} ms median, {:.2} ms p99 (500 sequential)", percentile(&warm, 0.5), percentile(&warm, 0.99));
    println!("  GET /api/v1/costs.csv   {csv:8.2} ms median (200 sequential)");
    println!("  Cost Explorer calls     {ce:8}     for 701 requests");
}
