//! A run's state changes after its claim: a finished plan or apply, a decision, a cancel.

use super::*;

/// The end of a plan phase, written in one transaction with its artifacts.
pub struct PlanOutcome<'a> {
    pub status: RunStatus,
    pub summary: Option<&'a PlanSummary>,
    /// What the plan does to the monthly cost, when it could be priced.
    pub cost_diff: Option<&'a CostDiff>,
    pub error: Option<&'a str>,
    pub artifacts: Vec<(&'static str, Vec<u8>)>,
}

/// What a transition found.
#[derive(Debug, PartialEq, Eq)]
pub enum Transition {
    Done,
    /// The run was not in the expected state (someone else moved it first).
    WrongState(RunStatus),
    NotFound,
    /// The approver has already approved or rejected this run.
    AlreadyDecided,
}

/// A person's decision on a planned run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

/// One approval row: who decided what, and why.
pub struct NewApproval<'a> {
    pub user: &'a str,
    pub decision: Decision,
    pub comment: &'a str,
}

/// Inserts `$approval` of run `$run_id` in the transaction `$tx`. Evaluates to whether the
/// approver had decided already (the table's unique key): the caller then returns
/// `Transition::AlreadyDecided`, which rolls the transaction back.
macro_rules! record_approval {
    ($tx:expr, $run_id:expr, $approval:expr) => {{
        let approval: NewApproval<'_> = $approval;
        let inserted = sqlx::query("INSERT INTO run_approvals (run_id, user_name, decision, comment, at) VALUES ($1, $2, $3, $4, $5)")
            .bind($run_id)
            .bind(approval.user)
            .bind(approval.decision.as_str())
            .bind(approval.comment)
            .bind(Utc::now())
            .execute($tx)
            .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => true,
            other => {
                other?;
                false
            }
        }
    }};
}

