//! Runs: the job table. Every state change is one conditional UPDATE (`WHERE status = <expected>`)
//! in the same transaction as its audit row, so two actors can never both move a run, and a
//! change without its audit row cannot exist.

use super::audit::{insert_audit, NewAuditEvent};
use super::{on_backend, BeginWrite, Db, DbResult};
use app::model::cost::CostDiff;
use app::model::run::{Approval, PlanSummary, Run, RunKind, RunStatus};
use chrono::{DateTime, Utc};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub environment: String,
    #[sqlx(try_from = "String")]
    pub kind: RunKind,
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    pub requested_by: String,
    pub message: String,
    pub infra_commit: Option<String>,
    pub source_ref: Option<String>,
    pub commit_subject: Option<String>,
    pub commit_author: Option<String>,
    pub plan_add: Option<i64>,
    pub plan_change: Option<i64>,
    pub plan_destroy: Option<i64>,
    pub plan_summary: Option<String>,
    pub cost_diff: Option<String>,
    pub error: Option<String>,
    pub attempts: i64,
    pub worker_id: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub cancel_requested: Option<String>,
    pub canceled_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub planned_at: Option<DateTime<Utc>>,
    pub apply_started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub log_bytes: i64,
    pub promotion_override: Option<String>,
}

/// An environment's runs at a glance: the active one, the last to finish, the last to apply.
pub struct Activity {
    pub active: Option<RunRow>,
    pub last: Option<RunRow>,
    pub applied: Option<RunRow>,
    pub queued: i64,
}

impl RunRow {
    pub fn plan(&self) -> Option<PlanSummary> {
        self.plan_summary.as_deref().and_then(|json| serde_json::from_str(json).ok())
    }

