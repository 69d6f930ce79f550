//! The workers: claim a run, hold it under a lease while terraform runs, record the outcome.
//! And the sweeper: expire stale plans, and find runs whose worker died (lease run out) — a
//! planning run goes back to the queue, an applying run is errored and never applied again.

use super::logs::LogWriter;
use super::terraform::{StepEnd, Stop};
use super::{plan, Runs};
use crate::db::audit::NewAuditEvent;
use crate::db::runs::{PlanOutcome, RunRow};
use app::model::run::{RunKind, RunStatus};
use app::model::Environment;
use chrono::Utc;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often a worker renews its lease and looks for a cancel request while terraform runs.
const HEARTBEAT: Duration = Duration::from_millis(500);
const SWEEP_EVERY: Duration = Duration::from_secs(2);

pub const APPLY_INTERRUPTED: &str = "The control plane lost this run while terraform apply was running (its worker \
stopped or crashed). The apply may have partly completed, and it will not be retried automatically. Check the \
environment before starting a new run. If terraform left the state lock held, release it from the environment's \
root directory with `terraform force-unlock <LOCK_ID>` once you are sure no apply is running.";

pub const APPLY_SHUT_DOWN: &str = "The control plane shut down during this apply: terraform was interrupted \
(SIGINT) and stopped. Some changes may have been applied. Check the environment, then start a new run.";

/// Stops the workers and waits for running terraform to stop (SIGINT, then SIGKILL after the
/// grace period), so a restart never leaves a terraform behind.
pub async fn stop(runs: &Runs, workers: Workers) {
    runs.shut_down();
    workers.sweeper.abort();
    let wait = Duration::from_secs(runs.config.runs.cancel_grace_seconds + 10);
    if tokio::time::timeout(wait, futures_util::future::join_all(workers.workers)).await.is_err() {
        tracing::warn!("workers did not stop within {wait:?}");
    }
}

pub struct Workers {
    workers: Vec<JoinHandle<()>>,
    sweeper: JoinHandle<()>,
}

/// Starts `count` workers and the sweeper.
pub fn spawn(runs: Runs, count: u32) -> Workers {
    let workers: Vec<JoinHandle<()>> = (0..count)
        .map(|i| {
            let runs = runs.clone();
            let id = format!("{}-{}-{i}", hostname(), crate::auth::new_secret("")[..8].to_lowercase());
            tokio::spawn(async move { work(runs, id).await })
        })
        .collect();
    Workers { workers, sweeper: tokio::spawn(sweep(runs)) }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "worker".into())
}

