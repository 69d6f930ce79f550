//! The services that read the secret, their redeploy, and the rollout that follows.

use crate::components::csrf::CsrfField;
use crate::components::live_status::HealthBadge;
use crate::components::run_bits::when;
use crate::model::secret::SecretDetail;
use crate::model::secret_form::{field, redeploy_path};
use crate::server_fns::{load_rollout, Rollout};
use leptos::prelude::*;

/// The services whose task definitions read this secret, with a redeploy for each.
#[component]
pub(super) fn ConsumersSection(d: SecretDetail) -> impl IntoView {
    let can_write = d.permissions.can_write;
    view! {
        <section class="card" aria-labelledby="consumers-title">
            <h2 id="consumers-title">"Read by"</h2>
            {d.consumers_error.clone().map(|e| view! { <p class="muted small">{format!("Consumers unavailable: {e}")}</p> })}
            {(d.consumers.is_empty() && d.consumers_error.is_none()).then(|| view! { <p class="muted">"No ECS service reads this secret."</p> })}
            <ul class="consumers">
                {d.consumers.iter().map(|c| view! {
                    <li data-consumer=c.service.clone()>
                        <strong>{c.service.clone()}</strong>
                        <span class="muted small">{format!(" {} · ", c.task_definition)}{if c.keys.is_empty() { "all keys".to_string() } else { c.keys.join(", ") }}</span>
                        {can_write.then(|| view! { <RedeployButton env=d.environment.clone() name=d.name.clone() services=vec![c.service.clone()] label="Redeploy"/> })}
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }.into_any()
}

#[component]
pub(super) fn RedeployButton(env: String, name: String, services: Vec<String>, label: &'static str) -> impl IntoView {
    view! {
        <form method="post" action=redeploy_path(&env) class="inline">
            <CsrfField/>
            <input type="hidden" name=field::RETURN_TO value=name.clone()/>
            <input type="hidden" name=field::REASON value=format!("read the new version of {name}")/>
            {services.iter().map(|s| view! { <input type="hidden" name=field::SERVICE value=s.clone()/> }).collect_view()}
            <button type="submit" class="button small" data-redeploy=services.join(",")>{label}</button>
        </form>
    }.into_any()
}

/// Redeployed services, followed until their rollouts settle: the section asks for itself again
/// every 3 s (`regions.rs`; the page reloads itself without JavaScript) and stops once settled.
#[component]
pub(super) fn RolloutSection(env: String, services: Vec<String>) -> impl IntoView {
    let rollout = Resource::new(|| (), move |_| load_rollout(env.clone(), services.clone()));
    let settled = |rows: &[Rollout]| rows.iter().all(|r| r.status.as_ref().map(|s| s.rollout != "IN_PROGRESS" && s.deployments.len() <= 1).unwrap_or(true));
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Asking ECS…"</p> }>
            {move || Suspend::new(async move {
                let (done, body) = match rollout.await {
                    Err(e) => (false, view! { <p class="notice notice-error">{e.to_string()}</p> }.into_any()),
                    Ok(rows) => {
                        let done = settled(&rows);
                        (done, view! {
                            <ul class="rollout-list" data-settled=done.to_string()>
                                {rows.into_iter().map(|r| view! { <RolloutRow r/> }).collect_view()}
                            </ul>
                        }.into_any())
                    }
                };
                view! {
                    <section class="card rollout" aria-labelledby="rollout-title" data-live="rollout" data-refresh-seconds=(!done).then_some(3)>
                        {(!done).then(|| view! { <noscript><meta http-equiv="refresh" content="3"/></noscript> })}
                        <h2 id="rollout-title">"Rollout"</h2>
                        {body}
                    </section>
                }
            })}
        </Suspense>
    }.into_any()
}

#[component]
fn RolloutRow(r: Rollout) -> impl IntoView {
    match r.status {
        Err(e) => view! { <li data-rollout=r.service.clone()><strong>{r.service.clone()}</strong>" "<span class="muted">{e}</span></li> }.into_any(),
        Ok(s) => view! {
            <li data-rollout=r.service.clone() data-state=s.rollout.clone()>
                <strong>{r.service.clone()}</strong>" "
                <HealthBadge health=s.health/>" "
                <span class="mono small">{s.rollout.clone()}</span>
                <span class="muted small">{format!(" · {}/{} running · {}", s.running, s.desired, s.task_definition)}</span>
                <ul class="deployments">
                    {s.deployments.iter().map(|dep| view! {
                        <li class="small">
                            {format!("{} {} · {} · {}/{} running, {} pending", dep.status, dep.task_definition, dep.rollout, dep.running, dep.desired, dep.pending)}
                            {dep.updated_at.map(|t| format!(" · {}", when(&t)))}
                        </li>
                    }).collect_view()}
                </ul>
            </li>
        }.into_any(),
    }
}
