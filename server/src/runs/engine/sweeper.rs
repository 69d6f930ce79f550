//! The sweeper: expires stale plans and finds runs whose worker died (its lease ran out). A
//! planning run goes back to the queue (once), an applying run is errored and never applied again.

use super::*;

/// Expires stale plans and recovers runs whose worker died, every few seconds.
pub(super) async fn sweep(runs: Runs) {
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
        let event = |action| crate::db::audit::NewAuditEvent::of_run("system", action, &run.environment, run.id, serde_json::json!({ "worker": run.worker_id, "phase": run.status }));
        let moved = match run.status {
            RunStatus::Planning if run.attempts < 2 => runs.db.requeue_abandoned(&run, &event(AuditAction::RunRequeued)).await?,
            RunStatus::Planning => {
                let why = "The control plane lost this run twice while planning; it was not retried again.";
                runs.db.error_abandoned(&run, why, &event(AuditAction::RunErrored)).await?
            }
            _ => runs.db.error_abandoned(&run, crate::runs::diagnostics::APPLY_INTERRUPTED, &event(AuditAction::RunErrored)).await?,
        };
        if moved {
            tracing::warn!(run = run.id, status = %run.status, "recovered a run whose worker stopped");
            runs.wakeup.run_changed(run.id).await;
            runs.wakeup.work_available().await;
        }
    }
    Ok(())
}
