//! The workers: claim a run, hold it under a lease while terraform runs, record the outcome.
//! And the sweeper: expire stale plans, and find runs whose worker died (lease run out) — a
//! planning run goes back to the queue, an applying run is errored and never applied again.
//!
//! A plan runs in its own working copy of the run's commit, with the environment's variables
//! written into it; what it keeps (the plan file, the plan's JSON, the values to mask) is sealed
//! with the data key, and the dependency lock file is kept beside them. The apply takes a fresh
//! copy of the same commit on whichever worker claims it, restores the lock file, and applies
//! exactly the saved plan file.

use app::model::audit::AuditAction;
use super::diagnostics::Diagnostics;
use super::logs::LogWriter;
use super::scrub::{Scrubber, MASK};
use super::terraform::{StepEnd, Stop};
use super::variables::RunVariables;
use super::workspace::{self, Phase, WorkingCopy};
use super::{plan, Runs};
use crate::db::runs::{PlanOutcome, RunRow};
use app::model::run::{RunKind, RunStatus};
use app::model::Environment;
use chrono::Utc;
use futures_util::FutureExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod phases;
mod sweeper;

use phases::{apply_phase, plan_phase};
use sweeper::sweep;

/// What a plan keeps in the database, by artifact name. Sealed ones are encrypted.
pub mod artifacts {
    /// The saved plan file (sealed: it holds every variable's value and the prior state).
    pub const PLAN_FILE: &str = "plan.tfplan";
    /// `terraform show -json` of it, scrubbed and sealed.
    pub const PLAN_JSON: &str = "plan.json";
    /// The values the apply's log must mask (sealed): the secret may change before the apply.
    pub const SENSITIVE_VALUES: &str = "sensitive-values";
    /// `.terraform.lock.hcl` after the plan's init: provider versions and checksums, no secrets.
    pub const LOCK_FILE: &str = ".terraform.lock.hcl";
}

/// How often a worker renews its lease and looks for a cancel request while terraform runs.
const HEARTBEAT: Duration = Duration::from_millis(500);
const SWEEP_EVERY: Duration = Duration::from_secs(2);

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

/// Starts `count` workers and the sweeper, after removing working copies a crash left behind.
pub fn spawn(runs: Runs, count: u32) -> Workers {
    // The workers wait for the cleanup: a copy is named for its run and phase, so a worker's
    // fresh copy of a run it has just claimed would look like a leftover to a cleanup that read
    // the held runs before the claim.
    let cleaned = {
        let runs = runs.clone();
        async move { remove_leftovers(&runs).await }.boxed().shared()
    };
    let workers: Vec<JoinHandle<()>> = (0..count)
        .map(|i| {
            let (runs, cleaned) = (runs.clone(), cleaned.clone());
            let id = format!("{}-{}-{i}", hostname(), crate::auth::random_id(8).to_lowercase());
            tokio::spawn(async move {
                cleaned.await;
                work(runs, id).await
            })
        })
        .collect();
    Workers { workers, sweeper: tokio::spawn(sweep(runs)) }
}

/// Working copies of runs nobody holds any more (another process's live runs are kept).
async fn remove_leftovers(runs: &Runs) {
    let held = match runs.db.held_runs(Utc::now()).await {
        Ok(held) => held,
        Err(e) => return tracing::warn!("could not look for leftover working copies: {e}"),
    };
    let removed = workspace::remove_leftovers(&runs.config.server.data_dir, |id| held.contains(&id)).await;
    if removed > 0 {
        tracing::info!("removed {removed} working copies left by runs that ended without this server");
    }
}

