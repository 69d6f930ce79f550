//! The promotion rule (production applies only what staging has applied, unless an admin
//! overrides it with a reason) and drift checks (on their schedule; a changed variable is found,
//! nothing when nothing changed), with the real terraform on the estate of tests/fixtures/estate.

use crate::common;

use super::state::{notifying, apply, approve_and_apply, get_json, PRODUCTION_STATE, CLOUDFLARE_TOKEN, BASTION_KEY};
use app::model::audit::AuditPage;
use app::model::run::{Drift, DriftState, Run, RunKind, RunStatus};
use app::model::Role;
use common::estate::Estate;
use common::receiver::Receiver;
use common::{until, TestApp};
use serde_json::{json, Value};

/// `GET /api/v1/environments/{env}`, as far as drift goes (the rest is the environment's
/// configuration and live status).
#[derive(serde::Deserialize)]
struct WithDrift {
    drift: Drift,
}

on_both_backends! {
    async fn with_a_plain_directory_the_promotion_rule_is_not_enforced(app) {
        let meera = app.token("meera", Role::Operator).await;
        let id = app.start_run("production", &meera, "apply").await;
        assert!(app.run(id).await.commit.is_none(), "a plain directory has no commits");
        let home = app.get("/", Some(&meera)).await.text().await.unwrap();
        assert!(home.contains("from staging: not enforced (plain directory"), "the card says the rule is not enforced");
    }
}

