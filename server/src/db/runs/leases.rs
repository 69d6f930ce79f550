//! Workers' claims: a queued plan or an approved apply, taken by one conditional UPDATE; the
//! lease a worker renews while it runs; the runs whose worker stopped renewing.

use super::*;

impl Db {
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
        Ok(self.claim(pick, set, "worker_id IS NULL", worker, lease_until, Some(AuditAction::RunApplyStarted)).await?)
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
        audited: Option<AuditAction>,
    ) -> Result<Option<RunRow>, sqlx::Error> {
        let lock = match self.pool() {
            crate::db::Pool::Sqlite(_) => "",
            crate::db::Pool::Postgres(_) => " FOR UPDATE SKIP LOCKED",
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

    /// Gives a planning run `worker` holds back to the queue (its plan was interrupted by a
    /// shutdown; planning again is harmless).
    pub async fn release_to_queue(&self, run: &RunRow, worker: &str) -> DbResult<bool> {
        let event = audit("system", AuditAction::RunRequeued, run, serde_json::json!({ "reason": "shutdown" }));
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
}
