//! Runs with the real terraform (on PATH; it downloads no providers here) on the estate of
//! tests/fixtures/estate: a git repository laid out like Zelly's, its S3 state backend and
//! DynamoDB lock table in the AWS emulator, its sensitive variables in Secrets Manager there.

use crate::common;

use app::model::run::RunStatus;
use app::model::Role;
use common::estate::Estate;
use common::{until, Api, Backend, TestApp};
use serde_json::{json, Value};

const CLOUDFLARE_TOKEN: &str = "cf-Tok3n-8d1e4a9b77c2f0";
const ROTATED_TOKEN: &str = "cf-R0tated-5e6f7a8b9c0d1e";
/// Not declared sensitive in the code: terraform prints it, wrapped over two lines in a
/// provisioner's error, whole in the plan.
const BASTION_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBastionKey0a1b2c3d ops@zelly-bastion";
/// Multi-line: terraform prints it as a heredoc, line by line.
const WIREGUARD_KEY: &str =
    "-----BEGIN WIREGUARD KEY-----\nWGpriv4f9c2e7a1b3d5f6e8a9b0c1d2e3f4a5b6\nWGline2c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2\n-----END WIREGUARD KEY-----";

/// What must be found nowhere: each value, and the parts of them that give them away.
const NEVER: [&str; 6] = [
    CLOUDFLARE_TOKEN,
    ROTATED_TOKEN,
    BASTION_KEY,
    "AAAAC3NzaC1lZDI1NTE5AAAAIBastionKey0a1b2c3d",
    "WGpriv4f9c2e7a1b3d5f6e8a9b0c1d2e3f4a5b6",
    "WGline2c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2",
];

fn production_variables(token: &str) -> Value {
    json!({ "cloudflare_api_token": token, "bastion_ssh_key": BASTION_KEY, "wireguard_private_key": WIREGUARD_KEY })
}

