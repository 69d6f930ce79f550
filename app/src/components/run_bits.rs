//! Small pieces shared by the run pages: status badges, plan counts, times.

use crate::model::run::{Run, RunStatus};
use crate::model::plan::PlanSummary;
use chrono::{DateTime, Utc};
use leptos::prelude::*;

pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%b %-d, %H:%M:%S UTC").to_string()
}

/// "4.2 s", "3 min 5 s".
pub fn took(from: &DateTime<Utc>, to: &DateTime<Utc>) -> String {
    let ms = (*to - *from).num_milliseconds().max(0);
    if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

#[component]
pub fn StatusBadge(status: RunStatus) -> impl IntoView {
    view! { <span class=format!("status status-{}", status.as_str()) data-status=status.as_str()>{status.label()}</span> }
}

#[component]
pub fn PlanCounts(plan: Option<PlanSummary>) -> impl IntoView {
    plan.map(|p| {
        view! {
            <span class="plan-counts" title="to add, to change, to destroy">
                <span class="add">{format!("+{}", p.add)}</span>
                <span class="change">{format!("~{}", p.change)}</span>
                <span class="destroy">{format!("-{}", p.destroy)}</span>
            </span>
        }
    })
}

/// "#12 Needs approval · meera" linking to the run.
#[component]
pub fn RunLink(run: Run) -> impl IntoView {
    view! {
        <a class="run-link" href=format!("/runs/{}", run.id)>
            <span class="run-id">{format!("#{}", run.id)}</span>
            <StatusBadge status=run.status/>
            <span class="muted">{format!("{} · {}", run.kind.as_str(), run.requested_by)}</span>
        </a>
    }
}
