//! Drift checks: a run of kind `drift` plans the branch head against the real infrastructure
//! (refreshed) and never applies. Changes in that plan mean the infrastructure or the code moved
//! since the last apply. Checks go through the environment's queue like any run, but only into
//! a quiet one: while a run is queued or active, a check is not started (on demand it is
//! refused, by schedule it waits for the next tick). A check is not a change: it is not the
//! environment's "last run", and promotion never counts it.

use app::model::audit::AuditAction;
use super::{policy, RunError, Runs};
use crate::db::runs::{NewRun, RunRow};
use app::model::run::{Drift, DriftState, Run, RunKind, RunStatus};
use app::model::plan::PlanSummary;
use app::model::Identity;
use std::time::Duration;

/// Who scheduled checks are requested by, in the runs list and the audit log.
pub const SCHEDULER: &str = "drift-check";
const MESSAGE: &str = "Drift check";

/// A check now, for an operator.
pub async fn check_now(runs: &Runs, who: &Identity, env: &str) -> Result<Run, RunError> {
    runs.environment(env)?;
    policy::may_start(who).map_err(RunError::Forbidden)?;
    start(runs, &who.name, env)
        .await?
        .ok_or_else(|| RunError::Conflict(format!("{env} has a run queued or running: check for drift once it has finished")))
}

/// Queues a check unless the environment has a run queued or active (`None` then).
async fn start(runs: &Runs, requested_by: &str, env: &str) -> Result<Option<Run>, RunError> {
    if runs.db.has_pending_run(env).await? {
        return Ok(None);
    }
    let pinned = runs.source.pin(None).await?;
    let new = NewRun { environment: env, kind: RunKind::Drift, requested_by, message: MESSAGE, pinned: &pinned, promotion_override: None };
    let row = runs.db.insert_run(&new).await?;
    runs.wakeup.work_available().await;
    runs.wakeup.run_changed(row.id).await;
    Ok(Some(row.into_run(vec![])))
}

/// What the last finished check found, and the check under way (if any).
pub async fn status(runs: &Runs, env: &str) -> Result<Drift, RunError> {
    let last = runs.db.latest_of_kind(env, RunKind::Drift, true).await?;
    let newest = runs.db.latest_of_kind(env, RunKind::Drift, false).await?;
    let checking = newest.filter(|r| !r.status.is_terminal()).map(|r| r.id);
    let Some(last) = last else {
        return Ok(Drift { status: DriftState::Unknown, checked_at: None, run_id: None, commit: None, add: 0, change: 0, destroy: 0, checking });
    };
    let plan = last.plan();
    let status = match last.status {
        RunStatus::NoChanges => DriftState::InSync,
        RunStatus::PlannedAndFinished => DriftState::Drifted,
        RunStatus::Errored => DriftState::Failed,
        // Canceled or discarded: it found nothing either way.
        _ => DriftState::Unknown,
    };
    let count = |f: fn(&PlanSummary) -> i64| plan.as_ref().map(f).unwrap_or(0);
    Ok(Drift {
        status,
        checked_at: last.finished_at,
        run_id: Some(last.id),
        commit: last.infra_commit.clone(),
        add: count(|p| p.add),
        change: count(|p| p.change),
        destroy: count(|p| p.destroy),
        checking,
    })
}

/// Records drift found by `run` (a drift check that planned changes) as an event of its own.
pub async fn found(runs: &Runs, run: &RunRow, summary: &PlanSummary) {
    let details = serde_json::json!({
        "run": run.id, "commit": run.infra_commit, "add": summary.add, "change": summary.change, "destroy": summary.destroy,
    });
    let event = crate::db::audit::NewAuditEvent::of_run("system", AuditAction::EnvironmentDrifted, &run.environment, run.id, details);
    if let Err(e) = runs.db.append_audit(&event).await {
        tracing::warn!(run = run.id, "could not record the drift found: {e}");
    }
}

/// Starts checks on schedule (`runs.drift_check_minutes`, per environment `drift_check_minutes`)
/// until the process shuts down. The first is one period after start (or after the last check).
pub fn spawn_schedule(runs: Runs) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let periods: Vec<(String, Duration)> =
            runs.environments.all().iter().filter_map(|e| Some((e.name.clone(), runs.config.runs.drift_period(e)?))).collect();
        let Some(shortest) = periods.iter().map(|(_, p)| *p).min() else { return };
        let started = chrono::Utc::now();
        let tick = (shortest / 4).clamp(Duration::from_millis(500), Duration::from_secs(60));
        let mut shutdown = runs.shutting_down();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.changed() => return,
            }
            for (env, period) in &periods {
                if let Err(e) = check_if_due(&runs, env, *period, started).await {
                    tracing::warn!(environment = %env, "scheduled drift check: {e}");
                }
            }
        }
    })
}

async fn check_if_due(runs: &Runs, env: &str, period: Duration, started: chrono::DateTime<chrono::Utc>) -> Result<(), RunError> {
    let last = runs.db.latest_of_kind(env, RunKind::Drift, false).await?.map(|r| r.created_at);
    // Never checked: one period after start. Checked before a restart: due when that one is.
    let since = last.unwrap_or(started);
    if chrono::Utc::now() - since < chrono::Duration::from_std(period).unwrap_or(chrono::Duration::MAX) {
        return Ok(());
    }
    match start(runs, SCHEDULER, env).await? {
        Some(run) => tracing::info!(environment = env, run = run.id, "scheduled drift check"),
        None => tracing::debug!(environment = env, "drift check skipped: a run is queued or active"),
    }
    Ok(())
}