async fn work(runs: Runs, worker: String) {
    let mut shutdown = runs.shutting_down();
    loop {
        let notified = runs.wakeup.work().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if *shutdown.borrow() {
            return;
        }
        match next_run(&runs, &worker).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::error!(worker, "worker: {e:#}"),
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(Duration::from_secs(runs.config.runs.poll_seconds)) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Claims and runs one piece of work: an approved apply first, then the next queued plan.
/// False when there was nothing to do.
async fn next_run(runs: &Runs, worker: &str) -> anyhow::Result<bool> {
    let lease = runs.lease_until();
    if let Some(run) = runs.db.claim_approved_run(worker, lease).await? {
        execute(runs, worker, run, Phase::Apply).await;
        return Ok(true);
    }
    if let Some(run) = runs.db.claim_queued_run(worker, lease).await? {
        runs.wakeup.run_changed(run.id).await;
        execute(runs, worker, run, Phase::Plan).await;
        return Ok(true);
    }
    Ok(false)
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Plan,
    Apply,
}

async fn execute(runs: &Runs, worker: &str, run: RunRow, phase: Phase) {
    let id = run.id;
    let (stop_tx, stop_rx) = watch::channel(Stop::No);
    let heartbeat = tokio::spawn(hold(runs.clone(), worker.to_string(), id, stop_tx));
    let log = LogWriter::start(runs.db.clone(), runs.wakeup.clone(), id, run.log_bytes);

    let outcome = match runs.environments.get(&run.environment).cloned() {
        Some(env) => match phase {
            Phase::Plan => plan_phase(runs, &run, &env, &log, stop_rx).await,
            Phase::Apply => apply_phase(runs, &run, &env, &log, stop_rx).await,
        },
        None => Outcome::Failed(format!("The environment {:?} is no longer configured.", run.environment)),
    };
    if let Outcome::Failed(why) = &outcome {
        log.note(&format!("Error: {why}")).await;
    }
    log.finish().await;
    heartbeat.abort();

    let shut_down = *runs.shutting_down().borrow();
    let recorded = match (phase, &outcome) {
        // Interrupted by a shutdown, not by a person: a plan simply runs again later.
        (Phase::Plan, Outcome::Canceled) if shut_down => match runs.db.release_to_queue(&run, worker).await {
            Ok(true) => Ok(crate::db::runs::Transition::Done),
            Ok(false) => runs.db.finish_canceled(&run, worker, None).await,
            Err(e) => Err(e),
        },
        (Phase::Apply, Outcome::Canceled) if shut_down => runs.db.finish_canceled(&run, worker, Some(APPLY_SHUT_DOWN)).await,
        (_, Outcome::Canceled) => runs.db.finish_canceled(&run, worker, None).await,
        (Phase::Plan, Outcome::Planned { summary, cost_diff, plan_file, show_json }) => {
            let status = match (summary.add + summary.change + summary.destroy, run.kind) {
                (0, _) => RunStatus::NoChanges,
                (_, RunKind::Apply) => RunStatus::Planned,
                (_, RunKind::Plan) => RunStatus::PlannedAndFinished,
            };
            let artifacts = vec![("plan.tfplan", plan_file.clone()), ("plan.json", show_json.clone())];
            let outcome = PlanOutcome { status, summary: Some(summary), cost_diff: cost_diff.as_ref(), error: None, artifacts };
            runs.db.finish_plan(&run, worker, outcome).await
        }
        (Phase::Plan, Outcome::NoChanges) => {
            let outcome = PlanOutcome { status: RunStatus::NoChanges, summary: None, cost_diff: None, error: None, artifacts: vec![] };
            runs.db.finish_plan(&run, worker, outcome).await
        }
        (Phase::Plan, Outcome::Failed(why)) => {
            let outcome = PlanOutcome { status: RunStatus::Errored, summary: None, cost_diff: None, error: Some(why), artifacts: vec![] };
            runs.db.finish_plan(&run, worker, outcome).await
        }
        (Phase::Apply, Outcome::Applied) => runs.db.finish_apply(&run, worker, None).await,
        (Phase::Apply, Outcome::Failed(why)) => runs.db.finish_apply(&run, worker, Some(why)).await,
        (Phase::Apply, _) | (Phase::Plan, Outcome::Applied) => unreachable!("phases produce their own outcomes"),
    };
    match recorded {
        Ok(crate::db::runs::Transition::Done) => {}
        Ok(other) => tracing::info!(run = id, "outcome not recorded, the run moved on ({other:?}): force-canceled?"),
        Err(e) => tracing::error!(run = id, "could not record the outcome: {e}"),
    }
    runs.wakeup.run_changed(id).await;
    // The environment may be free now: let the next queued run start.
    runs.wakeup.work_available().await;
}

enum Outcome {
    Planned {
        summary: app::model::run::PlanSummary,
        cost_diff: Option<app::model::cost::CostDiff>,
        plan_file: Vec<u8>,
        show_json: Vec<u8>,
    },
    NoChanges,
    Applied,
    Canceled,
    Failed(String),
}

/// Renews the lease while terraform runs and turns cancel requests (and a shutdown) into stop
/// signals.
async fn hold(runs: Runs, worker: String, run_id: i64, stop: watch::Sender<Stop>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    let mut shutdown = runs.shutting_down();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            stop.send_if_modified(|s| std::mem::replace(s, Stop::Graceful) == Stop::No);
        }
        match runs.db.renew_lease(run_id, &worker, runs.lease_until()).await {
            Ok(Some(None)) => {}
            Ok(Some(Some(_graceful))) => {
                stop.send_if_modified(|s| std::mem::replace(s, Stop::Graceful) == Stop::No);
            }
            // We no longer hold the run: force-canceled. Kill terraform now.
            Ok(None) => {
                let _ = stop.send(Stop::Force);
                return;
            }
            Err(e) => tracing::warn!(run_id, "could not renew the lease: {e}"),
        }
    }
}

