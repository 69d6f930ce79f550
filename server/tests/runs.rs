//! Terraform runs through the API, against the fake terraform of tests/fixtures: the state
//! machine, the approval gates, cancels, logs, and the concurrency promises.

use crate::common;

use app::model::run::{Run, RunKind, RunStatus};
use app::model::Role;
use common::{change, update_change};
use serde_json::{json, Value};
use zelly_control::db::testing::Bind;

fn args_of(invocations: &[Value]) -> Vec<String> {
    invocations.iter().map(|i| i["args"][0].as_str().unwrap().to_string()).collect()
}

async fn count_runs(app: &common::TestApp, env: &str, token: &str) -> usize {
    app.runs(env, token).await.len()
}

on_both_backends! {
    async fn a_plan_run_plans_and_stops_following_the_terraform_contract(app) {
        let meera = app.token("meera", Role::Operator).await;
        app.scenario("production", json!({ "changes": [change("aws_instance.a", &["create"]), update_change("aws_instance.b")] }));
        let id = app.start_run("production", &meera, "plan").await;
        let run = app.wait_for(id, RunStatus::PlannedAndFinished).await;
        let plan = run.plan.expect("a planned run has its plan's summary");
        assert_eq!((plan.add, plan.change, plan.destroy), (1, 1, 0));
        assert_eq!(run.requested_by, "meera");
        assert_eq!(run.kind, RunKind::Plan);

        let calls = app.invocations("production");
        assert_eq!(args_of(&calls), ["init", "plan", "show"], "a plan run never applies");
        let plan_args: Vec<&str> = calls[1]["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        assert!(plan_args.contains(&"-input=false") && plan_args.contains(&"-detailed-exitcode"));
        assert!(plan_args.iter().any(|a| a.starts_with("-out=")));
        for call in &calls {
            assert_eq!(call["tf_in_automation"], "1");
            assert_eq!(call["aws_region"], "ap-south-1");
            assert_eq!((call["stdin_is_tty"].as_bool(), call["stdin_has_data"].as_bool()), (Some(false), Some(false)), "no stdin");
            let cwd = call["cwd"].as_str().unwrap();
            assert!(cwd.starts_with(&app.config.server.data_dir.join("work").display().to_string()), "in a working copy: {cwd}");
            assert!(cwd.ends_with(&format!("/work/{id}-plan/tree/terraform")), "production runs in terraform/ of the run's copy: {cwd}");
        }
        let log = app.log(id).await;
        assert!(log.contains("$ terraform plan") && log.contains("Plan: 1 to add, 1 to change, 0 to destroy."), "{log}");
    }

    async fn production_applies_only_after_someone_else_approves_and_applies_the_saved_plan(app) {
        let meera = app.token("meera", Role::Operator).await;
        let vikram = app.token("vikram", Role::Viewer).await;
        let ravi = app.token("ravi", Role::Approver).await;
        let asha = app.token("asha", Role::Admin).await;
        let id = app.start_run("production", &meera, "apply").await;
        app.wait_for(id, RunStatus::Planned).await;

        let approve = format!("/api/v1/runs/{id}/approve");
        assert_eq!(app.post_json(&approve, &meera, json!({})).await.status(), 403, "operators cannot approve production");
        assert_eq!(app.post_json(&approve, &vikram, json!({})).await.status(), 403);
        // An admin who requested the run is still its requester: four eyes.
        let asha_run = {
            app.post_json(&format!("/api/v1/runs/{id}/reject"), &meera, json!({ "comment": "redo as asha" })).await;
            app.wait_for(id, RunStatus::Discarded).await;
            let again = app.start_run("production", &asha, "apply").await;
            app.wait_for(again, RunStatus::Planned).await;
            again
        };
        let res = app.post_json(&format!("/api/v1/runs/{asha_run}/approve"), &asha, json!({})).await;
        assert_eq!(res.status(), 403);
        assert!(res.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("other than the requester"));

        let res = app.post_json(&format!("/api/v1/runs/{asha_run}/approve"), &ravi, json!({ "comment": "looks right" })).await;
        assert_eq!(res.status(), 200);
        let run = app.wait_for(asha_run, RunStatus::Applied).await;
        assert_eq!((run.approvals[0].user.as_str(), run.approvals[0].comment.as_str()), ("ravi", "looks right"));

        // Exactly the saved plan: the plan id terraform applied is the one stored (sealed) with the run.
        let sealed = app.db.artifact(asha_run, "plan.tfplan").await.unwrap().unwrap();
        assert!(serde_json::from_slice::<Value>(&sealed).is_err(), "the plan file is stored encrypted");
        let saved: Value = serde_json::from_slice(&app.open_artifact(asha_run, "plan.tfplan", &sealed)).unwrap();
        let state: Value = serde_json::from_str(&std::fs::read_to_string(common::root_dir(&app.config, "production").join(".terraform-fake/state.json")).unwrap()).unwrap();
        assert_eq!(state["applied"], json!([saved["id"]]));
        let applies: Vec<Value> = app.invocations("production").into_iter().filter(|c| c["args"][0] == "apply").collect();
        assert_eq!(applies.len(), 1);
        assert!(applies[0]["args"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().ends_with("plan.tfplan")));

        let audit: Vec<String> = app.db.list_audit(100, None).await.unwrap().into_iter().filter(|e| e.target.as_deref() == Some(&format!("run {asha_run}"))).map(|e| e.action).collect();
        assert_eq!(audit, ["run.applied", "run.apply_started", "run.approved", "run.planned", "run.created"], "the start of the apply too");
    }

    async fn staging_runs_are_confirmed_by_their_requester(app) {
        let meera = app.token("meera", Role::Operator).await;
        let id = app.start_run("staging", &meera, "apply").await;
        app.wait_for(id, RunStatus::Planned).await;
        assert_eq!(app.post_json(&format!("/api/v1/runs/{id}/approve"), &meera, json!({})).await.status(), 200);
        app.wait_for(id, RunStatus::Applied).await;
        let calls = app.invocations("staging");
        assert!(calls.iter().all(|c| c["aws_region"] == "ap-southeast-1" && c["cwd"].as_str().unwrap().ends_with("environments/staging")));
    }

    async fn no_changes_needs_no_approval(app) {
        let meera = app.token("meera", Role::Operator).await;
        app.scenario("staging", json!({ "changes": [] }));
        let id = app.start_run("staging", &meera, "apply").await;
        let run = app.wait_for(id, RunStatus::NoChanges).await;
        assert!(run.plan.is_none());
        assert_eq!(args_of(&app.invocations("staging")), ["init", "plan"]);
    }

    async fn failing_steps_error_the_run_with_the_reason(app) {
        let meera = app.token("meera", Role::Operator).await;
        for (step, expected) in [("init", "terraform init failed"), ("plan", "terraform plan failed"), ("show", "terraform show -json failed")] {
            app.scenario("staging", json!({ "fail": step, "changes": [update_change("aws_instance.a")] }));
            let id = app.start_run("staging", &meera, "plan").await;
            let run = app.wait_for(id, RunStatus::Errored).await;
            assert!(run.error.as_deref().unwrap().contains(expected), "{step}: {run:?}");
        }
        app.scenario("staging", json!({ "fail": "apply", "changes": [update_change("aws_instance.a")] }));
        let id = app.start_run("staging", &meera, "apply").await;
        app.wait_for(id, RunStatus::Planned).await;
        app.post_json(&format!("/api/v1/runs/{id}/approve"), &meera, json!({})).await;
        let run = app.wait_for(id, RunStatus::Errored).await;
        assert!(run.error.as_deref().unwrap().contains("terraform apply failed"));
        assert!(app.log(id).await.contains("AccessDenied"));
    }

    async fn a_rejected_plan_is_discarded_and_the_queue_moves_on(app) {
        let meera = app.token("meera", Role::Operator).await;
        let ravi = app.token("ravi", Role::Approver).await;
        let first = app.start_run("production", &meera, "apply").await;
        let second = app.start_run("production", &meera, "plan").await;
        app.wait_for(first, RunStatus::Planned).await;
        assert_eq!(app.run(second).await.status, RunStatus::Queued, "one active run per environment");
        let res = app.post_json(&format!("/api/v1/runs/{first}/reject"), &ravi, json!({ "comment": "not during the sale" })).await;
        assert_eq!(res.status(), 200);
        let run = app.wait_for(first, RunStatus::Discarded).await;
        assert_eq!(run.approvals[0].decision, "reject");
        app.wait_for(second, RunStatus::PlannedAndFinished).await;
    }

    async fn stale_plans_cannot_be_approved_and_expire(app) {
        let meera = app.token("meera", Role::Operator).await;
        let ravi = app.token("ravi", Role::Approver).await;
        let id = app.start_run("production", &meera, "apply").await;
        app.wait_for(id, RunStatus::Planned).await;
        // Something applied to production after this plan was made (e.g. by a recovered run).
        let later = chrono::Utc::now() + chrono::Duration::seconds(1);
        let sql = "UPDATE runs SET apply_started_at = $1 WHERE id = $2";
        app.db.execute_sql(sql, &[Bind::Time(later), Bind::Int(id + 1000)]).await.unwrap();
        let pinned = zelly_control::db::runs::Pinned { git_ref: None, commit: None };
        let new = zelly_control::db::runs::NewRun { environment: "production", kind: app::model::run::RunKind::Plan, requested_by: "x", message: "", pinned: &pinned, promotion_override: None };
        let other = app.db.insert_run(&new).await.unwrap();
        app.db.execute_sql(sql, &[Bind::Time(later), Bind::Int(other.id)]).await.unwrap();
        let res = app.post_json(&format!("/api/v1/runs/{id}/approve"), &ravi, json!({})).await;
        assert_eq!(res.status(), 409);
        assert!(res.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("stale"));
        assert_eq!(app.run(id).await.status, RunStatus::Expired);
        assert!(!args_of(&app.invocations("production")).contains(&"apply".to_string()));
    }

    async fn destroying_a_protected_environment_needs_its_name_typed(app) {
        let meera = app.token("meera", Role::Operator).await;
        let ravi = app.token("ravi", Role::Approver).await;
        app.scenario("production", json!({ "changes": [change("aws_db_instance.main", &["delete"])] }));
        let id = app.start_run("production", &meera, "apply").await;
        app.wait_for(id, RunStatus::Planned).await;
        let approve = format!("/api/v1/runs/{id}/approve");
        let res = app.post_json(&approve, &ravi, json!({})).await;
        assert_eq!(res.status(), 422);
        assert!(res.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("type the environment's name"));
        assert_eq!(app.post_json(&approve, &ravi, json!({ "confirm": "staging" })).await.status(), 422);
        assert_eq!(app.run(id).await.status, RunStatus::Planned, "nothing changed");
        assert_eq!(app.post_json(&approve, &ravi, json!({ "confirm": "production" })).await.status(), 200);
        app.wait_for(id, RunStatus::Applied).await;
    }

    async fn fifty_concurrent_approvals_apply_exactly_once(app) {
        let meera = app.token("meera", Role::Operator).await;
        let id = app.start_run("production", &meera, "apply").await;
        app.wait_for(id, RunStatus::Planned).await;
        let mut tokens = Vec::new();
        for i in 0..50 {
            tokens.push(app.token(&format!("approver{i}"), Role::Approver).await);
        }
        let url = app.url(&format!("/api/v1/runs/{id}/approve"));
        let requests = tokens.iter().map(|t| app.client.post(&url).bearer_auth(t).json(&json!({})).send());
        let statuses: Vec<u16> = futures_util::future::join_all(requests).await.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
        let run = app.wait_for(id, RunStatus::Applied).await;
        assert_eq!(run.approvals.len(), 1);
        let applies = app.invocations("production").into_iter().filter(|c| c["args"][0] == "apply").count();
        assert_eq!(applies, 1);
    }

    async fn runs_of_one_environment_are_serialized_while_environments_run_in_parallel(app) {
        let meera = app.token("meera", Role::Operator).await;
        for env in ["production", "staging"] {
            app.scenario(env, json!({ "plan_seconds": 1.5, "changes": [update_change("aws_instance.a")] }));
        }
        let staging: Vec<i64> = [
            app.start_run("staging", &meera, "plan").await,
            app.start_run("staging", &meera, "plan").await,
            app.start_run("staging", &meera, "plan").await,
        ].to_vec();
        let production = app.start_run("production", &meera, "plan").await;
        let mut runs = Vec::new();
        for id in &staging {
            runs.push(app.wait_for(*id, RunStatus::PlannedAndFinished).await);
        }
        let prod = app.wait_for(production, RunStatus::PlannedAndFinished).await;
        let span = |run: &Run| (run.started_at.unwrap(), run.finished_at.unwrap());
        for pair in runs.windows(2) {
            assert!(span(&pair[1]).0 >= span(&pair[0]).1, "staging runs overlap: {pair:?}");
        }
        // The first staging run and the production run were planning at the same time.
        assert!(span(&prod).0 < span(&runs[0]).1 && span(&runs[0]).0 < span(&prod).1);
    }

    async fn cancel_interrupts_terraform_and_kills_it_after_the_grace_period(app) {
        let meera = app.token("meera", Role::Operator).await;
        app.scenario("staging", json!({ "plan_seconds": 60, "extra_lines": 60, "changes": [update_change("aws_instance.a")] }));
        let id = app.start_run("staging", &meera, "plan").await;
        app.wait_for(id, RunStatus::Planning).await;
        while !app.log(id).await.contains("Reading data") {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(app.post_json(&format!("/api/v1/runs/{id}/cancel"), &meera, json!({})).await.status(), 200);
        let run = app.wait_for(id, RunStatus::Canceled).await;
        assert!(run.error.as_deref().unwrap().contains("Canceled"));
        assert!(app.log(id).await.contains("Interrupt received"), "terraform got SIGINT");

        // A terraform that ignores SIGINT is killed after cancel_grace_seconds.
        app.scenario("staging", json!({ "plan_seconds": 60, "extra_lines": 60, "ignore_sigint": true, "changes": [update_change("aws_instance.a")] }));
        let id = app.start_run("staging", &meera, "plan").await;
        app.wait_for(id, RunStatus::Planning).await;
        app.post_json(&format!("/api/v1/runs/{id}/cancel"), &meera, json!({})).await;
        app.wait_for(id, RunStatus::Canceled).await;
        let audit = app.db.list_audit(20, None).await.unwrap();
        assert!(audit.iter().any(|e| e.action == "run.canceled" && e.actor == "meera"));
    }

    async fn admins_force_cancel_and_the_environment_is_free_at_once(app) {
        let meera = app.token("meera", Role::Operator).await;
        let asha = app.token("asha", Role::Admin).await;
        app.scenario("staging", json!({ "plan_seconds": 60, "extra_lines": 60, "ignore_sigint": true, "changes": [update_change("aws_instance.a")] }));
        let id = app.start_run("staging", &meera, "plan").await;
        app.wait_for(id, RunStatus::Planning).await;
        assert_eq!(app.post_json(&format!("/api/v1/runs/{id}/cancel"), &meera, json!({ "force": true })).await.status(), 403);
        let res = app.post_json(&format!("/api/v1/runs/{id}/cancel"), &asha, json!({ "force": true })).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Run>().await.unwrap().status, RunStatus::Canceled);
        app.scenario("staging", json!({ "changes": [] }));
        let next = app.start_run("staging", &meera, "plan").await;
        app.wait_for(next, RunStatus::NoChanges).await;
    }

    async fn queued_and_waiting_runs_cancel_at_once(app) {
        let meera = app.token("meera", Role::Operator).await;
        let vikram = app.token("vikram", Role::Viewer).await;
        let first = app.start_run("production", &meera, "apply").await;
        let queued = app.start_run("production", &meera, "apply").await;
        app.wait_for(first, RunStatus::Planned).await;
        assert_eq!(app.post_json(&format!("/api/v1/runs/{queued}/cancel"), &vikram, json!({})).await.status(), 403);
        assert_eq!(app.post_json(&format!("/api/v1/runs/{queued}/cancel"), &meera, json!({})).await.status(), 200);
        assert_eq!(app.run(queued).await.status, RunStatus::Canceled);
        assert_eq!(app.post_json(&format!("/api/v1/runs/{first}/cancel"), &meera, json!({})).await.status(), 200);
        assert_eq!(app.run(first).await.status, RunStatus::Canceled);
        assert_eq!(app.post_json(&format!("/api/v1/runs/{first}/cancel"), &meera, json!({})).await.status(), 409);
    }

    async fn bad_input_gets_a_clear_4xx_and_changes_nothing(app) {
        let meera = app.token("meera", Role::Operator).await;
        let vikram = app.token("vikram", Role::Viewer).await;
        let runs = "/api/v1/environments/staging/runs";
        let cases = [
            ("/api/v1/environments/qa/runs", json!({ "kind": "plan" }), 404),
            (runs, json!({ "kind": "destroy" }), 422),
            (runs, json!({ "message": "no kind" }), 422),
            (runs, json!({ "kind": "plan", "message": "x".repeat(501) }), 422),
            (runs, json!({ "kind": "plan", "extra": 1 }), 422),
            (runs, json!({ "kind": 7 }), 422),
        ];
        for (path, body, status) in cases {
            let res = app.post_json(path, &meera, body.clone()).await;
            assert_eq!(res.status(), status, "{path} {body}");
            let err: Value = res.json().await.unwrap();
            assert!(err["error"].is_string() && err["message"].is_string());
        }
        let res = app.client.post(app.url(runs)).bearer_auth(&meera).header("content-type", "application/json").body("{not json").send().await.unwrap();
        assert_eq!(res.status(), 400);
        let res = app.client.post(app.url(runs)).bearer_auth(&meera).body("kind=plan").send().await.unwrap();
        assert_eq!(res.status(), 400, "not JSON");
        // Just over the 1 MiB limit (a much larger body could still be uploading when the refusal
        // comes, and the client would see a broken pipe instead of the answer).
        let too_big = vec![b' '; 1024 * 1024 + 1];
        let res = app.client.post(app.url(runs)).bearer_auth(&meera).header("content-type", "application/json").body(too_big).send().await.unwrap();
        assert_eq!(res.status(), 413);
        assert_eq!(res.headers()["connection"], "close", "the unread connection is not reused");
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "payload_too_large");
        assert_eq!(app.post_json(runs, &vikram, json!({ "kind": "plan" })).await.status(), 403);
        assert_eq!(count_runs(&app, "staging", &meera).await, 0, "nothing was created");

        assert_eq!(app.post_json("/api/v1/runs/999/approve", &meera, json!({})).await.status(), 404);
        assert_eq!(app.get("/api/v1/runs/abc", Some(&meera)).await.status(), 404);
        app.scenario("staging", json!({ "changes": [] }));
        let done = app.start_run("staging", &meera, "plan").await;
        app.wait_for(done, RunStatus::NoChanges).await;
        let res = app.post_json(&format!("/api/v1/runs/{done}/approve"), &meera, json!({})).await;
        assert_eq!(res.status(), 409, "a finished run cannot be approved");
        assert_eq!(app.run(done).await.status, RunStatus::NoChanges);
        let res = app.post_json(&format!("/api/v1/runs/{done}/approve"), &meera, json!({ "comment": "c".repeat(2001) })).await;
        assert_eq!(res.status(), 422);
    }

    async fn the_log_reads_from_any_offset_and_streams_live_without_gaps(app) {
        let meera = app.token("meera", Role::Operator).await;
        app.scenario("staging", json!({ "plan_seconds": 1.5, "extra_lines": 300, "changes": [update_change("aws_instance.a")] }));
        let id = app.start_run("staging", &meera, "plan").await;
        // Follow the live stream from the start while the plan runs, then resume mid-way.
        let live = read_sse(&app, &meera, id, None, None).await;
        let full = app.log(id).await;
        assert_eq!(live.text, full, "the stream delivered the whole log, once");
        assert!(live.statuses.contains(&"planned_and_finished".to_string()));
        let middle = live.ids[live.ids.len() / 2];
        let resumed = read_sse(&app, &meera, id, Some(middle), None).await;
        assert_eq!(format!("{}{}", &full[..middle as usize], resumed.text), full, "resumed with no gap or duplicate");
        let by_query = read_sse(&app, &meera, id, None, Some(middle)).await;
        assert_eq!(by_query.text, resumed.text);

        let res = app.client.get(app.url(&format!("/api/v1/runs/{id}/log?offset={middle}"))).bearer_auth(&meera).send().await.unwrap();
        assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(res.text().await.unwrap(), full[middle as usize..]);
        assert_eq!(app.get(&format!("/api/v1/runs/{id}/log?offset=-1"), Some(&meera)).await.status(), 400);
        assert_eq!(app.get(&format!("/api/v1/runs/{id}/log?offset={}", full.len() + 10), Some(&meera)).await.text().await.unwrap(), "");

        // Compressed as browsers ask for it, the download still ends cleanly (the fuzzer found
        // it breaking off: the compressor polled the finished log stream once more).
        for offset in [0, full.len() + 10] {
            let res = app.client.get(app.url(&format!("/api/v1/runs/{id}/log?offset={offset}"))).bearer_auth(&meera).header("accept-encoding", "gzip").send().await.unwrap();
            assert_eq!(res.headers()["content-encoding"], "gzip");
            let gzipped = res.bytes().await.expect("the whole compressed body arrives");
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gzipped[..]), &mut text).unwrap();
            assert_eq!(text, full.get(offset..).unwrap_or_default());
        }
    }
}

