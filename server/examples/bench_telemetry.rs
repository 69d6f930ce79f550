//! What the telemetry layer (request id, log span, Prometheus figures) costs per request: the
//! same small router answered in-process (no sockets, so the layer is not lost in network noise)
//! without it and with it, alternated in rounds; and the time to render `/metrics`.
//!
//! Run: `cargo run --release --example bench_telemetry` (figures in BENCHMARKS.md).

#[path = "support/mod.rs"]
mod support;

use axum::routing::get;
use axum::{middleware, Router};
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;
use zelly_control::http::telemetry::{observe, RequestIds};

const REQUESTS: u32 = 200_000;
const ROUNDS: usize = 5;

fn app(with_telemetry: bool) -> Router {
    let router = Router::new().route("/api/v1/runs/{id}", get(|| async { "ok" }));
    if !with_telemetry {
        return router;
    }
    let ids = Arc::new(RequestIds::new(&zelly_control::Config::defaults().log));
    router.layer(middleware::from_fn_with_state(ids, observe))
}

/// Nanoseconds per request, over `REQUESTS` sequential requests.
async fn per_request(router: &Router) -> f64 {
    let began = Instant::now();
    for i in 0..REQUESTS {
        let req = http::Request::get(format!("/api/v1/runs/{}", i % 1000)).body(axum::body::Body::empty()).unwrap();
        let res = router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200);
    }
    began.elapsed().as_nanos() as f64 / f64::from(REQUESTS)
}

#[tokio::main]
async fn main() {
    zelly_control::telemetry::prometheus::recorder().expect("the recorder installs");
    let (bare, observed) = (app(false), app(true));
    per_request(&bare).await;
    per_request(&observed).await;
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        without.push(per_request(&bare).await);
        with.push(per_request(&observed).await);
    }
    let (without, with) = (support::median(without), support::median(with));
    println!("in-process GET, {REQUESTS} requests x {ROUNDS} rounds (median of rounds):");
    println!("  without the telemetry layer  {without:>8.0} ns/request");
    println!("  with it                      {with:>8.0} ns/request  (+{:.0} ns, +{:.2} µs)", with - without, (with - without) / 1000.0);

    let dir = tempfile::tempdir().unwrap();
    let mut config = zelly_control::Config::defaults();
    config.server.data_dir = dir.path().to_path_buf();
    config.aws.enabled = false;
    let db = zelly_control::db::Db::connect(&config.database_url(), 2).await.unwrap();
    db.execute_sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) \
         INSERT INTO runs (environment, kind, status, requested_by, created_at, finished_at) \
         SELECT CASE i % 2 WHEN 0 THEN 'production' ELSE 'staging' END, 'plan', 'planned_and_finished', 'bench', \
         '2026-11-01T00:00:00Z', '2026-11-01T00:01:40Z' FROM n",
        &[],
    )
    .await
    .unwrap();
    let envs = vec!["production".to_string(), "staging".to_string()];
    let mut ms = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let text = zelly_control::telemetry::prometheus::render(&db, &envs).await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(text.contains("zelly_http_requests_total"));
    }
    println!("render /metrics (10,000 finished runs in SQLite): median {:.2} ms", support::median(ms));
}
