//! The workers: claim a run, hold it under a lease while terraform runs, record the outcome.
//! And the sweeper: expire stale plans, and find runs whose worker died (lease run out) — a
//! planning run goes back to the queue, an applying run is errored and never applied again.
//!
//! A plan runs in its own working copy of the run's commit, with the environment's variables
//! written into it; what it keeps (the plan file, the plan's JSON, the values to mask) is sealed
//! with the data key, and the dependency lock file is kept beside them. The apply takes a fresh
//! copy of the same commit on whichever worker claims it, restores the lock file, and applies
//! exactly the saved plan file.

use super::diagnostics::Diagnostics;
use super::logs::LogWriter;
use super::scrub::{Scrubber, MASK};
use super::terraform::{StepEnd, Stop};
use super::variables::RunVariables;
use super::workspace::{self, Phase, WorkingCopy};
use super::{plan, Runs};
use crate::db::audit::NewAuditEvent;
use crate::db::runs::{PlanOutcome, RunRow};
use app::model::run::{RunKind, RunStatus};
use app::model::Environment;
use chrono::Utc;
use futures_util::FutureExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

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

pub const APPLY_INTERRUPTED: &str = "The control plane lost this run while terraform apply was running (its worker \
stopped or crashed). The apply may have partly completed, and it will not be retried automatically. Check the \
environment before starting a new run. If terraform left the state lock held, an admin can release it on the \
environment's state page once no apply is running.";

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
            let id = format!("{}-{}-{i}", hostname(), crate::auth::new_secret("")[..8].to_lowercase());
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
    summary: app::model::run::PlanSummary,
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

/// Runs `terraform <args>` in `dir` into the log. `Ok` when it exited (with what terraform
/// said about itself), `Err(outcome)` to stop.
async fn step(
    runs: &Runs,
    env: &Environment,
    dir: &Path,
    log: &LogWriter,
    stop: &mut watch::Receiver<Stop>,
    args: &[&str],
) -> Result<(i32, Diagnostics), Outcome> {
    log.note(&format!("$ terraform {}", args.join(" "))).await;
    match runs.terraform.run_logged(env, dir, args, log.sender(), stop).await {
        Ok(_) if stopped(stop) => Err(Outcome::Canceled),
        Ok((StepEnd::Exited(code), diagnostics)) => Ok((code, diagnostics)),
        Ok((StepEnd::Killed, _)) => Err(Outcome::Failed(format!("terraform {} was killed.", args[0]))),
        Err(e) => Err(Outcome::Failed(format!("could not start {:?}: {e}", runs.terraform.bin))),
    }
}

/// `terraform init`; an apply's init keeps the lock file it was given (the plan's providers).
async fn init(
    runs: &Runs,
    env: &Environment,
    dir: &Path,
    log: &LogWriter,
    stop: &mut watch::Receiver<Stop>,
    locked: bool,
) -> Result<(), Outcome> {
    let args: &[&str] = if locked { &["init", "-input=false", "-lockfile=readonly"] } else { &["init", "-input=false"] };
    match step(runs, env, dir, log, stop, args).await? {
        (0, _) => Ok(()),
        (code, diagnostics) => Err(Outcome::Failed(diagnostics.explain("init", code))),
    }
}

/// The copy's root directory of `env`, which the commit must have.
fn root_of(copy: &WorkingCopy, run: &RunRow, env: &Environment) -> Result<PathBuf, Outcome> {
    let root = copy.tree().join(&env.terraform.root_dir);
    if root.is_dir() {
        return Ok(root);
    }
    let at = match &run.infra_commit {
        Some(commit) => format!("commit {}", &commit[..commit.len().min(12)]),
        None => "the infra directory".to_string(),
    };
    Err(Outcome::Failed(format!(
        "The root directory {} (the environment's terraform.root_dir) does not exist at {at}.",
        env.terraform.root_dir
    )))
}

/// Says in the log what code the run works on.
async fn note_source(runs: &Runs, run: &RunRow, log: &LogWriter) {
    let source = runs.source.describe();
    let line = match (&run.infra_commit, &run.source_ref) {
        (Some(commit), git_ref) => format!(
            "Infra repository {} at commit {}{}{}",
            source.location,
            &commit[..commit.len().min(12)],
            git_ref.as_ref().filter(|r| *r != commit).map(|r| format!(" ({r})")).unwrap_or_default(),
            run.commit_subject.as_ref().map(|s| format!(": {s}")).unwrap_or_default(),
        ),
        (None, _) => format!("Infra directory {} (not a git repository: no commit is recorded)", source.location),
    };
    log.note(&line).await;
}