for_each_backend! {
    async fn a_production_apply_of_a_chosen_commit_works_end_to_end_and_no_value_leaks(backend) {
        let estate = Estate::new();
        estate.put_variables("production", "ap-south-1", &production_variables(CLOUDFLARE_TOKEN)).await;
        let chosen = estate.commit_code_version("2");
        let head = estate.commit_code_version("3");
        let db = common::TestDatabase::new(backend).await;
        let mut vars = estate.env_vars();
        vars.push(("ZELLY_ENVIRONMENTS__PRODUCTION__TERRAFORM__VARIABLES__FASTIFY_NOVA_TASKS".into(), "3".into()));
        vars.push(("ZELLY_TERRAFORM__COMMIT_URL".into(), "https://git.example.com/zelly/infra/commit/{sha}".into()));
        vars.push((Estate::SKIP_PROMOTION.0.into(), Estate::SKIP_PROMOTION.1.into()));
        let (server, admin) = common::LoggedServer::start(&db, &vars);
        let (meera, ravi) = (server.token("meera", "operator"), server.token("ravi", "approver"));
        let api = Api { client: reqwest::Client::new(), url: server.url.clone() };

        // The run names a commit behind the branch head, and plans exactly that commit.
        let body = json!({ "kind": "apply", "message": "nova to 3 tasks", "ref": chosen });
        let (status, run) = api.post("/api/v1/environments/production/runs", &meera, body).await;
        assert_eq!(status, 201, "{run}");
        assert_eq!((run["commit"].as_str(), run["ref"].as_str()), (Some(chosen.as_str()), Some(chosen.as_str())));
        assert_eq!(run["commit_subject"], "Production code version 2");
        assert_eq!(run["commit_author"], "Priya Nair");
        let id = run["id"].as_i64().unwrap();
        let planned = api.wait_for(id, &meera, RunStatus::Planned).await;
        assert!(planned.plan.as_ref().unwrap().add >= 3, "{planned:#?}");

        // The secret changes before the apply: the apply still masks what the plan was made with.
        estate.put_variables("production", "ap-south-1", &production_variables(ROTATED_TOKEN)).await;
        let (status, _) = api.post(&format!("/api/v1/runs/{id}/approve"), &ravi, json!({ "comment": "ok" })).await;
        assert_eq!(status, 200);
        api.wait_for(id, &meera, RunStatus::Applied).await;

        // Terraform got the variables: the state in S3 says so (the state is terraform's, not ours).
        let state = estate.state("production/terraform.tfstate");
        assert_eq!(state["outputs"]["code_version"]["value"], "2", "the chosen commit was applied, not the head {head}");
        assert_eq!(state["outputs"]["fastify_nova_tasks"]["value"], 3, "the plain variable from the configuration");
        assert_eq!(state["outputs"]["cloudflare_token_check"]["value"], CLOUDFLARE_TOKEN, "the sensitive one from the secret");
        let versions = estate.aws.backend(&["versions", "production/terraform.tfstate"]);
        assert!(!versions.as_array().unwrap().is_empty(), "state versions in the versioned bucket");
        assert!(estate.locks().iter().all(|l| l["LockID"].as_str().unwrap().ends_with("-md5")), "the lock was released");

        // The log keeps every line, with the values masked inside them.
        let log = api.get(&format!("/api/v1/runs/{id}/log"), &admin).await;
        for expected in [
            "Variables: 1 plain from the configuration (fastify_nova_tasks); 3 sensitive from zelly/terraform/production",
            "deploying 2 to the bastion (sensitive value)",
            "cloudflare_token_check = \"(sensitive value)\"",
            "Apply complete!",
        ] {
            assert!(log.contains(expected), "the log lacks {expected:?}:\n{log}");
        }
        let variables: Value = serde_json::from_str(&api.get("/api/v1/environments/production/variables", &meera).await).unwrap();
        let listed: Vec<(&str, &str, Option<&str>)> = variables["variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap(), v["source"].as_str().unwrap(), v["value"].as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("bastion_ssh_key", "secret", None),
                ("cloudflare_api_token", "secret", None),
                ("fastify_nova_tasks", "configuration", Some("3")),
                ("wireguard_private_key", "secret", None)
            ]
        );

        // Nothing sensitive in any answer or page, the server's own debug log, or the database.
        let mut seen = log.clone() + &variables.to_string();
        for path in [
            format!("/api/v1/runs/{id}"),
            format!("/runs/{id}"),
            "/environments/production/runs".to_string(),
            "/api/v1/environments/production/runs".to_string(),
            "/api/v1/audit?limit=500".to_string(),
            "/api/v1/audit.csv".to_string(),
            "/secrets".to_string(),
        ] {
            seen += &api.get(&path, &admin).await;
        }
        let page = api.get(&format!("/runs/{id}"), &meera).await;
        let short = &chosen[..7];
        assert!(page.contains(&format!("https://git.example.com/zelly/infra/commit/{chosen}")) && page.contains(short), "the page links the commit");
        assert!(page.contains("Production code version 2") && page.contains("Priya Nair"));
        let printed = server.finish();
        assert!(printed.contains("DEBUG"), "debug logging was on");
        let db_handle = zelly_control::db::Db::connect(&db.url, 2).await.unwrap();
        let stored = common::every_stored_value(&db_handle).await;
        for value in NEVER {
            assert!(!printed.contains(value), "{value} is in the server's log");
            assert!(!seen.contains(value), "{value} is in a page or an API answer");
            for (column, bytes) in &stored {
                assert!(!common::contains(bytes, value), "{value} is stored in {column}");
            }
        }
        // The plan file does hold the values (terraform keeps them in it), and the search above
        // would have found them: stored, it is sealed with the data key.
        let sealed = db_handle.artifact(id, "plan.tfplan").await.unwrap().unwrap();
        let key = zelly_control::encryption::DataKey::load(None, db.dir.path()).unwrap();
        let plan_file = key.open(&zelly_control::runs::engine::sealing_context(id, "plan.tfplan"), &sealed).unwrap();
        assert!(plan_file.starts_with(b"PK") && common::contains(&plan_file, CLOUDFLARE_TOKEN), "the plan file holds the token");
        let work = std::fs::read_dir(db.dir.path().join("work")).unwrap().count();
        assert_eq!(work, 0, "the working copies (and their variables files) are gone");
        db_handle.close().await;
    }
}

/// A server on `backend` for a fresh estate (production's variables secret in place), as
/// `adjust` changes it.
async fn estate_and_app(backend: Backend, adjust: fn(&mut zelly_control::Config)) -> (Estate, TestApp) {
    let estate = Estate::new();
    estate.put_variables("production", "ap-south-1", &production_variables(CLOUDFLARE_TOKEN)).await;
    let app = TestApp::start_with(backend, |c| {
        estate.configure(c);
        Estate::skip_promotion(c);
        adjust(c);
    })
    .await;
    (estate, app)
}

fn slow_staging_apply(c: &mut zelly_control::Config) {
    let staging = c.environments.get_mut("staging").unwrap();
    staging.terraform.variables.insert("apply_seconds".into(), json!(617));
    c.runs.cancel_grace_seconds = 30;
}

/// Processes running `sleep <seconds>` (a provisioner's) in one of `app`'s working copies.
fn sleeping(app: &TestApp, seconds: &str) -> usize {
    common::sleepers(&app.config.server.data_dir, seconds).len()
}

