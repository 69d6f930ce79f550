//! `/environments/{env}/runs`: an environment's runs, newest first, and the form to start one.

use crate::server_fns::load_runs_page;
use crate::components::cost_diff::CostDelta;
use crate::components::run_bits::{when, PlanCounts, StatusBadge};
use crate::model::variables::{VariableSource, Variables};
use leptos::prelude::*;
use crate::components::csrf::CsrfField;
use crate::components::loaded::Loaded;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn RunsPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let env = move || params.read().get("env").unwrap_or_default();
    let page = Resource::new(env, load_runs_page);
    view! {
        <Loaded resource=page loading="Loading runs…" view=move |page| view! { <Runs page error=query.read_untracked().get("error")/> }/>
    }
}

#[component]
fn Runs(page: crate::server_fns::RunsPage, error: Option<String>) -> impl IntoView {
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
                <p class="crumbs"><a href="/">"Environments"</a>" / "{env.display_name.clone()}" · "<a href=format!("/environments/{}/state", env.name)>"state"</a></p>
                <h1>{format!("{} runs", env.display_name)}</h1>
                <p class="muted">{format!("Terraform in {} · {} · {gate}", env.terraform.root_dir, env.region)}</p>
                <p class="muted source" data-source=if page.source.git { "git" } else { "directory" }>
                    {match &page.source.branch {
                        Some(branch) => format!("Code: {} at the latest commit of {branch}, unless a run names another ref.", page.source.location),
                        None => format!("Code: the plain directory {} (not a git repository), copied for each run: runs record no commit.", page.source.location),
                    }}
                </p>
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
                {page.source.branch.clone().map(|branch| view! {
                    <label class="field">
                        <span>"Branch, tag or commit "<span class="muted">{format!("(empty: the latest commit of {branch})")}</span></span>
                        <input type="text" name="ref" maxlength="255" placeholder=branch autocomplete="off" spellcheck="false"/>
                    </label>
                })}
                {env.promote_from.clone().filter(|_| page.source.git).map(|from| view! {
                    <p class="muted promotion-rule">{format!("Applies use only commits {from} has applied (or their ancestors).")}</p>
                })}
                {(page.can_override_promotion && env.promote_from.is_some() && page.source.git).then(|| view! {
                    <details class="override">
                        <summary>"Override the promotion rule (admins)"</summary>
                        <label class="field danger">
                            <span>"Why this apply may skip the rule (audited, shown on the run)"</span>
                            <input type="text" name="override_promotion" maxlength="2000" autocomplete="off"/>
                        </label>
                    </details>
                })}
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
        <VariablesSection variables=page.variables.clone()/>
    }
}

/// The environment's Terraform variables: plain ones with their values, sensitive ones masked,
/// and where the sensitive ones are edited.
#[component]
fn VariablesSection(variables: Variables) -> impl IntoView {
    let secret_page = format!("/environments/{}/secrets/{}", variables.environment, variables.secret);
    view! {
        <section class="variables" id="variables">
            <h2>"Variables"</h2>
            <p class="muted">
                "Written for each plan into the run's working copy (zelly.auto.tfvars.json, readable only by the server) and removed with it. Sensitive values come from "
                <a href=secret_page><code>{variables.secret.clone()}</code></a>
                {variables.secret_version.clone().map(|v| format!(" (version {})", v.chars().take(8).collect::<String>()))}
                " and are masked in every log."
            </p>
            {variables.secret_note.clone().map(|note| view! {
                <p class=if variables.secret_required { "notice notice-error" } else { "notice notice-info" } role="note">{note}</p>
            })}
            <div class="table-wrap">
                <table class="variables-table">
                    <thead><tr><th>"Name"</th><th>"Source"</th><th>"Value"</th></tr></thead>
                    <tbody>
                        {variables.variables.is_empty().then(|| view! { <tr><td colspan="3" class="muted empty">"No variables: terraform uses the defaults in the code."</td></tr> })}
                        {variables.variables.into_iter().map(|v| view! {
                            <tr data-variable=v.name.clone() data-source=match v.source { VariableSource::Configuration => "configuration", VariableSource::Secret => "secret" } class:overridden=v.overridden>
                                <td><code>{v.name.clone()}</code></td>
                                <td>{match v.source {
                                    VariableSource::Configuration => "configuration",
                                    VariableSource::Secret => "Secrets Manager (sensitive)",
                                }}</td>
                                <td>{match (v.value.clone(), v.overridden) {
                                    (_, true) => view! { <span class="muted">"overridden by the secret"</span> }.into_any(),
                                    (Some(value), false) => view! { <code>{value}</code> }.into_any(),
                                    (None, false) => view! { <span class="masked" aria-label="hidden">{crate::model::secret::MASK}</span> }.into_any(),
                                }}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
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
