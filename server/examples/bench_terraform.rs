//! A run's wall time with the real terraform, side by side with the same terraform commands run
//! by hand in a prepared directory, on the estate of tests/fixtures/estate (S3 backend and lock
//! table in the seeded AWS emulator, sensitive variables in its Secrets Manager).
//!
//! Each round commits a new production code version (so there is always something to apply),
//! then:
//! - the control plane: `POST …/runs` of that commit → `planned` (fetch, working copy,
//!   variables, init, plan, show, pricing, sealing), approve → `applied` (a fresh copy, init
//!   with the saved lock file, apply), as a client polling the API sees it;
//! - by hand, in a checkout with `terraform.tfvars.json` already written and the commit checked
//!   out: `init`, `plan -out`, `show -json`, `apply` of the plan (against a state of its own).
//!
//! terraform runs through a small wrapper on both sides that records each command's start and
//! end, so each step is timed the same way. Run:
//! `cargo run --release --example bench_terraform -- [--rounds N] [--postgres URL]`.

#[path = "support/mod.rs"]
mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::median;

const WRAPPER: &str = r#"#!/bin/sh
# terraform, timed: appends "<command> <start ns> <end ns>" to $BENCH_STEPS.
start=$(date +%s%N)
terraform "$@"
status=$?
echo "$1 $start $(date +%s%N)" >> "$BENCH_STEPS"
exit $status
"#;

const VARIABLES: &str = r#"{"cloudflare_api_token": "cf-bench-token-0123456789", "bastion_ssh_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench ops@bench"}"#;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@zelly.example")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@zelly.example")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Seconds each command took, by command, from a wrapper's record.
fn steps(path: &Path) -> Vec<(String, f64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let (start, end): (i128, i128) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
            (parts[0].to_string(), (end - start) as f64 / 1e9)
        })
        .collect()
}

fn of(steps: &[(String, f64)], command: &str) -> Vec<f64> {
    steps.iter().filter(|(c, _)| c == command).map(|(_, s)| *s).collect()
}

struct Api {
    client: reqwest::Client,
    url: String,
}

