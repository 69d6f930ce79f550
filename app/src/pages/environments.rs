//! `/`: every environment side by side, one row per fact, differing rows marked.
//! `?view=differences` keeps only the rows that differ: a plain link without JavaScript, a swap
//! in place with it. The live parts (status, services, metrics) refresh themselves on the
//! server's beat, the cache TTL it sends with the data (see `regions.rs`).

use crate::server_fns::{list_environments, load_environment_activity};
use crate::components::charts::DashboardResource;
use crate::components::loaded::Loaded;
use crate::components::live_status::{LiveServices, LiveSummary};
use crate::components::run_bits::RunLink;
use crate::model::run::EnvironmentActivity;
use crate::compare::{self, usd, Section};
use crate::model::Environment;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn EnvironmentsPage() -> impl IntoView {
    let envs = Resource::new(|| (), |_| async {
        // Run activity is a bonus on this page: without it, the configuration still shows.
        let activity = load_environment_activity().await.unwrap_or_default();
        list_environments().await.map(|envs| (envs, activity))
    });
    let range = crate::components::charts::selected_range();
    let dashboard = crate::components::charts::dashboard_resource(range);
    view! {
        <Title text="Environments"/>
        <Loaded resource=envs loading="Loading environments…" view=move |(envs, activity)| view! { <Comparison envs activity dashboard range/> }/>
    }
}

#[component]
fn Comparison(
    envs: Vec<Environment>,
    activity: Vec<EnvironmentActivity>,
    dashboard: DashboardResource,
    range: Memo<crate::model::metrics::Range>,
) -> impl IntoView {
    let query = use_query_map();
    let only_differences = Memo::new(move |_| query.read().get("view").as_deref() == Some("differences"));
    let all = compare::sections(&envs);
    let differing: usize = all.iter().map(|s| s.rows.iter().filter(|r| r.differs()).count()).sum();
    let total: usize = all.iter().map(|s| s.rows.len()).sum();
    let columns = envs.len();
    let heads = envs.clone();
    let (envs_live, envs_metrics) = (envs.clone(), envs.clone());

    view! {
        <div class="page-head">
            <div>
                <h1>"Environments"</h1>
                <p class="muted">
                    {format!("{} environments side by side. ", envs.len())}
                    <span class="differs-key">"Highlighted"</span>
                    {format!(" rows differ between them ({differing} of {total}).")}
                </p>
            </div>
            <div class="segmented" role="group" aria-label="Rows to show" data-live="row-filter">
                <a href="/" data-live-link class:active=move || !only_differences.get() aria-current=move || (!only_differences.get()).then_some("page")>
                    "All rows"
                </a>
                <a href="/?view=differences" data-live-link class:active=move || only_differences.get() aria-current=move || only_differences.get().then_some("page")>
                    {format!("Only differences ({differing})")}
                </a>
            </div>
        </div>

        <div class="env-cards" style=format!("--columns: {columns}")>
            {heads.into_iter().map(|e| {
                let act = activity.iter().find(|a| a.environment == e.name).cloned();
                view! { <EnvCard env=e activity=act dashboard/> }
            }).collect_view()}
        </div>

        <Transition fallback=|| ()>
            {
                move || {
                    let envs = envs_live.clone();
                    Suspend::new(async move {
                        let (statuses, refresh) = match dashboard.await {
                            Ok(d) => (d.statuses, d.refresh_seconds.max(1)),
                            // Nothing to show yet: ask again at the default beat.
                            Err(_) => (Vec::new(), 30),
                        };
                        view! {
                            <div data-live="services" data-refresh-seconds=refresh>
                                <LiveServices envs statuses/>
                            </div>
                        }
                    })
                }
            }
        </Transition>
        <crate::components::charts::MetricsSection envs=envs_metrics data=dashboard range/>

        <div data-live="rows">
            {move || {
                let sections = if only_differences.get() { compare::only_differences(all.clone()) } else { all.clone() };
                let names: Vec<String> = envs.iter().map(|e| e.display_name.clone()).collect();
                sections.into_iter().map(|s| view! { <CompareSection section=s names=names.clone()/> }).collect_view()
            }}
        </div>
    }
}

