//! What the people who run the server see of it: Prometheus metrics, request ids on every answer,
//! and JSON log lines that carry them.

mod common;

use app::model::run::RunStatus;
use app::model::Role;
use common::{use_emulator, Backend, Emulator, TestApp};
use serde_json::Value;

async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String, String) {
    let res = app.get("/metrics", token).await;
    let content_type = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (res.status().as_u16(), content_type, res.text().await.unwrap())
}

/// The value of the sample with exactly these labels (in the exposition's order).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' '))).map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn metrics_need_a_token_of_any_role_unless_made_public() {
    let app = TestApp::start(Backend::Sqlite).await;
    let viewer = app.token("vikram", Role::Viewer).await;
    let (status, _, body) = scrape(&app, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("metrics.public"), "the refusal says how to get in: {body}");
    let (status, _, _) = scrape(&app, Some("zc_not-a-token")).await;
    assert_eq!(status, 401);
    let (status, content_type, body) = scrape(&app, Some(&viewer)).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    assert!(body.contains(&format!("zelly_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))), "{body}");
    app.stop().await;

    let open = TestApp::start_with(Backend::Sqlite, |c| c.metrics.public = true).await;
    let (status, _, body) = scrape(&open, None).await;
    assert_eq!(status, 200, "{body}");
    open.stop().await;
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_runs_by_how_they_ended() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::start(backend).await;
        let operator = app.token("meera", Role::Operator).await;
        let plan = app.start_run("staging", &operator, "plan").await;
        app.wait_for(plan, RunStatus::PlannedAndFinished).await;
        let waiting = app.start_run("production", &operator, "apply").await;
        app.wait_for(waiting, RunStatus::Planned).await;
        let queued = app.start_run("production", &operator, "plan").await;
        assert_eq!(app.get(&format!("/api/v1/runs/{plan}"), Some(&operator)).await.status(), 200);
        assert_eq!(app.get("/api/v1/runs/999999", Some(&operator)).await.status(), 404);

        let (_, _, text) = scrape(&app, Some(&operator)).await;
        let ok = sample(&text, r#"zelly_http_requests_total{method="GET",route="/api/v1/runs/{id}",status="200"}"#);
        assert!(ok.is_some_and(|n| n >= 1.0), "{text}");
        assert!(sample(&text, r#"zelly_http_requests_total{method="GET",route="/api/v1/runs/{id}",status="404"}"#).is_some());
        assert!(text.contains(r#"zelly_http_request_duration_seconds_bucket{method="POST",route="/api/v1/environments/{env}/runs",status="201",le="+Inf"}"#));
        assert!(!text.contains("/api/v1/runs/999999") && !text.contains(&format!("/api/v1/runs/{plan}\"")), "raw paths never become labels");

        let ended = r#"{environment="staging",kind="plan",status="planned_and_finished"}"#;
        assert_eq!(sample(&text, &format!("zelly_runs_total{ended}")), Some(1.0), "{text}");
        assert_eq!(sample(&text, &format!("zelly_run_duration_seconds_count{ended}")), Some(1.0));
        let day = r#"zelly_run_duration_seconds_bucket{environment="staging",kind="plan",status="planned_and_finished",le="86400"}"#;
        assert_eq!(sample(&text, day), Some(1.0));
        assert_eq!(sample(&text, r#"zelly_runs_active{environment="production"}"#), Some(1.0), "the apply waits for approval");
        assert_eq!(sample(&text, r#"zelly_runs_queued{environment="production"}"#), Some(1.0), "run {queued} waits behind it");
        assert_eq!(sample(&text, r#"zelly_runs_queued{environment="staging"}"#), Some(0.0));
        app.stop().await;
    }
}

#[tokio::test]
async fn aws_calls_and_live_cache_lookups_are_counted_with_their_outcome() {
    let aws = Emulator::start();
    aws.fault(serde_json::json!({ "operation": "DescribeServices", "region": "ap-southeast-1", "error": "500", "times": 100 })).await;
    let app = TestApp::start_with(Backend::Sqlite, |c| use_emulator(c, &aws)).await;
    let viewer = app.token("vikram", Role::Viewer).await;
    for _ in 0..2 {
        assert_eq!(app.get("/api/v1/environments", Some(&viewer)).await.status(), 200);
    }
    let (_, _, text) = scrape(&app, Some(&viewer)).await;
    let calls = |region: &str, outcome: &str| {
        text.lines().any(|l| {
            l.starts_with("zelly_aws_requests_total{")
                && l.contains(r#"operation="DescribeServices""#)
                && l.contains(&format!(r#"region="{region}""#))
                && l.contains(&format!(r#"outcome="{outcome}""#))
        })
    };
    assert!(calls("ap-south-1", "ok"), "{text}");
    assert!(calls("ap-southeast-1", "service_error"), "the failing region is counted as failing: {text}");
    assert!(text.contains("zelly_aws_request_duration_seconds_bucket{"), "{text}");
    assert!(sample(&text, r#"zelly_live_cache_lookups_total{cache="ecs",result="miss"}"#).is_some_and(|n| n >= 2.0), "{text}");
    assert!(sample(&text, r#"zelly_live_cache_lookups_total{cache="ecs",result="hit"}"#).is_some_and(|n| n >= 2.0), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn dashboard_views_of_unchanged_data_are_answered_from_the_page_rendered_for_it() {
    let app = TestApp::start(Backend::Sqlite).await;
    let viewer = app.token("vikram", Role::Viewer).await;
    let (_, _, before) = scrape(&app, Some(&viewer)).await;
    let views = |text: &str, answer: &str| sample(text, &format!(r#"zelly_dashboard_views_total{{answer="{answer}"}}"#)).unwrap_or(0.0);
    for _ in 0..3 {
        assert_eq!(app.get("/", Some(&viewer)).await.status(), 200);
    }
    let (_, _, after) = scrape(&app, Some(&viewer)).await;
    assert!(views(&after, "rendered") > views(&before, "rendered"), "the first view renders: {after}");
    assert!(views(&after, "remembered") >= views(&before, "remembered") + 2.0, "the next two reuse it: {after}");
    app.stop().await;
}

#[tokio::test]
async fn every_answer_carries_a_request_id_taken_from_a_plausible_incoming_one() {
    let app = TestApp::start(Backend::Sqlite).await;
    let id_of = |res: &reqwest::Response| res.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string());
    let made = id_of(&app.get("/healthz", None).await).expect("an id");
    assert!(made.len() == 32 && made.chars().all(|c| c.is_ascii_hexdigit()), "{made}");
    // Refusals made before routing finishes (no credentials) carry one too.
    let refused = app.get("/api/v1/environments", None).await;
    assert_eq!(refused.status(), 401);
    assert!(id_of(&refused).is_some());

    let send = |id: &'static str| app.client.get(app.url("/healthz")).header("x-request-id", id).send();
    assert_eq!(id_of(&send("lb-7f3a-91").await.unwrap()).as_deref(), Some("lb-7f3a-91"));
    let forged = id_of(&send("x\"} forged").await.unwrap()).unwrap();
    assert_ne!(forged, "x\"} forged", "an id that could forge a log line is replaced");
    app.stop().await;

    let untrusting = TestApp::start_with(Backend::Sqlite, |c| c.log.request_id_header = String::new()).await;
    let res = untrusting.client.get(untrusting.url("/healthz")).header("x-request-id", "lb-7f3a-91").send().await.unwrap();
    assert_ne!(id_of(&res).as_deref(), Some("lb-7f3a-91"));
    untrusting.stop().await;
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_carrying_the_request_id() {
    let db = common::TestDatabase::new(Backend::Sqlite).await;
    let (server, _) = common::LoggedServer::start(&db, &[("ZELLY_LOG__FORMAT".into(), "json".into())]);
    let res = reqwest::Client::new().get(format!("{}/healthz", server.url)).header("x-request-id", "trace-json-1").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let output = server.finish();
    let mut answered = None;
    for line in output.lines().filter(|l| !l.is_empty() && !l.starts_with("Zelly control plane listening")) {
        let object: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        // Every line, a library's included; `message` is on every line that has one.
        for key in ["timestamp", "level", "target"] {
            assert!(object.get(key).is_some(), "{key} missing: {line}");
        }
        if object["span"]["request_id"] == "trace-json-1" && object["message"] == "answered" {
            answered = Some(object);
        }
    }
    let answered = answered.unwrap_or_else(|| panic!("the request's line carries its id:\n{output}"));
    assert_eq!(answered["status"], 200);
    assert_eq!(answered["span"]["route"], "/healthz");
}
