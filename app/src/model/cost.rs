//! Cost: the monthly estimate of an environment, the assumptions it rests on, what Cost Explorer
//! says was spent, and what a plan would change.
//!
//! Money is in US dollars as `f64`: every figure here is an estimate rounded to cents for display,
//! never an amount that is summed into a bill.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The usage an estimate cannot read from configuration. Each is a monthly average; the cost page
/// shows them next to the numbers, and each environment may set its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct CostAssumptions {
    /// Autoscaled ECS services run this share of their range above the minimum (0–1).
    pub ecs_scale_out: f64,
    /// Share of Fargate task-hours on Fargate Spot rather than on-demand (0–1).
    pub fargate_spot_share: f64,
    /// Aurora's average capacity above its minimum, as a share of (max − min) ACU (0–1).
    pub aurora_utilisation: f64,
    pub aurora_storage_gb: f64,
    /// Aurora I/O requests per month, in millions.
    pub aurora_io_millions: f64,
    /// Data through the NAT gateways per month.
    pub nat_processed_gb: f64,
    /// Average load balancer capacity units per ALB and per NLB.
    pub alb_lcu: f64,
    pub nlb_lcu: f64,
    /// Public IPv4 addresses an internet-facing ALB holds (one per zone) and an NLB holds (its
    /// Elastic IPs).
    pub alb_public_ips: f64,
    pub nlb_public_ips: f64,
    pub efs_storage_gb: f64,
    /// CloudWatch Logs ingested per month and stored on average, across all log groups.
    pub log_ingestion_gb: f64,
    pub log_storage_gb: f64,
    /// Secrets Manager API calls per month (task starts, rotations, this control plane).
    pub secrets_api_calls: f64,
    /// The root volume of each EC2 instance (gp3).
    pub ec2_root_volume_gb: f64,
    /// The Terraform state in S3 and the lock table's requests per month.
    pub state_storage_gb: f64,
    pub lock_table_requests: f64,
}

impl Default for CostAssumptions {
    /// A small, steady environment; the built-in estate sets its own figures.
    fn default() -> Self {
        CostAssumptions {
            ecs_scale_out: 0.05,
            fargate_spot_share: 0.0,
            aurora_utilisation: 0.05,
            aurora_storage_gb: 10.0,
            aurora_io_millions: 10.0,
            nat_processed_gb: 50.0,
            alb_lcu: 0.2,
            nlb_lcu: 0.2,
            alb_public_ips: 2.0,
            nlb_public_ips: 1.0,
            efs_storage_gb: 1.0,
            log_ingestion_gb: 5.0,
            log_storage_gb: 5.0,
            secrets_api_calls: 10_000.0,
            ec2_root_volume_gb: 8.0,
            state_storage_gb: 0.01,
            lock_table_requests: 2_000.0,
        }
    }
}

impl CostAssumptions {
    /// Every assumption as the cost page and the API show it, in a stable order.
    pub fn describe(&self) -> Vec<Assumption> {
        let a = |key: &str, label: &str, value: f64, unit: &str| Assumption {
            key: key.to_string(),
            label: label.to_string(),
            value,
            unit: unit.to_string(),
        };
        vec![
            a("ecs_scale_out", "Autoscaled ECS services run above their minimum", self.ecs_scale_out * 100.0, "% of range"),
            a("fargate_spot_share", "Fargate task-hours on Spot", self.fargate_spot_share * 100.0, "%"),
            a("aurora_utilisation", "Aurora average capacity above its minimum", self.aurora_utilisation * 100.0, "% of range"),
            a("aurora_storage_gb", "Aurora storage", self.aurora_storage_gb, "GB"),
            a("aurora_io_millions", "Aurora I/O requests", self.aurora_io_millions, "million/month"),
            a("nat_processed_gb", "Data through NAT", self.nat_processed_gb, "GB/month"),
            a("alb_lcu", "Capacity units per ALB", self.alb_lcu, "LCU"),
            a("nlb_lcu", "Capacity units per NLB", self.nlb_lcu, "NLCU"),
            a("alb_public_ips", "Public IPv4 addresses per ALB", self.alb_public_ips, "addresses"),
            a("nlb_public_ips", "Public IPv4 addresses per NLB", self.nlb_public_ips, "addresses"),
            a("efs_storage_gb", "EFS storage", self.efs_storage_gb, "GB"),
            a("log_ingestion_gb", "CloudWatch Logs ingested", self.log_ingestion_gb, "GB/month"),
            a("log_storage_gb", "CloudWatch Logs stored", self.log_storage_gb, "GB"),
            a("secrets_api_calls", "Secrets Manager API calls", self.secrets_api_calls, "calls/month"),
            a("ec2_root_volume_gb", "EC2 root volume", self.ec2_root_volume_gb, "GB each"),
            a("state_storage_gb", "Terraform state in S3", self.state_storage_gb, "GB"),
            a("lock_table_requests", "State lock requests", self.lock_table_requests, "requests/month"),
        ]
    }

