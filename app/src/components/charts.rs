//! The metrics dashboard: one row per panel, each environment's chart side by side on the same
//! scale, drawn as SVG by the app (no chart library, nothing downloaded), with the latest value
//! of every series as text.

use crate::api::{load_dashboard, Dashboard};
use crate::model::metrics::{Metrics, Panel, Range, Series};
use crate::model::shared::Shared;
use crate::model::Environment;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use leptos::server_fn::error::ServerFnError;

const WIDTH: f64 = 420.0;
const HEIGHT: f64 = 130.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 18.0;
/// Series colors, distinguishable for common color-vision deficiencies.
const PALETTE: [&str; 8] = ["#2f6f9f", "#d17c2f", "#3f9a5f", "#a04d8f", "#c4a22b", "#5a5fb8", "#b8473e", "#4a9a9a"];

/// The range in the address (`?range=`), 3h when absent or unknown.
pub fn selected_range() -> Memo<Range> {
    let query = use_query_map();
    Memo::new(move |_| query.read().get("range").and_then(|r| r.parse::<Range>().ok()).unwrap_or(Range::ThreeHours))
}

pub type DashboardResource = Resource<Result<Dashboard, ServerFnError>>;

/// Everything the page reads from AWS, in one request (see `load_dashboard`).
pub fn dashboard_resource(range: Memo<Range>) -> DashboardResource {
    Resource::new(move || range.get(), |r| load_dashboard(r.as_str().to_string()))
}

#[component]
pub fn MetricsSection(envs: Vec<Environment>, data: DashboardResource, range: Memo<Range>) -> impl IntoView {
    view! {
        <section class="metrics" id="metrics">
            <div class="metrics-head">
                <h2>"Metrics"</h2>
                <div class="segmented" role="group" aria-label="Time range">
                    {Range::ALL.into_iter().map(|r| view! {
                        <a href=format!("/?range={}#metrics", r.as_str()) class:active=move || range.get() == r
                           aria-current=move || (range.get() == r).then_some("true")>{r.as_str()}</a>
                    }).collect_view()}
                </div>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading metrics…"</p> }>
                {
                    let envs = envs.clone();
                    move || {
                        let envs = envs.clone();
                        Suspend::new(async move {
                            match data.await {
                                Ok(d) => view! { <Charts envs all=d.metrics/> }.into_any(),
                                Err(e) => view! { <p class="freshness unavailable">{format!("Metrics unavailable: {e}")}</p> }.into_any(),
                            }
                        })
                    }
                }
            </Transition>
        </section>
    }
}

#[component]
fn Charts(envs: Vec<Environment>, all: Vec<Shared<Metrics>>) -> impl IntoView {
    let columns: Vec<Option<Shared<Metrics>>> = envs.iter().map(|e| all.iter().find(|m| m.environment == e.name).cloned()).collect();
    let panel_ids: Vec<(String, String, String)> = columns
        .iter()
        .flatten()
        .flat_map(|m| m.panels.iter().map(|p| (p.id.clone(), p.title.clone(), p.unit.clone())))
        .fold(Vec::new(), |mut acc, p| {
            if !acc.iter().any(|(id, _, _)| id == &p.0) {
                acc.push(p);
            }
            acc
        });
    let count = envs.len();
    view! {
        <div class="chart-grid" style=format!("--columns: {count}")>
            <div></div>
            {envs.iter().zip(columns.iter()).map(|(e, m)| view! {
                <div class="chart-col-head">
                    <strong>{e.display_name.clone()}</strong>
                    {m.as_deref().cloned().map(|m| view! { <MetricsFreshness m/> })}
                </div>
            }).collect_view()}
            {panel_ids.into_iter().map(|(id, title, unit)| {
                let panels: Vec<Option<Panel>> = columns.iter().map(|m| m.as_ref().and_then(|m| m.panels.iter().find(|p| p.id == id).cloned())).collect();
                let scale = Scale::of(&panels, columns.iter().flatten().next().map(|m| &**m));
                view! {
                    <div class="chart-title" data-panel=id.clone()>
                        <strong>{title}</strong>
                        <span class="muted">{unit.clone()}</span>
                    </div>
                    {panels.into_iter().map(|p| view! { <Chart panel=p scale unit=unit.clone()/> }).collect_view()}
                }
            }).collect_view()}
        </div>
    }
}

