//! Reading the audit log: filtered pages for the API and the audit page, and the CSV export.
//! Rows are only ever added (`db::audit`); the database refuses updates and deletes.

use crate::csv::Csv;
use crate::db::audit::AuditSearch;
use crate::db::{Db, DbError};
use app::model::audit::{AuditEvent, AuditPage, AuditQuery};
use app::model::{Identity, Role};

/// Who the audit log names for changes made from the command line on the server's machine.
pub fn console_actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// The most events one page (or one CSV export) holds.
pub const MAX_PAGE: i64 = 1000;
pub const MAX_EXPORT: i64 = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadQuery(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Newest first, `limit` (default 100, at most `max`) events matching `query`; only admins read
/// the audit log.
pub async fn search(db: &Db, who: &Identity, query: &AuditQuery, max: i64) -> Result<AuditPage, AuditError> {
    if !who.can(Role::Admin) {
        return Err(AuditError::Forbidden(format!("this needs the admin role; you have {}", who.role)));
    }
    let limit = query.limit.unwrap_or(100.min(max));
    if !(1..=max).contains(&limit) {
        return Err(AuditError::BadQuery(format!("limit must be between 1 and {max}")));
    }
    let (since, until) = query.range().map_err(AuditError::BadQuery)?;
    let (action, action_prefix) = query.action();
    let search = AuditSearch {
        before: query.before,
        actor: query.actor(),
        environment: query.environment(),
        action,
        action_prefix,
        since,
        until,
    };
    // One more than asked says whether there is an older page.
    let mut events = db.search_audit(&search, limit + 1).await?;
    let more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    let next_before = if more { events.last().map(|e| e.id) } else { None };
    Ok(AuditPage { events, next_before })
}

pub fn to_csv(events: &[AuditEvent]) -> String {
    let mut csv = Csv::default();
    csv.row(["id", "at", "actor", "action", "environment", "target", "details"]);
    for e in events {
        csv.row([
            e.id.to_string(),
            e.at.to_rfc3339(),
            e.actor.clone(),
            e.action.clone(),
            e.environment.clone().unwrap_or_default(),
            e.target.clone().unwrap_or_default(),
            e.details.clone(),
        ]);
    }
    csv.finish()
}
