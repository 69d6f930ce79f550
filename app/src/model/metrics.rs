//! CloudWatch metrics of an environment, as the dashboard shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The time ranges the dashboard offers, with the resolution each is read at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Range {
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "3h")]
    ThreeHours,
    #[serde(rename = "12h")]
    TwelveHours,
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
}

impl Range {
    pub const ALL: [Range; 5] = [Range::Hour, Range::ThreeHours, Range::TwelveHours, Range::Day, Range::Week];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "1h",
            Self::ThreeHours => "3h",
            Self::TwelveHours => "12h",
            Self::Day => "24h",
            Self::Week => "7d",
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Self::Hour => 3600,
            Self::ThreeHours => 3 * 3600,
            Self::TwelveHours => 12 * 3600,
            Self::Day => 24 * 3600,
            Self::Week => 7 * 24 * 3600,
        }
    }

    /// CloudWatch period: at most about 170 points per series.
    pub fn period_seconds(self) -> i32 {
        match self {
            Self::Hour => 60,
            Self::ThreeHours => 300,
            Self::TwelveHours => 300,
            Self::Day => 900,
            Self::Week => 3600,
        }
    }
}

impl std::str::FromStr for Range {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Range::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown range {s:?}: expected 1h, 3h, 12h, 24h or 7d"))
    }
}

/// One line of a chart: timestamps (epoch seconds) and values, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Series {
    pub label: String,
    pub points: Vec<(i64, f64)>,
}

impl Series {
    pub fn latest(&self) -> Option<f64> {
        self.points.last().map(|p| p.1)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Panel {
    pub id: String,
    pub title: String,
    pub unit: String,
    pub series: Vec<Series>,
}

/// Every panel of one environment for one range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Metrics {
    pub environment: String,
    pub range: Range,
    pub period_seconds: i32,
    pub panels: Vec<Panel>,
    /// When this was read from CloudWatch; `None` if it never could be.
    pub fetched_at: Option<DateTime<Utc>>,
    /// The last attempt to refresh failed (the data, if any, is older than it should be).
    pub error: Option<String>,
}
