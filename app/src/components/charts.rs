//! The metrics dashboard: one row per panel, each environment's chart side by side on the same
//! scale, drawn as SVG by the app (no chart library, nothing downloaded), with the latest value
//! of every series as text.

use crate::server_fns::{load_dashboard, Dashboard};
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
/// Series colors (`.s0` … `.s7` in the style sheet, one class for a line and its swatch).
const SERIES_COLORS: usize = 8;
/// How far (in chart units, about a pixel) a point may be from the line drawn instead of it.
const TOLERANCE: f64 = 0.5;

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
        <section class="metrics" id="metrics" data-live="metrics">
            <div class="metrics-head">
                <h2>"Metrics"</h2>
                <div class="segmented" role="group" aria-label="Time range">
                    {Range::ALL.into_iter().map(|r| view! {
                        <a href=format!("/?range={}#metrics", r.as_str()) data-live-link class:active=move || range.get() == r
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
    let grid: String = ticks.iter().map(|v| format!("M{LEFT} {:.0}H{}", scale.y(*v), WIDTH - 4.0)).collect();
    view! {
        <figure class="chart" data-empty=empty.to_string()>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" preserveAspectRatio="none">
                <path class="grid" d=grid/>
                <g class="axis">
                    <text x=LEFT y=HEIGHT - 4.0>{clock(scale.start)}</text>
                    <g class="end">
                        {ticks.into_iter().map(|v| view! { <text x=LEFT - 4.0 y=(scale.y(v) + 3.0).round()>{format_value(v, &unit)}</text> }).collect_view()}
                        <text x=WIDTH - 4.0 y=HEIGHT - 4.0>{clock(scale.end)}</text>
                    </g>
                </g>
                {series.iter().enumerate().map(|(i, s)| {
                    let drawn = thin(s.points.iter().map(|(t, v)| (scale.x(*t), scale.y(*v))).collect());
                    // Whole units: the chart is drawn about one unit to a pixel.
                    let points = drawn.iter().map(|(x, y)| format!("{x:.0},{y:.0}")).collect::<Vec<_>>().join(" ");
                    view! { <polyline points=points class=format!("line s{}", i % SERIES_COLORS)/> }
                }).collect_view()}
                {empty.then(|| view! { <text x=WIDTH / 2.0 y=HEIGHT / 2.0 class="axis" text-anchor="middle">"No data"</text> })}
            </svg>
            <figcaption class="legend">
                {series.iter().enumerate().map(|(i, s)| view! {
                    <span class="legend-item">
                        <span class=format!("swatch s{}", i % SERIES_COLORS)></span>
                        {s.label.clone()}" "
                        <strong class="latest">{s.latest().map(|v| format_value(v, &unit)).unwrap_or_else(|| "—".into())}</strong>
                    </span>
                }).collect_view()}
            </figcaption>
        </figure>
    }
}

/// The points of a line a chart needs: a point within `TOLERANCE` of the segment drawn past it
/// is left out (long steady stretches become one segment; every bend stays).
fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let Some(&first) = points.first() else { return points };
    let mut kept = vec![first];
    let mut from = 0;
    for to in 2..points.len() {
        let (a, b) = (points[from], points[to]);
        if points[from + 1..to].iter().any(|p| distance_to_segment(*p, a, b) > TOLERANCE) {
            from = to - 1;
            kept.push(points[from]);
        }
    }
    if points.len() > 1 {
        kept.push(points[points.len() - 1]);
    }
    kept
}

fn distance_to_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let length2 = dx * dx + dy * dy;
    let t = if length2 == 0.0 { 0.0 } else { (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / length2).clamp(0.0, 1.0) };
    ((p.0 - a.0 - t * dx).powi(2) + (p.1 - a.1 - t * dy).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_keeps_its_bends_and_drops_points_it_runs_through() {
        let straight: Vec<(f64, f64)> = (0..10).map(|i| (i as f64 * 10.0, 50.0 + i as f64 * 0.01)).collect();
        assert_eq!(thin(straight.clone()), [straight[0], straight[9]]);
        let peak = vec![(0.0, 50.0), (10.0, 50.0), (20.0, 10.0), (30.0, 50.0), (40.0, 50.0)];
        assert_eq!(thin(peak.clone()), peak, "every corner is a bend");
        assert_eq!(thin(vec![(1.0, 2.0)]), [(1.0, 2.0)]);
        assert_eq!(thin(vec![]), []);
    }

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
