//! `zelly-control runs …` as a pipeline uses it against a running server: start, follow the log,
//! approve, cancel, list, and branch on the exit code.

use crate::common;

use app::model::run::{Run, RunList, RunStatus};
use app::model::Role;
use common::{Backend, TestApp};
use serde_json::json;

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The binary as a client of `app`, with `token` in ZELLY_TOKEN and the server in ZELLY_SERVER_URL.
async fn zelly(app: &TestApp, token: &str, args: &[&str]) -> Outcome {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_zelly-control"))
        .args(args)
        .env_clear()
        .env("ZELLY_SERVER_URL", &app.url)
        .env("ZELLY_TOKEN", token)
        .output()
        .await
        .expect("the binary runs");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[tokio::test]
async fn a_pipeline_plans_staging_and_waits_for_the_outcome() {
    let app = TestApp::start(Backend::Sqlite).await;
    let ci = app.token("ci-bot", Role::Operator).await;
    let out = zelly(&app, &ci, &["runs", "start", "--env", "staging", "--kind", "plan", "--message", "merge #42", "--wait"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let id: i64 = out.stdout.lines().find_map(|l| l.strip_prefix("Run #")).and_then(|l| l.split(':').next()).unwrap().parse().unwrap();
    let log = app.log(id).await;
    let first_line = log.lines().find(|l| !l.trim().is_empty()).unwrap();
    assert!(out.stdout.contains(first_line), "the log is streamed to stdout:\n{}", out.stdout);
    assert!(out.stdout.contains(&format!("{}/runs/{id}", app.url)), "and the run's address printed:\n{}", out.stdout);
    assert!(out.stdout.contains("merge #42") && out.stdout.contains("Planned"));

    let listed = zelly(&app, &ci, &["runs", "list", "--env", "staging"]).await;
    assert_eq!(listed.code, 0);
    assert!(listed.stdout.lines().any(|l| l.starts_with(&id.to_string()) && l.contains("planned_and_finished")), "{}", listed.stdout);
    let json = zelly(&app, &ci, &["runs", "list", "--env", "staging", "--json"]).await;
    assert_eq!(serde_json::from_str::<RunList>(&json.stdout).unwrap().runs[0].id, id);
    app.stop().await;
}

#[tokio::test]
async fn an_apply_stops_for_approval_with_3_and_the_approval_waits_for_the_apply() {
    let app = TestApp::start(Backend::Sqlite).await;
    let requester = app.token("meera", Role::Operator).await;
    let approver = app.token("ravi", Role::Approver).await;
    let out = zelly(&app, &requester, &["runs", "start", "--env", "production", "--kind", "apply", "--wait", "--json"]).await;
    assert_eq!(out.code, 3, "waits for approval: {}\n{}", out.stdout, out.stderr);
    let run: Run = serde_json::from_str(&out.stdout).expect("--json prints the run alone on stdout");
    assert_eq!(run.status, RunStatus::Planned);
    assert!(!out.stderr.is_empty(), "with --json the log goes to stderr");
    let id = run.id.to_string();

    let own = zelly(&app, &requester, &["runs", "approve", &id]).await;
    assert_eq!(own.code, 2, "a refusal is 2: {}", own.stderr);
    assert!(own.stderr.contains("HTTP 4") && own.stderr.contains("approve"), "with the server's message: {}", own.stderr);

    let approved = zelly(&app, &approver, &["runs", "approve", &id, "--comment", "looks right", "--wait"]).await;
    assert_eq!(approved.code, 0, "{}\n{}", approved.stdout, approved.stderr);
    assert!(approved.stdout.contains("Applied") && approved.stdout.contains("approve by ravi"), "{}", approved.stdout);
    assert_eq!(app.run(run.id).await.status, RunStatus::Applied);
    let shown = zelly(&app, &approver, &["runs", "show", &id, "--json"]).await;
    assert_eq!(serde_json::from_str::<Run>(&shown.stdout).unwrap().status, RunStatus::Applied);
    app.stop().await;
}

#[tokio::test]
async fn a_failed_run_is_1_and_a_canceled_one_too() {
    let app = TestApp::start(Backend::Sqlite).await;
    let ci = app.token("ci-bot", Role::Operator).await;
    app.scenario("staging", json!({ "fail": "plan" }));
    let out = zelly(&app, &ci, &["runs", "start", "--env", "staging", "--kind", "plan", "--wait"]).await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Errored"), "{}", out.stdout);

    // A plan's time is spread over its output lines: it needs some to last.
    app.scenario("staging", json!({ "plan_seconds": 30, "extra_lines": 8, "changes": [common::update_change("aws_ecs_service.api")] }));
    let id = app.start_run("staging", &ci, "plan").await;
    app.wait_for(id, RunStatus::Planning).await;
    let canceled = zelly(&app, &ci, &["runs", "cancel", &id.to_string()]).await;
    assert_eq!(canceled.code, 0, "{}", canceled.stderr);
    app.wait_for(id, RunStatus::Canceled).await;
    let shown = zelly(&app, &ci, &["runs", "show", &id.to_string()]).await;
    assert!(shown.stdout.contains("Canceled"), "{}", shown.stdout);
    app.stop().await;
}

#[tokio::test]
async fn refusals_usage_errors_and_an_unreachable_server_are_2_with_a_message() {
    let app = TestApp::start(Backend::Sqlite).await;
    let viewer = app.token("vikram", Role::Viewer).await;
    let operator = app.token("meera", Role::Operator).await;
    for (token, args, expected) in [
        (viewer.as_str(), vec!["runs", "start", "--env", "staging", "--kind", "plan"], "HTTP 403"),
        ("zc_wrong", vec!["runs", "list", "--env", "staging"], "HTTP 401"),
        (operator.as_str(), vec!["runs", "start", "--env", "nowhere", "--kind", "plan"], "HTTP 404"),
        (operator.as_str(), vec!["runs", "show", "424242"], "HTTP 404"),
        (operator.as_str(), vec!["runs", "start", "--env", "staging", "--kind", "destroy"], "invalid value"),
        (operator.as_str(), vec!["runs", "approve"], "required"),
    ] {
        let out = zelly(&app, token, &args).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
    let url = app.url.clone();
    app.stop().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_zelly-control"))
        .args(["runs", "list", "--env", "staging", "--server", &url, "--token", "zc_any"])
        .env_clear()
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"), "{}", String::from_utf8_lossy(&out.stderr));
}
