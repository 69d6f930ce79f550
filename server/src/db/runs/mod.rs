//! Runs: the job table. Every state change is one conditional UPDATE (`WHERE status = <expected>`)
//! in the same transaction as its audit row, so two actors can never both move a run, and a
//! change without its audit row cannot exist.
//!
//! Here: the rows, queueing and reading. Workers' claims and leases are in `leases`, the state
//! changes in `transitions`, logs and plan artifacts in `logs`, the `/metrics` figures in
//! `figures`.

use app::model::audit::AuditAction;
use super::audit::{insert_audit, NewAuditEvent};
use super::{on_backend, BeginWrite, Db, DbResult};
use app::model::cost::CostDiff;
use app::model::run::{Approval, Run, RunKind, RunStatus};
use app::model::plan::PlanSummary;
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

/// A commit as the run page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    pub sha: String,
    pub subject: String,
    pub author: String,
}

/// What a run will plan: the ref it asked for, resolved once (`runs::source`). Both are `None`
/// for a plain directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pinned {
    pub git_ref: Option<String>,
    pub commit: Option<CommitInfo>,
}

/// A run as its requester asked for it, with the commit its ref resolved to.
pub struct NewRun<'a> {
    pub environment: &'a str,
    pub kind: RunKind,
    pub requested_by: &'a str,
    pub message: &'a str,
    pub pinned: &'a Pinned,
    /// An admin's reason for skipping the promotion rule (audited as its own event).
    pub promotion_override: Option<&'a str>,
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

mod figures;
mod leases;
mod logs;
mod transitions;

pub use figures::{Ended, EndedKey, RunFigures};
pub use transitions::{Decision, NewApproval, PlanOutcome, Transition};

const RUN_COLUMNS: &str = "id, environment, kind, status, requested_by, message, infra_commit, source_ref, \
    commit_subject, commit_author, plan_add, \
    plan_change, plan_destroy, plan_summary, cost_diff, error, attempts, worker_id, lease_expires_at, cancel_requested, \
    canceled_by, created_at, started_at, planned_at, apply_started_at, finished_at, log_bytes, promotion_override";

const ACTIVE: &str = "('planning', 'planned', 'applying')";

fn active_run_sql() -> String {
    format!("SELECT {RUN_COLUMNS} FROM runs WHERE environment = $1 AND status IN {ACTIVE}")
}

fn audit(actor: &str, action: AuditAction, run: &RunRow, details: serde_json::Value) -> NewAuditEvent {
    NewAuditEvent::of_run(actor, action, &run.environment, run.id, details)
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
            insert_audit!(&mut *tx, &audit(new.requested_by, AuditAction::RunCreated, &row, details))?;
            if let Some(reason) = new.promotion_override {
                let details = serde_json::json!({ "reason": reason, "commit": commit.map(|c| &c.sha) });
                insert_audit!(&mut *tx, &audit(new.requested_by, AuditAction::RunPromotionOverridden, &row, details))?;
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

}
