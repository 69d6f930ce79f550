//! Crash safety with the real binary: kill the server (SIGKILL) while one environment plans and
//! the other applies, start it again, and check nothing is lost and nothing is applied twice.

use crate::common;

use app::model::run::{Run, RunStatus};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use common::until;

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn zelly(db: &common::TestDatabase, infra: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zelly-control"));
    cmd.current_dir(db.dir.path())
        .env("DATABASE_URL", &db.url)
        .env("ZELLY_SERVER__DATA_DIR", db.dir.path())
        .env("ZELLY_TERRAFORM__BIN", common::fixtures().join("fake-terraform"))
        .env("ZELLY_TERRAFORM__INFRA_DIR", infra)
        .env("ZELLY_RUNS__LEASE_SECONDS", "2")
        .env("ZELLY_AWS__ENABLED", "false")
        .env("RUST_LOG", "warn");
    cmd
}

fn start(db: &common::TestDatabase, infra: &std::path::Path) -> Server {
    let mut child = zelly(db, infra).args(["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    Server { url: line.trim().rsplit(' ').next().unwrap().to_string(), child }
}

fn scenario(infra: &std::path::Path, root: &str, value: Value) {
    common::scenario_file(&infra.join(root), &value);
}

fn calls(infra: &std::path::Path, root: &str, command: &str) -> usize {
    std::fs::read_to_string(infra.join(root).join(".terraform-fake/invocations.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).unwrap()["args"][0] == command)
        .count()
}

/// The process id of the latest `terraform <command>` in `root`.
fn pid_of(infra: &std::path::Path, root: &str, command: &str) -> i32 {
    let calls = std::fs::read_to_string(infra.join(root).join(".terraform-fake/invocations.jsonl")).unwrap();
    let call: Value = calls.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).rfind(|c| c["args"][0] == command).unwrap();
    call["pid"].as_i64().unwrap() as i32
}

/// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

async fn run(client: &reqwest::Client, server: &Server, token: &str, id: i64) -> Run {
    client.get(format!("{}/api/v1/runs/{id}", server.url)).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

/// A database, a copy of the fixture infra repo with a slow production plan and a slow staging
/// apply, and an operator's token.
async fn slow_runs(backend: common::Backend, seconds: f64) -> (common::TestDatabase, std::path::PathBuf, String, Value) {
    let db = common::TestDatabase::new(backend).await;
    let infra = db.dir.path().join("infra");
    common::copy_dir(&common::fixtures().join("infra"), &infra);
    let change = json!([common::update_change("aws_instance.a")]);
    scenario(&infra, "terraform", json!({ "plan_seconds": seconds, "extra_lines": 8, "changes": change }));
    scenario(&infra, "terraform/environments/staging", json!({ "plan_seconds": 0.1, "apply_seconds": seconds, "changes": change }));
    let token = String::from_utf8(zelly(&db, &infra).args(["token", "create", "--user", "meera", "--role", "operator"]).output().unwrap().stdout).unwrap();
    (db, infra, token.trim().to_string(), change)
}

async fn killed_mid_run(backend: common::Backend) {
    // Long enough that only the server's death can end these terraforms within the wait below.
    let (db, infra, token, change) = slow_runs(backend, 600.0).await;
    let client = reqwest::Client::new();

    let server = start(&db, &infra);
    let create = |env: &str, kind: &str| {
        client.post(format!("{}/api/v1/environments/{env}/runs", server.url)).bearer_auth(&token).json(&json!({ "kind": kind })).send()
    };
    let applying: Value = create("staging", "apply").await.unwrap().json().await.unwrap();
    let applying = applying["id"].as_i64().unwrap();
    until("the staging plan", async || run(&client, &server, &token, applying).await.status == RunStatus::Planned).await;
    client.post(format!("{}/api/v1/runs/{applying}/approve", server.url)).bearer_auth(&token).send().await.unwrap();
    let planning: Value = create("production", "plan").await.unwrap().json().await.unwrap();
    let planning = planning["id"].as_i64().unwrap();
    until("terraform apply to start", async || calls(&infra, "terraform/environments/staging", "apply") == 1).await;
    until("terraform plan to start", async || calls(&infra, "terraform", "plan") == 1).await;

    let running = [pid_of(&infra, "terraform/environments/staging", "apply"), pid_of(&infra, "terraform", "plan")];
    drop(server); // SIGKILL: no cleanup of any kind.
    // Terraform does not outlive the server that supervised it (PR_SET_PDEATHSIG).
    until("terraform to die with the server", async || running.iter().all(|pid| !alive(*pid))).await;
    scenario(&infra, "terraform", json!({ "plan_seconds": 0.1, "changes": change }));
    let server = start(&db, &infra);

    until("the apply to be errored", async || run(&client, &server, &token, applying).await.status == RunStatus::Errored).await;
    let errored = run(&client, &server, &token, applying).await;
    let error = errored.error.as_deref().unwrap();
    assert!(error.contains("will not be retried") && error.contains("state page"), "{error}");
    until("the plan to be redone", async || run(&client, &server, &token, planning).await.status == RunStatus::PlannedAndFinished).await;
    assert_eq!(calls(&infra, "terraform", "plan"), 2, "the interrupted plan ran again");
    assert_eq!(calls(&infra, "terraform/environments/staging", "apply"), 1, "the apply was never repeated");

    // Nothing lost, and the queue goes on.
    scenario(&infra, "terraform/environments/staging", json!({ "changes": [] }));
    let next: Value = client.post(format!("{}/api/v1/environments/staging/runs", server.url)).bearer_auth(&token).json(&json!({ "kind": "plan" })).send().await.unwrap().json().await.unwrap();
    let next = next["id"].as_i64().unwrap();
    until("the next run", async || run(&client, &server, &token, next).await.status == RunStatus::NoChanges).await;
}

#[tokio::test]
async fn a_server_killed_mid_run_errors_the_apply_and_redoes_the_plan_on_sqlite() {
    killed_mid_run(common::Backend::Sqlite).await;
}

#[tokio::test]
async fn a_server_killed_mid_run_errors_the_apply_and_redoes_the_plan_on_postgres() {
    killed_mid_run(common::Backend::Postgres).await;
}

async fn shut_down_mid_run(backend: common::Backend) {
    let (db, infra, token, change) = slow_runs(backend, 30.0).await;
    let client = reqwest::Client::new();

    let mut server = start(&db, &infra);
    let create = |url: String, env: &'static str, kind: &'static str| {
        client.post(format!("{url}/api/v1/environments/{env}/runs")).bearer_auth(&token).json(&json!({ "kind": kind })).send()
    };
    let applying: Value = create(server.url.clone(), "staging", "apply").await.unwrap().json().await.unwrap();
    let applying = applying["id"].as_i64().unwrap();
    until("the staging plan", async || run(&client, &server, &token, applying).await.status == RunStatus::Planned).await;
    client.post(format!("{}/api/v1/runs/{applying}/approve", server.url)).bearer_auth(&token).send().await.unwrap();
    let planning: Value = create(server.url.clone(), "production", "plan").await.unwrap().json().await.unwrap();
    let planning = planning["id"].as_i64().unwrap();
    until("terraform apply to start", async || calls(&infra, "terraform/environments/staging", "apply") == 1).await;
    until("terraform plan to start", async || calls(&infra, "terraform", "plan") == 1).await;

    // SAFETY: signalling our own child process.
    unsafe { libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM) };
    let status = server.child.wait().unwrap();
    assert!(status.success(), "the server exits cleanly after stopping terraform: {status:?}");

    scenario(&infra, "terraform", json!({ "plan_seconds": 0.1, "changes": change }));
    let server = start(&db, &infra);
    let apply = run(&client, &server, &token, applying).await;
    assert_eq!(apply.status, RunStatus::Canceled, "{apply:?}");
    assert!(apply.error.as_deref().unwrap().contains("shut down during this apply"), "{apply:?}");
    let log = client.get(format!("{}/api/v1/runs/{applying}/log", server.url)).bearer_auth(&token).send().await.unwrap().text().await.unwrap();
    assert!(log.contains("Interrupt received"), "terraform was interrupted, not killed");
    // The interrupted plan went back to the queue and runs again after the restart.
    until("the plan to run again", async || run(&client, &server, &token, planning).await.status == RunStatus::PlannedAndFinished).await;
    assert_eq!(calls(&infra, "terraform/environments/staging", "apply"), 1);
}

#[tokio::test]
async fn a_shutdown_interrupts_terraform_requeues_plans_and_cancels_applies_on_sqlite() {
    shut_down_mid_run(common::Backend::Sqlite).await;
}

#[tokio::test]
async fn a_shutdown_interrupts_terraform_requeues_plans_and_cancels_applies_on_postgres() {
    shut_down_mid_run(common::Backend::Postgres).await;
}