#[component]
fn MetricsFreshness(m: Metrics) -> impl IntoView {
    match (m.fetched_at, m.error) {
        (Some(at), None) => view! { <span class="muted small">{format!(" as of {}", crate::components::run_bits::when(&at))}</span> }.into_any(),
        (Some(at), Some(e)) => view! {
            <span class="freshness stale" data-stale="true">{format!(" stale since {}: {e}", crate::components::run_bits::when(&at))}</span>
        }.into_any(),
        (None, e) => view! { <span class="freshness unavailable" data-unavailable="true">{format!(" unavailable: {}", e.unwrap_or_default())}</span> }.into_any(),
    }
}

/// The axes every chart of one panel shares, so environments compare at a glance.
#[derive(Clone, Copy)]
struct Scale {
    start: i64,
    end: i64,
    max: f64,
}

impl Scale {
    fn of(panels: &[Option<Panel>], any: Option<&Metrics>) -> Scale {
        let points = || panels.iter().flatten().flat_map(|p| p.series.iter()).flat_map(|s| s.points.iter());
        let end = points().map(|p| p.0).max().unwrap_or(0);
        let span = any.map(|m| m.range.seconds()).unwrap_or(3 * 3600);
        let max = points().map(|p| p.1).fold(0.0_f64, f64::max);
        Scale { start: end - span, end, max: nice_ceiling(max) }
    }

    fn x(&self, t: i64) -> f64 {
        let span = (self.end - self.start).max(1) as f64;
        LEFT + (t - self.start) as f64 / span * (WIDTH - LEFT - 4.0)
    }

    fn y(&self, v: f64) -> f64 {
        let top = 6.0;
        let bottom = HEIGHT - BOTTOM;
        bottom - (v / self.max) * (bottom - top)
    }
}

/// 1, 2 or 5 times a power of ten, at or above `v` (never 0, so an empty chart has an axis).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|c| *c >= v).unwrap_or(10.0 * magnitude)
}

pub fn format_value(v: f64, unit: &str) -> String {
    let number = if v.abs() >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() < 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    };
    match unit {
        "%" => format!("{number}%"),
        "ms" | "ACU" => format!("{number} {unit}"),
        _ => number,
    }
}

fn clock(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map(|d| d.format("%H:%M").to_string()).unwrap_or_default()
}

#[component]
fn Chart(panel: Option<Panel>, scale: Scale, unit: String) -> impl IntoView {
    let series: Vec<Series> = panel.map(|p| p.series).unwrap_or_default();
    let empty = series.iter().all(|s| s.points.is_empty());
    let ticks = [0.0, scale.max / 2.0, scale.max];
    view! {
        <figure class="chart" data-empty=empty.to_string()>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" preserveAspectRatio="none">
                {ticks.into_iter().map(|v| {
                    let y = scale.y(v);
                    view! {
                        <line x1=LEFT x2=WIDTH - 4.0 y1=y y2=y class="grid"/>
                        <text x=LEFT - 4.0 y=y + 3.0 class="axis" text-anchor="end">{format_value(v, &unit)}</text>
                    }
                }).collect_view()}
                <text x=LEFT y=HEIGHT - 4.0 class="axis">{clock(scale.start)}</text>
                <text x=WIDTH - 4.0 y=HEIGHT - 4.0 class="axis" text-anchor="end">{clock(scale.end)}</text>
                {series.iter().enumerate().map(|(i, s)| {
                    let points = s.points.iter().map(|(t, v)| format!("{:.1},{:.1}", scale.x(*t), scale.y(*v))).collect::<Vec<_>>().join(" ");
                    view! { <polyline points=points stroke=PALETTE[i % PALETTE.len()] class="line"/> }
                }).collect_view()}
                {empty.then(|| view! { <text x=WIDTH / 2.0 y=HEIGHT / 2.0 class="axis" text-anchor="middle">"No data"</text> })}
            </svg>
            <figcaption class="legend">
                {series.iter().enumerate().map(|(i, s)| view! {
                    <span class="legend-item">
                        <span class="swatch" style=format!("background: {}", PALETTE[i % PALETTE.len()])></span>
                        {s.label.clone()}" "
                        <strong class="latest">{s.latest().map(|v| format_value(v, &unit)).unwrap_or_else(|| "—".into())}</strong>
                    </span>
                }).collect_view()}
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up_to_readable_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(42.0), 50.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(nice_ceiling(9000.0), 10000.0);
    }

    #[test]
    fn values_read_with_their_unit() {
        assert_eq!(format_value(42.345, "%"), "42.3%");
        assert_eq!(format_value(12345.0, "requests"), "12.3k");
        assert_eq!(format_value(187.6, "ms"), "188 ms");
        assert_eq!(format_value(2.0, "ACU"), "2 ACU");
        assert_eq!(format_value(0.0423, "%"), "0.04%");
    }
}
