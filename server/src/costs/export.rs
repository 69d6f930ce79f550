//! The cost review as CSV: one row per line item, for a spreadsheet.

use crate::csv::Csv;
use app::model::cost::CostOverview;

const HEADER: [&str; 10] =
    ["environment", "region", "category", "resource", "description", "quantity", "unit", "unit_price_usd", "monthly_usd", "price_key"];

pub fn to_csv(overview: &CostOverview) -> String {
    let mut csv = Csv::default();
    csv.row(HEADER);
    for env in &overview.environments {
        for item in &env.items {
            csv.row([
                env.name.clone(),
                env.region.clone(),
                item.category.label().to_string(),
                item.resource.clone(),
                item.description.clone(),
                format!("{}", (item.quantity * 1e4).round() / 1e4),
                item.unit.clone(),
                format!("{}", item.unit_price),
                format!("{:.2}", item.monthly),
                item.price_key.clone(),
            ]);
        }
    }
    csv.finish()
}
