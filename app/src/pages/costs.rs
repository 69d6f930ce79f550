//! `/costs`: the monthly cost review. Every environment side by side: the estimate (configuration
//! × catalog prices × the assumptions shown), Cost Explorer's actual spend beside it, a chart by
//! category, the line items grouped by category, and a CSV export.

use crate::server_fns::load_costs;
use crate::components::cost_chart::{CategoryChart, EstimateVsActual, ENV_COLORS};
use crate::model::cost::{thousands, usd, ActualSpend, CostCategory, CostOverview, EnvironmentCost, LineItem};
use crate::components::loaded::Loaded;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn CostsPage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| load_costs());
    view! {
        <Title text="Cost"/>
        <div class="page-head">
            <div>
                <p class="crumbs"><a href="/">"Environments"</a>" / Cost"</p>
                <h1>"Cost"</h1>
                <p class="muted">"Monthly estimates from each environment's configuration, the price catalog and the usage assumptions listed below, with Cost Explorer's actual spend beside them."</p>
            </div>
            <a class="button" href="/api/v1/costs.csv" download>"Download CSV"</a>
        </div>
        <Loaded resource=overview loading="Pricing the environments…" view=|o| view! { <Review o/> }/>
    }
}

#[component]
fn Review(o: CostOverview) -> impl IntoView {
    let columns = o.environments.len().max(1);
    let grid = format!("--columns: {columns}");
    view! {
        <div class="cost-columns" style=grid.clone()>
            {o.environments.iter().enumerate().map(|(i, env)| view! { <Summary env=env.clone() color=ENV_COLORS[i % ENV_COLORS.len()]/> }).collect_view()}
        </div>
        <section class="card cost-charts">
            <h2>"By category"</h2>
            <CategoryChart envs=o.environments.clone()/>
            <h2>"Estimate and actual spend"</h2>
            <EstimateVsActual envs=o.environments.clone()/>
        </section>
        <Assumptions envs=o.environments.clone()/>
        <h2 class="section-title">"Line items"</h2>
        <p class="muted">{format!(
            "Quantity × unit price = monthly cost, for a {}-hour month. Prices are on-demand list prices from the catalog (oldest price {}).",
            o.hours_per_month, o.prices_as_of
        )}</p>
        <div class="cost-columns" style=grid>
            {o.environments.into_iter().map(|env| view! { <LineItems env/> }).collect_view()}
        </div>
    }
    .into_any()
}

#[component]
fn Summary(env: EnvironmentCost, color: &'static str) -> impl IntoView {
    let actual = match (&env.actual, &env.actual_error) {
        (Some(a), _) => view! {
            <dl class="cost-actual">
                <div><dt>"Month to date"</dt><dd>{a.month_to_date.map_or_else(|| "No spend yet this month".to_string(), usd)}</dd></div>
                {a.forecast.map(|f| view! { <div><dt>"Forecast"</dt><dd title="This month at the month-to-date daily rate">{usd(f)}</dd></div> })}
                <div><dt>"Last month"</dt><dd>{usd(a.last_month)}</dd></div>
            </dl>
            <p class="muted small">{spend_caption(a)}</p>
            <p class="small">{match a.forecast {
                Some(forecast) => versus("Forecast", forecast, env.monthly_total),
                None => versus("Last month", a.last_month, env.monthly_total),
            }}</p>
        }
        .into_any(),
        (None, Some(e)) => view! { <p class="freshness unavailable">{format!("Actual spend unavailable: {e}")}</p> }.into_any(),
        (None, None) => view! { <p class="muted small">"Actual spend: Cost Explorer is not read (AWS access is off)."</p> }.into_any(),
    };
    view! {
        <section class="card cost-summary" id=env.name.clone() data-environment=env.name.clone() style=format!("--env-color: {color}")>
            <h2>{env.display_name.clone()}" "<span class="region">{env.region.clone()}</span></h2>
            <p class="cost-total"><span data-total>{usd(env.monthly_total)}</span><span class="muted">" / month estimated"</span></p>
            <p class="muted small">{format!("Rough figure in the configuration: {}", usd(env.configured_estimate))}</p>
            {actual}
            {(!env.unpriced.is_empty()).then(|| view! {
                <div class="notice notice-error" role="status">
                    <p>"Not priced (missing from the catalog), so not in the total:"</p>
                    <ul>{env.unpriced.iter().map(|u| view! { <li>{u.clone()}</li> }).collect_view()}</ul>
                </div>
            })}
        </section>
    }
}

