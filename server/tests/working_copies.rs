//! Where a run's code comes from and what its working copy holds, with the fake terraform of
//! tests/fixtures (it records what it saw): a git checkout read at its committed state, a
//! mirror of `repo_url` fetched before each run, a plain directory copied; refs resolved once;
//! the variables file, the provider cache and the dependency lock file; copies removed.

use crate::common;

use app::model::run::{Run, RunStatus};
use app::model::Role;
use common::repo::GitRepo;
use common::{change, Backend, TestApp};
use serde_json::{json, Value};
use std::path::Path;
use zelly_control::db::testing::Bind;
use std::time::{Duration, Instant};

/// The fixture infra repository as a git repository in `dir`, each root's scenario creating
/// `aws_instance.<marker>` so a plan shows which version of the code it ran on.
fn infra_repo(dir: &Path, marker: &str) -> GitRepo {
    common::copy_dir(&common::fixtures().join("infra"), dir);
    std::fs::write(dir.join(".gitignore"), ".terraform-fake/\n").unwrap();
    for root in ["terraform", "terraform/environments/staging"] {
        set_marker(dir, root, marker);
    }
    GitRepo::init(dir, "Infra as it stands")
}

fn set_marker(dir: &Path, root: &str, marker: &str) {
    let scenario = json!({ "plan_seconds": 0.05, "apply_seconds": 0.05, "changes": [change(&format!("aws_instance.{marker}"), &["create"])] });
    common::scenario_file(&dir.join(root), &scenario);
}