    /// The first assumption outside its range, named: shares are 0–1, quantities not negative.
    pub fn check(&self) -> Result<(), String> {
        let shares = [
            ("ecs_scale_out", self.ecs_scale_out),
            ("fargate_spot_share", self.fargate_spot_share),
            ("aurora_utilisation", self.aurora_utilisation),
        ];
        for (key, v) in shares {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{key} is a share between 0 and 1, not {v}"));
            }
        }
        let quantities = [
            ("aurora_storage_gb", self.aurora_storage_gb),
            ("aurora_io_millions", self.aurora_io_millions),
            ("nat_processed_gb", self.nat_processed_gb),
            ("alb_lcu", self.alb_lcu),
            ("nlb_lcu", self.nlb_lcu),
            ("alb_public_ips", self.alb_public_ips),
            ("nlb_public_ips", self.nlb_public_ips),
            ("efs_storage_gb", self.efs_storage_gb),
            ("log_ingestion_gb", self.log_ingestion_gb),
            ("log_storage_gb", self.log_storage_gb),
            ("secrets_api_calls", self.secrets_api_calls),
            ("ec2_root_volume_gb", self.ec2_root_volume_gb),
            ("state_storage_gb", self.state_storage_gb),
            ("lock_table_requests", self.lock_table_requests),
        ];
        for (key, v) in quantities {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{key} must be zero or more, not {v}"));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Assumption {
    pub key: String,
    pub label: String,
    pub value: f64,
    pub unit: String,
}

/// What a line item is for; the cost page groups by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CostCategory {
    Containers,
    Database,
    Cache,
    Instances,
    Network,
    LoadBalancers,
    Storage,
    Observability,
    Secrets,
    TerraformState,
}

impl CostCategory {
    pub const ALL: [CostCategory; 10] = [
        Self::Containers,
        Self::Database,
        Self::Cache,
        Self::Instances,
        Self::Network,
        Self::LoadBalancers,
        Self::Storage,
        Self::Observability,
        Self::Secrets,
        Self::TerraformState,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Containers => "Containers (ECS Fargate)",
            Self::Database => "Database (Aurora)",
            Self::Cache => "Cache (ElastiCache)",
            Self::Instances => "Instances (EC2, EBS)",
            Self::Network => "Network (NAT, public IPv4)",
            Self::LoadBalancers => "Load balancers",
            Self::Storage => "File storage (EFS)",
            Self::Observability => "Logs (CloudWatch)",
            Self::Secrets => "Secrets Manager",
            Self::TerraformState => "Terraform state (S3, DynamoDB)",
        }
    }
}

impl fmt::Display for CostCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One priced quantity: `quantity` × `unit_price` = `monthly`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LineItem {
    pub category: CostCategory,
    /// The thing that costs: `fastify-nova`, `alb-nova`, `ClickHouse (t3.medium)`.
    pub resource: String,
    /// What is priced: `Fargate vCPU`, `NAT data processed`.
    pub description: String,
    #[serde(serialize_with = "rounded")]
    pub quantity: f64,
    pub unit: String,
    pub unit_price: f64,
    #[serde(serialize_with = "rounded")]
    pub monthly: f64,
    /// The catalog entry the unit price came from.
    pub price_key: String,
}

/// What Cost Explorer reports for an environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ActualSpend {
    /// `region ap-south-1` or `tag Environment=production`.
    pub scope: String,
    /// This month's whole days so far (`period_start` to `period_end`). `null` on the first of a
    /// month: no day of it is billed yet, and Cost Explorer has no period to be asked for.
    #[serde(serialize_with = "rounded_or_null")]
    pub month_to_date: Option<f64>,
    /// This month's total at the month-to-date daily rate; `null` without a month to date (a
    /// forecast from no data would be a guess).
    #[serde(serialize_with = "rounded_or_null")]
    pub forecast: Option<f64>,
    #[serde(serialize_with = "rounded")]
    pub last_month: f64,
    pub currency: String,
    /// The days `month_to_date` covers, `YYYY-MM-DD`, both included: the first of this month to
    /// yesterday (UTC). `null` with it.
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    /// The month `last_month` covers, `YYYY-MM`.
    pub last_month_period: String,
    /// When Cost Explorer was asked (answers are kept a while: every request is billed).
    pub fetched_at: chrono::DateTime<chrono::Utc>,
}

