//! Where each environment stands in its state backend, with the real terraform on the estate of
//! tests/fixtures/estate (its S3 bucket and DynamoDB lock table in the AWS emulator): the state's
//! versions and the runs that wrote them, what a version holds (never a value), the diff of two,
//! the lock's holder, and force-unlock.

use crate::common;

use app::model::audit::AuditPage;
use app::model::run::{Run, RunStatus};
use app::model::state::{LockMode, LockSource, StateDiff, StateOverview, StateVersion, StateVersionDetail};
use app::model::Role;
use common::estate::Estate;
use common::receiver::Receiver;
use common::{until, Api, Backend, TestApp};
use serde_json::{json, Value};

pub(super) const PRODUCTION_STATE: &str = "production/terraform.tfstate";
const STAGING_STATE: &str = "staging/terraform.tfstate";
const STAGING_LOCK: &str = "zelly-terraform-state/staging/terraform.tfstate";
pub(super) const CLOUDFLARE_TOKEN: &str = "cf-St4te-Tok3n-61c2d9e0a7b4";
pub(super) const BASTION_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStateBastion5f3e ops@zelly-bastion";

async fn production_estate(backend: Backend, promotion: bool) -> (Estate, TestApp) {
    production_estate_with(backend, promotion, |_| {}).await
}

/// The estate with a webhook destination to `hook`, which hears every event.
pub(super) async fn notifying(backend: Backend, promotion: bool, hook: &Receiver) -> (Estate, TestApp) {
    production_estate_with(backend, promotion, |c| {
        c.notifications.poll_seconds = 0.2;
        c.notifications.destinations = vec![hook.webhook("hook", "a-state-test-signing-key")];
    })
    .await
}

async fn production_estate_with(backend: Backend, promotion: bool, adjust: impl FnOnce(&mut zelly_control::Config)) -> (Estate, TestApp) {
    let estate = Estate::new();
    let variables = json!({ "cloudflare_api_token": CLOUDFLARE_TOKEN, "bastion_ssh_key": BASTION_KEY });
    estate.put_variables("production", "ap-south-1", &variables).await;
    let app = TestApp::start_with(backend, |c| {
        estate.configure(c);
        c.terraform.commit_url = Some("https://git.example.com/zelly/infra/commit/{sha}".into());
        if !promotion {
            Estate::skip_promotion(c);
        }
        adjust(c);
    })
    .await;
    (estate, app)
}

/// Plans and applies the branch head of `env`, approved by `approver`.
pub(super) async fn apply(app: &TestApp, env: &str, operator: &str, approver: &str) -> Run {
    let id = app.start_run(env, operator, "apply").await;
    approve_and_apply(app, id, env, approver).await
}

pub(super) async fn approve_and_apply(app: &TestApp, id: i64, env: &str, approver: &str) -> Run {
    let planned = app.wait_for(id, RunStatus::Planned).await;
    assert!(planned.error.is_none(), "{planned:?}");
    // A new code version replaces the deploy resource: a destroy, which production confirms by name.
    let res = app.post_json(&format!("/api/v1/runs/{id}/approve"), approver, json!({ "confirm": env })).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.wait_for(id, RunStatus::Applied).await
}