fn planned_addresses(run: &Run) -> Vec<String> {
    run.plan.as_ref().expect("the run has a plan").resources.iter().map(|r| r.address.clone()).collect()
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn count_runs(app: &TestApp, token: &str) -> usize {
    app.runs("production", token).await.len()
}

/// A server reading a git checkout of the fixture infra repository (its commits linked).
async fn checkout_and_app(backend: Backend) -> (tempfile::TempDir, GitRepo, TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let repo = infra_repo(dir.path(), "committed");
    let path = dir.path().to_path_buf();
    let app = TestApp::start_with(backend, |c| {
        c.terraform.infra_dir = path;
        c.terraform.commit_url = Some("https://git.example.com/infra/commit/{sha}".into());
    })
    .await;
    (dir, repo, app)
}

for_each_backend! {
    async fn a_checkout_is_read_at_its_branchs_last_commit_never_its_uncommitted_edits(backend) {
        let (_dir, repo, app) = checkout_and_app(backend).await;
        let meera = app.token("meera", Role::Operator).await;
        // Edited on disk, not committed: the run must not see it.
        set_marker(&repo.dir, "terraform", "uncommitted");
        std::fs::write(repo.dir.join("terraform/untracked.tf"), "# not committed").unwrap();
        let id = app.start_run("production", &meera, "plan").await;
        let run = app.wait_for(id, RunStatus::PlannedAndFinished).await;
        assert_eq!(planned_addresses(&run), ["aws_instance.committed"]);
        assert_eq!((run.commit.as_deref(), run.git_ref.as_deref()), (Some(repo.head().as_str()), Some("main")));
        assert_eq!(run.commit_subject.as_deref(), Some("Infra as it stands"));
        assert_eq!(run.commit_author.as_deref(), Some("Priya Nair"));
        let calls = app.invocations("production");
        assert!(calls.iter().all(|c| !c["cwd"].as_str().unwrap().starts_with(&repo.dir.display().to_string())), "never in the checkout itself");
        assert_eq!(repo.git(&["status", "--porcelain"]).lines().count(), 2, "the checkout's edits are left as they were");
        app.stop().await;
    }

    async fn a_run_names_a_branch_a_tag_or_a_commit_and_plans_exactly_that(backend) {
        let (_dir, repo, app) = checkout_and_app(backend).await;
        let meera = app.token("meera", Role::Operator).await;
        let first = repo.head();
        repo.git(&["tag", "v1.0"]);
        repo.git(&["checkout", "--quiet", "-b", "feature/nova"]);
        set_marker(&repo.dir, "terraform", "feature");
        let feature = repo.commit("Nova on its own branch", &[]);
        repo.git(&["checkout", "--quiet", "main"]);
        set_marker(&repo.dir, "terraform", "main_head");
        let head = repo.commit("Main moves on", &[]);

        for (asked, commit, marker) in [
            (None, &head, "main_head"),
            (Some("feature/nova"), &feature, "feature"),
            (Some("v1.0"), &first, "committed"),
            (Some(&first[..10]), &first, "committed"),
            (Some(first.as_str()), &first, "committed"),
        ] {
            let res = app.post_json("/api/v1/environments/production/runs", &meera, json!({ "kind": "plan", "ref": asked })).await;
            assert_eq!(res.status(), 201, "{asked:?}");
            let created: Value = res.json().await.unwrap();
            assert_eq!(created["commit"].as_str(), Some(commit.as_str()), "{asked:?} resolved once, at creation");
            assert_eq!(created["ref"].as_str(), Some(asked.unwrap_or("main")));
            let run = app.wait_for(created["id"].as_i64().unwrap(), RunStatus::PlannedAndFinished).await;
            assert_eq!(planned_addresses(&run), [format!("aws_instance.{marker}")], "{asked:?}");
        }

        let runs = count_runs(&app, &meera).await;
        for (asked, says) in [
            ("no-such-branch", "is not a branch, tag or commit"),
            ("--upload-pack=touch /tmp/x", "may use only"),
            ("main..feature", "not a valid git ref"),
            ("HEAD~1", "may use only"),
            (&"f".repeat(40), "is not a branch, tag or commit"),
        ] {
            let res = app.post_json("/api/v1/environments/production/runs", &meera, json!({ "kind": "plan", "ref": asked })).await;
            assert_eq!(res.status(), 422, "{asked}");
            let error: Value = res.json().await.unwrap();
            assert!(error["message"].as_str().unwrap().contains(says), "{asked}: {error}");
        }
        assert_eq!(count_runs(&app, &meera).await, runs, "refused refs create nothing");

        // The page shows the commit, linked, with its subject and author; the form takes a ref.
        // Run 3 asked for the tag.
        let page = app.get("/runs/3", Some(&meera)).await.text().await.unwrap();
        assert!(page.contains(&format!("https://git.example.com/infra/commit/{first}")) && page.contains(&first[..7]), "linked short commit");
        assert!(page.contains("Infra as it stands") && page.contains("Priya Nair") && page.contains("v1.0"), "subject, author, ref");
        let runs_page = app.get("/environments/production/runs", Some(&meera)).await.text().await.unwrap();
        assert!(runs_page.contains(r#"name="ref""#) && runs_page.contains("the latest commit of main"));
        app.stop().await;
    }

    async fn working_copies_are_removed_when_runs_end(backend) {
        let (_dir, repo, app) = checkout_and_app(backend).await;
        let meera = app.token("meera", Role::Operator).await;
        let plan = app.start_run("staging", &meera, "apply").await;
        app.wait_for(plan, RunStatus::Planned).await;
        app.post_json(&format!("/api/v1/runs/{plan}/approve"), &meera, json!({})).await;
        app.wait_for(plan, RunStatus::Applied).await;
        let failed = {
            set_marker(&repo.dir, "terraform/environments/staging", "x");
            let mut scenario: Value = serde_json::from_str(&std::fs::read_to_string(repo.dir.join("terraform/environments/staging/fake-terraform.json")).unwrap()).unwrap();
            scenario["fail"] = json!("plan");
            std::fs::write(repo.dir.join("terraform/environments/staging/fake-terraform.json"), scenario.to_string()).unwrap();
            repo.commit("A plan that fails", &[]);
            app.start_run("staging", &meera, "plan").await
        };
        app.wait_for(failed, RunStatus::Errored).await;
        let work = app.config.server.data_dir.join("work");
        assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0, "no copy outlives its run, failed ones included");
        let cwds: Vec<String> = app.invocations("staging").iter().map(|c| c["cwd"].as_str().unwrap().to_string()).collect();
        assert!(cwds.iter().any(|c| c.contains(&format!("/work/{plan}-plan/"))) && cwds.iter().any(|c| c.contains(&format!("/work/{plan}-apply/"))), "{cwds:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_mirror_of_repo_url_is_fetched_before_each_run() {
    let remote = tempfile::tempdir().unwrap();
    let repo = infra_repo(remote.path(), "first");
    let url = repo.url();
    let app = TestApp::start_with(Backend::Sqlite, |c| c.terraform.repo_url = Some(zelly_control::config::RepoUrl::new(url))).await;
    let meera = app.token("meera", Role::Operator).await;
    let first = app.start_run("staging", &meera, "plan").await;
    assert_eq!(planned_addresses(&app.wait_for(first, RunStatus::PlannedAndFinished).await), ["aws_instance.first"]);
    assert!(app.config.server.data_dir.join("repository.git/HEAD").exists(), "a bare mirror in the data directory");

    // Someone pushes: the next run plans it, no restart.
    set_marker(&repo.dir, "terraform/environments/staging", "pushed");
    let pushed = repo.commit("Pushed after the server started", &[]);
    let second = app.start_run("staging", &meera, "plan").await;
    let run = app.wait_for(second, RunStatus::PlannedAndFinished).await;
    assert_eq!((run.commit.as_deref(), planned_addresses(&run)), (Some(pushed.as_str()), vec!["aws_instance.pushed".to_string()]));
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_repository_creates_no_run_and_says_why() {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.terraform.repo_url = Some(zelly_control::config::RepoUrl::new("https://ci:hunter2-token@127.0.0.1:9/zelly/infra.git"));
    })
    .await;
    let meera = app.token("meera", Role::Operator).await;
    let res = app.post_json("/api/v1/environments/staging/runs", &meera, json!({ "kind": "plan" })).await;
    assert_eq!(res.status(), 503);
    let error: Value = res.json().await.unwrap();
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("git fetch failed for the infra repository https://ci:redacted@127.0.0.1:9/zelly/infra.git"), "{message}");
    assert!(!message.contains("hunter2"), "the password never shows: {message}");
    assert_eq!(count_runs(&app, &meera).await, 0);
    app.stop().await;
}

on_both_backends! {
    async fn a_plain_directory_is_copied_for_each_run_and_records_no_commit(app) {
        let meera = app.token("meera", Role::Operator).await;
        let id = app.start_run("production", &meera, "plan").await;
        let run = app.wait_for(id, RunStatus::PlannedAndFinished).await;
        assert!(run.commit.is_none() && run.git_ref.is_none(), "{run:?}");
        let page = app.get(&format!("/runs/{id}"), Some(&meera)).await.text().await.unwrap();
        assert!(page.contains("Plain directory: no commit is recorded"), "the run page says so");
        let res = app.post_json("/api/v1/environments/production/runs", &meera, json!({ "kind": "plan", "ref": "main" })).await;
        assert_eq!(res.status(), 422);
        assert!(res.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("plain directory"));
        let runs_page = app.get("/environments/production/runs", Some(&meera)).await.text().await.unwrap();
        assert!(!runs_page.contains(r#"name="ref""#), "no ref field for a plain directory");
    }

    async fn a_saved_plan_that_does_not_decrypt_fails_its_apply_and_applies_nothing(app) {
        let meera = app.token("meera", Role::Operator).await;
        let id = app.start_run("staging", &meera, "apply").await;
        app.wait_for(id, RunStatus::Planned).await;
        let sql = "UPDATE run_artifacts SET content = $1 WHERE run_id = $2 AND name = 'plan.tfplan'";
        let mut sealed = app.db.artifact(id, "plan.tfplan").await.unwrap().unwrap();
        *sealed.last_mut().unwrap() ^= 0x55;
        app.db.execute_sql(sql, &[Bind::Bytes(sealed), Bind::Int(id)]).await.unwrap();
        app.post_json(&format!("/api/v1/runs/{id}/approve"), &meera, json!({})).await;
        let run = app.wait_for(id, RunStatus::Errored).await;
        let error = run.error.as_deref().unwrap();
        assert!(error.contains("The saved plan could not be decrypted") && error.contains("altered or damaged"), "{error}");
        assert!(!app.invocations("staging").iter().any(|c| c["args"][0] == "apply"), "terraform apply never ran");
    }
}

#[tokio::test]
async fn leftover_working_copies_are_removed_at_start() {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        std::fs::create_dir_all(c.server.data_dir.join("work/777-apply/tree/terraform")).unwrap();
        std::fs::write(c.server.data_dir.join("work/777-apply/tree/terraform/zelly.auto.tfvars.json"), "{}").unwrap();
    })
    .await;
    let leftover = app.config.server.data_dir.join("work/777-apply");
    until("the leftover copy to go", || !leftover.exists()).await;
    app.stop().await;
}

// The variables, the provider cache and the lock file, with secrets in the AWS emulator.
for_each_backend! {
    async fn variables_reach_terraform_in_a_private_file_with_a_shared_provider_cache_and_the_plans_lock_file(backend) {
        let aws = common::Emulator::with_state_backend();
        aws.put_secret("ap-south-1", "zelly/terraform/production", &json!({ "cloudflare_api_token": "cf-fake-token-1234" }).to_string()).await;
        let app = TestApp::start_with(backend, |c| {
            common::use_emulator(c, &aws);
            let production = c.environments.get_mut("production").unwrap();
            production.terraform.variables.insert("fastify_nova_tasks".into(), json!(3));
        })
        .await;
        let (meera, ravi) = (app.token("meera", Role::Operator).await, app.token("ravi", Role::Approver).await);
        let id = app.start_run("production", &meera, "apply").await;
        app.wait_for(id, RunStatus::Planned).await;
        app.post_json(&format!("/api/v1/runs/{id}/approve"), &ravi, json!({})).await;
        app.wait_for(id, RunStatus::Applied).await;

        let calls = app.invocations("production");
        let (plan_calls, apply_calls): (Vec<&Value>, Vec<&Value>) = calls.iter().partition(|c| c["cwd"].as_str().unwrap().contains("-plan/"));
        let plan = plan_calls.iter().find(|c| c["args"][0] == "plan").unwrap();
        assert_eq!(
            plan["tfvars"],
            json!({ "zelly.auto.tfvars.json": { "mode": "0o600", "variables": ["cloudflare_api_token", "fastify_nova_tasks"] } }),
            "plain and sensitive variables in one file only the server can read"
        );
        let cache = app.config.server.data_dir.join("plugin-cache").display().to_string();
        assert!(calls.iter().all(|c| c["plugin_cache"] == cache.as_str()), "every step shares one provider cache");
        assert!(calls.iter().all(|c| c["plugin_cache_without_checksums"] == "true"), "and uses it even when the commit has no lock file");
        let apply_init = apply_calls.iter().find(|c| c["args"][0] == "init").unwrap();
        assert!(plan["lock_file"].as_str().unwrap().contains("fake dependency lock"));
        assert_eq!(apply_init["lock_file"], plan["lock_file"], "the apply starts from the plan's lock file");
        assert!(apply_init["args"].as_array().unwrap().iter().any(|a| a == "-lockfile=readonly"), "and keeps it as it is");
        let log = app.log(id).await;
        assert!(log.contains("Variables: 1 plain from the configuration (fastify_nova_tasks); 1 sensitive from zelly/terraform/production"), "{log}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_variables_secret_that_cannot_be_read_fails_the_run_naming_it_never_its_content() {
    let aws = common::Emulator::with_state_backend();
    aws.put_secret("ap-southeast-1", "zelly/terraform/staging", "not json: hunter2-secret").await;
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        common::use_emulator(c, &aws);
        c.environments.get_mut("production").unwrap().terraform.variables_secret = Some("zelly/terraform/prod-vars".into());
    })
    .await;
    let meera = app.token("meera", Role::Operator).await;
    let configured = app.start_run("production", &meera, "plan").await;
    let run = app.wait_for(configured, RunStatus::Errored).await;
    let error = run.error.as_deref().unwrap();
    assert!(error.contains("the variables secret zelly/terraform/prod-vars") && error.contains("does not exist"), "{run:?}");
    let garbled = app.start_run("staging", &meera, "plan").await;
    let run = app.wait_for(garbled, RunStatus::Errored).await;
    let error = run.error.as_deref().unwrap();
    assert!(error.contains("zelly/terraform/staging is not a JSON object of variables"), "{error}");
    assert!(!error.contains("hunter2") && !app.log(garbled).await.contains("hunter2"), "never the content");
    assert!(app.invocations("staging").is_empty(), "terraform never ran");
    let page: Value = app.get("/api/v1/environments/production/variables", Some(&meera)).await.json().await.unwrap();
    assert_eq!(page["secret_required"], true);
    assert!(page["secret_note"].as_str().unwrap().contains("does not exist"), "{page}");
    app.stop().await;
}
