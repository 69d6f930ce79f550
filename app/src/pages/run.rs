//! `/runs/{id}`: one run — timeline, plan, approvals, the buttons this user may press, and the
//! live log. Forms post to the server and work without JavaScript (the page then refreshes
//! itself while the run is active); with JavaScript the log streams in and, when the status
//! changes, the details above it are swapped for their new version (`regions.rs`).

use crate::server_fns::{load_run_log_tail, load_run_view};
use crate::components::cost_diff::{CostDelta, CostDiffSection};
use crate::components::loaded::Loaded;
use crate::components::log_view::LogView;
use crate::components::plan_diff::PlanDiff;
use crate::components::run_bits::{took, when, PlanCounts, StatusBadge};
use crate::model::run::{Run, RunKind, RunStatus, RunView};
use crate::pages::runs::SimulatedNotice;
use leptos::prelude::*;
use crate::components::csrf::CsrfField;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let view_data = Resource::new(id, load_run_view);
    let tail = Resource::new(id, load_run_log_tail);

    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading run…"</p> }>
            {move || Suspend::new(async move {
                let error = query.read_untracked().get("error");
                let details = match view_data.await {
                    Err(e) => view! { <div class="notice notice-error" role="alert">{e.to_string()}</div> }.into_any(),
                    Ok(v) => view! { <RunDetails v error/> }.into_any(),
                };
                view! { <div data-live="run">{details}</div> }
            })}
        </Transition>
        <section class="log-section">
            <h2>"Log"</h2>
            // Outside the "run" region: a swap above never restarts the log's stream.
            <Loaded resource=tail loading="Loading the log…" view=move |t| view! { <LogView run_id=id() tail=t/> }/>
        </section>
    }
}

#[component]
fn RunDetails(v: RunView, error: Option<String>) -> impl IntoView {
    let run = v.run.clone();
    let active = !run.status.is_terminal();
    view! {
        <Title text=format!("Run #{}", run.id)/>
        // Without JavaScript, an active run's page refreshes itself; with it, updates are live.
        {active.then(|| view! { <noscript><meta http-equiv="refresh" content="4"/></noscript> })}
        <div class="page-head">
            <div>
                <p class="crumbs">
                    <a href="/">"Environments"</a>" / "
                    <a href=format!("/environments/{}/runs", run.environment)>{v.environment_display_name.clone()}</a>
                    " / "{format!("Run #{}", run.id)}
                </p>
                <h1 class="run-title">
                    {format!("Run #{}", run.id)}
                    <StatusBadge status=run.status/>
                    {run.canceling.then(|| view! { <span class="status status-canceling">"Canceling…"</span> })}
                </h1>
                <p class="muted">
                    {format!("{} in {} · requested by {} · {}", kind_label(run.kind), v.environment_display_name, run.requested_by, when(&run.created_at))}
                </p>
                <CommitLine run=run.clone() url=v.commit_url.clone()/>
                {(!run.message.is_empty()).then(|| view! { <p class="run-message">{run.message.clone()}</p> })}
            </div>
        </div>
        {v.simulated_terraform.then(|| view! { <SimulatedNotice/> })}
        {run.promotion_override.clone().map(|reason| view! {
            <div class="notice notice-info promotion-override" role="note">
                <strong>"Promotion rule overridden. "</strong>
                {format!("{} applies a commit its promotion source has not applied, because: {reason}", v.environment_display_name)}
            </div>
        })}
        {error.map(|e| view! { <div class="notice notice-error" role="alert">{e}</div> })}
        {run.error.clone().filter(|_| matches!(run.status, RunStatus::Errored | RunStatus::Expired | RunStatus::Canceled | RunStatus::Discarded)).map(|e| view! {
            <div class=if run.status == RunStatus::Errored { "notice notice-error" } else { "notice notice-info" } role="status">
                {e}
                {v.state_page.clone().map(|page| view! { " "<a class="state-link" href=page>"See who holds the lock on the state page →"</a> })}
            </div>
        })}
        <div class="run-grid">
            <Timeline run=run.clone()/>
            <Actions v=v.clone()/>
        </div>
        <PlanSection run=run.clone()/>
        {run.cost_diff.clone().map(|diff| view! { <CostDiffSection diff/> })}
        {(!run.approvals.is_empty()).then(|| view! {
            <section class="approvals">
                <h2>"Decisions"</h2>
                <ul>
                    {run.approvals.iter().map(|a| view! {
                        <li>
                            <strong>{a.user.clone()}</strong>
                            {if a.decision == "approve" { " approved" } else { " rejected" }}
                            <span class="muted">{format!(" · {}", when(&a.at))}</span>
                            {(!a.comment.is_empty()).then(|| view! { <blockquote>{a.comment.clone()}</blockquote> })}
                        </li>
                    }).collect_view()}
                </ul>
            </section>
        })}
    }
}

/// "Commit 1a2b3c4 · Raise nova to 3 tasks · Priya · from main", or why there is no commit.
#[component]
fn CommitLine(run: Run, url: Option<String>) -> impl IntoView {
    let Some(short) = run.short_commit().map(str::to_string) else {
        return view! {
            <p class="commit commit-none" data-commit="">
                "Plain directory: no commit is recorded, so what this run planned cannot be traced to a commit."
            </p>
        }
        .into_any();
    };
    let sha = run.commit.clone().unwrap_or_default();
    let from = run.git_ref.clone().filter(|r| *r != sha);
    view! {
        <p class="commit" data-commit=sha.clone()>
            "Commit "
            {match url {
                Some(url) => view! { <a href=url title=sha.clone()><code>{short}</code></a> }.into_any(),
                None => view! { <code title=sha.clone()>{short}</code> }.into_any(),
            }}
            {run.commit_subject.clone().map(|s| view! { " · " <span class="commit-subject">{s}</span> })}
            {run.commit_author.clone().map(|a| view! { <span class="muted">{format!(" · {a}")}</span> })}
            {from.map(|r| view! { <span class="muted">" · from "<code>{r}</code></span> })}
        </p>
    }
    .into_any()
}

