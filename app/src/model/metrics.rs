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

/// One line of a chart: timestamps (epoch seconds) and values, oldest first. On the wire it is
/// `SeriesJson`: CloudWatch's points are evenly spaced, so a start, a step and the values carry
/// them in a fifth of the bytes of `[time, value]` pairs (the dashboard's page and every refresh
/// carry a few thousand).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "SeriesJson", from = "SeriesJson")]
pub struct Series {
    pub label: String,
    pub points: Vec<(i64, f64)>,
}

impl Series {
    pub fn latest(&self) -> Option<f64> {
        self.points.last().map(|p| p.1)
    }
}

/// A chart line as the API writes it: the value at `start + i × step` is `values[i]`, `null`
/// where CloudWatch has no point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema), schema(as = Series))]
pub struct SeriesJson {
    pub label: String,
    /// Epoch seconds of the first value.
    #[cfg_attr(feature = "ssr", schema(example = 1796164800))]
    pub start: i64,
    /// Seconds between values (0 with fewer than two).
    #[cfg_attr(feature = "ssr", schema(example = 300))]
    pub step: i64,
    pub values: Vec<Option<f64>>,
}

impl From<Series> for SeriesJson {
    fn from(series: Series) -> SeriesJson {
        let start = series.points.first().map_or(0, |p| p.0);
        // The largest step every point lies on: CloudWatch's period, for its aligned timestamps.
        let step = series.points.windows(2).map(|w| w[1].0 - w[0].0).filter(|d| *d > 0).fold(0, gcd);
        let mut values = Vec::new();
        for (t, v) in series.points {
            let slot = if step == 0 { 0 } else { ((t - start) / step) as usize };
            if values.len() <= slot {
                values.resize(slot + 1, None);
            }
            values[slot] = Some(v);
        }
        SeriesJson { label: series.label, start, step, values }
    }
}

impl From<SeriesJson> for Series {
    fn from(json: SeriesJson) -> Series {
        let points = json.values.iter().enumerate().filter_map(|(i, v)| Some((json.start + i as i64 * json.step, (*v)?))).collect();
        Series { label: json.label, points }
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `v` to `digits` significant digits: CloudWatch's averages carry sixteen, of which a chart
/// draws two and its legend shows three.
pub fn significant(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let decimals = digits - 1 - v.abs().log10().floor() as i32;
    // Dividing by a power of ten below one is inexact (12345 / 0.1): multiply instead.
    if decimals >= 0 {
        let m = 10f64.powi(decimals);
        (v * m).round() / m
    } else {
        let m = 10f64.powi(-decimals);
        (v / m).round() * m
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Panel {
    pub id: String,
    pub title: String,
    pub unit: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Vec<SeriesJson>))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_travel_as_start_step_and_values_with_gaps_as_null() {
        let series = Series { label: "api".into(), points: vec![(600, 1.5), (900, 2.0), (1500, 4.25)] };
        let json = serde_json::to_value(&series).unwrap();
        assert_eq!(json, serde_json::json!({ "label": "api", "start": 600, "step": 300, "values": [1.5, 2.0, null, 4.25] }));
        assert_eq!(serde_json::from_value::<Series>(json).unwrap(), series);
        for points in [vec![], vec![(60, 1.0)]] {
            let one = Series { label: "x".into(), points };
            assert_eq!(serde_json::from_value::<Series>(serde_json::to_value(&one).unwrap()).unwrap(), one);
        }
    }

    #[test]
    fn values_keep_four_significant_digits() {
        assert_eq!(significant(36.99075359232098, 4), 36.99);
        assert_eq!(significant(12345.6, 4), 12350.0);
        assert_eq!(significant(0.123456, 4), 0.1235);
        assert_eq!(significant(-2.0, 4), -2.0);
        assert_eq!(significant(0.0, 4), 0.0);
    }
}