for_each_backend! {
    async fn production_applies_only_what_staging_has_applied(backend) {
        let hook = Receiver::start().await;
        let (estate, app) = notifying(backend, true, &hook).await;
        let (meera, ravi) = (app.token("meera", Role::Operator).await, app.token("ravi", Role::Approver).await);
        let two = estate.commit_code_version("2");
        let three = estate.commit_code_version("3");
        let create = async |token: &str, body: Value| {
            let res = app.post_json("/api/v1/environments/production/runs", token, body).await;
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        };

        // Nothing applied to staging yet: a production apply is refused before anything runs.
        let (status, refused) = create(&meera, json!({ "kind": "apply", "ref": two })).await;
        assert_eq!(status, 409, "{refused}");
        let message = refused["message"].as_str().unwrap();
        assert!(message.contains("Production applies only what Staging has applied") && message.contains(&two[..7]), "{message}");
        let listed = app.runs("production", &meera).await;
        assert!(listed.is_empty(), "no run was created: {listed:?}");
        let (status, plan) = create(&meera, json!({ "kind": "plan", "ref": two })).await;
        assert_eq!(status, 201, "plans are always allowed: {plan}");
        app.wait_for(plan["id"].as_i64().unwrap(), RunStatus::PlannedAndFinished).await;

        // Staging applies commit three: production may apply it, or its ancestor two.
        let id = app.start_run_at("staging", &meera, "apply", &three).await;
        approve_and_apply(&app, id, "staging", &meera).await;
        let (status, run) = create(&meera, json!({ "kind": "apply", "ref": two })).await;
        assert_eq!(status, 201, "an ancestor of what staging applied: {run}");
        assert!(run["promotion_override"].is_null());
        approve_and_apply(&app, run["id"].as_i64().unwrap(), "production", &ravi).await;
        let home = app.get("/", Some(&meera)).await.text().await.unwrap();
        assert!(home.contains("data-promotion=\"1\"") && home.contains("1 commit ahead, not yet applied here"), "staging is one commit ahead");
        let (status, run) = create(&meera, json!({ "kind": "apply", "ref": three })).await;
        assert_eq!(status, 201, "what staging applied: {run}");

        // A commit staging has not seen is refused, unless an admin overrides with a reason.
        let four = estate.commit_code_version("4");
        assert_eq!(create(&meera, json!({ "kind": "apply" })).await.0, 409, "the branch head, four, is not on staging");
        let reason = "hotfix for the payment outage, staging is down";
        assert_eq!(create(&meera, json!({ "kind": "apply", "override_promotion": reason })).await.0, 403, "operators may not override");
        let admin = app.token("asha", Role::Admin).await;
        assert_eq!(create(&admin, json!({ "kind": "apply", "override_promotion": "  " })).await.0, 422, "a reason is required");
        let (status, overridden) = create(&admin, json!({ "kind": "apply", "override_promotion": reason })).await;
        assert_eq!(status, 201, "{overridden}");
        assert_eq!((overridden["commit"].as_str(), overridden["promotion_override"].as_str()), (Some(four.as_str()), Some(reason)));
        let announced = hook.wait_for("promotion.overridden", 1).await.remove(0).json();
        assert_eq!((announced["actor"].as_str(), announced["promotion"]["reason"].as_str()), (Some("asha"), Some(reason)));
        assert_eq!((announced["run"]["id"].as_i64(), announced["run"]["commit"].as_str()), (overridden["id"].as_i64(), Some(four.as_str())));
        let (_, audit) = get_json(&app, "/api/v1/audit?action=run.promotion_overridden", &admin).await;
        let details: Value = serde_json::from_str(audit["events"][0]["details"].as_str().unwrap()).unwrap();
        assert_eq!((audit["events"][0]["actor"].as_str(), details["reason"].as_str()), (Some("asha"), Some(reason)));
        let page = app.get(&format!("/runs/{}", overridden["id"]), Some(&meera)).await.text().await.unwrap();
        assert!(page.contains("Promotion rule overridden") && page.contains(reason), "the run page says so");
        app.stop().await;
    }

    async fn drift_checks_find_a_changed_variable_and_nothing_when_nothing_changed(backend) {
        let hook = Receiver::start().await;
        let (estate, app) = notifying(backend, false, &hook).await;
        let (meera, ravi) = (app.token("meera", Role::Operator).await, app.token("ravi", Role::Approver).await);
        let applied = apply(&app, "production", &meera, &ravi).await;
        let check = async |token: &str| {
            let res = app.post_json("/api/v1/environments/production/drift-check", token, json!({})).await;
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        };
        let drift = async || app.get_as::<WithDrift>("/api/v1/environments/production", &meera).await.drift;
        let versions = || estate.aws.backend(&["versions", PRODUCTION_STATE]);
        assert_eq!(drift().await.status, DriftState::Unknown, "never checked");
        let viewer = app.token("vic", Role::Viewer).await;
        assert_eq!(check(&viewer).await.0, 403, "viewers do not start checks");

        // Nothing changed since the apply: in sync.
        let before = versions();
        let (status, run) = check(&meera).await;
        assert_eq!((status, run["kind"].as_str()), (202, Some("drift")), "{run}");
        let id = run["id"].as_i64().unwrap();
        app.wait_for(id, RunStatus::NoChanges).await;
        let found = drift().await;
        assert_eq!((found.status, found.run_id, found.commit.as_deref()), (DriftState::InSync, Some(id), applied.commit.as_deref()));
        assert_eq!((found.add, found.change, found.destroy), (0, 0, 0));
        assert!(found.checked_at.is_some());

        // The token is rotated in Secrets Manager, not yet applied: drifted, one change pending.
        let rotated = json!({ "cloudflare_api_token": "cf-R0tated-Dr1ft-77ab", "bastion_ssh_key": BASTION_KEY });
        estate.put_variables("production", "ap-south-1", &rotated).await;
        let (_, run) = check(&meera).await;
        let id = run["id"].as_i64().unwrap();
        app.wait_for(id, RunStatus::PlannedAndFinished).await;
        let found = drift().await;
        assert_eq!(found.status, DriftState::Drifted, "{found:?}");
        assert_eq!((found.add, found.change, found.destroy), (0, 1, 0), "{found:?}");
        assert_eq!(versions(), before, "a drift check writes no state");
        assert_eq!(estate.state(PRODUCTION_STATE)["outputs"]["cloudflare_token_check"]["value"], CLOUDFLARE_TOKEN, "nothing was applied");
        let res = app.post_json(&format!("/api/v1/runs/{id}/approve"), &ravi, json!({ "confirm": "production" })).await;
        assert_eq!(res.status(), 409, "a drift check is never applied");
        let admin = app.token("ada", Role::Admin).await;
        let audit: AuditPage = app.get_as("/api/v1/audit?action=environment.drifted", &admin).await;
        let details: Value = serde_json::from_str(&audit.events[0].details).unwrap();
        assert_eq!((details["run"].as_i64(), details["change"].as_i64()), (Some(id), Some(1)), "drift found is an event");
        let announced = hook.wait_for("drift.detected", 1).await.remove(0).json();
        assert_eq!((announced["drift"]["change"].as_i64(), announced["run"]["id"].as_i64(), announced["run"]["kind"].as_str()), (Some(1), Some(id), Some("drift")));
        let heard: Vec<String> = hook.received().iter().map(|r| r.event()).collect();
        assert!(!heard.contains(&"run.planned".to_string()), "a drift check's plan is reported as drift only: {heard:?}");
        let home = app.get("/", Some(&meera)).await.text().await.unwrap();
        assert!(home.contains("data-drift=\"drifted\"") && home.contains("1 change pending since"), "the card shows it");
        assert_eq!(app.runs("production", &meera).await[0].kind, RunKind::Drift);

        // A check is not started while a run waits for approval; nor is a drift run asked for directly.
        let waiting = app.start_run("production", &meera, "apply").await;
        app.wait_for(waiting, RunStatus::Planned).await;
        let (status, refused) = check(&meera).await;
        assert_eq!(status, 409, "{refused}");
        let res = app.post_json("/api/v1/environments/production/runs", &meera, json!({ "kind": "drift" })).await;
        assert_eq!(res.status(), 422);
        app.stop().await;
    }

    async fn drift_checks_run_on_their_schedule(backend) {
        let estate = Estate::new();
        let app = TestApp::start_with(backend, |c| {
            estate.configure(c);
            c.runs.drift_check_minutes = 0.02;
            c.environments.get_mut("production").unwrap().drift_check_minutes = Some(0.0);
        })
        .await;
        let viewer = app.token("vic", Role::Viewer).await;
        let drift_runs = async |env: &str| -> Vec<Run> {
            app.runs(env, &viewer).await.into_iter().filter(|r| r.kind == RunKind::Drift).collect()
        };
        until("two scheduled checks of staging", async || {
            let runs = drift_runs("staging").await;
            runs.iter().filter(|r| !matches!(r.status, RunStatus::Queued | RunStatus::Planning)).count() >= 2
        })
        .await;
        let staging = drift_runs("staging").await;
        assert!(staging.iter().all(|r| r.requested_by == "drift-check" && r.message == "Drift check"), "{staging:#?}");
        assert!(staging.iter().all(|r| r.status != RunStatus::Errored), "{staging:#?}");
        assert!(drift_runs("production").await.is_empty(), "drift_check_minutes = 0 turns production's off");
        app.stop().await;
    }
}
