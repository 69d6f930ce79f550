//! The notification outbox: events (written with the audit row of the change they report, see
//! `insert_notification!`) and their deliveries, one per destination, claimed under a lease.

use super::{on_backend, BeginWrite, Db, DbResult};
use chrono::{DateTime, Utc};

/// Writes the outbox event of audit event `$audit`, if it is one, through `$conn` (the audit
/// row's transaction). Evaluates to the event's id.
macro_rules! insert_notification {
    ($conn:expr, $audit:expr) => {{
        let audit: &$crate::db::audit::NewAuditEvent = $audit;
        match $crate::notifications::event::of_audit(audit) {
            None => Ok(None),
            Some(out) => sqlx::query_scalar::<_, i64>(
                "INSERT INTO notification_events (uid, event, environment, run_id, actor, details, created_at, state) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(format!("evt_{}", $crate::auth::random_id(24)))
            .bind(out.event)
            .bind(&audit.environment)
            .bind(out.run_id)
            .bind(&audit.actor)
            .bind(serde_json::json!({ "action": audit.action.as_str(), "target": audit.target, "details": audit.details }).to_string())
            .bind(chrono::Utc::now())
            .bind(if out.held { "held" } else { "ready" })
            .fetch_one($conn)
            .await
            .map(Some),
        }
    }};
}
pub(crate) use insert_notification;

/// An outbox event as stored. `details` is `{target, details}` of its audit row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub uid: String,
    pub event: String,
    pub environment: Option<String>,
    pub run_id: Option<i64>,
    pub actor: String,
    pub details: String,
    pub created_at: DateTime<Utc>,
}

/// A delivery about to be queued: the body is rendered once, so every attempt sends the same bytes.
pub struct NewDelivery {
    pub destination: String,
    pub body: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub uid: String,
    pub event_id: i64,
    pub destination: String,
    pub event: String,
    pub environment: Option<String>,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub last_status: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
}

/// How one attempt ended.
pub enum Attempt<'a> {
    Delivered { status: u16 },
    /// Try again at `at`.
    Retry { at: DateTime<Utc>, status: Option<u16>, error: &'a str },
    GaveUp { status: Option<u16>, error: &'a str },
}

/// What the idle sender looks at: whether anything is waiting.
#[derive(Debug, Default)]
pub struct OutboxDue {
    pub ready_events: bool,
    pub oldest_held: Option<DateTime<Utc>>,
    pub next_attempt: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default)]
pub struct DeliverySearch<'a> {
    pub destination: Option<&'a str>,
    pub event: Option<&'a str>,
    pub status: Option<&'a str>,
    pub before: Option<i64>,
}

/// Per destination: its last success and failure, and what is waiting.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DestinationStats {
    pub destination: String,
    pub last_delivered_at: Option<DateTime<Utc>>,
    pub last_failed_at: Option<DateTime<Utc>>,
    pub pending: i64,
    pub failed: i64,
}

const EVENT_COLUMNS: &str = "id, uid, event, environment, run_id, actor, details, created_at";
const DELIVERY_COLUMNS: &str = "id, uid, event_id, destination, event, environment, body, status, attempts, last_error, \
    last_status, created_at, delivered_at, next_attempt_at";