#[component]
fn EnvCard(env: Environment, activity: Option<EnvironmentActivity>, dashboard: DashboardResource) -> impl IntoView {
    let name = env.name.clone();
    let services = env.services.len();
    let tasks_min: u32 = env.services.iter().map(|s| s.min_tasks).sum();
    let tasks_max: u32 = env.services.iter().map(|s| s.max_tasks).sum();
    view! {
        <article class=format!("env-card env-{}", env.name) data-env=env.name.clone()>
            <header>
                <h2>{env.display_name.clone()}</h2>
                <span class="region" title="AWS region">{env.region.clone()}</span>
            </header>
            <Transition fallback=|| view! { <p class="live-summary muted">"Reading live status…"</p> }>
                {
                    let name = name.clone();
                    move || {
                        let name = name.clone();
                        Suspend::new(async move {
                            let status = dashboard.await.ok().and_then(|d| d.statuses.into_iter().find(|s| s.environment == name));
                            view! { <div data-live=format!("summary-{name}")><LiveSummary status/></div> }
                        })
                    }
                }
            </Transition>
            <dl class="facts">
                <div><dt>"ECS cluster"</dt><dd>{env.ecs_cluster.clone()}</dd></div>
                <div><dt>"Services"</dt><dd>{format!("{services} · {tasks_min}–{tasks_max} tasks")}</dd></div>
                <div><dt>"Estimated cost"</dt><dd>{format!("about {}/month ", usd(env.estimated_monthly_cost_usd))}<a href=format!("/costs#{}", env.name) class="small">"breakdown"</a></dd></div>
            </dl>
            {env.deletion_protection.then(|| view! {
                <p class="badge badge-protected" title="Destroying plans need the environment's name typed to approve">
                    "Deletion protection on"
                </p>
            })}
            <div class="activity">
                {activity.map(|a| view! {
                    <RunLine label="Active" run=a.active none="idle"/>
                    <RunLine label="Last" run=a.last none="no runs yet"/>
                    <AppliedLine run=a.applied.clone()/>
                    <LockLine environment=env.name.clone() lock=a.lock.clone() error=a.lock_error.clone()/>
                    {a.promotion.clone().map(|p| view! { <PromotionLine p/> })}
                    {a.drift.clone().map(|d| view! { <DriftLine environment=env.name.clone() drift=d can_check=a.can_check_drift/> })}
                    <div class="activity-line">
                        <span class="activity-label">"Queue"</span>
                        <span data-queued=a.queued.to_string()>{if a.queued == 0 { "empty".to_string() } else { format!("{} waiting", a.queued) }}</span>
                    </div>
                }.into_any())}
                <div class="row">
                    <a class="button small" href=format!("/environments/{}/runs", env.name)>"Runs →"</a>
                    <a class="button small" href=format!("/environments/{}/state", env.name)>"State →"</a>
                    <a class="button small" href=format!("/secrets#{}", env.name)>"Secrets →"</a>
                </div>
            </div>
        </article>
    }
}

/// The commit the environment last applied, by which run.
#[component]
fn AppliedLine(run: Option<crate::model::run::Run>) -> impl IntoView {
    let commit = run.as_ref().and_then(|r| r.commit.clone()).unwrap_or_default();
    view! {
        <div class="activity-line" data-applied=commit>
            <span class="activity-label">"Applied"</span>
            {match run {
                Some(run) => view! {
                    <span>
                        {match run.short_commit() {
                            Some(sha) => view! { <code title=run.commit.clone().unwrap_or_default()>{sha.to_string()}</code> }.into_any(),
                            None => view! { <span class="muted">"no commit (plain directory)"</span> }.into_any(),
                        }}
                        " by "<a href=format!("/runs/{}", run.id)>{format!("#{}", run.id)}</a>
                        {run.finished_at.map(|t| view! { <span class="muted">{format!(" · {}", crate::components::run_bits::when(&t))}</span> })}
                    </span>
                }.into_any(),
                None => view! { <span class="muted">"nothing applied from here yet"</span> }.into_any(),
            }}
        </div>
    }
}

