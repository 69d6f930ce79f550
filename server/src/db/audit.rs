//! The audit log: append-only rows of who did what, where. Rows are written in the same
//! transaction as the change they describe (`insert_audit!`), so there is never a change without
//! its row, or a row for a change that did not happen.

use super::{on_backend, BeginWrite, Db, DbResult};
use app::model::audit::{AuditAction, AuditEvent};
use chrono::{DateTime, Utc};

/// An audit event about to be written. `details` carries names and ids, never secret values.
#[derive(Clone, Debug)]
pub struct NewAuditEvent {
    pub actor: String,
    pub action: AuditAction,
    pub environment: Option<String>,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

impl NewAuditEvent {
    /// A row about run `run_id` in `environment` (its target is `run <id>`, which notifications
    /// read the run from).
    pub fn of_run(actor: &str, action: AuditAction, environment: &str, run_id: i64, details: serde_json::Value) -> NewAuditEvent {
        NewAuditEvent { actor: actor.to_string(), action, environment: Some(environment.to_string()), target: Some(format!("run {run_id}")), details }
    }
}

/// What to look for in the audit log; `None` matches anything.
#[derive(Clone, Debug, Default)]
pub struct AuditSearch<'a> {
    pub before: Option<i64>,
    pub actor: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub action: Option<&'a str>,
    pub action_prefix: Option<&'a str>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// A row as read: (id, at, actor, action, environment, target, details).
type AuditRow = (i64, DateTime<Utc>, String, String, Option<String>, Option<String>, String);

/// Writes `$event` (a `&NewAuditEvent`) through `$conn`, typically `&mut *tx`, and the
/// notification outbox event it implies, if any. Evaluates to that event's id.
macro_rules! insert_audit {
    ($conn:expr, $event:expr) => {{
        let event: &$crate::db::audit::NewAuditEvent = $event;
        match sqlx::query(
            "INSERT INTO audit_events (at, actor, action, environment, target, details) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(chrono::Utc::now())
        .bind(&event.actor)
        .bind(event.action.as_str())
        .bind(&event.environment)
        .bind(&event.target)
        .bind(event.details.to_string())
        .execute($conn)
        .await
        {
            Ok(_) => $crate::db::notifications::insert_notification!($conn, event),
            Err(e) => Err(e),
        }
    }};
}
pub(crate) use insert_audit;

impl Db {
    /// Records an event that has no database change of its own (a sign-in, a change made in
    /// AWS). Returns the id of the notification event it implies, if any (see
    /// `release_notification` for one that is held).
    pub async fn append_audit(&self, event: &NewAuditEvent) -> DbResult<Option<i64>> {
        let id = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let id = insert_audit!(&mut *tx, event)?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        })?;
        Ok(id)
    }

    /// Newest first; `before` is an event id for paging.
    pub async fn list_audit(&self, limit: i64, before: Option<i64>) -> DbResult<Vec<AuditEvent>> {
        self.search_audit(&AuditSearch { before, ..Default::default() }, limit).await
    }

    /// Newest first, matching every filter given.
    pub async fn search_audit(&self, search: &AuditSearch<'_>, limit: i64) -> DbResult<Vec<AuditEvent>> {
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, AuditRow>(
                "SELECT id, at, actor, action, environment, target, details FROM audit_events \
                 WHERE ($1 IS NULL OR id < $1) AND ($2 IS NULL OR actor = $2) AND ($3 IS NULL OR environment = $3) \
                 AND ($4 IS NULL OR action = $4) AND ($5 IS NULL OR substr(action, 1, length($5)) = $5) \
                 AND ($6 IS NULL OR at >= $6) AND ($7 IS NULL OR at < $7) \
                 ORDER BY id DESC LIMIT $8",
            )
            .bind(search.before)
            .bind(search.actor)
            .bind(search.environment)
            .bind(search.action)
            .bind(search.action_prefix)
            .bind(search.since)
            .bind(search.until)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, at, actor, action, environment, target, details)| AuditEvent { id, at, actor, action, environment, target, details })
            .collect())
    }
}