/// `Cost Explorer, region ap-south-1 · 2026-11-01 to 2026-11-23 · last month 2026-10`.
fn spend_caption(a: &ActualSpend) -> String {
    let this_month = match (&a.period_start, &a.period_end) {
        (Some(start), Some(end)) => format!("{start} to {end}"),
        _ => "nothing billed yet this month".to_string(),
    };
    format!("Cost Explorer, {} · {this_month} · last month {}", a.scope, a.last_month_period)
}

/// `Forecast 7% below the estimate`: how far reality is from the assumptions.
fn versus(what: &str, actual: f64, estimate: f64) -> String {
    if estimate <= 0.0 {
        return String::new();
    }
    let pct = ((actual - estimate) / estimate * 100.0).round();
    match pct {
        p if p > 0.0 => format!("{what} {p}% above the estimate"),
        p if p < 0.0 => format!("{what} {}% below the estimate", -p),
        _ => format!("{what} matches the estimate"),
    }
}

/// Every environment's assumptions in one table, a column each, so differences stand out.
#[component]
fn Assumptions(envs: Vec<EnvironmentCost>) -> impl IntoView {
    let rows: Vec<(String, String, Vec<String>)> = envs
        .first()
        .map(|first| {
            first
                .assumptions
                .iter()
                .map(|a| {
                    let values = envs
                        .iter()
                        .map(|e| e.assumptions.iter().find(|x| x.key == a.key).map(|x| format!("{} {}", trim(x.value), x.unit)).unwrap_or_default())
                        .collect();
                    (a.key.clone(), a.label.clone(), values)
                })
                .collect()
        })
        .unwrap_or_default();
    view! {
        <section class="cost-assumptions">
            <h2 class="section-title">"Assumptions"</h2>
            <p class="muted">"Usage the configuration cannot say, as monthly averages. Each environment sets its own in "<code>"[environments.<name>.cost_assumptions]"</code>"."</p>
            <div class="table-wrap">
                <table class="compare">
                    <thead><tr><th>"Assumption"</th>{envs.iter().map(|e| view! { <th>{e.display_name.clone()}</th> }).collect_view()}</tr></thead>
                    <tbody>
                        {rows.into_iter().map(|(key, label, values)| {
                            let differs = values.windows(2).any(|w| w[0] != w[1]);
                            let attr = key.clone();
                            view! {
                                <tr class:differs=differs data-assumption=attr>
                                    <th scope="row">{label}<span class="muted small mono">" "{key}</span></th>
                                    {values.into_iter().map(|v| view! { <td>{v}</td> }).collect_view()}
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn LineItems(env: EnvironmentCost) -> impl IntoView {
    let groups: Vec<(CostCategory, f64, Vec<LineItem>)> = env
        .by_category()
        .into_iter()
        .map(|(c, total)| (c, total, env.items.iter().filter(|i| i.category == c).cloned().collect()))
        .collect();
    view! {
        <section class="cost-items" data-environment=env.name.clone()>
            <h3>{env.display_name.clone()}" "<span class="region">{env.region.clone()}</span></h3>
            <div class="table-wrap">
                <table class="line-items">
                    <thead><tr><th>"Resource"</th><th class="num">"Quantity"</th><th class="num">"Unit price"</th><th class="num">"Monthly"</th></tr></thead>
                    {groups.into_iter().map(|(category, total, items)| view! {
                        <tbody data-category=format!("{category:?}").to_lowercase()>
                            <tr class="group"><th colspan="3" scope="rowgroup">{category.label()}</th><td class="num">{usd(total)}</td></tr>
                            {items.into_iter().map(|i| view! {
                                <tr>
                                    <td>{i.resource.clone()}<span class="muted small">{format!(" · {}", i.description)}</span></td>
                                    <td class="num">{format!("{} {}", trim(i.quantity), i.unit)}</td>
                                    <td class="num">{unit_price(i.unit_price)}</td>
                                    <td class="num">{usd(i.monthly)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    }).collect_view()}
                    <tfoot><tr><th colspan="3" scope="row">"Total"</th><td class="num">{usd(env.monthly_total)}</td></tr></tfoot>
                </table>
            </div>
        </section>
    }
}

/// `$0.40`, `$0.04256`: at least cents, and every digit the catalog has.
fn unit_price(v: f64) -> String {
    let text = format!("{v}");
    match text.split_once('.') {
        Some((_, decimals)) if decimals.len() >= 2 => format!("${text}"),
        _ => format!("${v:.2}"),
    }
}

/// `730`, `0.875`, `1,100`: quantities without trailing zeros.
fn trim(v: f64) -> String {
    let rounded = (v * 1000.0).round() / 1000.0;
    match rounded.fract() == 0.0 {
        true => format!("{}{}", if rounded < 0.0 { "-" } else { "" }, thousands(rounded.abs() as u64)),
        false => format!("{rounded}"),
    }
}
