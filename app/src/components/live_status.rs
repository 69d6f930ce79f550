//! Live ECS status, both environments side by side: a health badge per environment and per
//! service, running/desired tasks, rollout and task definition, and a plain note when the data is
//! stale or AWS could not be asked.

use crate::components::run_bits::when;
use crate::model::shared::Shared;
use crate::model::status::{EnvironmentStatus, Health, ServiceStatus};
use crate::model::Environment;
use leptos::prelude::*;

#[component]
pub fn HealthBadge(health: Health) -> impl IntoView {
    view! { <span class=format!("health health-{}", health.as_str()) data-health=health.as_str()>{health.label()}</span> }
}

/// The line under an environment's name: health and how fresh the data is.
#[component]
pub fn LiveSummary(status: Option<Shared<EnvironmentStatus>>) -> impl IntoView {
    let Some(status) = status else {
        return view! { <p class="live-summary muted">"Live status: not loaded"</p> }.into_any();
    };
    let running: i32 = status.services.iter().map(|s| s.running).sum();
    let desired: i32 = status.services.iter().map(|s| s.desired).sum();
    view! {
        <div class="live-summary" data-environment=status.environment.clone()>
            <HealthBadge health=status.health/>
            {status.fetched_at.map(|_| view! { <span class="muted">{format!(" {running}/{desired} tasks running")}</span> })}
            <FreshnessNote fetched_at=status.fetched_at error=status.error.clone()/>
        </div>
    }
    .into_any()
}

#[component]
fn FreshnessNote(fetched_at: Option<chrono::DateTime<chrono::Utc>>, error: Option<String>) -> impl IntoView {
    match (fetched_at, error) {
        (Some(at), None) => view! { <p class="freshness muted">{format!("As of {}", when(&at))}</p> }.into_any(),
        (Some(at), Some(error)) => view! {
            <p class="freshness stale" role="status" data-stale="true">
                {format!("Stale: last good data from {}. ", when(&at))}<span class="muted">{error}</span>
            </p>
        }.into_any(),
        (None, error) => view! {
            <p class="freshness unavailable" role="status" data-unavailable="true">
                "Live status unavailable. "<span class="muted">{error.unwrap_or_default()}</span>
            </p>
        }.into_any(),
    }
}

/// One row per service, one cell per environment.
#[component]
pub fn LiveServices(envs: Vec<Environment>, statuses: Vec<Shared<EnvironmentStatus>>) -> impl IntoView {
    let columns: Vec<Option<Shared<EnvironmentStatus>>> =
        envs.iter().map(|e| statuses.iter().find(|s| s.environment == e.name).cloned()).collect();
    let mut names: Vec<String> = Vec::new();
    for env in &envs {
        for s in &env.services {
            if !names.contains(&s.name) {
                names.push(s.name.clone());
            }
        }
    }
    view! {
        <section class="compare-section" id="live">
            <h2>"ECS services, live"</h2>
            <div class="table-wrap">
                <table class="compare live">
                    <thead>
                        <tr>
                            <th scope="col" class="label-col"><span class="visually-hidden">"Service"</span></th>
                            {envs.iter().zip(columns.iter()).map(|(e, st)| view! {
                                <th scope="col">{e.display_name.clone()}<LiveSummary status=st.clone()/></th>
                            }).collect_view()}
                        </tr>
                    </thead>
                    <tbody>
                        {names.into_iter().map(|name| view! {
                            <tr data-service=name.clone()>
                                <th scope="row">{name.clone()}</th>
                                {columns.iter().map(|st| {
                                    let svc = st.as_ref().and_then(|s| s.services.iter().find(|x| x.name == name).cloned());
                                    view! { <ServiceCell svc/> }
                                }).collect_view()}
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn ServiceCell(svc: Option<ServiceStatus>) -> impl IntoView {
    match svc {
        None => view! { <td class="absent">"—"</td> }.into_any(),
        Some(s) => {
            let last_event = s.events.first().map(|e| e.message.clone());
            view! {
                <td class=format!("service-cell health-{}", s.health.as_str())>
                    <div class="service-line">
                        <HealthBadge health=s.health/>
                        <span class="tasks" data-running=s.running.to_string() data-desired=s.desired.to_string()>
                            {format!("{}/{} running", s.running, s.desired)}
                        </span>
                        {(s.pending > 0).then(|| view! { <span class="muted">{format!("{} pending", s.pending)}</span> })}
                    </div>
                    <div class="muted small">
                        {format!("{} · {}", s.rollout, if s.task_definition.is_empty() { "—".to_string() } else { s.task_definition.clone() })}
                        {(s.deployments.len() > 1).then(|| format!(" · {} deployments", s.deployments.len()))}
                    </div>
                    {last_event.map(|m| view! { <div class="muted small event" title="Latest ECS event">{m}</div> })}
                </td>
            }
            .into_any()
        }
    }
}
