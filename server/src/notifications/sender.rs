//! The background sender of each process: routes ready events into deliveries, settles held
//! events whose process died before confirming them, and sends due deliveries under a lease.
//! (Old deliveries are removed by the server's hourly housekeeping.)
//!
//! Idle, it makes one read-only query per `notifications.poll_seconds`; it wakes at once for
//! events queued in this process and for run changes (which, on Postgres, other processes'
//! runs announce too), and sleeps no longer than until the next retry is due.

use super::{payload, slack, Notifications};
use crate::config::notifications::DestinationKind;
use crate::db::notifications::{Attempt, DeliveryRow, EventRow, NewDelivery};
use crate::db::DbResult;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// One attempt may take this long; the lease covers it with room to spare.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const LEASE: chrono::Duration = chrono::Duration::seconds(30);
/// Deliveries sent at once by one process.
const PARALLEL: usize = 4;
/// Held events are looked up in AWS at most this often.
const SETTLE_EVERY: Duration = Duration::from_secs(5);
/// Retries are never further apart than this, nor later than a receiver's Retry-After asks
/// (beyond it).
const LONGEST_WAIT: f64 = 3600.0;

pub struct Sender {
    task: JoinHandle<()>,
}

impl Sender {
    /// Starts the sender; `changes` are run ids that changed (wake-ups).
    pub fn spawn(notifications: Notifications, changes: broadcast::Receiver<i64>) -> Sender {
        Sender { task: tokio::spawn(run(notifications, changes)) }
    }

    /// Stops it. An attempt cut short is tried again when its lease runs out.
    pub fn stop(self) {
        self.task.abort();
    }
}

struct Loop {
    n: Notifications,
    client: reqwest::Client,
    worker: String,
    next_settle: Instant,
}

async fn run(n: Notifications, mut changes: broadcast::Receiver<i64>) {
    let client = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        // A receiver that moved must be reconfigured: following a redirect would send the
        // signed body somewhere nobody chose.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("zelly-control/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client");
    let worker = format!("{}-{}", crate::runs::engine::hostname(), crate::auth::random_id(8));
    let mut state = Loop { n, client, worker, next_settle: Instant::now() };
    let poll = Duration::from_secs_f64(state.n.inner.config.notifications.poll_seconds);
    loop {
        let wait = match state.tick().await {
            Ok(wait) => wait.min(poll),
            Err(e) => {
                tracing::warn!("notifications: {e}");
                poll
            }
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.n.inner.queued.notified() => {}
            changed = changes.recv() => {
                if matches!(changed, Err(broadcast::error::RecvError::Closed)) {
                    tokio::time::sleep(wait).await;
                }
                // A run's log changes it many times a second: one look for all of them.
                tokio::time::sleep(Duration::from_millis(50)).await;
                while changes.try_recv().is_ok() {}
            }
        }
    }
}

impl Loop {
    /// Does what is due; returns how long nothing will be (zero: look again at once).
    async fn tick(&mut self) -> DbResult<Duration> {
        let db = &self.n.inner.db;
        let due = db.outbox_due().await?;
        let now = Utc::now();
        if due.ready_events {
            for event in db.ready_events(50).await? {
                self.route(&event).await?;
            }
            return Ok(Duration::ZERO);
        }
        if due.oldest_held.is_some_and(|t| t < now - self.settle_after()) && self.next_settle <= Instant::now() {
            self.next_settle = Instant::now() + SETTLE_EVERY;
            self.settle_held().await?;
        }
        match due.next_attempt {
            Some(at) if at <= now => {
                self.send_due().await?;
                Ok(Duration::ZERO)
            }
            Some(at) => Ok((at - now).to_std().unwrap_or_default().max(Duration::from_millis(10))),
            None => Ok(Duration::MAX),
        }
    }

