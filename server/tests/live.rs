//! Live AWS status against the emulator (moto behind the counting proxy of tests/aws).

use crate::common;

use app::model::metrics::{significant, Metrics};
use app::model::status::{EnvironmentStatus, Health, ServiceStatus};
use app::model::Role;
use common::{use_emulator, Emulator, TestApp};
use serde_json::{json, Value};

/// `GET /api/v1/environments` as these tests read it: each environment's configuration (the
/// `Environment` model, flattened into the same object) and its live status.
#[derive(Debug, serde::Deserialize)]
struct EnvironmentList {
    environments: Vec<Listed>,
}

#[derive(Debug, serde::Deserialize)]
struct Listed {
    status: EnvironmentStatus,
}

async fn environments(app: &TestApp, token: &str) -> Vec<EnvironmentStatus> {
    let list: EnvironmentList = app.get_as("/api/v1/environments", token).await;
    list.environments.into_iter().map(|e| e.status).collect()
}

fn service<'a>(env: &'a EnvironmentStatus, name: &str) -> &'a ServiceStatus {
    env.services.iter().find(|s| s.name == name).unwrap()
}

#[tokio::test]
async fn status_of_both_regions_side_by_side_and_nothing_leaks_between_them() {
    let aws = Emulator::start();
    let app = TestApp::start_with(common::Backend::Sqlite, |c| use_emulator(c, &aws)).await;
    let token = app.token("vikram", Role::Viewer).await;
    let envs = environments(&app, &token).await;
    let (prod, staging) = (&envs[0], &envs[1]);

    assert_eq!(prod.health, Health::Healthy, "{prod:#?}");
    assert_eq!(prod.services.len(), 6);
    let nova = service(prod, "fastify-nova");
    assert_eq!((nova.desired, nova.running, nova.pending), (1, 1, 0));
    assert_eq!(nova.rollout, "COMPLETED");
    assert_eq!(nova.task_definition, "fastify-nova:1");
    // Staging's storefront wants 2 tasks and runs 1: degraded, and only in staging.
    let storefront = service(staging, "storefront");
    assert_eq!((storefront.desired, storefront.running), (2, 1));
    assert_eq!(storefront.health, Health::Degraded);
    assert_eq!(staging.health, Health::Degraded);
    assert_eq!(service(prod, "storefront").desired, 1);
    let regions: Vec<String> = aws.calls("DescribeServices").await.iter().map(|c| c["region"].as_str().unwrap().to_string()).collect();
    assert!(regions.contains(&"ap-south-1".to_string()) && regions.contains(&"ap-southeast-1".to_string()));

    let one: Listed = app.get_as("/api/v1/environments/staging", &token).await;
    assert_eq!(one.status.environment, "staging");
    let html = app.get("/", Some(&token)).await.text().await.unwrap();
    assert!(html.contains("ECS services, live"));
    assert!(html.contains(r#"data-health="degraded""#) && html.contains(r#"data-health="healthy""#));
    assert!(html.contains(r#"data-running="1" data-desired="2""#));
    app.stop().await;
}

#[tokio::test]
async fn one_describe_services_call_per_cluster_shared_by_every_viewer() {
    let aws = Emulator::start();
    let app = TestApp::start_with(common::Backend::Sqlite, |c| use_emulator(c, &aws)).await;
    let token = app.token("vikram", Role::Viewer).await;
    aws.reset().await;
    let views = (0..20).map(|i| {
        let path = if i % 2 == 0 { "/api/v1/environments" } else { "/" };
        app.get(path, Some(&token))
    });
    for res in futures_util::future::join_all(views).await {
        assert_eq!(res.status(), 200);
    }
    let calls = aws.calls("DescribeServices").await;
    assert_eq!(calls.len(), 2, "one call per cluster for 20 viewers: {calls:?}");
    let mut regions: Vec<&str> = calls.iter().map(|c| c["region"].as_str().unwrap()).collect();
    regions.sort();
    assert_eq!(regions, ["ap-south-1", "ap-southeast-1"]);
    app.stop().await;
}

#[tokio::test]
async fn throttling_is_retried_and_failures_leave_the_page_up() {
    let aws = Emulator::start();
    aws.fault(json!({ "operation": "DescribeServices", "region": "ap-south-1", "error": "throttle", "times": 2 })).await;
    aws.fault(json!({ "operation": "DescribeServices", "region": "ap-southeast-1", "error": "500", "times": 100 })).await;
    let app = TestApp::start_with(common::Backend::Sqlite, |c| use_emulator(c, &aws)).await;
    let token = app.token("vikram", Role::Viewer).await;
    let envs = environments(&app, &token).await;
    assert_eq!(envs[0].health, Health::Healthy, "throttled twice, then answered: {:#?}", envs[0]);
    let prod_calls = aws.calls("DescribeServices").await.into_iter().filter(|c| c["region"] == "ap-south-1").count();
    assert_eq!(prod_calls, 3, "two throttled attempts and one that worked");
    assert!(envs[1].fetched_at.is_none());
    assert!(envs[1].error.as_deref().unwrap().contains("DescribeServices failed"), "{:#?}", envs[1]);

    let res = app.get("/", Some(&token)).await;
    assert_eq!(res.status(), 200, "a failing AWS call is never an error page");
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"data-unavailable="true""#) && html.contains("Live status unavailable"));
    app.stop().await;
}

#[tokio::test]
async fn stale_data_is_kept_with_its_age_when_a_refresh_fails_or_is_slow() {
    let aws = Emulator::start();
    let app = TestApp::start_with(common::Backend::Sqlite, |c| {
        use_emulator(c, &aws);
        c.aws.cache_ttl_seconds = 1;
        c.aws.timeout_seconds = 1;
    })
    .await;
    let token = app.token("vikram", Role::Viewer).await;
    let first = environments(&app, &token).await;
    let fetched = first[0].fetched_at;
    assert!(fetched.is_some());
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    aws.fault(json!({ "operation": "DescribeServices", "region": "ap-south-1", "error": "500", "times": 100 })).await;
    aws.fault(json!({ "operation": "DescribeServices", "region": "ap-southeast-1", "error": "timeout", "seconds": 5, "times": 100 })).await;

    // Answered at once from the cache while the refresh runs (and fails) in the background.
    let again = environments(&app, &token).await;
    assert_eq!(again[0].fetched_at, fetched);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let envs = loop {
        let envs = environments(&app, &token).await;
        if envs.iter().all(|e| e.error.is_some()) {
            break envs;
        }
        assert!(std::time::Instant::now() < deadline, "the failed refreshes never showed: {envs:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    for env in &envs {
        assert_eq!(env.services.len(), 6, "the last good data stays");
        assert!(env.fetched_at.is_some());
    }
    let html = app.get("/", Some(&token)).await.text().await.unwrap();
    assert!(html.contains(r#"data-stale="true""#) && html.contains("Stale: last good data from"));
    app.stop().await;
}

#[tokio::test]
async fn metrics_of_both_regions_in_one_call_each_with_the_error_rate_computed_here() {
    let aws = Emulator::start();
    let app = TestApp::start_with(common::Backend::Sqlite, |c| use_emulator(c, &aws)).await;
    let token = app.token("vikram", Role::Viewer).await;
    aws.reset().await;
    let get = |env: &'static str| {
        let path = format!("/api/v1/environments/{env}/metrics?range=3h");
        let (app, token) = (&app, &token);
        async move { app.get(&path, Some(token)).await }
    };
    let (prod, staging) = (get("production").await, get("staging").await);
    assert_eq!((prod.status().as_u16(), staging.status().as_u16()), (200, 200));
    let (prod, staging): (Metrics, Metrics) = (prod.json().await.unwrap(), staging.json().await.unwrap());
    assert_eq!(prod.error, None);
    let panel = |m: &Metrics, id: &str| m.panels.iter().find(|p| p.id == id).unwrap().clone();
    let latest = |m: &Metrics, id: &str, label: &str| -> f64 { panel(m, id).series.iter().find(|s| s.label == label).unwrap().latest().unwrap() };
    assert_eq!(prod.panels.len(), 12);
    assert_eq!(panel(&prod, "ecs_cpu").series.len(), 6);
    assert!(panel(&prod, "ecs_cpu").series[0].points.len() >= 30, "3 hours of 5-minute points");
    // Production is seeded busier than staging: each region's data is its own.
    assert!(latest(&prod, "alb_requests", "alb-nova") > 2.0 * latest(&staging, "alb_requests", "alb-nova"));
    // The error rate is 5xx / requests in percent, computed by the control plane (to four
    // significant digits, like every value).
    let rate = latest(&prod, "alb_error_rate", "alb-nova");
    let expected = significant(latest(&prod, "alb_5xx", "alb-nova") / latest(&prod, "alb_requests", "alb-nova") * 100.0, 4);
    assert_eq!(rate, expected);
    assert!(latest(&prod, "alb_latency_p99", "alb-nova") > 10.0, "seconds shown as milliseconds");
    assert!(latest(&prod, "aurora_acu", "aurora") > 0.0);

    let calls = aws.calls("GetMetricData").await;
    let regions: Vec<&str> = calls.iter().map(|c| c["region"].as_str().unwrap()).collect();
    assert_eq!(regions.len(), 2, "one GetMetricData call per environment: {calls:?}");
    assert!(regions.contains(&"ap-south-1") && regions.contains(&"ap-southeast-1"));
    // A second look within the TTL is served from the shared cache.
    get("production").await;
    assert_eq!(aws.calls("GetMetricData").await.len(), 2);

    assert_eq!(app.get("/api/v1/environments/production/metrics?range=5y", Some(&token)).await.status(), 400);
    assert_eq!(app.get("/api/v1/environments/qa/metrics", Some(&token)).await.status(), 404);
    app.stop().await;
}

/// Reads a gzip body back to text.
fn gunzip(body: &[u8]) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(body), &mut text).unwrap();
    text
}

#[tokio::test]
async fn browsers_get_the_live_data_compressed_once_per_refresh_and_equal_to_the_plain_json() {
    let aws = Emulator::start();
    let app = TestApp::start_with(common::Backend::Sqlite, |c| use_emulator(c, &aws)).await;
    let token = app.token("vikram", Role::Viewer).await;
    let fetch = |path: &'static str, gzip: bool| {
        let (app, token) = (&app, &token);
        async move {
            let mut req = app.client.get(app.url(path)).bearer_auth(token);
            if gzip {
                req = req.header("accept-encoding", "gzip, deflate, br, zstd");
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            let encoding = res.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_string());
            (encoding, res.bytes().await.unwrap())
        }
    };
    for path in ["/api/v1/environments/production/metrics?range=3h", "/api/v1/environments"] {
        let (encoding, plain) = fetch(path, false).await;
        assert_eq!(encoding, None, "{path}: not compressed for a client that did not ask");
        let (encoding, first) = fetch(path, true).await;
        assert_eq!(encoding.as_deref(), Some("gzip"), "{path}");
        assert_eq!(gunzip(&first).as_bytes(), &plain[..], "{path}: the same JSON");
        let (_, second) = fetch(path, true).await;
        assert_eq!(first, second, "{path}: the same bytes again (compressed once: see the unit tests of http::compression)");
    }

    // The open dashboard's refresh (its server function) carries the same status and metrics,
    // written from the JSON made when they were read.
    let path = <app::server_fns::LoadDashboard as leptos::server_fn::ServerFn>::PATH;
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(&token)
        .header("accept-encoding", "gzip")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("range=3h")
        .send()
        .await
        .unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["content-encoding"].to_str().unwrap()), (200, "gzip"));
    let dashboard: Value = serde_json::from_str(&gunzip(&res.bytes().await.unwrap())).unwrap();
    let metrics: Value = serde_json::from_slice(&fetch("/api/v1/environments/production/metrics?range=3h", false).await.1).unwrap();
    assert_eq!(dashboard["metrics"][0], metrics);
    let environments: Value = serde_json::from_slice(&fetch("/api/v1/environments", false).await.1).unwrap();
    assert_eq!(dashboard["statuses"][1], environments["environments"][1]["status"]);
    assert_eq!(dashboard["statuses"][1]["environment"], "staging");
    app.stop().await;
}