fn plan_path(runs: &Runs, run_id: i64) -> PathBuf {
    runs.config.server.data_dir.join("runs").join(run_id.to_string()).join("plan.tfplan")
}

fn stopped(stop: &watch::Receiver<Stop>) -> bool {
    *stop.borrow() != Stop::No
}

/// Runs `terraform <args>` into the log. `Ok(code)` when it exited, `Err(outcome)` to stop.
async fn step(
    runs: &Runs,
    env: &Environment,
    log: &LogWriter,
    stop: &mut watch::Receiver<Stop>,
    args: &[&str],
) -> Result<i32, Outcome> {
    log.note(&format!("$ terraform {}", args.join(" "))).await;
    match runs.terraform.run_logged(env, args, log.sender(), stop).await {
        Ok(_) if stopped(stop) => Err(Outcome::Canceled),
        Ok(StepEnd::Exited(code)) => Ok(code),
        Ok(StepEnd::Killed) => Err(Outcome::Failed(format!("terraform {} was killed.", args[0]))),
        Err(e) => Err(Outcome::Failed(format!("could not start {:?}: {e}", runs.terraform.bin))),
    }
}

async fn prepare(runs: &Runs, env: &Environment, log: &LogWriter, stop: &mut watch::Receiver<Stop>) -> Result<(), Outcome> {
    let dir = runs.terraform.workdir(env);
    if !dir.is_dir() {
        return Err(Outcome::Failed(format!(
            "The root directory {} does not exist (terraform.infra_dir + the environment's terraform.root_dir).",
            dir.display()
        )));
    }
    match step(runs, env, log, stop, &["init", "-input=false"]).await? {
        0 => Ok(()),
        code => Err(Outcome::Failed(format!("terraform init failed (exit code {code})."))),
    }
}

async fn plan_phase(runs: &Runs, run: &RunRow, env: &Environment, log: &LogWriter, mut stop: watch::Receiver<Stop>) -> Outcome {
    if let Some(commit) = runs.terraform.infra_commit().await {
        let _ = runs.db.set_infra_commit(run.id, &commit).await;
        log.note(&format!("Infra repository at commit {commit}")).await;
    }
    if let Err(outcome) = prepare(runs, env, log, &mut stop).await {
        return outcome;
    }
    let path = plan_path(runs, run.id);
    if let Err(e) = std::fs::create_dir_all(path.parent().expect("plan path has a parent")) {
        return Outcome::Failed(format!("could not create {}: {e}", path.display()));
    }
    let out = format!("-out={}", path.display());
    let code = match step(runs, env, log, &mut stop, &["plan", "-input=false", &out, "-detailed-exitcode"]).await {
        Ok(code) => code,
        Err(outcome) => return outcome,
    };
    match code {
        0 => return Outcome::NoChanges,
        2 => {}
        code => return Outcome::Failed(format!("terraform plan failed (exit code {code}).")),
    }
    let path_arg = path.display().to_string();
    let show = runs.terraform.run_captured(env, &["show", "-json", &path_arg], log.sender(), &mut stop).await;
    let show_json = match show {
        Ok(_) if stopped(&stop) => return Outcome::Canceled,
        Ok((StepEnd::Exited(0), out)) => out,
        Ok((end, _)) => return Outcome::Failed(format!("terraform show -json failed ({end:?}).")),
        Err(e) => return Outcome::Failed(format!("could not run terraform show: {e}")),
    };
    let summary = match plan::summarize(&show_json) {
        Ok(summary) => summary,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let plan_file = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => return Outcome::Failed(format!("terraform plan wrote no plan file at {}: {e}", path.display())),
    };
    log.note(&format!("Plan: {} to add, {} to change, {} to destroy.", summary.add, summary.change, summary.destroy)).await;
    // A plan that cannot be priced is still a plan: the run goes on and says why there is no cost.
    let cost_diff = match runs.costs.price_plan(env, &show_json) {
        Ok(diff) => {
            let unpriced = match diff.unpriced.len() {
                0 => String::new(),
                1 => " (1 changed resource not priced)".to_string(),
                n => format!(" ({n} changed resources not priced)"),
            };
            log.note(&format!("Cost: {}/month{unpriced}.", app::model::cost::signed_usd(diff.monthly_delta))).await;
            Some(diff)
        }
        Err(e) => {
            log.note(&format!("No cost estimate: {e}")).await;
            None
        }
    };
    Outcome::Planned { summary, cost_diff, plan_file, show_json }
}

