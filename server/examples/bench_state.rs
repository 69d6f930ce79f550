//! The state page's cost, against a release server and the AWS emulator holding production's
//! state backend with `--versions` versions (default 50) of a state of `--resources` resource
//! instances (default 300), a held lock, and `--latency-ms` (default 20) injected before every
//! AWS call, as a real region's round trip:
//!
//! 1. the first view (every version's contents read once) and warm views of
//!    `GET /api/v1/environments/production/state`, of the state page, and of a diff;
//! 2. the S3 and DynamoDB calls each view makes, counted by the emulator.
//!
//!     cargo run --release --example bench_state -- [--versions N] [--resources N] [--latency-ms N]

mod support;

use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).map(|i| args[i + 1].parse().unwrap()).unwrap_or(default)
}

/// Writes `versions` versions of a state with `resources` instances, as terraform would.
const WRITE_VERSIONS: &str = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
from seed import client, STATE_BUCKET, BACKEND_REGION
s3 = client("s3", sys.argv[2], BACKEND_REGION)
versions, resources = int(sys.argv[3]), int(sys.argv[4])
for serial in range(1, versions + 1):
    state = {"version": 4, "terraform_version": "1.11.4", "serial": serial, "lineage": "bench",
             "outputs": {"db_password": {"value": "secret", "type": "string", "sensitive": True}},
             "resources": [{"mode": "managed", "type": "aws_ecs_service", "name": f"svc{i}", "provider": "p",
                            "instances": [{"schema_version": 0, "attributes": {"desired_count": serial % 3 + (i % 7), "name": f"svc{i}",
                                           "tags": {"env": "production", "team": "platform"}, "arn": "arn:aws:ecs:ap-south-1:1:service/" + "x" * 60}}]}
                           for i in range(resources)]}
    s3.put_object(Bucket=STATE_BUCKET, Key="production/terraform.tfstate", Body=json.dumps(state, indent=2).encode())
"#;

struct Timed {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Timed {
    async fn get(&self, path: &str) -> f64 {
        let started = Instant::now();
        let res = self.client.get(format!("{}{path}", self.url)).bearer_auth(&self.token).send().await.unwrap();
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.bytes().await.unwrap();
        started.elapsed().as_secs_f64() * 1000.0
    }

    /// p50 and p99 of `n` sequential requests, in ms.
    async fn repeat(&self, path: &str, n: usize) -> (f64, f64) {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            times.push(self.get(path).await);
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (support::percentile(&times, 0.5), support::percentile(&times, 0.99))
    }
}

async fn calls(aws: &str) -> Vec<String> {
    let all: Vec<serde_json::Value> = reqwest::get(format!("{aws}/_proxy/calls")).await.unwrap().json().await.unwrap();
    all.into_iter().map(|c| c["operation"].as_str().unwrap_or("?").to_string()).collect()
}

fn count(calls: &[String]) -> String {
    let mut counted: std::collections::BTreeMap<&str, usize> = Default::default();
    for c in calls {
        *counted.entry(c.as_str()).or_default() += 1;
    }
    counted.iter().map(|(op, n)| format!("{op} {n}")).collect::<Vec<_>>().join(", ")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (versions, resources, latency) = (arg(&args, "--versions", 50), arg(&args, "--resources", 300), arg(&args, "--latency-ms", 20));
    let work = tempfile::tempdir().unwrap();
    let (_aws, aws) = support::emulator_with(&["--state-backend"]);
    let python = std::env::var("ZELLY_TEST_PYTHON").unwrap_or_else(|_| format!("{}/.cache/zelly-venv/bin/python", std::env::var("HOME").unwrap()));
    let aws_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/aws");
    let wrote = Command::new(&python).args(["-c", WRITE_VERSIONS]).arg(&aws_dir).arg(&aws).arg(versions.to_string()).arg(resources.to_string()).status();
    assert!(wrote.unwrap().success());
    let locked = Command::new(&python).arg(aws_dir.join("backend.py")).arg(&aws).args(["put-lock", "production/terraform.tfstate", "priya@laptop"]).output();
    assert!(locked.unwrap().status.success());
    let admin = support::token(work.path(), &aws, "admin");
    let (_server, url) = support::serve(work.path(), &aws);
    let client = reqwest::Client::new();
    client.post(format!("{aws}/_proxy/faults")).json(&json!({ "latency_ms": latency })).send().await.unwrap();
    let timed = Timed { client: client.clone(), url, token: admin };
    let reset = || async { client.post(format!("{aws}/_proxy/reset")).send().await.unwrap() };

    println!("state backend: {versions} versions of a state with {resources} resource instances; {latency} ms before every AWS call");
    reset().await;
    client.post(format!("{aws}/_proxy/faults")).json(&json!({ "latency_ms": latency })).send().await.unwrap();
    let first = timed.get("/api/v1/environments/production/state").await;
    println!("first view of GET …/state: {first:.0} ms; AWS calls: {}", count(&calls(&aws).await));

    let (p50, p99) = timed.repeat("/api/v1/environments/production/state", 50).await;
    println!("warm GET …/state: p50 {p50:.1} ms, p99 {p99:.1} ms");
    let before = calls(&aws).await.len();
    timed.get("/environments/production/state").await;
    let page_calls: Vec<String> = calls(&aws).await.into_iter().skip(before).collect();
    let (p50, p99) = timed.repeat("/environments/production/state", 50).await;
    println!("warm state page (HTML): p50 {p50:.1} ms, p99 {p99:.1} ms; AWS calls per view: {}", count(&page_calls));

    let overview: serde_json::Value = client
        .get(format!("{}/api/v1/environments/production/state", timed.url))
        .bearer_auth(&timed.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = overview["versions"].as_array().unwrap().iter().map(|v| v["version_id"].as_str().unwrap()).collect();
    let diff = format!("/api/v1/environments/production/state/diff?from={}&to={}", ids[ids.len() - 1], ids[0]);
    let before = calls(&aws).await.len();
    timed.get(&diff).await;
    let diff_calls = calls(&aws).await.len() - before;
    let (p50, p99) = timed.repeat(&diff, 50).await;
    println!("warm diff of the oldest and newest versions: p50 {p50:.1} ms, p99 {p99:.1} ms; AWS calls: {diff_calls}");
    let (p50, p99) = timed.repeat("/api/v1/environments/production", 50).await;
    println!("GET /api/v1/environments/production (with drift status): p50 {p50:.1} ms, p99 {p99:.1} ms");
}