    /// Queues one delivery per destination that hears `event`, its body rendered now.
    async fn route(&self, event: &EventRow) -> DbResult<()> {
        let inner = &self.n.inner;
        let doc = payload::build(&inner.db, &inner.config, event).await?;
        // A drift check's finished plan is reported as drift.detected, not as a plan.
        let drift_plan = event.event == "run.planned" && doc.run.as_ref().is_some_and(|r| r.kind == "drift");
        let mut deliveries = Vec::new();
        for d in inner.config.notifications.destinations.iter().filter(|_| !drift_plan) {
            let hears = match &doc.test {
                Some(test) => test["destination"] == d.name.as_str(),
                None => d.hears(&event.event, event.environment.as_deref()),
            };
            if !hears {
                continue;
            }
            let body = match d.kind {
                DestinationKind::Webhook => Ok(serde_json::to_string(&doc).expect("an event document serializes")),
                DestinationKind::Slack => slack::render(&doc),
            };
            match body {
                Ok(body) => deliveries.push(NewDelivery { destination: d.name.clone(), body }),
                Err(e) => tracing::error!(destination = %d.name, event = %event.event, "{e}"),
            }
        }
        if inner.db.route_event(event, &deliveries).await? && !deliveries.is_empty() {
            tracing::debug!(event = %event.uid, kind = %event.event, deliveries = deliveries.len(), "notification queued");
        }
        Ok(())
    }

    fn settle_after(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.n.inner.config.notifications.settle_after_seconds as i64)
    }

    /// Held events whose process did not say whether their AWS change was made: look.
    async fn settle_held(&self) -> DbResult<()> {
        let inner = &self.n.inner;
        for event in inner.db.held_events(Utc::now() - self.settle_after(), 50).await? {
            let stored: serde_json::Value = serde_json::from_str(&event.details).unwrap_or_default();
            let (details, env) = (&stored["details"], event.environment.clone().unwrap_or_default());
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            let made = match event.event.as_str() {
                "secret.changed" => {
                    let name = text(&stored["target"]);
                    match stored["action"].as_str() {
                        // A rollback makes an old version current: made if current moved off the previous one.
                        Some("secret.rollback") => inner
                            .secrets
                            .current_version(&env, &name)
                            .await
                            .map(|v| v.is_some_and(|v| v != text(&details["previous_version_id"]))),
                        _ => inner.secrets.version_exists(&env, &name, &text(&details["version_id"])).await,
                    }
                    .map_err(|e| e.to_string())
                }
                "state.force_unlocked" => inner.states.lock_released(&env, &text(&details["lock_id"])).await.map_err(|e| e.to_string()),
                _ => Ok(true),
            };
            match made {
                Ok(true) => inner.db.release_notification(event.id).await?,
                Ok(false) => inner.db.void_notification(event.id).await?,
                Err(e) => tracing::warn!(event = %event.uid, "cannot tell yet whether the change of {} was made: {e}", event.event),
            }
        }
        Ok(())
    }

    async fn send_due(&self) -> DbResult<()> {
        let lease = Utc::now() + LEASE;
        let mut batch = Vec::new();
        while batch.len() < PARALLEL {
            match self.n.inner.db.claim_delivery(&self.worker, lease).await? {
                Some(d) => batch.push(d),
                None => break,
            }
        }
        let outcomes = futures_util::future::join_all(batch.iter().map(|d| self.attempt(d))).await;
        for (d, outcome) in batch.iter().zip(outcomes) {
            self.record(d, outcome).await?;
        }
        Ok(())
    }

    /// One POST. Errors never carry the URL (Slack's holds its token).
    async fn attempt(&self, d: &DeliveryRow) -> Outcome {
        let Some(dest) = self.n.destination(&d.destination) else {
            return Outcome::Permanent(None, format!("the destination {:?} is no longer configured", d.destination));
        };
        let url = match dest.url() {
            Some(v) => self.n.resolve(&v).await,
            None => Err("the destination has no url".into()),
        };
        let url = match url {
            Ok(url) => url,
            Err(e) => return Outcome::Retry(None, e, None),
        };
        let mut request = self
            .client
            .post(url.expose())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("X-Zelly-Event", &d.event)
            .header("X-Zelly-Delivery", &d.uid)
            .body(d.body.clone());
        if let Some(key) = dest.signing_key() {
            match self.n.resolve(&key).await {
                Ok(key) => request = request.header("X-Zelly-Signature", signature(key.expose().as_bytes(), d.body.as_bytes())),
                Err(e) => return Outcome::Retry(None, e, None),
            }
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(None, describe(e), None),
        };
        let status = response.status();
        let retry_after = response.headers().get(http::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        if status.is_success() {
            return Outcome::Delivered(status.as_u16());
        }
        let said = first_line_of(response).await;
        let error = format!("HTTP {}{}", status.as_u16(), said.map(|s| format!(": {s}")).unwrap_or_default());
        match status.as_u16() {
            429 => Outcome::Retry(Some(429), error, retry_after),
            code if status.is_server_error() => Outcome::Retry(Some(code), error, None),
            code if status.is_redirection() => {
                Outcome::Permanent(Some(code), format!("{error} (redirects are not followed: set url to the final address)"))
            }
            code => Outcome::Permanent(Some(code), error),
        }
    }

    async fn record(&self, d: &DeliveryRow, outcome: Outcome) -> DbResult<()> {
        let config = &self.n.inner.config.notifications;
        let (dest, event, id) = (&d.destination, &d.event, &d.uid);
        let attempt = match &outcome {
            Outcome::Delivered(status) => {
                tracing::info!(destination = %dest, event = %event, delivery = %id, attempt = d.attempts, "notification delivered");
                Attempt::Delivered { status: *status }
            }
            Outcome::Permanent(status, error) => {
                tracing::warn!(destination = %dest, event = %event, delivery = %id, "notification failed, not retried: {error}");
                Attempt::GaveUp { status: *status, error }
            }
            Outcome::Retry(status, error, after) => {
                let wait = after.unwrap_or_else(|| backoff(config.retry_first_seconds, d.attempts)).min(LONGEST_WAIT);
                let at = Utc::now() + chrono::Duration::milliseconds((wait * 1000.0) as i64);
                let deadline = d.created_at + chrono::Duration::milliseconds((config.retry_hours * 3_600_000.0) as i64);
                if at > deadline {
                    tracing::warn!(destination = %dest, event = %event, delivery = %id, "notification given up after {} attempts: {error}", d.attempts);
                    Attempt::GaveUp { status: *status, error }
                } else {
                    tracing::warn!(destination = %dest, event = %event, delivery = %id, "notification attempt {} failed, next in {wait:.1} s: {error}", d.attempts);
                    Attempt::Retry { at, status: *status, error }
                }
            }
        };
        self.n.inner.db.finish_attempt(d.id, &self.worker, attempt).await
    }
}