impl Api {
    async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        let res = self.client.post(format!("{}{path}", self.url)).bearer_auth(token).json(&body).send().await.unwrap();
        assert!(res.status().is_success(), "POST {path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// Polls (every 5 ms) until run `id` is `status`.
    async fn until(&self, id: i64, token: &str, status: &str) {
        loop {
            let run: Value = self.client.get(format!("{}/api/v1/runs/{id}", self.url)).bearer_auth(token).send().await.unwrap().json().await.unwrap();
            if run["status"] == status {
                return;
            }
            assert!(!["errored", "canceled", "expired"].contains(&run["status"].as_str().unwrap()), "run {id}: {run:#}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.iter().position(|a| a == "--rounds").map(|i| args[i + 1].parse().unwrap()).unwrap_or(10);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let database = match args.iter().position(|a| a == "--postgres") {
        Some(i) => args[i + 1].clone(),
        None => format!("sqlite://{}/bench.db?mode=rwc", dir.display()),
    };
    let (_aws, aws) = support::emulator_with(&["--state-backend"]);
    let cli_config = dir.join("empty.tfrc");
    std::fs::write(&cli_config, "").unwrap();
    let wrapper = dir.join("terraform-timed");
    std::fs::write(&wrapper, WRAPPER).unwrap();
    Command::new("chmod").arg("+x").arg(&wrapper).status().unwrap();

    // The infra repository, and the production variables secret.
    let repo = dir.join("infra");
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/estate"), &repo);
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    git(&repo, &["add", "--all"]);
    git(&repo, &["commit", "--quiet", "--message", "estate"]);
    let python = std::env::var("ZELLY_TEST_PYTHON").unwrap_or_else(|_| format!("{}/.cache/zelly-venv/bin/python", std::env::var("HOME").unwrap()));
    let put = "import sys; sys.path.insert(0, sys.argv[1]); from seed import client\n\
               client('secretsmanager', sys.argv[2], 'ap-south-1').create_secret(Name='zelly/terraform/production', SecretString=sys.argv[3])";
    let aws_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/aws");
    assert!(Command::new(&python).args(["-c", put]).arg(&aws_dir).arg(&aws).arg(VARIABLES).status().unwrap().success());

    // The control plane, on a release build, with the same wrapper.
    let server_dir = dir.join("server");
    std::fs::create_dir_all(&server_dir).unwrap();
    let configure = |cmd: &mut Command| {
        cmd.env("DATABASE_URL", &database)
            .env("ZELLY_TERRAFORM__BIN", &wrapper)
            .env("ZELLY_TERRAFORM__REPO_URL", format!("file://{}", repo.display()))
            .env("ZELLY_ENVIRONMENTS__PRODUCTION__TERRAFORM__VARIABLES__FASTIFY_NOVA_TASKS", "2")
            // Production applies straight away: the comparison is of terraform, not of promotion.
            .env("ZELLY_ENVIRONMENTS__PRODUCTION__PROMOTE_FROM", "")
            .env("TF_CLI_CONFIG_FILE", &cli_config)
            .env("BENCH_STEPS", dir.join("steps-control-plane"));
    };
    let mut token_cmd = support::zelly(&server_dir, &aws);
    configure(&mut token_cmd);
    let token = |cmd: &mut Command, user: &str, role: &str| {
        let out = cmd.args(["token", "create", "--user", user, "--role", role]).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let meera = token(&mut token_cmd, "meera", "operator");
    let mut token_cmd = support::zelly(&server_dir, &aws);
    configure(&mut token_cmd);
    let ravi = token(&mut token_cmd, "ravi", "approver");
    let mut serve = support::zelly(&server_dir, &aws);
    configure(&mut serve);
    let mut child = serve.args(["serve", "--listen", "127.0.0.1:0"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let url = support::first_line(&mut child);
    let _server = support::Killed(child);
    let api = Api { client: reqwest::Client::new(), url };

    // By hand: a checkout with the variables written, its own state key.
    let hand = dir.join("hand");
    git(dir, &["clone", "--quiet", &repo.display().to_string(), "hand"]);
    let root = hand.join("terraform");
    std::fs::write(root.join("terraform.tfvars.json"), VARIABLES.replace('}', r#", "fastify_nova_tasks": 2}"#)).unwrap();
    let by_hand = |args: &[&str]| {
        let out = Command::new(&wrapper)
            .args(args)
            .current_dir(&root)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_CLI_CONFIG_FILE", &cli_config)
            .env("AWS_ENDPOINT_URL", &aws)
            .env("AWS_ACCESS_KEY_ID", "emulator")
            .env("AWS_SECRET_ACCESS_KEY", "emulator")
            .env("AWS_REGION", "ap-south-1")
            .env("BENCH_STEPS", dir.join("steps-by-hand"))
            .output()
            .unwrap();
        assert!(out.status.success() || out.status.code() == Some(2), "terraform {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };

    let (mut cp_plan, mut cp_apply, mut hand_plan, mut hand_apply) = (vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        let version = format!("bench-{round}");
        std::fs::write(repo.join("terraform/version.tf"), format!("locals {{\n  code_version = \"{version}\"\n}}\n")).unwrap();
        git(&repo, &["commit", "--quiet", "--all", "--message", &version]);
        let sha = git(&repo, &["rev-parse", "HEAD"]);

        let started = Instant::now();
        let run = api.post("/api/v1/environments/production/runs", &meera, json!({ "kind": "apply", "ref": sha })).await;
        let id = run["id"].as_i64().unwrap();
        api.until(id, &meera, "planned").await;
        cp_plan.push(started.elapsed().as_secs_f64());
        let approved = Instant::now();
        // Each round replaces the deploy resource: production asks for its name to be typed.
        api.post(&format!("/api/v1/runs/{id}/approve"), &ravi, json!({ "confirm": "production" })).await;
        api.until(id, &meera, "applied").await;
        cp_apply.push(approved.elapsed().as_secs_f64());

        git(&hand, &["fetch", "--quiet", "origin"]);
        git(&hand, &["checkout", "--quiet", &sha]);
        let started = Instant::now();
        by_hand(&["init", "-input=false", "-backend-config=key=by-hand/terraform.tfstate", "-reconfigure"]);
        by_hand(&["plan", "-input=false", "-out=hand.tfplan", "-detailed-exitcode"]);
        let show = by_hand(&["show", "-json", "hand.tfplan"]);
        assert!(show.starts_with(b"{"));
        hand_plan.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        by_hand(&["apply", "-input=false", "hand.tfplan"]);
        hand_apply.push(started.elapsed().as_secs_f64());
    }

    let (cp, hand) = (steps(&dir.join("steps-control-plane")), steps(&dir.join("steps-by-hand")));
    println!("database: {}; {rounds} rounds; medians in seconds", if database.starts_with("sqlite") { "sqlite" } else { "postgres" });
    println!("{:<34} {:>14} {:>10}", "step", "control plane", "by hand");
    for command in ["init", "plan", "show", "apply"] {
        let (c, h) = (of(&cp, command), of(&hand, command));
        let note = if command == "init" { format!(" (×{} per run)", c.len() / rounds.max(1)) } else { String::new() };
        println!("{:<34} {:>14.3} {:>10.3}{note}", format!("terraform {command}"), median(c), median(h));
    }
    let report = |what: &str, ours: &[f64], theirs: &[f64]| {
        let (o, t) = (median(ours.to_vec()), median(theirs.to_vec()));
        let allowed = (t * 0.15).max(0.5);
        println!(
            "{what:<34} {o:>14.3} {t:>10.3}   +{:.3} s ({:+.0}%), allowed +{allowed:.3} s: {}",
            o - t,
            (o / t - 1.0) * 100.0,
            if o - t <= allowed { "met" } else { "NOT met" }
        );
    };
    report("queued → planned / init+plan+show", &cp_plan, &hand_plan);
    report("approved → applied / apply", &cp_apply, &hand_apply);
    let total = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<_>>();
    report("whole run", &total(&cp_plan, &cp_apply), &total(&hand_plan, &hand_apply));
}