pub(super) async fn get_json(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let res = app.get(path, Some(token)).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// Every view of the environments page shows each lock holder: page views share one read of
/// each lock for `aws.repeat_read_seconds`, and a lock released here shows released at once.
#[tokio::test]
async fn page_views_share_one_lock_read_and_a_forced_unlock_shows_at_once() {
    let (estate, app) = production_estate_with(Backend::Sqlite, false, |c| c.aws.repeat_read_seconds = 3600).await;
    let info = estate.aws.backend(&["put-lock", STAGING_STATE, "priya@laptop"]);
    let lock_id = info["ID"].as_str().unwrap();
    let viewer = app.token("vic", Role::Viewer).await;
    estate.aws.reset().await;
    let home = async || app.get("/", Some(&viewer)).await.text().await.unwrap();
    assert!(home().await.contains("held by priya@laptop (Apply"));
    let reads = estate.aws.calls("GetItem").await.len();
    assert!(reads >= 1, "the first view reads the locks");
    for _ in 0..3 {
        assert!(home().await.contains("held by priya@laptop (Apply"));
    }
    assert_eq!(estate.aws.calls("GetItem").await.len(), reads, "later views read no lock again");

    let admin = app.token("asha", Role::Admin).await;
    let res = app.post_json("/api/v1/environments/staging/state/force-unlock", &admin, json!({ "lock_id": lock_id, "confirm": "staging" })).await;
    assert_eq!(res.status(), 200);
    assert!(!home().await.contains("held by priya@laptop"), "released here: the next view reads again");
    app.stop().await;
}

for_each_backend! {
    async fn versions_name_the_runs_that_wrote_them_and_nothing_shows_a_value(backend) {
        let (estate, app) = production_estate(backend, false).await;
        let (meera, ravi) = (app.token("meera", Role::Operator).await, app.token("ravi", Role::Approver).await);
        let viewer = app.token("vic", Role::Viewer).await;
        let first = apply(&app, "production", &meera, &ravi).await;
        estate.commit_code_version("2");
        let second = apply(&app, "production", &meera, &ravi).await;
        // Someone applies from a laptop: a version the control plane did not write.
        let laptop = tempfile::tempdir().unwrap();
        let checkout = laptop.path().join("infra");
        estate.terraform_by_hand("terraform", &["version"], &checkout);
        let tfvars = json!({ "cloudflare_api_token": CLOUDFLARE_TOKEN, "bastion_ssh_key": BASTION_KEY, "fastify_nova_tasks": 4 });
        std::fs::write(checkout.join("terraform/terraform.tfvars.json"), tfvars.to_string()).unwrap();
        for args in [&["init", "-input=false"][..], &["apply", "-input=false", "-auto-approve"][..]] {
            let out = estate.terraform_by_hand("terraform", args, &checkout);
            assert!(out.status.success(), "terraform {args:?}: {}", String::from_utf8_lossy(&out.stdout));
        }

        let (state, state_body) = app.get_with_body::<StateOverview>("/api/v1/environments/production/state", &viewer).await;
        assert!(state.lock.is_none(), "nobody holds the lock: {state:?}");
        let versions = &state.versions;
        let in_bucket: Vec<Value> = estate.aws.backend(&["versions", PRODUCTION_STATE]).as_array().unwrap().clone();
        let ids: Vec<&str> = versions.iter().map(|v| v.version_id.as_str()).collect();
        let bucket_ids: Vec<&str> = in_bucket.iter().map(|v| v["version_id"].as_str().unwrap()).collect();
        assert_eq!(ids, bucket_ids, "every version of the state object, newest first");
        assert_eq!(versions.iter().filter(|v| v.is_latest).count(), 1);
        assert!(versions[0].is_latest);
        assert!(versions[0].run_id.is_none(), "the laptop's apply is outside the control plane: {:#?}", versions[0]);
        let serials: Vec<i64> = versions.iter().map(|v| v.serial.unwrap()).collect();
        assert!(serials.windows(2).all(|w| w[0] > w[1]), "serials fall from the newest: {serials:?}");
        assert!(versions.iter().all(|v| v.lineage == versions[0].lineage && v.terraform_version.as_deref().unwrap().starts_with("1.")));
        assert!(versions.iter().all(|v| v.size > 0));
        assert_eq!(versions[0].resources, Some(3));

        let written_by = |run: &Run| -> &StateVersion {
            let by: Vec<&StateVersion> = versions.iter().filter(|v| v.run_id == Some(run.id)).collect();
            assert_eq!(by.len(), 1, "run {} wrote one version: {versions:#?}", run.id);
            by[0]
        };
        let (by_first, by_second) = (written_by(&first), written_by(&second));
        assert!(ids.iter().position(|i| *i == by_second.version_id) < ids.iter().position(|i| *i == by_first.version_id));
        assert_eq!(by_second.commit, second.commit);
        let sha = second.commit.as_deref().unwrap();
        assert_eq!(by_second.commit_url, Some(format!("https://git.example.com/zelly/infra/commit/{sha}")));
        assert_ne!(by_first.commit, by_second.commit, "each version names its own run's commit");

        // What a version holds: addresses and output names, without a value (the state has them).
        let path = format!("/api/v1/environments/production/state/versions/{}", by_second.version_id);
        let (detail, detail_body) = app.get_with_body::<StateVersionDetail>(&path, &viewer).await;
        let addresses: Vec<(&str, &str, &str)> =
            detail.resources.iter().map(|r| (r.address.as_str(), r.resource_type.as_str(), r.mode.as_str())).collect();
        assert_eq!(
            addresses,
            [
                ("terraform_data.bastion", "terraform_data", "managed"),
                ("terraform_data.deploy", "terraform_data", "managed"),
                ("terraform_data.fastify_nova", "terraform_data", "managed")
            ]
        );
        assert_eq!(detail.outputs, ["cloudflare_token_check", "code_version", "fastify_nova_tasks"]);
        assert_eq!(detail.version.run_id, Some(second.id));
        let in_state = estate.state(PRODUCTION_STATE).to_string();
        assert!(in_state.contains(CLOUDFLARE_TOKEN) && in_state.contains("AAAAC3NzaC1lZDI1NTE5AAAAIStateBastion5f3e"), "the state holds the values");

        // The diff of two versions, by address.
        let diff = async |from: &StateVersion, to: &StateVersion| -> StateDiff {
            let query = format!("from={}&to={}", from.version_id, to.version_id);
            app.get_as(&format!("/api/v1/environments/production/state/diff?{query}"), &viewer).await
        };
        let d = diff(by_first, by_second).await;
        assert!(d.added.is_empty() && d.removed.is_empty(), "{d:?}");
        assert_eq!(d.changed, ["terraform_data.deploy", "terraform_data.fastify_nova"], "a new code version: {d:?}");
        let d = diff(by_second, &versions[0]).await;
        assert_eq!(d.changed, ["terraform_data.deploy", "terraform_data.fastify_nova"], "four tasks from the laptop: {d:?}");
        let d = diff(by_first, by_first).await;
        assert!(d.added.is_empty() && d.changed.is_empty());
        let (status, _) = get_json(&app, "/api/v1/environments/production/state/diff?from=x", &viewer).await;
        assert_eq!(status, 400, "both versions must be named");
        let (status, missing) = get_json(&app, "/api/v1/environments/production/state/versions/no-such-version", &viewer).await;
        assert_eq!(status, 404, "{missing}");

        // A page view reads the listing and the lock; versions already read are not read again.
        estate.aws.reset().await;
        let page = app.get("/environments/production/state", Some(&viewer)).await.text().await.unwrap();
        let count = async |op: &str| estate.aws.calls(op).await.len();
        assert_eq!((count("ListObjectVersions").await, count("GetItem").await, count("GetObject").await), (1, 1, 0));
        assert!(page.contains("outside the control plane") && page.contains(&format!("href=\"/runs/{}\"", second.id)), "{page}");
        assert!(page.contains(&format!("https://git.example.com/zelly/infra/commit/{sha}")));
        assert!(page.contains("Not locked"));

        // Downloading a version is for admins, and audited.
        let download = format!("{path}/download");
        for role in [Role::Viewer, Role::Operator, Role::Approver] {
            let token = app.token(&format!("someone-{role}"), role).await;
            assert_eq!(app.get(&download, Some(&token)).await.status(), 403, "{role}");
        }
        let admin = app.token("ada", Role::Admin).await;
        let res = app.get(&download, Some(&admin)).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let file: Value = res.json().await.unwrap();
        assert_eq!(file["serial"].as_i64(), by_second.serial);
        let (audit, audit_body) = app.get_with_body::<AuditPage>("/api/v1/audit?action=state.downloaded", &admin).await;
        let events = &audit.events;
        assert_eq!(events.len(), 1, "{audit:?}");
        let details: Value = serde_json::from_str(&events[0].details).unwrap();
        assert_eq!((events[0].actor.as_str(), details["version_id"].as_str()), ("ada", Some(by_second.version_id.as_str())));

        for text in [state_body, detail_body, page, audit_body] {
            for value in [CLOUDFLARE_TOKEN, "AAAAC3NzaC1lZDI1NTE5AAAAIStateBastion5f3e"] {
                assert!(!text.contains(value), "{value} shown");
            }
        }
        app.stop().await;
    }

    async fn a_held_lock_is_named_everywhere_and_only_an_admin_who_names_it_releases_it(backend) {
        let hook = Receiver::start().await;
        let (estate, app) = notifying(backend, false, &hook).await;
        let meera = app.token("meera", Role::Operator).await;
        apply(&app, "staging", &meera, &meera).await;
        let digest = format!("{STAGING_LOCK}-md5");
        assert!(estate.locks().iter().any(|l| l["LockID"] == digest), "terraform keeps the state's digest beside the lock");
        let info = estate.aws.backend(&["put-lock", STAGING_STATE, "priya@laptop"]);
        let lock_id = info["ID"].as_str().unwrap();

        let viewer = app.token("vic", Role::Viewer).await;
        let state: StateOverview = app.get_as("/api/v1/environments/staging/state", &viewer).await;
        let lock = state.lock.expect("the lock is shown");
        assert_eq!((lock.id.as_str(), lock.who.as_str(), lock.operation.as_str()), (lock_id, "priya@laptop", "OperationTypeApply"));
        assert_eq!((lock.version.as_str(), lock.source, lock.path.as_str()), ("1.11.4", LockSource::Dynamodb, STAGING_LOCK));
        assert!(lock.run_id.is_none() && lock.age_seconds.unwrap() >= 0, "{lock:?}");
        let home = app.get("/", Some(&viewer)).await.text().await.unwrap();
        assert!(home.contains("held by priya@laptop (Apply"), "the environments page names the holder");

        // A run on the locked state fails naming the holder, and its page links to the state page.
        let id = app.start_run("staging", &meera, "plan").await;
        let run = app.wait_for(id, RunStatus::Errored).await;
        assert!(run.error.as_deref().unwrap().contains("priya@laptop holds the lock"), "{run:?}");
        let page = app.get(&format!("/runs/{id}"), Some(&viewer)).await.text().await.unwrap();
        assert!(page.contains("href=\"/environments/staging/state\""), "the run page points at the state page");

        let unlock = async |token: &str, body: Value| {
            let res = app.post_json("/api/v1/environments/staging/state/force-unlock", token, body).await;
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        };
        let right = json!({ "lock_id": lock_id, "confirm": "staging" });
        for role in [Role::Operator, Role::Approver, Role::Viewer] {
            let token = app.token(&format!("not-admin-{role}"), role).await;
            assert_eq!(unlock(&token, right.clone()).await.0, 403, "{role}");
        }
        let admin = app.token("ada", Role::Admin).await;
        let (status, body) = unlock(&admin, json!({ "lock_id": "8f0e4b52-0000-4000-8000-000000000000", "confirm": "staging" })).await;
        assert_eq!(status, 409, "not the current lock: {body}");
        assert!(body["message"].as_str().unwrap().contains(lock_id), "{body}");
        assert_eq!(unlock(&admin, json!({ "lock_id": lock_id })).await.0, 422, "no confirmation");
        assert_eq!(unlock(&admin, json!({ "lock_id": lock_id, "confirm": "production" })).await.0, 422, "the wrong environment");
        assert!(estate.locks().iter().any(|l| l["LockID"] == STAGING_LOCK), "nothing was released");

        let (status, released) = unlock(&admin, right.clone()).await;
        assert_eq!(status, 200, "{released}");
        assert_eq!(released["who"], "priya@laptop");
        let items = estate.locks();
        assert!(!items.iter().any(|l| l["LockID"] == STAGING_LOCK), "the lock is gone: {items:?}");
        assert!(items.iter().any(|l| l["LockID"] == digest), "its -md5 digest item is kept: {items:?}");
        let audit: AuditPage = app.get_as("/api/v1/audit?action=state.force_unlocked", &admin).await;
        let event = &audit.events[0];
        assert_eq!((event.actor.as_str(), event.environment.as_deref()), ("ada", Some("staging")));
        let details: Value = serde_json::from_str(&event.details).unwrap();
        assert_eq!((details["lock_id"].as_str(), details["who"].as_str(), details["operation"].as_str()), (Some(lock_id), Some("priya@laptop"), Some("OperationTypeApply")));
        let announced = hook.wait_for("state.force_unlocked", 1).await.remove(0).json();
        assert_eq!((announced["actor"].as_str(), announced["environment"].as_str()), (Some("ada"), Some("staging")));
        assert_eq!((announced["lock"]["lock_id"].as_str(), announced["lock"]["who"].as_str()), (Some(lock_id), Some("priya@laptop")));
        assert!(announced["url"].as_str().unwrap().ends_with("/environments/staging/state"), "it links to the state page");
        assert_eq!(unlock(&admin, right).await.0, 409, "nothing left to release");
        assert!(app.get_as::<StateOverview>("/api/v1/environments/staging/state", &viewer).await.lock.is_none());

        // The next run works.
        let next = app.start_run("staging", &meera, "plan").await;
        app.wait_for_plan(next).await;
        app.stop().await;
    }

    async fn with_s3_locking_the_lock_file_is_read_and_released(backend) {
        let estate = Estate::new();
        let app = TestApp::start_with(backend, |c| {
            estate.configure(c);
            c.environments.get_mut("staging").unwrap().terraform.lock = LockMode::S3;
        })
        .await;
        let info = estate.aws.backend(&["put-lockfile", STAGING_STATE, "dev@ci-runner"]);
        let admin = app.token("ada", Role::Admin).await;
        let state: StateOverview = app.get_as("/api/v1/environments/staging/state", &admin).await;
        let lock = state.lock.as_ref().expect("the lock file is read");
        assert_eq!((lock.source, lock.who.as_str()), (LockSource::S3, "dev@ci-runner"), "{state:?}");
        assert_eq!(state.lock_mode, LockMode::S3);
        assert!(state.versions.is_empty(), "the lock file is not a state version: {state:?}");
        let body = json!({ "lock_id": info["ID"], "confirm": "staging" });
        let res = app.post_json("/api/v1/environments/staging/state/force-unlock", &admin, body).await;
        assert_eq!(res.status(), 200);
        assert!(estate.aws.backend(&["lockfile", STAGING_STATE]).is_null(), "the .tflock object is gone");
        app.stop().await;
    }

    async fn a_lock_left_by_a_server_killed_mid_apply_is_released_and_the_queue_moves_on(backend) {
        let estate = Estate::new();
        let db = common::TestDatabase::new(backend).await;
        let mut vars = estate.env_vars();
        vars.push(("ZELLY_ENVIRONMENTS__STAGING__TERRAFORM__VARIABLES__APPLY_SECONDS".into(), "617".into()));
        vars.push(("ZELLY_RUNS__LEASE_SECONDS".into(), "2".into()));
        let (server, admin) = common::LoggedServer::start(&db, &vars);
        let meera = server.token("meera", "operator");
        let api = Api { client: reqwest::Client::new(), url: server.url.clone() };
        let (status, run) = api.post("/api/v1/environments/staging/runs", &meera, json!({ "kind": "apply" })).await;
        assert_eq!(status, 201, "{run}");
        let id = run["id"].as_i64().unwrap();
        api.wait_for(id, &meera, RunStatus::Planned).await;
        assert_eq!(api.post(&format!("/api/v1/runs/{id}/approve"), &meera, json!({})).await.0, 200);
        until("the provisioner to run", async || api.get(&format!("/api/v1/runs/{id}/log"), &admin).await.contains("deploying staging-1")).await;

        // While the apply runs, the lock is the run's own, and it is not released by force.
        let state: StateOverview = api.get_as("/api/v1/environments/staging/state", &admin).await;
        let lock = state.lock.expect("the apply holds the lock");
        assert_eq!(lock.run_id, Some(id), "{lock:?}");
        let lock_id = lock.id;
        let unlock = json!({ "lock_id": lock_id, "confirm": "staging" });
        let (status, refused) = api.post("/api/v1/environments/staging/state/force-unlock", &admin, unlock.clone()).await;
        assert_eq!(status, 409, "{refused}");
        assert!(refused["message"].as_str().unwrap().contains(&format!("run {id}")), "{refused}");

        server.kill();
        // Terraform died with the server (it could not release the lock); its provisioner's
        // `sleep` is an orphan now, and goes too.
        for pid in common::sleepers(db.dir.path(), "617") {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let (server, admin) = common::LoggedServer::start(&db, &vars);
        let api = Api { client: reqwest::Client::new(), url: server.url.clone() };
        until("the lost apply to be errored", async || api.run(id, &admin).await.status == RunStatus::Errored).await;
        let page = api.get(&format!("/runs/{id}"), &admin).await;
        assert!(page.contains("state page") && page.contains("href=\"/environments/staging/state\""), "the run points at the state page");
        let state: StateOverview = api.get_as("/api/v1/environments/staging/state", &admin).await;
        let lock = state.lock.expect("the lock is still held");
        assert_eq!(lock.id, lock_id);
        assert!(lock.run_id.is_none(), "by no run that is running: {lock:?}");
        let (status, released) = api.post("/api/v1/environments/staging/state/force-unlock", &admin, unlock).await;
        assert_eq!(status, 200, "{released}");

        let (_, next) = api.post("/api/v1/environments/staging/runs", &meera, json!({ "kind": "plan" })).await;
        let next = next["id"].as_i64().unwrap();
        until("the next plan", async || {
            let run = api.run(next, &admin).await;
            assert_ne!(run.status, RunStatus::Errored, "{run:?}");
            matches!(run.status, RunStatus::PlannedAndFinished | RunStatus::NoChanges)
        })
        .await;
        server.finish();
    }
}
