//! Cost: the monthly estimate of every environment (configuration × catalog × assumptions), the
//! cost of a plan, and Cost Explorer's actual spend beside them.

pub mod actual;
pub mod catalog;
pub mod estimate;
pub mod export;
pub mod plan;
pub mod pricelist;

use crate::clock::Clock;
use crate::config::Config;
use actual::ActualSpendReader;
use app::model::cost::{CostDiff, CostOverview, EnvironmentCost};
use app::model::Environment;
use catalog::Catalog;
use std::sync::Arc;

#[derive(Clone)]
pub struct Costs {
    catalog: Arc<Catalog>,
    hours: f64,
    /// Every environment's estimate, in display order: configuration and catalog do not change
    /// while the process runs, so each is made once, at start.
    estimates: Arc<Vec<EnvironmentCost>>,
    actual: ActualSpendReader,
}

impl Costs {
    pub async fn new(config: &Config, clock: Clock) -> anyhow::Result<Costs> {
        let catalog = config.costs.catalog().map_err(|e| anyhow::anyhow!("costs.catalog_file: {e}"))?;
        let hours = config.costs.hours_per_month;
        let estimates = config.environments().iter().map(|env| environment_cost(&catalog, env, hours)).collect();
        Ok(Costs {
            catalog: Arc::new(catalog),
            hours,
            estimates: Arc::new(estimates),
            actual: ActualSpendReader::new(config, clock).await,
        })
    }

    /// Every environment's estimate with Cost Explorer's figures beside it.
    pub async fn overview(&self) -> CostOverview {
        let actual = match self.actual.enabled() {
            true => Some(self.actual.read().await),
            false => None,
        };
        let environments = self
            .estimates
            .iter()
            .map(|estimate| {
                let mut cost = estimate.clone();
                match actual.as_ref().and_then(|a| a.get(&cost.name)) {
                    Some(Ok(spend)) => cost.actual = Some(spend.clone()),
                    Some(Err(e)) => cost.actual_error = Some(e.clone()),
                    None => {}
                }
                cost
            })
            .collect();
        CostOverview { environments, hours_per_month: self.hours, prices_as_of: self.catalog.oldest_price_date() }
    }

    /// What the plan in `show_json` does to `env`'s monthly cost.
    pub fn price_plan(&self, env: &Environment, show_json: &[u8]) -> Result<CostDiff, plan::PlanCostError> {
        plan::price_plan(&self.catalog, env, self.hours, show_json)
    }
}

/// An environment's estimate, without actual spend. A price the catalog lacks is said once, here.
fn environment_cost(catalog: &Catalog, env: &Environment, hours: f64) -> EnvironmentCost {
    let estimate = estimate::estimate(catalog, env, hours);
    let unpriced: Vec<String> = estimate.unpriced.iter().map(ToString::to_string).collect();
    if !unpriced.is_empty() {
        tracing::warn!(environment = %env.name, "not priced: {}", unpriced.join("; "));
    }
    EnvironmentCost {
        name: env.name.clone(),
        display_name: env.display_name.clone(),
        region: env.region.clone(),
        monthly_total: estimate.total(),
        currency: "USD".into(),
        items: estimate.items,
        unpriced,
        assumptions: env.cost_assumptions.describe(),
        actual: None,
        actual_error: None,
        configured_estimate: env.estimated_monthly_cost_usd,
    }
}
