//! `/environments/{env}/runs`: an environment's runs, newest first, and the form to start one.

use crate::api::load_runs_page;
use crate::components::cost_diff::CostDelta;
use crate::components::run_bits::{when, PlanCounts, StatusBadge};
use leptos::prelude::*;
use crate::components::csrf::CsrfField;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn RunsPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let env = move || params.read().get("env").unwrap_or_default();
    let page = Resource::new(env, load_runs_page);
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading runs…"</p> }>
            {move || Suspend::new(async move {
                let error = query.read_untracked().get("error");
                match page.await {
                    Err(e) => view! { <div class="notice notice-error" role="alert">{e.to_string()}</div> }.into_any(),
                    Ok(page) => {
                        let env = page.environment.clone();
                        let action = format!("/environments/{}/runs/new", env.name);
                        let gate = if env.approvals_required == 0 {
                            "Applies are confirmed by the requester.".to_string()
                        } else {
                            format!("Applies need {} approval{} by someone other than the requester.", env.approvals_required, if env.approvals_required == 1 { "" } else { "s" })
                        };
                        view! {
                            <Title text=format!("{} runs", env.display_name)/>
                            <div class="page-head">
                                <div>
                                    <p class="crumbs"><a href="/">"Environments"</a>" / "{env.display_name.clone()}</p>
                                    <h1>{format!("{} runs", env.display_name)}</h1>
                                    <p class="muted">{format!("Terraform in {} · {} · {gate}", env.terraform.root_dir, env.region)}</p>
                                </div>
                            </div>
                            {page.simulated_terraform.then(|| view! { <SimulatedNotice/> })}
                            {error.map(|e| view! { <div class="notice notice-error" role="alert">{e}</div> })}
                            {page.can_start.then(|| view! {
                                <form method="post" action=action class="card new-run">
                                    <CsrfField/>
                                    <h2>"Start a run"</h2>
                                    <fieldset class="kinds">
                                        <legend class="visually-hidden">"Kind"</legend>
                                        <label><input type="radio" name="kind" value="plan" checked/>" Plan only "<span class="muted">"(speculative: nothing is applied)"</span></label>
                                        <label><input type="radio" name="kind" value="apply"/>" Plan and apply "<span class="muted">"(waits for approval)"</span></label>
                                    </fieldset>
                                    <label class="field">
                                        <span>"What is this run for?"</span>
                                        <input type="text" name="message" maxlength="500" placeholder="e.g. raise fastify-nova to 3 tasks"/>
                                    </label>
                                    <button type="submit" class="button primary">"Start run"</button>
                                </form>
                            })}
                            <div class="table-wrap">
                                <table class="runs">
                                    <thead><tr><th>"Run"</th><th>"Status"</th><th>"Kind"</th><th>"Message"</th><th>"Changes"</th><th>"Cost"</th><th>"Requested"</th></tr></thead>
                                    <tbody>
                                        {page.runs.is_empty().then(|| view! { <tr><td colspan="7" class="muted empty">"No runs yet."</td></tr> })}
                                        {page.runs.into_iter().map(|r| view! {
                                            <tr data-run=r.id.to_string()>
                                                <td><a href=format!("/runs/{}", r.id)>{format!("#{}", r.id)}</a></td>
                                                <td><StatusBadge status=r.status/></td>
                                                <td>{r.kind.as_str()}</td>
                                                <td class="message">{r.message.clone()}</td>
                                                <td><PlanCounts plan=r.plan.clone()/></td>
                                                <td class="nowrap">{r.cost_diff.clone().map(|diff| view! { <CostDelta diff/> })}</td>
                                                <td class="muted">{format!("{} · {}", r.requested_by, when(&r.created_at))}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn SimulatedNotice() -> impl IntoView {
    view! {
        <div class="notice notice-info" role="note">
            <strong>"Simulated Terraform. "</strong>
            "This server's terraform.bin is the test fixture "
            <code>"tests/fixtures/fake-terraform"</code>
            ": plans and applies are made up and change nothing in AWS."
        </div>
    }
}