/// Runs `work` in a fresh working copy of the run's code for `phase`, then removes the copy
/// whatever the outcome.
async fn in_working_copy(
    runs: &Runs,
    run: &RunRow,
    phase: Phase,
    log: &LogWriter,
    work: impl AsyncFnOnce(&WorkingCopy) -> Result<Outcome, Outcome>,
) -> Outcome {
    note_source(runs, run, log).await;
    let copy = match WorkingCopy::create(&runs.config.server.data_dir, run.id, phase, &runs.source, run.infra_commit.as_deref()).await {
        Ok(copy) => copy,
        Err(e) => return Outcome::Failed(format!("The working copy could not be made: {e}")),
    };
    let outcome = work(&copy).await.unwrap_or_else(|stopped| stopped);
    copy.remove().await;
    outcome
}

async fn plan_phase(runs: &Runs, run: &RunRow, env: &Environment, log: &LogWriter, mut stop: watch::Receiver<Stop>) -> Outcome {
    in_working_copy(runs, run, Phase::Plan, log, async |copy| plan_in(runs, run, env, log, &mut stop, copy).await).await
}

async fn plan_in(
    runs: &Runs,
    run: &RunRow,
    env: &Environment,
    log: &LogWriter,
    stop: &mut watch::Receiver<Stop>,
    copy: &WorkingCopy,
) -> Result<Outcome, Outcome> {
    let root = root_of(copy, run, env)?;
    let variables = RunVariables::gather(env, &runs.secrets).await.map_err(|why| Outcome::Failed(format!("{why}.")))?;
    let scrubber = Scrubber::new(variables.sensitive_values());
    log.scrub_with(scrubber.clone());
    log.note(&variables.summary()).await;
    variables
        .write(&root)
        .map_err(|e| Outcome::Failed(format!("could not write the variables file into the working copy: {e}")))?;
    init(runs, env, &root, log, stop, false).await?;

    let plan_file = copy.plan_file();
    let out = format!("-out={}", plan_file.display());
    let mut args = vec!["plan", "-input=false", &out, "-detailed-exitcode"];
    if run.kind == RunKind::Drift {
        // Said explicitly: a drift check compares the code with the real infrastructure, read afresh.
        args.push("-refresh=true");
    }
    match step(runs, env, &root, log, stop, &args).await? {
        (0, _) => return Ok(Outcome::NoChanges),
        (2, _) => {}
        (code, diagnostics) => return Err(Outcome::Failed(diagnostics.explain("plan", code))),
    }
    let path_arg = plan_file.display().to_string();
    let show = runs.terraform.run_captured(env, &root, &["show", "-json", &path_arg], log.sender(), stop).await;
    let show_json = match show {
        Ok(_) if stopped(stop) => return Err(Outcome::Canceled),
        Ok((StepEnd::Exited(0), out)) => out,
        Ok((end, _)) => return Err(Outcome::Failed(format!("terraform show -json failed ({end:?})."))),
        Err(e) => return Err(Outcome::Failed(format!("could not run terraform show: {e}"))),
    };
    // Everything kept of the plan is made from the scrubbed JSON: the summary, the cost, the copy.
    let show_json = scrub_plan_json(&show_json, &scrubber, variables.sensitive_names())
        .map_err(|e| Outcome::Failed(format!("terraform show -json output is not a plan: {e}")))?;
    let summary = plan::summarize(&show_json).map_err(|e| Outcome::Failed(e.to_string()))?;
    let saved = std::fs::read(&plan_file)
        .map_err(|e| Outcome::Failed(format!("terraform plan wrote no plan file at {}: {e}", plan_file.display())))?;
    log.note(&format!("Plan: {} to add, {} to change, {} to destroy.", summary.add, summary.change, summary.destroy)).await;
    let cost_diff = price(runs, env, &show_json, log).await;

    let seal = |name: &'static str, bytes: &[u8]| (name, runs.data_key.seal(&sealing_context(run.id, name), bytes));
    let values = serde_json::to_vec(&variables.sensitive_values()).expect("strings serialize");
    let mut artifacts = vec![seal(artifacts::PLAN_FILE, &saved), seal(artifacts::PLAN_JSON, &show_json), seal(artifacts::SENSITIVE_VALUES, &values)];
    if let Ok(lock) = std::fs::read(root.join(artifacts::LOCK_FILE)) {
        artifacts.push((artifacts::LOCK_FILE, lock));
    }
    Ok(Outcome::Planned(Box::new(Planned { summary, cost_diff, artifacts })))
}