/// What the last drift check found, with the form to check now.
#[component]
fn DriftLine(environment: String, drift: crate::model::run::Drift, can_check: bool) -> impl IntoView {
    use crate::model::run::DriftState;
    let when = drift.checked_at.as_ref().map(crate::components::run_bits::when).unwrap_or_default();
    let run = drift.run_id.map(|id| format!("/runs/{id}")).unwrap_or_default();
    let state = match drift.status {
        DriftState::InSync => "in_sync",
        DriftState::Drifted => "drifted",
        DriftState::Failed => "failed",
        DriftState::Unknown => "unknown",
    };
    let found = match drift.status {
        DriftState::Drifted => {
            let n = drift.changes();
            view! { <a href=run class="drift-found">{format!("{n} change{} pending since {when}", if n == 1 { "" } else { "s" })}</a> }.into_any()
        }
        DriftState::InSync => view! { <span>"in sync "<a href=run class="muted">{format!("· checked {when}")}</a></span> }.into_any(),
        DriftState::Failed => view! { <a href=run class="drift-failed">{format!("check failed · {when}")}</a> }.into_any(),
        DriftState::Unknown => view! { <span class="muted">"not checked yet"</span> }.into_any(),
    };
    view! {
        <div class="activity-line" data-drift=state>
            <span class="activity-label">"Drift"</span>
            {found}
            {drift.checking.map(|id| view! { <a href=format!("/runs/{id}") class="muted">{format!("checking now (#{id})")}</a> })}
            {(can_check && drift.checking.is_none()).then(|| view! {
                <form method="post" action=format!("/environments/{environment}/drift-check") class="inline">
                    <crate::components::csrf::CsrfField/>
                    <button type="submit" class="link-button">"check now"</button>
                </form>
            })}
        </div>
    }
}

/// How far this environment is behind the one it promotes from.
#[component]
fn PromotionLine(p: crate::model::run::Promotion) -> impl IntoView {
    let text = match (p.enforced, p.source_ahead) {
        (false, _) => format!("from {}: not enforced (plain directory, no commits to compare)", p.from),
        (true, Some(0)) => format!("from {}: in step with its last apply", p.from),
        (true, Some(n)) => format!("from {}: {n} commit{} ahead, not yet applied here", p.from, if n == 1 { "" } else { "s" }),
        (true, None) => format!("from {}: only commits it has applied", p.from),
    };
    view! {
        <div class="activity-line" data-promotion=p.source_ahead.map(|n| n.to_string()).unwrap_or_default()>
            <span class="activity-label">"Promotes"</span>
            <span>{text}</span>
        </div>
    }
}

/// Who holds the state lock (a link to the state page), or that nobody does.
#[component]
fn LockLine(environment: String, lock: Option<crate::model::state::StateLock>, error: Option<String>) -> impl IntoView {
    let page = format!("/environments/{environment}/state");
    let who = lock.as_ref().map(|l| l.who.clone()).unwrap_or_default();
    view! {
        <div class="activity-line" data-lock=who>
            <span class="activity-label">"Lock"</span>
            {match (lock, error) {
                (Some(lock), _) => view! {
                    <a href=page class="lock-held">
                        {format!("held by {} ({}{})", lock.who, lock.operation_name(), lock.age().map(|a| format!(", {a}")).unwrap_or_default())}
                    </a>
                }.into_any(),
                (None, Some(e)) => view! { <span class="muted" title=e>"unknown (the lock could not be read)"</span> }.into_any(),
                (None, None) => view! { <span class="muted">"not locked"</span> }.into_any(),
            }}
        </div>
    }
}

/// "Active #12 Needs approval · apply · meera", or what to say when there is no such run.
#[component]
fn RunLine(label: &'static str, run: Option<crate::model::run::Run>, none: &'static str) -> impl IntoView {
    view! {
        <div class="activity-line">
            <span class="activity-label">{label}</span>
            {match run {
                Some(run) => view! { <RunLink run/> }.into_any(),
                None => view! { <span class="muted">{none}</span> }.into_any(),
            }}
        </div>
    }
}

#[component]
fn CompareSection(section: Section, names: Vec<String>) -> impl IntoView {
    view! {
        <section class="compare-section" id=section.id>
            <h2>{section.title}</h2>
            <div class="table-wrap">
                <table class="compare">
                    <thead>
                        <tr>
                            <th scope="col" class="label-col"><span class="visually-hidden">"Item"</span></th>
                            {names.iter().map(|n| view! { <th scope="col">{n.clone()}</th> }).collect_view()}
                        </tr>
                    </thead>
                    <tbody>
                        {section.rows.into_iter().map(|row| {
                            let differs = row.differs();
                            view! {
                                <tr class:differs=differs data-differs=differs.to_string()>
                                    <th scope="row">
                                        {row.label.clone()}
                                        {differs.then(|| view! { <span class="pill" title="The environments differ here">"differs"</span> })}
                                    </th>
                                    {row.cells.into_iter().map(|cell| match cell {
                                        Some(v) => view! { <td>{v}</td> }.into_any(),
                                        None => view! { <td class="absent">"—"</td> }.into_any(),
                                    }).collect_view()}
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