impl Db {
    /// The one query an idle sender makes per look: three index probes, no write.
    pub async fn outbox_due(&self) -> DbResult<OutboxDue> {
        let row: (i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>) = on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM notification_events WHERE state = 'ready' LIMIT 1) AS r), \
                 (SELECT MIN(created_at) FROM notification_events WHERE state = 'held'), \
                 (SELECT MIN(next_attempt_at) FROM notification_deliveries WHERE status = 'pending')",
            )
            .fetch_one(pool)
            .await
        })?;
        Ok(OutboxDue { ready_events: row.0 > 0, oldest_held: row.1, next_attempt: row.2 })
    }

    pub async fn ready_events(&self, limit: i64) -> DbResult<Vec<EventRow>> {
        self.events_in("ready", None, limit).await
    }

    /// Held events older than `before`: their change may have been made by a process that died.
    pub async fn held_events(&self, before: DateTime<Utc>, limit: i64) -> DbResult<Vec<EventRow>> {
        self.events_in("held", Some(before), limit).await
    }

    async fn events_in(&self, state: &str, before: Option<DateTime<Utc>>, limit: i64) -> DbResult<Vec<EventRow>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM notification_events WHERE state = $1 AND ($2 IS NULL OR created_at < $2) ORDER BY id LIMIT $3"
        );
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, EventRow>(&sql).bind(state).bind(before).bind(limit).fetch_all(pool).await
        })?;
        Ok(rows)
    }

    /// A held event's change was made: it may be sent.
    pub async fn release_notification(&self, id: i64) -> DbResult<()> {
        self.settle_held(id, "ready").await
    }

    /// A held event's change was not made: it is never sent.
    pub async fn void_notification(&self, id: i64) -> DbResult<()> {
        self.settle_held(id, "void").await
    }

    async fn settle_held(&self, id: i64, state: &str) -> DbResult<()> {
        on_backend!(self, pool => {
            sqlx::query("UPDATE notification_events SET state = $1 WHERE id = $2 AND state = 'held'")
                .bind(state)
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Marks a ready event routed and queues its deliveries, in one transaction; false when
    /// another process routed it first (nothing is queued twice).
    pub async fn route_event(&self, event: &EventRow, deliveries: &[NewDelivery]) -> DbResult<bool> {
        let now = Utc::now();
        let routed = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query("UPDATE notification_events SET state = 'routed' WHERE id = $1 AND state = 'ready'")
                .bind(event.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if updated == 1 {
                for d in deliveries {
                    sqlx::query(
                        "INSERT INTO notification_deliveries (uid, event_id, destination, event, environment, body, status, \
                         created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)",
                    )
                    .bind(format!("dlv_{}", crate::auth::random_id(24)))
                    .bind(event.id)
                    .bind(&d.destination)
                    .bind(&event.event)
                    .bind(&event.environment)
                    .bind(&d.body)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(updated == 1)
        })?;
        Ok(routed)
    }

    /// Claims the pending delivery due first. Until the lease runs out no other process sees it
    /// as due (its next attempt moves to the lease's end), so a sender that dies mid-attempt
    /// leaves it to be tried again then.
    pub async fn claim_delivery(&self, worker: &str, lease_until: DateTime<Utc>) -> DbResult<Option<DeliveryRow>> {
        let lock = match self.pool() {
            super::Pool::Sqlite(_) => "",
            super::Pool::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE notification_deliveries SET worker_id = $1, lease_expires_at = $2, next_attempt_at = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM notification_deliveries WHERE status = 'pending' AND next_attempt_at <= $3 \
             ORDER BY next_attempt_at, id LIMIT 1{lock}) AND status = 'pending' AND next_attempt_at <= $3 RETURNING {DELIVERY_COLUMNS}"
        );
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, DeliveryRow>(&sql).bind(worker).bind(lease_until).bind(Utc::now()).fetch_optional(pool).await
        })?;
        Ok(row)
    }

    /// Records how an attempt by `worker` ended (nothing, if its lease was lost meanwhile).
    pub async fn finish_attempt(&self, id: i64, worker: &str, attempt: Attempt<'_>) -> DbResult<()> {
        let now = Utc::now();
        let (status, next, code, error, delivered) = match attempt {
            Attempt::Delivered { status } => ("delivered", now, Some(status), None, Some(now)),
            Attempt::Retry { at, status, error } => ("pending", at, status, Some(error), None),
            Attempt::GaveUp { status, error } => ("failed", now, status, Some(error), None),
        };
        on_backend!(self, pool => {
            sqlx::query(
                "UPDATE notification_deliveries SET status = $1, next_attempt_at = $2, last_status = $3, last_error = $4, \
                 delivered_at = $5, worker_id = NULL, lease_expires_at = NULL WHERE id = $6 AND worker_id = $7",
            )
            .bind(status)
            .bind(next)
            .bind(code.map(i64::from))
            .bind(error)
            .bind(delivered)
            .bind(id)
            .bind(worker)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Newest first, matching every filter given.
    pub async fn search_deliveries(&self, search: &DeliverySearch<'_>, limit: i64) -> DbResult<Vec<DeliveryRow>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE ($1 IS NULL OR destination = $1) \
             AND ($2 IS NULL OR event = $2) AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
        );
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, DeliveryRow>(&sql)
                .bind(search.destination)
                .bind(search.event)
                .bind(search.status)
                .bind(search.before)
                .bind(limit)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    pub async fn destination_stats(&self) -> DbResult<Vec<DestinationStats>> {
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, DestinationStats>(
                "SELECT destination, MAX(delivered_at) AS last_delivered_at, \
                 MAX(CASE WHEN status = 'failed' THEN next_attempt_at END) AS last_failed_at, \
                 SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending, \
                 SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed \
                 FROM notification_deliveries GROUP BY destination",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Removes deliveries created before `before`, and events with none left that are settled.
    pub async fn prune_notifications(&self, before: DateTime<Utc>) -> DbResult<u64> {
        let removed = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let deliveries = sqlx::query("DELETE FROM notification_deliveries WHERE created_at < $1")
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "DELETE FROM notification_events WHERE created_at < $1 AND state IN ('routed', 'void') \
                 AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.event_id = notification_events.id)",
            )
            .bind(before)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(deliveries)
        })?;
        Ok(removed)
    }

    /// The approvals of `run_id` recorded by `at`: a notification shows them as they were then.
    pub async fn approvals_until(&self, run_id: i64, at: DateTime<Utc>) -> DbResult<Vec<app::model::run::Approval>> {
        let all = self.approvals(run_id).await?;
        Ok(all.into_iter().filter(|a| a.at <= at).collect())
    }
}
