//! Notification destinations and their deliveries, as the admins' notifications page and the
//! deliveries API show them. Never a URL's path or query (Slack's carry the token) nor a key.

use super::query::{filled, query_string};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: i64,
    /// The idempotency id every attempt carries (`X-Zelly-Delivery`).
    pub delivery_id: String,
    pub destination: String,
    pub event: String,
    pub environment: Option<String>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The receiver's last HTTP status.
    pub last_status: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Filters of the deliveries list, as query parameters; empty strings mean "any".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct DeliveryQuery {
    #[serde(default)]
    pub destination: Option<String>,
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// Deliveries older than this id (paging).
    #[serde(default)]
    pub before: Option<i64>,
    /// 1 to 500.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", param(minimum = 1, maximum = 500))]
    pub limit: Option<i64>,
}

impl DeliveryQuery {
    pub fn destination(&self) -> Option<&str> {
        filled(&self.destination)
    }

    pub fn event(&self) -> Option<&str> {
        filled(&self.event)
    }

    pub fn status(&self) -> Option<&str> {
        filled(&self.status)
    }

    /// The query string of the next page.
    pub fn older_than(&self, id: i64) -> String {
        let filters = query_string(&[("destination", self.destination()), ("event", self.event()), ("status", self.status())]);
        if filters.is_empty() { format!("before={id}") } else { format!("{filters}&before={id}") }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DestinationSummary {
    pub name: String,
    /// `webhook` or `slack`.
    pub kind: String,
    /// Where it goes without what would let anyone post there: `https://hooks.slack.com`, or
    /// `secret zelly/ops/slack#WEBHOOK_URL`.
    pub target: String,
    /// Empty: every event / environment.
    pub events: Vec<String>,
    pub environments: Vec<String>,
    pub signed: bool,
    pub last_delivered_at: Option<DateTime<Utc>>,
    pub last_failed_at: Option<DateTime<Utc>>,
    pub pending: i64,
    pub failed: i64,
}

/// The notifications page: every destination and the newest deliveries matching the filters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NotificationsPage {
    pub destinations: Vec<DestinationSummary>,
    pub deliveries: DeliveryPage,
    /// Every event name, for the filter.
    pub events: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_keeps_the_filters_and_blanks_mean_any() {
        let q = DeliveryQuery { destination: Some("ops slack".into()), status: Some(" ".into()), ..Default::default() };
        assert_eq!(q.status(), None);
        assert_eq!(q.older_than(42), "destination=ops%20slack&before=42");
        assert_eq!(DeliveryQuery::default().older_than(7), "before=7");
    }
}