/// One environment's estimate, as `GET /api/v1/costs` and the cost page show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EnvironmentCost {
    pub name: String,
    pub display_name: String,
    pub region: String,
    #[serde(serialize_with = "rounded")]
    pub monthly_total: f64,
    pub currency: String,
    pub items: Vec<LineItem>,
    pub assumptions: Vec<Assumption>,
    /// Parts of the configuration the catalog has no price for (a region or type it lacks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpriced: Vec<String>,
    /// `null` when Cost Explorer is off or could not be read (see `actual_error`).
    pub actual: Option<ActualSpend>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_error: Option<String>,
    /// The rough figure the configuration carries, for comparison.
    pub configured_estimate: f64,
}

impl EnvironmentCost {
    /// The total per category, in `CostCategory::ALL` order, leaving out empty ones.
    pub fn by_category(&self) -> Vec<(CostCategory, f64)> {
        CostCategory::ALL
            .into_iter()
            .filter_map(|c| {
                let items: Vec<&LineItem> = self.items.iter().filter(|i| i.category == c).collect();
                (!items.is_empty()).then(|| (c, items.iter().map(|i| i.monthly).sum()))
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CostOverview {
    pub environments: Vec<EnvironmentCost>,
    pub hours_per_month: f64,
    /// The oldest price date in the catalog, `YYYY-MM-DD`.
    pub prices_as_of: String,
}

/// What a plan does to the monthly cost, from the resources it changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CostDiff {
    /// The monthly cost of the changed resources before and after the plan.
    #[serde(serialize_with = "rounded")]
    pub monthly_before: f64,
    #[serde(serialize_with = "rounded")]
    pub monthly_after: f64,
    #[serde(serialize_with = "rounded")]
    pub monthly_delta: f64,
    pub currency: String,
    /// Priced resources, largest change first.
    pub items: Vec<CostDiffItem>,
    /// Changed resources whose cost this estimate does not know: never counted as zero.
    pub unpriced: Vec<UnpricedResource>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CostDiffItem {
    pub address: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub action: super::plan::ChangeAction,
    #[serde(serialize_with = "rounded")]
    pub monthly_before: f64,
    #[serde(serialize_with = "rounded")]
    pub monthly_after: f64,
    #[serde(serialize_with = "rounded")]
    pub monthly_delta: f64,
    /// How the figure was reached, e.g. `2 tasks × (1 vCPU, 2 GB) on Fargate`.
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UnpricedResource {
    pub address: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub reason: String,
}

/// Figures go out to a millionth of a dollar: enough for any sum of them, without the noise of
/// binary fractions (`230.05260000000004`).
fn rounded<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 1e6).round() / 1e6)
}

fn rounded_or_null<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => rounded(v, s),
        None => s.serialize_none(),
    }
}

/// `+$12.40`, `−$3.00`, `$0.00`: a monthly change as the run page and the approval view show it.
pub fn signed_usd(delta: f64) -> String {
    let cents = (delta * 100.0).round() / 100.0;
    if cents > 0.0 {
        format!("+{}", usd(cents))
    } else if cents < 0.0 {
        format!("−{}", usd(-cents))
    } else {
        usd(0.0)
    }
}

/// `$1,234.50`.
pub fn usd(amount: f64) -> String {
    let cents = (amount.abs() * 100.0).round() as u64;
    let sign = if amount < 0.0 && cents > 0 { "-" } else { "" };
    format!("{sign}${}.{:02}", thousands(cents / 100), cents % 100)
}

/// `1,234,567`.
pub fn thousands(whole: u64) -> String {
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_a_bill() {
        assert_eq!(usd(1234.5), "$1,234.50");
        assert_eq!(usd(0.004), "$0.00");
        assert_eq!(usd(999.999), "$1,000.00");
        assert_eq!(signed_usd(12.4), "+$12.40");
        assert_eq!(signed_usd(-3.0), "−$3.00");
        assert_eq!(signed_usd(0.001), "$0.00");
    }

    #[test]
    fn assumptions_out_of_range_are_named() {
        let mut a = CostAssumptions::default();
        assert_eq!(a.check(), Ok(()));
        a.aurora_utilisation = 1.5;
        assert!(a.check().unwrap_err().contains("aurora_utilisation"));
        a = CostAssumptions { nat_processed_gb: -1.0, ..Default::default() };
        assert!(a.check().unwrap_err().contains("nat_processed_gb"));
    }
}