pub(crate) fn hostname() -> String {
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

async fn execute(runs: &Runs, worker: &str, run: RunRow, phase: Phase) {
    let id = run.id;
    let (stop_tx, stop_rx) = watch::channel(Stop::No);
    let heartbeat = tokio::spawn(hold(runs.clone(), worker.to_string(), id, stop_tx));
    let log = LogWriter::start(runs.db.clone(), runs.wakeup.clone(), runs.live_logs.tap(id), id, run.log_bytes);

    let outcome = match runs.environments.get(&run.environment).cloned() {
        Some(env) => match phase {
            Phase::Plan => plan_phase(runs, &run, &env, &log, stop_rx).await,
            Phase::Apply => apply_phase(runs, &run, &env, &log, stop_rx).await,
        },
        None => Outcome::Failed(format!("The environment {:?} is no longer configured.", run.environment)),
    };
    // Errors quote terraform, which may quote a value: they are scrubbed like the log.
    let outcome = match outcome {
        Outcome::Failed(why) => Outcome::Failed(log.scrubber().text(&why)),
        other => other,
    };
    if let Outcome::Failed(why) = &outcome {
        log.note(&format!("Error: {why}")).await;
    }
    log.finish().await;
    heartbeat.abort();

    let shut_down = *runs.shutting_down().borrow();
    let recorded = match (phase, outcome) {
        // Interrupted by a shutdown, not by a person: a plan simply runs again later.
        (Phase::Plan, Outcome::Canceled) if shut_down => match runs.db.release_to_queue(&run, worker).await {
            Ok(true) => Ok(crate::db::runs::Transition::Done),
            Ok(false) => runs.db.finish_canceled(&run, worker, None).await,
            Err(e) => Err(e),
        },
        (Phase::Apply, Outcome::Canceled) if shut_down => runs.db.finish_canceled(&run, worker, Some(APPLY_SHUT_DOWN)).await,
        (_, Outcome::Canceled) => runs.db.finish_canceled(&run, worker, None).await,
        (Phase::Plan, Outcome::Planned(planned)) => {
            let Planned { summary, cost_diff, artifacts } = *planned;
            let status = match (summary.add + summary.change + summary.destroy, run.kind) {
                (0, _) => RunStatus::NoChanges,
                (_, RunKind::Apply) => RunStatus::Planned,
                (_, RunKind::Plan | RunKind::Drift) => RunStatus::PlannedAndFinished,
            };
            let outcome = PlanOutcome { status, summary: Some(&summary), cost_diff: cost_diff.as_ref(), error: None, artifacts };
            let recorded = runs.db.finish_plan(&run, worker, outcome).await;
            if run.kind == RunKind::Drift && matches!(recorded, Ok(crate::db::runs::Transition::Done)) {
                super::drift::found(runs, &run, &summary).await;
            }
            recorded
        }
        (Phase::Plan, Outcome::NoChanges) => {
            let outcome = PlanOutcome { status: RunStatus::NoChanges, summary: None, cost_diff: None, error: None, artifacts: vec![] };
            runs.db.finish_plan(&run, worker, outcome).await
        }
        (Phase::Plan, Outcome::Failed(why)) => {
            let outcome = PlanOutcome { status: RunStatus::Errored, summary: None, cost_diff: None, error: Some(&why), artifacts: vec![] };
            runs.db.finish_plan(&run, worker, outcome).await
        }
        (Phase::Apply, Outcome::Applied) => runs.db.finish_apply(&run, worker, None).await,
        (Phase::Apply, Outcome::Failed(why)) => runs.db.finish_apply(&run, worker, Some(&why)).await,
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
    Planned(Box<Planned>),
    NoChanges,
    Applied,
    Canceled,
    Failed(String),
}

/// A plan with changes, ready to be recorded.
struct Planned {
    summary: app::model::plan::PlanSummary,
    cost_diff: Option<app::model::cost::CostDiff>,
    /// Ready to store: sealed where they hold secrets.
    artifacts: Vec<(&'static str, Vec<u8>)>,
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

fn stopped(stop: &watch::Receiver<Stop>) -> bool {
    *stop.borrow() != Stop::No
}

/// The context a sealed artifact is bound to: it opens only as this run's artifact.
pub fn sealing_context(run_id: i64, name: &str) -> Vec<u8> {
    format!("run {run_id} {name}").into_bytes()
}