for_each_backend! {
    async fn cancel_of_a_running_apply_stops_terraform_and_releases_the_state_lock(backend) {
        let (estate, app) = estate_and_app(backend, slow_staging_apply).await;
        let meera = app.token("meera", Role::Operator).await;
        let id = app.start_run("staging", &meera, "apply").await;
        app.wait_for(id, RunStatus::Planned).await;
        assert_eq!(app.post_json(&format!("/api/v1/runs/{id}/approve"), &meera, json!({})).await.status(), 200);
        until("the provisioner to run", async || app.log(id).await.contains("deploying staging-1 to staging")).await;
        let lock = "zelly-terraform-state/staging/terraform.tfstate";
        assert!(estate.locks().iter().any(|l| l["LockID"] == lock), "terraform holds the lock while it applies");
        assert_eq!(sleeping(&app, "617"), 1, "the provisioner runs");

        assert_eq!(app.post_json(&format!("/api/v1/runs/{id}/cancel"), &meera, json!({})).await.status(), 200);
        let run = app.wait_for(id, RunStatus::Canceled).await;
        assert!(run.error.as_deref().unwrap().contains("Canceled"), "{run:?}");
        let log = app.log(id).await;
        assert!(log.contains("Interrupt received") && log.contains("Gracefully shutting down"), "terraform got SIGINT:\n{log}");
        assert!(!estate.locks().iter().any(|l| l["LockID"] == lock), "terraform released the lock: {:?}", estate.locks());
        assert!(estate.locks().iter().any(|l| l["LockID"] == format!("{lock}-md5")), "and kept its digest");
        until("the provisioner to be gone", async || sleeping(&app, "617") == 0).await;

        // Nothing is left held: the next run plans.
        let next = app.start_run("staging", &meera, "plan").await;
        app.wait_for_plan(next).await;
        app.stop().await;
    }

    async fn a_held_state_lock_fails_the_run_naming_its_holder(backend) {
        let (estate, app) = estate_and_app(backend, |_| {}).await;
        let meera = app.token("meera", Role::Operator).await;
        let info = estate.aws.backend(&["put-lock", "production/terraform.tfstate", "priya@laptop"]);
        let id = app.start_run("production", &meera, "plan").await;
        let run = app.wait_for(id, RunStatus::Errored).await;
        let error = run.error.as_deref().unwrap();
        assert!(error.contains("The state is locked: priya@laptop holds the lock (Apply"), "{error}");
        assert!(error.contains(info["ID"].as_str().unwrap()), "names the lock: {error}");
        assert!(app.log(id).await.contains("Error acquiring the state lock"), "terraform's own words are in the log");
        app.stop().await;
    }

    async fn two_environments_apply_at_once_each_in_its_own_copy_and_state(backend) {
        let (estate, app) = estate_and_app(backend, |_| {}).await;
        let meera = app.token("meera", Role::Operator).await;
        let ravi = app.token("ravi", Role::Approver).await;
        let production = app.start_run("production", &meera, "apply").await;
        let staging = app.start_run("staging", &meera, "apply").await;
        app.wait_for(production, RunStatus::Planned).await;
        app.wait_for(staging, RunStatus::Planned).await;
        app.post_json(&format!("/api/v1/runs/{production}/approve"), &ravi, json!({})).await;
        app.post_json(&format!("/api/v1/runs/{staging}/approve"), &meera, json!({})).await;
        let (p, s) = (app.wait_for(production, RunStatus::Applied).await, app.wait_for(staging, RunStatus::Applied).await);
        assert_eq!(p.commit, s.commit, "both at the branch's head");
        assert_eq!(estate.state("production/terraform.tfstate")["outputs"]["code_version"]["value"], "1");
        assert_eq!(estate.state("staging/terraform.tfstate")["outputs"]["release"]["value"], "staging-1");
        let staging_log = app.log(staging).await;
        assert!(staging_log.contains("Variables: no plain variables in the configuration; no sensitive variables (zelly/terraform/staging does not exist)"), "{staging_log}");
        app.stop().await;
    }

    async fn a_saved_plan_made_stale_outside_the_control_plane_is_refused_by_terraform(backend) {
        let (estate, app) = estate_and_app(backend, |_| {}).await;
        let meera = app.token("meera", Role::Operator).await;
        let ravi = app.token("ravi", Role::Approver).await;
        let id = app.start_run("production", &meera, "apply").await;
        app.wait_for(id, RunStatus::Planned).await;
        // Someone applies from a laptop meanwhile.
        let laptop = tempfile::tempdir().unwrap();
        let checkout = laptop.path().join("infra");
        estate.terraform_by_hand("terraform", &["version"], &checkout);
        std::fs::write(checkout.join("terraform/terraform.tfvars.json"), production_variables(CLOUDFLARE_TOKEN).to_string()).unwrap();
        for args in [&["init", "-input=false"][..], &["apply", "-input=false", "-auto-approve", "-var", "fastify_nova_tasks=4"][..]] {
            let out = estate.terraform_by_hand("terraform", args, &checkout);
            assert!(out.status.success(), "terraform {args:?}: {}", String::from_utf8_lossy(&out.stdout));
        }
        app.post_json(&format!("/api/v1/runs/{id}/approve"), &ravi, json!({})).await;
        let run = app.wait_for(id, RunStatus::Errored).await;
        assert!(run.error.as_deref().unwrap().starts_with("The saved plan is stale"), "{run:?}");
        assert_eq!(estate.state("production/terraform.tfstate")["outputs"]["fastify_nova_tasks"]["value"], 4, "nothing of the stale plan was applied");
        app.stop().await;
    }
}