struct SseRead {
    text: String,
    ids: Vec<i64>,
    statuses: Vec<String>,
}

/// Reads a run's SSE stream until its `end` event.
async fn read_sse(app: &common::TestApp, token: &str, id: i64, last_event_id: Option<i64>, offset: Option<i64>) -> SseRead {
    let mut url = app.url(&format!("/api/v1/runs/{id}/log/stream"));
    if let Some(o) = offset {
        url.push_str(&format!("?offset={o}"));
    }
    let mut req = app.client.get(url).bearer_auth(token);
    if let Some(last) = last_event_id {
        req = req.header("last-event-id", last.to_string());
    }
    let mut res = req.send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut raw = String::new();
    while let Some(chunk) = res.chunk().await.unwrap() {
        raw.push_str(&String::from_utf8_lossy(&chunk));
        if raw.contains("event: end") && raw.ends_with("\n\n") {
            break;
        }
    }
    let mut read = SseRead { text: String::new(), ids: Vec::new(), statuses: Vec::new() };
    for block in raw.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut event = "message";
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event: ") {
                event = v;
            } else if let Some(v) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
                data.push(v);
            } else if let Some(v) = line.strip_prefix("id: ") {
                read.ids.push(v.parse().unwrap());
            }
        }
        match event {
            "log" => read.text.push_str(&data.join("\n")),
            "status" => read.statuses.push(data.join("\n")),
            _ => {}
        }
    }
    read
}

#[tokio::test]
async fn a_log_line_with_markup_is_shown_as_text() {
    let app = common::TestApp::start(common::Backend::Sqlite).await;
    let meera = app.token("meera", Role::Operator).await;
    app.scenario("staging", json!({ "echo": ["<script>alert('log')</script> <b>bold</b>"], "changes": [update_change("aws_instance.a")] }));
    let id = app.start_run("staging", &meera, "plan").await;
    app.wait_for(id, RunStatus::PlannedAndFinished).await;
    let html = app.get(&format!("/runs/{id}"), Some(&meera)).await.text().await.unwrap();
    assert!(html.contains("&lt;script&gt;alert(&#x27;log&#x27;)&lt;/script&gt;") || html.contains("&lt;script&gt;alert('log')&lt;/script&gt;"), "escaped");
    assert!(!html.contains("<script>alert"), "never interpreted as HTML");
    assert!(!html.contains("<b>bold</b>"));
    app.stop().await;
}
