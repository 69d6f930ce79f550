//! Notifications: Slack messages and signed webhooks about runs, drift, secrets and the state
//! lock, from a durable outbox.
//!
//! - An event is written with the audit row of its change, in one transaction (`event`,
//!   `db::notifications`); a change made in AWS after its row holds its event until confirmed.
//! - A sender in every process routes ready events to the destinations that hear them (one
//!   delivery each, its body rendered once: `payload`, `slack`) and sends deliveries under a
//!   lease, retrying with backoff (`sender`). At least once: every attempt of a delivery carries
//!   the same `X-Zelly-Delivery` id.
//! - Admins see the deliveries and send tests; this module decides who may.

pub mod event;
pub mod payload;
mod sender;
pub mod slack;

use crate::config::notifications::{Destination, DestinationKind, SecretRef, Value};
use crate::config::Config;
use crate::db::audit::NewAuditEvent;
use crate::db::notifications::{DeliveryRow, DeliverySearch};
use crate::db::{Db, DbError};
use crate::secrets::document::Sensitive;
use crate::secrets::Secrets;
use crate::state::States;
use app::model::notifications::{Delivery, DeliveryPage, DeliveryQuery, DestinationSummary, NotificationsPage};
use app::model::{Identity, Role};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub use sender::Sender;