fn kind_label(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Plan => "Speculative plan",
        RunKind::Apply => "Plan and apply",
        RunKind::Drift => "Drift check",
    }
}

#[component]
fn Timeline(run: Run) -> impl IntoView {
    let mut steps: Vec<(&'static str, Option<String>, bool)> = vec![
        ("Queued", Some(when(&run.created_at)), true),
        ("Planning", run.started_at.map(|t| when(&t)), run.started_at.is_some()),
        ("Planned", run.planned_at.map(|t| match run.started_at {
            Some(s) => format!("{} · took {}", when(&t), took(&s, &t)),
            None => when(&t),
        }), run.planned_at.is_some()),
    ];
    if run.kind == RunKind::Apply {
        let approved = run.approvals.iter().find(|a| a.decision == "approve").map(|a| format!("{} by {}", when(&a.at), a.user));
        steps.push(("Approved", approved.clone(), approved.is_some()));
        steps.push(("Applying", run.apply_started_at.map(|t| when(&t)), run.apply_started_at.is_some()));
    }
    let end = run.status.is_terminal().then(|| {
        let detail = run.finished_at.map(|t| when(&t));
        (run.status.label(), detail, true)
    });
    steps.extend(end);
    view! {
        <ol class="timeline" aria-label="Status timeline">
            {steps.into_iter().map(|(label, detail, done)| view! {
                <li class:done=done>
                    <span class="dot" aria-hidden="true"></span>
                    <span class="step">{label}</span>
                    {detail.map(|d| view! { <span class="muted">{d}</span> })}
                </li>
            }).collect_view()}
        </ol>
    }
}

#[component]
fn PlanSection(run: Run) -> impl IntoView {
    match run.plan.clone() {
        None if run.status == RunStatus::NoChanges => {
            view! { <section class="plan"><h2>"Plan"</h2><p class="muted">"No changes: the infrastructure matches the configuration."</p></section> }.into_any()
        }
        None => ().into_any(),
        Some(plan) => view! {
            <section class="plan">
                <h2>"Plan " <PlanCounts plan=Some(plan.clone())/></h2>
                <p class="muted">{format!("{} to add, {} to change, {} to destroy. Open a resource to see its attribute changes.", plan.add, plan.change, plan.destroy)}</p>
                <PlanDiff plan/>
            </section>
        }.into_any(),
    }
}

#[component]
fn Actions(v: RunView) -> impl IntoView {
    let a = v.actions.clone();
    let id = v.run.id;
    let none = !(a.approve || a.reject || a.cancel || a.force_cancel) && a.approve_blocked.is_none();
    if none {
        return ().into_any();
    }
    let approve_label = if v.approvals_required == 0 { "Confirm and apply" } else { "Approve and apply" };
    view! {
        <aside class="card actions" aria-label="Actions">
            {v.run.status.eq(&RunStatus::Planned).then(|| view! {
                <p class="gate">
                    {if v.approvals_required == 0 {
                        "This plan waits for the requester (or another operator) to confirm it.".to_string()
                    } else {
                        format!("This plan waits for {} approval{} by someone other than {}.", v.approvals_required, if v.approvals_required == 1 { "" } else { "s" }, v.run.requested_by)
                    }}
                </p>
            })}
            {v.run.cost_diff.clone().filter(|_| v.run.status == RunStatus::Planned).map(|diff| view! {
                <p class="gate-cost">"Monthly cost: " <CostDelta diff/>" "<a href="#cost" class="small">"details"</a></p>
            })}
            {a.approve.then(|| view! {
                <form method="post" action=format!("/runs/{id}/approve") class="stack">
                    <CsrfField/>
                    <label class="field"><span>"Comment (optional)"</span><input type="text" name="comment" maxlength="2000"/></label>
                    {a.confirm_name.clone().map(|name| view! {
                        <label class="field danger">
                            <span>{format!("This plan destroys resources in a protected environment. Type {name} to approve.")}</span>
                            <input type="text" name="confirm" required autocomplete="off" pattern=name.clone()/>
                        </label>
                    })}
                    <button type="submit" class="button primary" data-action="approve">{approve_label}</button>
                </form>
            })}
            {a.approve_blocked.clone().map(|why| view! { <p class="muted blocked">{format!("You cannot approve: {why}.")}</p> })}
            {a.reject.then(|| view! {
                <form method="post" action=format!("/runs/{id}/reject") class="stack">
                    <CsrfField/>
                    <label class="field"><span>"Reason for discarding"</span><input type="text" name="comment" maxlength="2000"/></label>
                    <button type="submit" class="button" data-action="reject">"Discard plan"</button>
                </form>
            })}
            {(a.cancel || a.force_cancel).then(|| view! {
                <div class="row">
                    {a.cancel.then(|| view! {
                        <form method="post" action=format!("/runs/{id}/cancel")>
                            <CsrfField/>
                            <button type="submit" class="button" data-action="cancel">"Cancel run"</button>
                        </form>
                    })}
                    {a.force_cancel.then(|| view! {
                        <form method="post" action=format!("/runs/{id}/cancel")>
                            <CsrfField/>
                            <input type="hidden" name="force" value="true"/>
                            <button type="submit" class="button danger" data-action="force-cancel" title="Ends the run at once and kills terraform">"Force cancel"</button>
                        </form>
                    })}
                </div>
            })}
        </aside>
    }
    .into_any()
}