    pub fn into_run(self, approvals: Vec<Approval>) -> Run {
        Run {
            plan: self.plan(),
            cost_diff: self.cost_diff.as_deref().and_then(|json| serde_json::from_str(json).ok()),
            id: self.id,
            environment: self.environment,
            kind: self.kind,
            status: self.status,
            requested_by: self.requested_by,
            message: self.message,
            commit: self.infra_commit,
            git_ref: self.source_ref,
            commit_subject: self.commit_subject,
            commit_author: self.commit_author,
            created_at: self.created_at,
            started_at: self.started_at,
            planned_at: self.planned_at,
            apply_started_at: self.apply_started_at,
            finished_at: self.finished_at,
            approvals,
            error: self.error,
            log_bytes: self.log_bytes,
            canceling: self.cancel_requested.is_some() && !self.status.is_terminal(),
            promotion_override: self.promotion_override,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ApprovalRow {
    user_name: String,
    decision: String,
    comment: String,
    at: DateTime<Utc>,
}

/// A run as its requester asked for it, with the commit its ref resolved to.
pub struct NewRun<'a> {
    pub environment: &'a str,
    pub kind: RunKind,
    pub requested_by: &'a str,
    pub message: &'a str,
    pub pinned: &'a crate::runs::source::Pinned,
    /// An admin's reason for skipping the promotion rule (audited as its own event).
    pub promotion_override: Option<&'a str>,
}

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
}

/// Runs one conditional UPDATE and, if it changed the row, writes `$event` to the audit log, in
/// one transaction. Evaluates to whether the row changed.
macro_rules! update_audited {
    ($db:expr, $event:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        on_backend!($db, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query($sql)$(.bind($bind))*.execute(&mut *tx).await?.rows_affected() == 1;
            if updated {
                insert_audit!(&mut *tx, $event)?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(updated)
        })
    };
}

const RUN_COLUMNS: &str = "id, environment, kind, status, requested_by, message, infra_commit, source_ref, \
    commit_subject, commit_author, plan_add, \
    plan_change, plan_destroy, plan_summary, cost_diff, error, attempts, worker_id, lease_expires_at, cancel_requested, \
    canceled_by, created_at, started_at, planned_at, apply_started_at, finished_at, log_bytes, promotion_override";

const ACTIVE: &str = "('planning', 'planned', 'applying')";

fn active_run_sql() -> String {
    format!("SELECT {RUN_COLUMNS} FROM runs WHERE environment = $1 AND status IN {ACTIVE}")
}

fn audit(actor: &str, action: &'static str, run: &RunRow, details: serde_json::Value) -> NewAuditEvent {
    NewAuditEvent {
        actor: actor.to_string(),
        action,
        environment: Some(run.environment.clone()),
        target: Some(format!("run {}", run.id)),
        details,
    }
}

/// Postgres reports a race on the one-active-run index as a unique violation: nothing claimed.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Db {
    pub async fn insert_run(&self, new: &NewRun<'_>) -> DbResult<RunRow> {
        let sql = format!(
            "INSERT INTO runs (environment, kind, status, requested_by, message, created_at, source_ref, infra_commit, \
             commit_subject, commit_author, promotion_override) VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $10) \
             RETURNING {RUN_COLUMNS}"
        );
        let commit = new.pinned.commit.as_ref();
        let row = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query_as::<_, RunRow>(&sql)
                .bind(new.environment)
                .bind(new.kind.as_str())
                .bind(new.requested_by)
                .bind(new.message)
                .bind(Utc::now())
                .bind(&new.pinned.git_ref)
                .bind(commit.map(|c| &c.sha))
                .bind(commit.map(|c| &c.subject))
                .bind(commit.map(|c| &c.author))
                .bind(new.promotion_override)
                .fetch_one(&mut *tx)
                .await?;
            let details = serde_json::json!({
                "kind": new.kind,
                "message": new.message,
                "ref": new.pinned.git_ref,
                "commit": commit.map(|c| &c.sha),
            });
            insert_audit!(&mut *tx, &audit(new.requested_by, "run.created", &row, details))?;
            if let Some(reason) = new.promotion_override {
                let details = serde_json::json!({ "reason": reason, "commit": commit.map(|c| &c.sha) });
                insert_audit!(&mut *tx, &audit(new.requested_by, "run.promotion_overridden", &row, details))?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(row)
        })?;
        Ok(row)
    }

    pub async fn get_run(&self, id: i64) -> DbResult<Option<RunRow>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        let row = on_backend!(self, pool => sqlx::query_as::<_, RunRow>(&sql).bind(id).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Newest first; `before` is a run id for paging.
    pub async fn list_runs(&self, env: &str, limit: i64, before: Option<i64>) -> DbResult<Vec<RunRow>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE environment = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        );
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, RunRow>(&sql).bind(env).bind(before).bind(limit).fetch_all(pool).await
        })?;
        Ok(rows)
    }

    pub async fn approvals(&self, run_id: i64) -> DbResult<Vec<Approval>> {
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, ApprovalRow>(
                "SELECT user_name, decision, comment, at FROM run_approvals WHERE run_id = $1 ORDER BY id",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|r| Approval { user: r.user_name, decision: r.decision, comment: r.comment, at: r.at })
            .collect())
    }

    /// The run holding the environment (if any), its last finished run, and how many wait.
    /// The commits an environment's applies brought it to (applied, or planned with no changes),
    /// the most recent first.
    pub async fn applied_commits(&self, env: &str, limit: i64) -> DbResult<Vec<String>> {
        let sql = "SELECT infra_commit FROM runs WHERE environment = $1 AND kind = 'apply' \
                   AND status IN ('applied', 'no_changes') AND infra_commit IS NOT NULL \
                   GROUP BY infra_commit ORDER BY MAX(finished_at) DESC LIMIT $2";
        Ok(on_backend!(self, pool => sqlx::query_scalar(sql).bind(env).bind(limit).fetch_all(pool).await)?)
    }

    /// The newest run of `kind` in the environment (only finished ones, if `finished`).
    pub async fn latest_of_kind(&self, env: &str, kind: RunKind, finished: bool) -> DbResult<Option<RunRow>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE environment = $1 AND kind = $2 AND ($3 = 0 OR finished_at IS NOT NULL) \
             ORDER BY id DESC LIMIT 1"
        );
        let finished = i64::from(finished);
        Ok(on_backend!(self, pool => sqlx::query_as::<_, RunRow>(&sql).bind(env).bind(kind.as_str()).bind(finished).fetch_optional(pool).await)?)
    }

    /// Whether the environment has a run queued or active.
    pub async fn has_pending_run(&self, env: &str) -> DbResult<bool> {
        let sql = format!("SELECT COUNT(*) FROM runs WHERE environment = $1 AND (status = 'queued' OR status IN {ACTIVE})");
        let count: i64 = on_backend!(self, pool => sqlx::query_scalar(&sql).bind(env).fetch_one(pool).await)?;
        Ok(count > 0)
    }

    /// The environment's active run (planning, planned or applying), if any: there is at most one.
    pub async fn active_run(&self, env: &str) -> DbResult<Option<RunRow>> {
        let sql = active_run_sql();
        Ok(on_backend!(self, pool => sqlx::query_as::<_, RunRow>(&sql).bind(env).fetch_optional(pool).await)?)
    }

    pub async fn environment_activity(&self, env: &str) -> DbResult<Activity> {
        let active_sql = active_run_sql();
        let last_sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE environment = $1 AND finished_at IS NOT NULL AND kind <> 'drift' \
             ORDER BY finished_at DESC, id DESC LIMIT 1"
        );
        let applied_sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE environment = $1 AND status = 'applied' ORDER BY finished_at DESC, id DESC LIMIT 1"
        );
        let result = on_backend!(self, pool => {
            let active = sqlx::query_as::<_, RunRow>(&active_sql).bind(env).fetch_optional(pool).await?;
            let last = sqlx::query_as::<_, RunRow>(&last_sql).bind(env).fetch_optional(pool).await?;
            let applied = sqlx::query_as::<_, RunRow>(&applied_sql).bind(env).fetch_optional(pool).await?;
            let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE environment = $1 AND status = 'queued'")
                .bind(env)
                .fetch_one(pool)
                .await?;
            Ok::<_, sqlx::Error>(Activity { active, last, applied, queued })
        })?;
        Ok(result)
    }

    /// Claims the oldest queued run of an environment that has no active run, moving it to
    /// `planning` under `worker`'s lease. One statement, so two workers never claim one run; the
    /// one-active-run index turns a race between two runs of one environment into a no-op.
    pub async fn claim_queued_run(&self, worker: &str, lease_until: DateTime<Utc>) -> DbResult<Option<RunRow>> {
        let pick = format!(
            "SELECT r.id FROM runs r WHERE r.status = 'queued' AND NOT EXISTS \
             (SELECT 1 FROM runs a WHERE a.environment = r.environment AND a.status IN {ACTIVE}) \
             ORDER BY r.id LIMIT 1"
        );
        let set = "status = 'planning', worker_id = $1, lease_expires_at = $2, started_at = $3, attempts = attempts + 1";
        match self.claim(&pick, set, "status = 'queued'", worker, lease_until, None).await {
            Err(e) if is_unique_violation(&e) => Ok(None),
            other => Ok(other?),
        }
    }

    /// Claims an approved run whose apply has not started, marking the apply as started (with
    /// its `run.apply_started` audit row: the moment production begins to change).
    pub async fn claim_approved_run(&self, worker: &str, lease_until: DateTime<Utc>) -> DbResult<Option<RunRow>> {
        let pick = "SELECT id FROM runs WHERE status = 'applying' AND worker_id IS NULL AND apply_started_at IS NULL \
                    ORDER BY id LIMIT 1";
        let set = "worker_id = $1, lease_expires_at = $2, apply_started_at = $3";
        Ok(self.claim(pick, set, "worker_id IS NULL", worker, lease_until, Some("run.apply_started")).await?)
    }

    /// `UPDATE runs SET <set> WHERE id = (<pick>) AND <still>`, binding the worker, its lease and
    /// now as $1–$3, with the `audited` row in the same transaction. SQLite runs the statement
    /// atomically on its own; Postgres skips rows another worker is claiming at the same moment
    /// instead of waiting for them.
    async fn claim(
        &self,
        pick: &str,
        set: &str,
        still: &str,
        worker: &str,
        lease_until: DateTime<Utc>,
        audited: Option<&'static str>,
    ) -> Result<Option<RunRow>, sqlx::Error> {
        let lock = match self {
            Db::Sqlite(_) => "",
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!("UPDATE runs SET {set} WHERE id = ({pick}{lock}) AND {still} RETURNING {RUN_COLUMNS}");
        on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let claimed = sqlx::query_as::<_, RunRow>(&sql).bind(worker).bind(lease_until).bind(Utc::now()).fetch_optional(&mut *tx).await?;
            if let (Some(run), Some(action)) = (&claimed, audited) {
                insert_audit!(&mut *tx, &audit("system", action, run, serde_json::json!({ "worker": worker })))?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(claimed)
        })
    }

    /// Extends `worker`'s hold on a run. `None` when the worker no longer holds it (a force
    /// cancel, or the run was found abandoned); otherwise any pending cancel request.
    pub async fn renew_lease(
        &self,
        run_id: i64,
        worker: &str,
        until: DateTime<Utc>,
    ) -> DbResult<Option<Option<String>>> {
        let row: Option<(Option<String>,)> = on_backend!(self, pool => {
            sqlx::query_as(
                "UPDATE runs SET lease_expires_at = $1 WHERE id = $2 AND worker_id = $3 RETURNING cancel_requested",
            )
            .bind(until)
            .bind(run_id)
            .bind(worker)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|(cancel,)| cancel))
    }

    /// Ends the plan phase of a run `worker` holds: the status, the plan and the artifacts.
    pub async fn finish_plan(&self, run: &RunRow, worker: &str, outcome: PlanOutcome<'_>) -> DbResult<Transition> {
        let now = Utc::now();
        let summary_json = outcome.summary.map(|s| serde_json::to_string(s).expect("a plan summary serializes"));
        let cost_json = outcome.cost_diff.map(|c| serde_json::to_string(c).expect("a cost diff serializes"));
        let (add, change, destroy) = outcome.summary.map(|s| (s.add, s.change, s.destroy)).unzip3();
        let finished = outcome.status.is_terminal().then_some(now);
        let action = match outcome.status {
            RunStatus::Planned => "run.planned",
            RunStatus::PlannedAndFinished => "run.planned",
            RunStatus::NoChanges => "run.no_changes",
            _ => "run.errored",
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
            None => (RunStatus::Applied, "run.applied"),
            Some(_) => (RunStatus::Errored, "run.errored"),
        };
        self.finish_held(run, worker, status, error, audit("system", action, run, serde_json::json!({ "phase": "apply" })))
            .await
    }

    /// Ends a run `worker` holds as canceled, after terraform stopped. `why` explains a cancel
    /// nobody asked for (a shutdown).
    pub async fn finish_canceled(&self, run: &RunRow, worker: &str, why: Option<&str>) -> DbResult<Transition> {
        let by = self.get_run(run.id).await?.and_then(|r| r.canceled_by).unwrap_or_else(|| "system".into());
        let event = audit(&by, "run.canceled", run, serde_json::json!({ "phase": run.status, "reason": why }));
        let error = why.unwrap_or("Canceled while terraform was running.");
        self.finish_held(run, worker, RunStatus::Canceled, Some(error), event).await
    }

    /// Gives a planning run `worker` holds back to the queue (its plan was interrupted by a
    /// shutdown; planning again is harmless).
    pub async fn release_to_queue(&self, run: &RunRow, worker: &str) -> DbResult<bool> {
        let event = audit("system", "run.requeued", run, serde_json::json!({ "reason": "shutdown" }));
        let result = update_audited!(
            self,
            &event,
            "UPDATE runs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL, started_at = NULL, \
             attempts = attempts - 1 WHERE id = $1 AND status = 'planning' AND worker_id = $2",
            run.id,
            worker,
        )?;
        Ok(result)
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
        approval: Option<(&str, &str, &str)>,
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
            if let Some((user, decision, comment)) = approval {
                sqlx::query("INSERT INTO run_approvals (run_id, user_name, decision, comment, at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(run_id)
                    .bind(user)
                    .bind(decision)
                    .bind(comment)
                    .bind(Utc::now())
                    .execute(&mut *tx)
                    .await?;
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
    pub async fn add_approval(&self, run_id: i64, user: &str, comment: &str, event: &NewAuditEvent) -> DbResult<Transition> {
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
            sqlx::query("INSERT INTO run_approvals (run_id, user_name, decision, comment, at) VALUES ($1, $2, 'approve', $3, $4)")
                .bind(run_id)
                .bind(user)
                .bind(comment)
                .bind(Utc::now())
                .execute(&mut *tx)
                .await?;
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

    /// Whether the environment started an apply after `since` (which makes older plans stale).
    pub async fn applied_since(&self, env: &str, since: DateTime<Utc>) -> DbResult<bool> {
        let n: i64 = on_backend!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE environment = $1 AND apply_started_at > $2")
                .bind(env)
                .bind(since)
                .fetch_one(pool)
                .await
        })?;
        Ok(n > 0)
    }

    /// Planned runs older than `cutoff`: stale, to be expired.
    pub async fn planned_before(&self, cutoff: DateTime<Utc>) -> DbResult<Vec<RunRow>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE status = 'planned' AND planned_at < $1");
        let rows = on_backend!(self, pool => sqlx::query_as::<_, RunRow>(&sql).bind(cutoff).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Runs held by a worker whose lease has run out: the worker died.
    pub async fn abandoned_runs(&self, now: DateTime<Utc>) -> DbResult<Vec<RunRow>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE worker_id IS NOT NULL AND lease_expires_at < $1 \
             AND status IN ('planning', 'applying')"
        );
        let rows = on_backend!(self, pool => sqlx::query_as::<_, RunRow>(&sql).bind(now).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Puts an abandoned planning run back in the queue (plans change nothing, so this is safe).
    pub async fn requeue_abandoned(&self, run: &RunRow, event: &NewAuditEvent) -> DbResult<bool> {
        let result = update_audited!(
            self,
            event,
            "UPDATE runs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL, started_at = NULL \
             WHERE id = $1 AND status = 'planning' AND worker_id = $2 AND lease_expires_at < $3",
            run.id,
            &run.worker_id,
            Utc::now(),
        )?;
        Ok(result)
    }

    /// Marks an abandoned run errored (never re-run automatically).
    pub async fn error_abandoned(&self, run: &RunRow, error: &str, event: &NewAuditEvent) -> DbResult<bool> {
        let result = update_audited!(
            self,
            event,
            "UPDATE runs SET status = 'errored', error = $1, finished_at = $2, worker_id = NULL, lease_expires_at = NULL \
             WHERE id = $3 AND status = $4 AND worker_id = $5 AND lease_expires_at < $2",
            error,
            Utc::now(),
            run.id,
            run.status.as_str(),
            &run.worker_id,
        )?;
        Ok(result)
    }

    /// Runs a worker holds under a lease that has not run out: their working copies are in use.
    pub async fn held_runs(&self, now: DateTime<Utc>) -> DbResult<Vec<i64>> {
        let ids: Vec<i64> = on_backend!(self, pool => {
            sqlx::query_scalar(
                "SELECT id FROM runs WHERE worker_id IS NOT NULL AND lease_expires_at >= $1 AND status IN ('planning', 'applying')",
            )
            .bind(now)
            .fetch_all(pool)
            .await
        })?;
        Ok(ids)
    }

    pub async fn artifact(&self, run_id: i64, name: &str) -> DbResult<Option<Vec<u8>>> {
        let content: Option<Vec<u8>> = on_backend!(self, pool => {
            sqlx::query_scalar("SELECT content FROM run_artifacts WHERE run_id = $1 AND name = $2")
                .bind(run_id)
                .bind(name)
                .fetch_optional(pool)
                .await
        })?;
        Ok(content)
    }

    /// Appends a chunk of whole lines at `offset` (the log's length so far).
    pub async fn append_log(&self, run_id: i64, offset: i64, data: &[u8]) -> DbResult<()> {
        on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("INSERT INTO run_log_chunks (run_id, byte_offset, data) VALUES ($1, $2, $3)")
                .bind(run_id)
                .bind(offset)
                .bind(data)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE runs SET log_bytes = $1 WHERE id = $2")
                .bind(offset + data.len() as i64)
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Up to `limit` chunks that end after byte `from`, in order, as (offset, data).
    pub async fn log_chunks(&self, run_id: i64, from: i64, limit: i64) -> DbResult<Vec<(i64, Vec<u8>)>> {
        // A chunk ends after `from` iff it starts after the last chunk starting at or before it.
        let rows: Vec<(i64, Vec<u8>)> = on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT byte_offset, data FROM run_log_chunks WHERE run_id = $1 AND byte_offset >= \
                 COALESCE((SELECT MAX(byte_offset) FROM run_log_chunks WHERE run_id = $1 AND byte_offset <= $2), 0) \
                 ORDER BY byte_offset LIMIT $3",
            )
            .bind(run_id)
            .bind(from)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
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

/// What `/metrics` reports about runs, estate-wide.
#[derive(Debug, Default)]
pub struct RunFigures {
    /// Runs that ended, with how long each took from being asked for.
    pub ended: std::collections::BTreeMap<EndedKey, Ended>,
    pub queued: std::collections::HashMap<String, i64>,
    pub active: std::collections::HashMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EndedKey {
    pub environment: String,
    pub kind: String,
    pub status: String,
}

impl EndedKey {
    pub fn labels(&self) -> [(&'static str, &str); 3] {
        [("environment", &self.environment), ("kind", &self.kind), ("status", &self.status)]
    }
}

#[derive(Debug, Default)]
pub struct Ended {
    pub durations: Vec<f64>,
}

impl Db {
    pub async fn run_figures(&self) -> DbResult<RunFigures> {
        let sql = format!(
            "SELECT environment, kind, status, created_at, finished_at FROM runs \
             WHERE finished_at IS NOT NULL OR status = 'queued' OR status IN {ACTIVE}"
        );
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, (String, String, String, DateTime<Utc>, Option<DateTime<Utc>>)>(&sql)
            .fetch_all(pool)
            .await
        })?;
        let mut figures = RunFigures::default();
        for (environment, kind, status, created_at, finished_at) in rows {
            match finished_at {
                Some(finished) => {
                    let seconds = (finished - created_at).num_milliseconds().max(0) as f64 / 1000.0;
                    figures.ended.entry(EndedKey { environment, kind, status }).or_default().durations.push(seconds);
                }
                None if status == "queued" => *figures.queued.entry(environment).or_default() += 1,
                None => *figures.active.entry(environment).or_default() += 1,
            }
        }
        Ok(figures)
    }
}