/// The most deliveries one page holds.
pub const MAX_PAGE: i64 = 500;
const STATUSES: [&str; 3] = ["pending", "delivered", "failed"];
/// Values read from Secrets Manager for sending are kept this long.
const SECRET_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadQuery(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

type Result<T> = std::result::Result<T, NotificationError>;

#[derive(Clone)]
pub struct Notifications {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    db: Db,
    secrets: Secrets,
    states: States,
    /// Where `url_secret` and `signing_key_secret` are read.
    secrets_environment: String,
    /// Wakes this process's sender: something was queued here.
    queued: Notify,
    /// Values read from secrets, with when they were read.
    secret_cache: Mutex<HashMap<(String, String), (Sensitive, Instant)>>,
}

fn require_admin(who: &Identity, what: &str) -> Result<()> {
    match who.can(Role::Admin) {
        true => Ok(()),
        false => Err(NotificationError::Forbidden(format!("{what} needs the admin role; you have {}", who.role))),
    }
}

impl Notifications {
    pub fn new(config: Arc<Config>, db: Db, secrets: Secrets, states: States) -> Notifications {
        let secrets_environment = match config.notifications.secrets_environment.as_str() {
            "" => config.environments().first().map(|e| e.name.clone()).unwrap_or_default(),
            name => name.to_string(),
        };
        if !config.notifications.destinations.is_empty() && config.server.public_url.is_none() {
            tracing::warn!("notifications link to runs at http://{}: set server.public_url to the address people use", config.server.listen);
        }
        Notifications {
            inner: Arc::new(Inner {
                config,
                db,
                secrets,
                states,
                secrets_environment,
                queued: Notify::new(),
                secret_cache: Mutex::default(),
            }),
        }
    }

    fn destination(&self, name: &str) -> Option<&Destination> {
        self.inner.config.notifications.destinations.iter().find(|d| d.name == name)
    }

    /// Queues a `test` event for destination `name` (admins), audited like any change.
    pub async fn send_test(&self, who: &Identity, name: &str) -> Result<()> {
        require_admin(who, "sending a test notification")?;
        if self.destination(name).is_none() {
            return Err(NotificationError::NotFound(format!("no notification destination {name:?}")));
        }
        let event = NewAuditEvent {
            actor: who.name.clone(),
            action: app::model::audit::AuditAction::NotificationTest,
            environment: None,
            target: Some(format!("destination {name}")),
            details: serde_json::json!({ "destination": name }),
        };
        self.inner.db.append_audit(&event).await?;
        self.inner.queued.notify_one();
        Ok(())
    }

    /// Newest first, `limit` (default 50, at most `MAX_PAGE`) deliveries matching `query`.
    pub async fn deliveries(&self, who: &Identity, query: &DeliveryQuery) -> Result<DeliveryPage> {
        require_admin(who, "reading notification deliveries")?;
        let limit = query.limit.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(NotificationError::BadQuery(format!("limit must be between 1 and {MAX_PAGE}")));
        }
        if let Some(status) = query.status().filter(|s| !STATUSES.contains(s)) {
            return Err(NotificationError::BadQuery(format!("status {status:?} is not one of {}", STATUSES.join(", "))));
        }
        if let Some(event) = query.event().filter(|e| !crate::config::notifications::EVENTS.contains(e)) {
            return Err(NotificationError::BadQuery(format!("event {event:?} is not a notification event")));
        }
        let search = DeliverySearch { destination: query.destination(), event: query.event(), status: query.status(), before: query.before };
        // One more than asked says whether there is an older page.
        let mut rows = self.inner.db.search_deliveries(&search, limit + 1).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_before = if more { rows.last().map(|d| d.id) } else { None };
        Ok(DeliveryPage { deliveries: rows.into_iter().map(delivery).collect(), next_before })
    }

    /// Every configured destination with its last success and failure (admins).
    pub async fn destinations(&self, who: &Identity) -> Result<Vec<DestinationSummary>> {
        require_admin(who, "reading notification destinations")?;
        let stats = self.inner.db.destination_stats().await?;
        Ok(self
            .inner
            .config
            .notifications
            .destinations
            .iter()
            .map(|d| {
                let s = stats.iter().find(|s| s.destination == d.name);
                DestinationSummary {
                    name: d.name.clone(),
                    kind: d.kind.as_str().into(),
                    target: target_of(d),
                    events: d.events.clone(),
                    environments: d.environments.clone(),
                    signed: d.kind == DestinationKind::Webhook,
                    last_delivered_at: s.and_then(|s| s.last_delivered_at),
                    last_failed_at: s.and_then(|s| s.last_failed_at),
                    pending: s.map_or(0, |s| s.pending),
                    failed: s.map_or(0, |s| s.failed),
                }
            })
            .collect())
    }

    pub async fn page(&self, who: &Identity, query: &DeliveryQuery) -> Result<NotificationsPage> {
        let (destinations, deliveries) = tokio::try_join!(self.destinations(who), self.deliveries(who, query))?;
        let events = crate::config::notifications::EVENTS.iter().map(|e| e.to_string()).collect();
        Ok(NotificationsPage { destinations, deliveries, events })
    }

    /// The value `value` stands for: inline, or read from Secrets Manager (kept a minute).
    async fn resolve(&self, value: &Value) -> std::result::Result<Sensitive, String> {
        let r: &SecretRef = match value {
            Value::Inline(v) => return Ok(Sensitive::new(v.expose().to_string())),
            Value::Secret(r) => r,
        };
        let key = (r.name.clone(), r.key.clone());
        if let Some((v, at)) = self.inner.secret_cache.lock().unwrap().get(&key) {
            if at.elapsed() < SECRET_TTL {
                return Ok(v.clone());
            }
        }
        let v = self
            .inner
            .secrets
            .read_key(&self.inner.secrets_environment, &r.name, &r.key)
            .await
            .map_err(|e| format!("could not read {}#{} in {}: {e}", r.name, r.key, self.inner.secrets_environment))?;
        self.inner.secret_cache.lock().unwrap().insert(key, (v.clone(), Instant::now()));
        Ok(v)
    }
}

/// Where a destination sends, without the path and query that may carry its token.
fn target_of(d: &Destination) -> String {
    match (&d.url, &d.url_secret) {
        (Some(url), _) => match url::Url::parse(url.expose()) {
            Ok(u) => format!("{}://{}{}", u.scheme(), u.host_str().unwrap_or(""), u.port().map(|p| format!(":{p}")).unwrap_or_default()),
            Err(_) => String::new(),
        },
        (None, Some(secret)) => format!("secret {secret}"),
        (None, None) => String::new(),
    }
}

fn delivery(d: DeliveryRow) -> Delivery {
    let pending = d.status == "pending";
    Delivery {
        id: d.id,
        delivery_id: d.uid,
        destination: d.destination,
        event: d.event,
        environment: d.environment,
        status: d.status,
        attempts: d.attempts,
        last_error: d.last_error,
        last_status: d.last_status,
        created_at: d.created_at,
        delivered_at: d.delivered_at,
        next_attempt_at: pending.then_some(d.next_attempt_at),
    }
}
