//! The cost review's charts, drawn as SVG by the app: monthly cost per category with every
//! environment's bar side by side, and each environment's estimate beside its actual spend.
//! Every bar carries its figure as text, so the chart reads without colors and without hover.

use crate::model::cost::{usd, CostCategory, EnvironmentCost};
use leptos::prelude::*;

/// One color per environment in display order (the first two match production and staging).
pub const ENV_COLORS: [&str; 4] = ["#b4541a", "#2f6f9f", "#3f9a5f", "#a04d8f"];

const WIDTH: f64 = 760.0;
const LABEL: f64 = 210.0;
const BAR: f64 = 14.0;
const GAP: f64 = 10.0;
const VALUE_ROOM: f64 = 80.0;

struct Bar {
    color: &'static str,
    value: f64,
    title: String,
    dashed: bool,
}

/// Horizontal bar groups on one scale: a label per group, a bar per environment.
fn bar_chart(label: &str, groups: Vec<(String, Vec<Bar>)>) -> impl IntoView {
    let max = groups.iter().flat_map(|(_, bars)| bars.iter().map(|b| b.value)).fold(0.0_f64, f64::max).max(1.0);
    let scale = (WIDTH - LABEL - VALUE_ROOM) / max;
    let mut y = 0.0;
    let mut shapes = Vec::new();
    for (name, bars) in groups {
        let group_height = bars.len() as f64 * (BAR + 2.0);
        shapes.push(view! {
            <text x=LABEL - 8.0 y=y + group_height / 2.0 + 4.0 text-anchor="end" class="chart-label">{name}</text>
        }.into_any());
        for bar in bars {
            let w = (bar.value * scale).max(if bar.value > 0.0 { 1.0 } else { 0.0 });
            shapes.push(view! {
                <g>
                    <title>{bar.title.clone()}</title>
                    <rect x=LABEL y=y width=w height=BAR fill=bar.color fill-opacity=if bar.dashed { "0.35" } else { "0.9" }
                          stroke=bar.color stroke-dasharray=if bar.dashed { "4 2" } else { "" }></rect>
                    <text x=LABEL + w + 6.0 y=y + BAR - 3.0 class="chart-value">{usd(bar.value)}</text>
                </g>
            }.into_any());
            y += BAR + 2.0;
        }
        y += GAP;
    }
    let height = y.max(20.0);
    view! {
        <svg class="cost-chart" viewBox=format!("0 0 {WIDTH} {height}") role="img" aria-label=label.to_string()
             preserveAspectRatio="xMinYMin meet" style=format!("max-height: {}px", height * 1.2)>
            {shapes}
        </svg>
    }
}

fn legend(envs: &[EnvironmentCost]) -> impl IntoView {
    view! {
        <p class="chart-legend">
            {envs.iter().enumerate().map(|(i, e)| view! {
                <span><i style=format!("background: {}", ENV_COLORS[i % ENV_COLORS.len()])></i>{e.display_name.clone()}</span>
            }).collect_view()}
        </p>
    }
}

#[component]
pub fn CategoryChart(envs: Vec<EnvironmentCost>) -> impl IntoView {
    let totals: Vec<Vec<(CostCategory, f64)>> = envs.iter().map(|e| e.by_category()).collect();
    let groups = CostCategory::ALL
        .into_iter()
        .filter(|c| totals.iter().any(|t| t.iter().any(|(x, v)| x == c && *v > 0.0)))
        .map(|c| {
            let bars = envs
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let value = totals[i].iter().find(|(x, _)| *x == c).map(|(_, v)| *v).unwrap_or(0.0);
                    Bar { color: ENV_COLORS[i % ENV_COLORS.len()], value, title: format!("{}: {} {}", e.display_name, c.label(), usd(value)), dashed: false }
                })
                .collect();
            (c.label().to_string(), bars)
        })
        .collect();
    view! {
        {legend(&envs)}
        {bar_chart("Monthly cost by category and environment", groups)}
    }
}

#[component]
pub fn EstimateVsActual(envs: Vec<EnvironmentCost>) -> impl IntoView {
    let groups = envs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let color = ENV_COLORS[i % ENV_COLORS.len()];
            let mut bars = vec![Bar { color, value: e.monthly_total, title: format!("{} estimate {}", e.display_name, usd(e.monthly_total)), dashed: false }];
            if let Some(a) = &e.actual {
                if let Some(forecast) = a.forecast {
                    bars.push(Bar { color, value: forecast, title: format!("{} forecast {}", e.display_name, usd(forecast)), dashed: true });
                }
                bars.push(Bar { color, value: a.last_month, title: format!("{} last month {}", e.display_name, usd(a.last_month)), dashed: true });
            }
            (e.display_name.clone(), bars)
        })
        .collect();
    let any_actual = envs.iter().any(|e| e.actual.is_some());
    view! {
        <p class="chart-legend muted small">
            {if any_actual { "Solid: estimate. Dashed: Cost Explorer's forecast for this month (from its second day), then last month." } else { "Estimate per environment. Actual spend appears here when Cost Explorer can be read." }}
        </p>
        {bar_chart("Estimated monthly cost and actual spend per environment", groups)}
    }
}
