//! The cost review as CSV: one row per line item, for a spreadsheet.

use app::model::cost::CostOverview;

const HEADER: [&str; 10] =
    ["environment", "region", "category", "resource", "description", "quantity", "unit", "unit_price_usd", "monthly_usd", "price_key"];

pub fn to_csv(overview: &CostOverview) -> String {
    let mut out = String::new();
    push_row(&mut out, HEADER.iter().map(|s| s.to_string()));
    for env in &overview.environments {
        for item in &env.items {
            push_row(
                &mut out,
                [
                    env.name.clone(),
                    env.region.clone(),
                    item.category.label().to_string(),
                    item.resource.clone(),
                    item.description.clone(),
                    format!("{}", round(item.quantity, 4)),
                    item.unit.clone(),
                    format!("{}", item.unit_price),
                    format!("{:.2}", item.monthly),
                    item.price_key.clone(),
                ],
            );
        }
    }
    out
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

fn push_row(out: &mut String, fields: impl IntoIterator<Item = String>) {
    let fields: Vec<String> = fields.into_iter().map(|f| field(&f)).collect();
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

/// RFC 4180 quoting; text a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is
/// prefixed with `'` (names come from configuration, which another team writes).
fn field(value: &str) -> String {
    let numeric = value.parse::<f64>().is_ok();
    let value = if !numeric && value.starts_with(['=', '+', '-', '@']) { format!("'{value}") } else { value.to_string() };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a, b"), "\"a, b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-3.5"), "-3.5");
    }
}