/// `terraform show -json` with every sensitive value masked, and the sensitive variables'
/// values taken out of `variables` entirely (that is where terraform lists them in clear).
fn scrub_plan_json<'a>(show_json: &[u8], scrubber: &Scrubber, sensitive: impl Iterator<Item = &'a String>) -> Result<Vec<u8>, serde_json::Error> {
    let mut plan: serde_json::Value = serde_json::from_slice(show_json)?;
    if let Some(variables) = plan.get_mut("variables").and_then(|v| v.as_object_mut()) {
        for name in sensitive {
            if let Some(variable) = variables.get_mut(name) {
                *variable = serde_json::json!({ "value": MASK });
            }
        }
    }
    scrubber.json(&mut plan);
    serde_json::to_vec(&plan)
}

/// A plan that cannot be priced is still a plan: the run goes on and says why there is no cost.
async fn price(runs: &Runs, env: &Environment, show_json: &[u8], log: &LogWriter) -> Option<app::model::cost::CostDiff> {
    match runs.costs.price_plan(env, show_json) {
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
    }
}

/// A sealed artifact of the run, opened; a clear failure when it is missing or will not open.
async fn open_artifact(runs: &Runs, run_id: i64, name: &str, what: &str) -> Result<Vec<u8>, Outcome> {
    let sealed = match runs.db.artifact(run_id, name).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(Outcome::Failed(format!("The {what} is missing."))),
        Err(e) => return Err(Outcome::Failed(format!("could not read the {what}: {e}"))),
    };
    runs.data_key
        .open(&sealing_context(run_id, name), &sealed)
        .map_err(|e| Outcome::Failed(format!("The {what} could not be decrypted: {e}. Nothing was applied; start a new run.")))
}

async fn apply_phase(runs: &Runs, run: &RunRow, env: &Environment, log: &LogWriter, mut stop: watch::Receiver<Stop>) -> Outcome {
    // The saved plan comes from the database: the apply may run on another machine than the plan.
    let opened = async {
        let plan_file = open_artifact(runs, run.id, artifacts::PLAN_FILE, "saved plan").await?;
        let values = open_artifact(runs, run.id, artifacts::SENSITIVE_VALUES, "list of values to mask").await?;
        let values: Vec<String> = serde_json::from_slice(&values).map_err(|e| Outcome::Failed(format!("the list of values to mask is damaged: {e}")))?;
        let lock = runs.db.artifact(run.id, artifacts::LOCK_FILE).await.ok().flatten();
        Ok::<_, Outcome>((plan_file, values, lock))
    };
    let (plan_file, values, lock) = match opened.await {
        Ok(opened) => opened,
        Err(outcome) => return outcome,
    };
    // The values the plan was made with, whatever the secret holds now.
    log.scrub_with(Scrubber::new(values));
    let saved = Saved { plan_file, lock };
    // Whatever the outcome, a state version written meanwhile is this apply's (terraform holds
    // the lock throughout): the state page names the run that wrote it.
    let before = runs.states.current_version(&env.name).await;
    let outcome = in_working_copy(runs, run, Phase::Apply, log, async |copy| apply_in(runs, run, env, log, &mut stop, copy, &saved).await).await;
    runs.states.record_apply(&env.name, run.id, before.as_deref()).await;
    outcome
}

/// What the plan left for its apply.
struct Saved {
    plan_file: Vec<u8>,
    /// The dependency lock file after the plan's `init`, when there was one.
    lock: Option<Vec<u8>>,
}

async fn apply_in(
    runs: &Runs,
    run: &RunRow,
    env: &Environment,
    log: &LogWriter,
    stop: &mut watch::Receiver<Stop>,
    copy: &WorkingCopy,
    saved: &Saved,
) -> Result<Outcome, Outcome> {
    let root = root_of(copy, run, env)?;
    let plan_file = copy.plan_file();
    let written = std::fs::write(&plan_file, &saved.plan_file).and_then(|_| match &saved.lock {
        Some(lock) => std::fs::write(root.join(artifacts::LOCK_FILE), lock),
        None => Ok(()),
    });
    written.map_err(|e| Outcome::Failed(format!("could not write the saved plan into the working copy: {e}")))?;
    log.note("Applying the saved plan.").await;
    init(runs, env, &root, log, stop, saved.lock.is_some()).await?;
    let path_arg = plan_file.display().to_string();
    match step(runs, env, &root, log, stop, &["apply", "-input=false", &path_arg]).await? {
        (0, _) => Ok(Outcome::Applied),
        (code, diagnostics) => Err(Outcome::Failed(diagnostics.explain("apply", code))),
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