async fn apply_phase(runs: &Runs, run: &RunRow, env: &Environment, log: &LogWriter, mut stop: watch::Receiver<Stop>) -> Outcome {
    // The saved plan comes from the database: the apply may run on another machine than the plan.
    let plan_file = match runs.db.artifact(run.id, "plan.tfplan").await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Outcome::Failed("the saved plan file is missing".into()),
        Err(e) => return Outcome::Failed(format!("could not read the saved plan: {e}")),
    };
    let path = plan_path(runs, run.id);
    let written = std::fs::create_dir_all(path.parent().expect("plan path has a parent")).and_then(|_| std::fs::write(&path, &plan_file));
    if let Err(e) = written {
        return Outcome::Failed(format!("could not write the saved plan to {}: {e}", path.display()));
    }
    log.note("Applying the saved plan.").await;
    if let Err(outcome) = prepare(runs, env, log, &mut stop).await {
        return outcome;
    }
    let path_arg = path.display().to_string();
    match step(runs, env, log, &mut stop, &["apply", "-input=false", &path_arg]).await {
        Ok(0) => Outcome::Applied,
        Ok(code) => Outcome::Failed(format!("terraform apply failed (exit code {code}).")),
        Err(outcome) => outcome,
    }
}

/// Expires stale plans and recovers runs whose worker died, every few seconds.
async fn sweep(runs: Runs) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = sweep_once(&runs).await {
            tracing::warn!("run sweeper: {e:#}");
        }
    }
}

pub async fn sweep_once(runs: &Runs) -> anyhow::Result<()> {
    let ttl = chrono::Duration::seconds(runs.config.runs.plan_ttl_seconds as i64);
    for run in runs.db.planned_before(Utc::now() - ttl).await? {
        runs.expire(&run, "the plan is older than runs.plan_ttl_seconds").await?;
    }
    for run in runs.db.abandoned_runs(Utc::now()).await? {
        let event = |action: &'static str| NewAuditEvent {
            actor: "system".into(),
            action,
            environment: Some(run.environment.clone()),
            target: Some(format!("run {}", run.id)),
            details: serde_json::json!({ "worker": run.worker_id, "phase": run.status }),
        };
        let moved = match run.status {
            RunStatus::Planning if run.attempts < 2 => runs.db.requeue_abandoned(&run, &event("run.requeued")).await?,
            RunStatus::Planning => {
                let why = "The control plane lost this run twice while planning; it was not retried again.";
                runs.db.error_abandoned(&run, why, &event("run.errored")).await?
            }
            _ => runs.db.error_abandoned(&run, APPLY_INTERRUPTED, &event("run.errored")).await?,
        };
        if moved {
            tracing::warn!(run = run.id, status = %run.status, "recovered a run whose worker stopped");
            runs.wakeup.run_changed(run.id).await;
            runs.wakeup.work_available().await;
        }
    }
    Ok(())
}