enum Outcome {
    Delivered(u16),
    /// Try again: the status, what went wrong, and the wait the receiver asked for (seconds).
    Retry(Option<u16>, String, Option<f64>),
    Permanent(Option<u16>, String),
}

/// `sha256=<hex>` of HMAC-SHA256(key, body): what `X-Zelly-Signature` carries.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("sha256={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Seconds before retry number `attempts` (1 = the first retry): doubling from `first`, the
/// later half of it at random, so receivers coming back are not hit by every sender at once.
fn backoff(first: f64, attempts: i64) -> f64 {
    let full = (first * 2f64.powi(attempts.clamp(1, 30) as i32 - 1)).min(LONGEST_WAIT);
    full * rand::rng().random_range(0.5..=1.0)
}

/// `Retry-After`: seconds, or an HTTP date.
fn parse_retry_after(value: &str) -> Option<f64> {
    if let Ok(seconds) = value.trim().parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then_some(seconds);
    }
    let at: DateTime<Utc> = DateTime::parse_from_rfc2822(value.trim()).ok()?.into();
    Some((at - Utc::now()).num_milliseconds().max(0) as f64 / 1000.0)
}

/// What the receiver said, as one short line (kept with the delivery, like its status).
async fn first_line_of(mut response: reqwest::Response) -> Option<String> {
    let chunk = response.chunk().await.ok()??;
    let text = String::from_utf8_lossy(&chunk[..chunk.len().min(300)]).into_owned();
    let line: String = text.lines().next().unwrap_or_default().chars().filter(|c| !c.is_control()).collect();
    (!line.trim().is_empty()).then(|| line.trim().to_string())
}

/// A transport error with its causes, without the URL.
fn describe(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if timeout {
        text.push_str(&format!(" (no answer within {} s)", ATTEMPT_TIMEOUT.as_secs()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retries_double_with_jitter_and_stop_growing_at_an_hour() {
        for attempts in 1..=5 {
            let full = 2.0 * 2f64.powi(attempts - 1);
            let wait = backoff(2.0, attempts as i64);
            assert!((full / 2.0..=full).contains(&wait), "attempt {attempts}: {wait}");
        }
        assert!(backoff(2.0, 40) <= LONGEST_WAIT);
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        assert_eq!(parse_retry_after("3"), Some(3.0));
        assert_eq!(parse_retry_after("-1"), None);
        let later = (Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        assert!(parse_retry_after(&later).is_some_and(|s| (25.0..=30.0).contains(&s)));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