impl Db {
    /// Ends the plan phase of a run `worker` holds: the status, the plan and the artifacts.
    pub async fn finish_plan(&self, run: &RunRow, worker: &str, outcome: PlanOutcome<'_>) -> DbResult<Transition> {
        let now = Utc::now();
        let summary_json = outcome.summary.map(|s| serde_json::to_string(s).expect("a plan summary serializes"));
        let cost_json = outcome.cost_diff.map(|c| serde_json::to_string(c).expect("a cost diff serializes"));
        let (add, change, destroy) = outcome.summary.map(|s| (s.add, s.change, s.destroy)).unzip3();
        let finished = outcome.status.is_terminal().then_some(now);
        let action = match outcome.status {
            RunStatus::Planned => AuditAction::RunPlanned,
            RunStatus::PlannedAndFinished => AuditAction::RunPlanned,
            RunStatus::NoChanges => AuditAction::RunNoChanges,
            _ => AuditAction::RunErrored,
        };
        let details = serde_json::json!({ "status": outcome.status, "add": add, "change": change, "destroy": destroy });
        let event = audit("system", action, run, details);
        let result = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE runs SET status = $1, plan_add = $2, plan_change = $3, plan_destroy = $4, plan_summary = $5, \
                 error = $6, planned_at = $7, finished_at = $8, worker_id = NULL, lease_expires_at = NULL, \
                 cost_diff = $11 WHERE id = $9 AND status = 'planning' AND worker_id = $10",
            )
            .bind(outcome.status.as_str())
            .bind(add)
            .bind(change)
            .bind(destroy)
            .bind(&summary_json)
            .bind(outcome.error)
            .bind(now)
            .bind(finished)
            .bind(run.id)
            .bind(worker)
            .bind(&cost_json)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Ok(Transition::WrongState(RunStatus::Planning));
            }
            for (name, content) in &outcome.artifacts {
                sqlx::query("INSERT INTO run_artifacts (run_id, name, content) VALUES ($1, $2, $3)")
                    .bind(run.id)
                    .bind(*name)
                    .bind(content.as_slice())
                    .execute(&mut *tx)
                    .await?;
            }
            insert_audit!(&mut *tx, &event)?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Transition::Done)
        })?;
        Ok(result)
    }

    /// Ends the apply phase of a run `worker` holds: `applied` or `errored`.
    pub async fn finish_apply(&self, run: &RunRow, worker: &str, error: Option<&str>) -> DbResult<Transition> {
        let (status, action) = match error {
            None => (RunStatus::Applied, AuditAction::RunApplied),
            Some(_) => (RunStatus::Errored, AuditAction::RunErrored),
        };
        self.finish_held(run, worker, status, error, audit("system", action, run, serde_json::json!({ "phase": "apply" })))
            .await
    }

    /// Ends a run `worker` holds as canceled, after terraform stopped. `why` explains a cancel
    /// nobody asked for (a shutdown).
    pub async fn finish_canceled(&self, run: &RunRow, worker: &str, why: Option<&str>) -> DbResult<Transition> {
        let by = self.get_run(run.id).await?.and_then(|r| r.canceled_by).unwrap_or_else(|| "system".into());
        let event = audit(&by, AuditAction::RunCanceled, run, serde_json::json!({ "phase": run.status, "reason": why }));
        let error = why.unwrap_or("Canceled while terraform was running.");
        self.finish_held(run, worker, RunStatus::Canceled, Some(error), event).await
    }

    async fn finish_held(
        &self,
        run: &RunRow,
        worker: &str,
        status: RunStatus,
        error: Option<&str>,
        event: NewAuditEvent,
    ) -> DbResult<Transition> {
        let result = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE runs SET status = $1, error = $2, finished_at = $3, worker_id = NULL, lease_expires_at = NULL, \
                 cancel_requested = NULL WHERE id = $4 AND worker_id = $5",
            )
            .bind(status.as_str())
            .bind(error)
            .bind(Utc::now())
            .bind(run.id)
            .bind(worker)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Ok(Transition::WrongState(run.status));
            }
            insert_audit!(&mut *tx, &event)?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Transition::Done)
        })?;
        Ok(result)
    }

    /// Moves a run from `from` to `to` (a terminal state or `applying`), with its audit row and
    /// optionally an approval row, in one transaction. The conditional UPDATE is what makes
    /// concurrent approvals produce exactly one apply.
    pub async fn transition(
        &self,
        run_id: i64,
        from: RunStatus,
        to: RunStatus,
        error: Option<&str>,
        approval: Option<NewApproval<'_>>,
        event: &NewAuditEvent,
    ) -> DbResult<Transition> {
        let finished = to.is_terminal().then(Utc::now);
        let result = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let current: Option<String> = sqlx::query_scalar("SELECT status FROM runs WHERE id = $1")
                .bind(run_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(current) = current else { return Ok(Transition::NotFound) };
            if current != from.as_str() {
                return Ok(Transition::WrongState(current.parse().unwrap_or(from)));
            }
            if let Some(approval) = approval {
                if record_approval!(&mut *tx, run_id, approval) {
                    return Ok(Transition::AlreadyDecided);
                }
            }
            let updated = sqlx::query(
                "UPDATE runs SET status = $1, error = COALESCE($2, error), finished_at = $3 WHERE id = $4 AND status = $5",
            )
            .bind(to.as_str())
            .bind(error)
            .bind(finished)
            .bind(run_id)
            .bind(from.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Ok(Transition::WrongState(from));
            }
            insert_audit!(&mut *tx, event)?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Transition::Done)
        })?;
        Ok(result)
    }

    /// Records one approval of a planned run that still needs more (no state change).
    pub async fn add_approval(&self, run_id: i64, approval: NewApproval<'_>, event: &NewAuditEvent) -> DbResult<Transition> {
        let result = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let current: Option<String> = sqlx::query_scalar("SELECT status FROM runs WHERE id = $1")
                .bind(run_id)
                .fetch_optional(&mut *tx)
                .await?;
            match current.as_deref() {
                None => return Ok(Transition::NotFound),
                Some("planned") => {}
                Some(other) => return Ok(Transition::WrongState(other.parse().unwrap_or(RunStatus::Planned))),
            }
            if record_approval!(&mut *tx, run_id, approval) {
                return Ok(Transition::AlreadyDecided);
            }
            insert_audit!(&mut *tx, event)?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Transition::Done)
        })?;
        Ok(result)
    }

    /// Asks the worker running a run to stop it (`graceful`: SIGINT, then SIGKILL after the
    /// grace period). Returns false when the run is not in `status` any more.
    pub async fn request_cancel(&self, run_id: i64, status: RunStatus, by: &str, event: &NewAuditEvent) -> DbResult<bool> {
        let result = update_audited!(
            self,
            event,
            "UPDATE runs SET cancel_requested = 'graceful', canceled_by = $1 WHERE id = $2 AND status = $3",
            by,
            run_id,
            status.as_str(),
        )?;
        Ok(result)
    }

    /// Ends a run at once whatever its worker is doing (admins; or a run nobody runs). The
    /// worker, if alive, finds it no longer holds the run and kills terraform.
    pub async fn force_cancel(&self, run_id: i64, status: RunStatus, by: &str, event: &NewAuditEvent) -> DbResult<bool> {
        let result = update_audited!(
            self,
            event,
            "UPDATE runs SET status = 'canceled', cancel_requested = 'force', canceled_by = $1, finished_at = $2, \
             worker_id = NULL, lease_expires_at = NULL, error = 'Canceled.' WHERE id = $3 AND status = $4",
            by,
            Utc::now(),
            run_id,
            status.as_str(),
        )?;
        Ok(result)
    }
}

/// `Option<(a, b, c)>` into three options.
trait Unzip3<A, B, C> {
    fn unzip3(self) -> (Option<A>, Option<B>, Option<C>);
}

impl<A, B, C> Unzip3<A, B, C> for Option<(A, B, C)> {
    fn unzip3(self) -> (Option<A>, Option<B>, Option<C>) {
        match self {
            Some((a, b, c)) => (Some(a), Some(b), Some(c)),
            None => (None, None, None),
        }
    }
}
