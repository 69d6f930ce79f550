//! The audit log: append-only rows of who did what, where. Rows are written in the same
//! transaction as the change they describe (`insert_audit!`), so there is never a change without
//! its row, or a row for a change that did not happen.

use super::{on_backend, Db, DbResult};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// An audit event about to be written. `details` carries names and ids, never secret values.
#[derive(Clone, Debug)]
pub struct NewAuditEvent {
    pub actor: String,
    pub action: &'static str,
    pub environment: Option<String>,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub environment: Option<String>,
    pub target: Option<String>,
    pub details: String,
}

/// Writes `$event` (a `&NewAuditEvent`) through `$conn`, typically `&mut *tx`.
macro_rules! insert_audit {
    ($conn:expr, $event:expr) => {{
        let event: &$crate::db::audit::NewAuditEvent = $event;
        sqlx::query(
            "INSERT INTO audit_events (at, actor, action, environment, target, details) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(chrono::Utc::now())
        .bind(&event.actor)
        .bind(event.action)
        .bind(&event.environment)
        .bind(&event.target)
        .bind(event.details.to_string())
        .execute($conn)
        .await
        .map(|done| done.rows_affected())
    }};
}
pub(crate) use insert_audit;

impl Db {
    /// Records an event that has no database change of its own (a sign-in, say).
    pub async fn append_audit(&self, event: &NewAuditEvent) -> DbResult<()> {
        on_backend!(self, pool => insert_audit!(pool, event))?;
        Ok(())
    }

    /// Newest first; `before` is an event id for paging.
    pub async fn list_audit(&self, limit: i64, before: Option<i64>) -> DbResult<Vec<AuditRecord>> {
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, AuditRecord>(
                "SELECT id, at, actor, action, environment, target, details FROM audit_events \
                 WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }
}
