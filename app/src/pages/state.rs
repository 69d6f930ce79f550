//! `/environments/{env}/state`: the environment's Terraform state in its S3 backend — who holds
//! the lock (and, for admins, the form to release it), the versions with the runs and commits
//! that wrote them, and the difference between any two versions.

use crate::server_fns::load_state_page;
use crate::components::csrf::CsrfField;
use crate::components::run_bits::when;
use crate::model::state::{LockMode, LockSource, StateDiff, StateLock, StateOverview, StatePage, StateVersion};
use crate::components::loaded::Loaded;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn StatePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let args = move || {
        let q = query.read();
        (params.read().get("env").unwrap_or_default(), q.get("from"), q.get("to"))
    };
    let page = Resource::new(args, |(env, from, to)| load_state_page(env, from, to));
    view! {
        <Loaded resource=page loading="Loading the state…" view=move |page| {
            let (error, unlocked) = query.with_untracked(|q| (q.get("error"), q.get("unlocked")));
            view! { <StateDetails page error unlocked/> }
        }/>
    }
}

#[component]
fn StateDetails(page: StatePage, error: Option<String>, unlocked: Option<String>) -> impl IntoView {
    let env = page.environment.clone();
    view! {
        <Title text=format!("{} state", env.display_name)/>
        <div class="page-head">
            <div>
                <p class="crumbs">
                    <a href="/">"Environments"</a>" / "
                    <a href=format!("/environments/{}/runs", env.name)>{env.display_name.clone()}</a>" / state"
                </p>
                <h1>{format!("{} state", env.display_name)}</h1>
                <p class="muted">
                    <code>{env.terraform.state_url()}</code>
                    {match env.terraform.lock {
                        LockMode::Dynamodb => format!(" · locked in the DynamoDB table {} ({})", env.terraform.lock_table, env.terraform.backend_region),
                        LockMode::S3 => format!(" · locked by {}.tflock objects ({})", env.terraform.state_key, env.terraform.backend_region),
                    }}
                </p>
            </div>
        </div>
        {error.map(|e| view! { <div class="notice notice-error" role="alert">{e}</div> })}
        {unlocked.map(|id| view! { <div class="notice notice-info" role="status">{format!("Released the state lock {id}. The release is in the audit log.")}</div> })}
        {match page.overview {
            Err(e) => view! { <div class="notice notice-error" role="alert">{format!("The state backend could not be read: {e}")}</div> }.into_any(),
            Ok(overview) => view! {
                <LockPanel environment=env.name.clone() lock=overview.lock.clone() can_administer=page.can_administer/>
                {(overview.versions.len() > 1).then(|| view! { <DiffSection overview=overview.clone() diff=page.diff.clone()/> })}
                <VersionsTable overview can_administer=page.can_administer/>
            }.into_any(),
        }}
    }
}

#[component]
fn LockPanel(environment: String, lock: Option<StateLock>, can_administer: bool) -> impl IntoView {
    let Some(lock) = lock else {
        return view! {
            <section class="card state-lock unlocked" data-lock="none">
                <h2>"Lock"</h2>
                <p>"Not locked: no plan or apply holds the state now."</p>
            </section>
        }
        .into_any();
    };
    let holder = match lock.run_id {
        Some(run) => view! { <span>"Run "<a href=format!("/runs/{run}")>{format!("#{run}")}</a>" of this control plane, running now"</span> }.into_any(),
        None => view! { <span>"Outside the control plane (or a run of ours that is no longer running)"</span> }.into_any(),
    };
    let action = format!("/environments/{environment}/state/force-unlock");
    let releasable = can_administer && lock.run_id.is_none();
    view! {
        <section class="card state-lock locked" data-lock=lock.id.clone()>
            <h2>"Locked"</h2>
            <dl class="facts">
                <dt>"Held by"</dt><dd><strong class="lock-who">{lock.who.clone()}</strong></dd>
                <dt>"Whose"</dt><dd>{holder}</dd>
                <dt>"Operation"</dt><dd>{lock.operation_name().to_string()}</dd>
                <dt>"Since"</dt><dd>{lock.created_at.as_ref().map(when).unwrap_or_else(|| lock.created.clone())}{lock.age().map(|a| view! { <span class="muted">{format!(" ({a} ago)")}</span> })}</dd>
                <dt>"Terraform"</dt><dd>{lock.version.clone()}</dd>
                <dt>"Lock ID"</dt><dd><code>{lock.id.clone()}</code></dd>
                <dt>"Stored"</dt><dd>{match lock.source { LockSource::Dynamodb => "lock table item", LockSource::S3 => ".tflock object" }}</dd>
            </dl>
            {releasable.then(|| view! {
                <form method="post" action=action class="force-unlock">
                    <CsrfField/>
                    <input type="hidden" name="lock_id" value=lock.id.clone()/>
                    <p class="muted">"Release the lock only when you are sure the operation holding it is no longer running: a second apply on the same state can corrupt it."</p>
                    <label class="field danger">
                        <span>{format!("Type {environment} to confirm")}</span>
                        <input type="text" name="confirm" autocomplete="off" spellcheck="false" required/>
                    </label>
                    <button type="submit" class="button danger">"Force unlock"</button>
                </form>
            })}
            {(can_administer && lock.run_id.is_some()).then(|| view! {
                <p class="muted">"A running run holds this lock: cancel the run to release it."</p>
            })}
        </section>
    }
    .into_any()
}

#[component]
fn DiffSection(overview: StateOverview, diff: Option<Result<StateDiff, String>>) -> impl IntoView {
    let (from, to) = match &diff {
        Some(Ok(d)) => (Some(d.from.clone()), Some(d.to.clone())),
        _ => (overview.versions.get(1).map(|v| v.version_id.clone()), overview.versions.first().map(|v| v.version_id.clone())),
    };
    let options = move |selected: Option<String>| {
        overview
            .versions
            .iter()
            .map(|v| {
                let label = format!("{} · serial {} · {}", short(&v.version_id), v.serial.map(|s| s.to_string()).unwrap_or("?".into()), when(&v.last_modified));
                view! { <option value=v.version_id.clone() selected=selected.as_deref() == Some(v.version_id.as_str())>{label}</option> }
            })
            .collect_view()
    };
    view! {
        <section class="state-diff" id="diff">
            <h2>"Compare two versions"</h2>
            <form method="get" action="#diff" class="diff-form">
                <label class="field"><span>"From"</span><select name="from">{options(from)}</select></label>
                <label class="field"><span>"To"</span><select name="to">{options(to)}</select></label>
                <button type="submit" class="button">"Compare"</button>
            </form>
            {diff.map(|d| match d {
                Err(e) => view! { <div class="notice notice-error" role="alert">{e}</div> }.into_any(),
                Ok(d) if d.added.is_empty() && d.removed.is_empty() && d.changed.is_empty() => view! {
                    <p class="muted diff-result" data-diff="same">"The same resources with the same attributes in both."</p>
                }.into_any(),
                Ok(d) => view! {
                    <ul class="diff-result">
                        {d.added.into_iter().map(|a| view! { <li class="add" data-change="added"><span>"+ "</span><code>{a}</code></li> }).collect_view()}
                        {d.changed.into_iter().map(|a| view! { <li class="change" data-change="changed"><span>"~ "</span><code>{a}</code></li> }).collect_view()}
                        {d.removed.into_iter().map(|a| view! { <li class="destroy" data-change="removed"><span>"- "</span><code>{a}</code></li> }).collect_view()}
                    </ul>
                }.into_any(),
            })}
        </section>
    }
}

#[component]
fn VersionsTable(overview: StateOverview, can_administer: bool) -> impl IntoView {
    let env = overview.environment.clone();
    view! {
        <section class="state-versions">
            <h2>"Versions"</h2>
            <p class="muted">
                "Newest first, from the bucket's version history. Values are never shown here: the state holds secrets."
                {overview.truncated.then(|| format!(" Only the newest {} are listed.", overview.versions.len()))}
            </p>
            <div class="table-wrap">
                <table class="versions">
                    <thead><tr><th>"Version"</th><th>"Written"</th><th>"Serial"</th><th>"Resources"</th><th>"Size"</th><th>"Terraform"</th><th>"Written by"</th>{can_administer.then(|| view! { <th></th> })}</tr></thead>
                    <tbody>
                        {overview.versions.is_empty().then(|| view! { <tr><td colspan="8" class="muted empty">"No state yet: nothing has been applied to this environment."</td></tr> })}
                        {overview.versions.into_iter().map(|v| view! { <VersionRow env=env.clone() v can_administer/> }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn VersionRow(env: String, v: StateVersion, can_administer: bool) -> impl IntoView {
    let download = format!("/api/v1/environments/{env}/state/versions/{}/download", v.version_id);
    let writer = match (v.run_id, v.commit.clone()) {
        (None, _) => view! { <span class="muted">"outside the control plane"</span> }.into_any(),
        (Some(run), commit) => view! {
            <a href=format!("/runs/{run}")>{format!("run #{run}")}</a>
            {commit.map(|c| {
                let sha = c.chars().take(7).collect::<String>();
                match v.commit_url.clone() {
                    Some(url) => view! { " at "<a href=url title=c.clone()><code>{sha}</code></a> }.into_any(),
                    None => view! { " at "<code title=c.clone()>{sha}</code> }.into_any(),
                }
            })}
        }.into_any(),
    };
    let dash = || "–".to_string();
    view! {
        <tr data-version=v.version_id.clone() data-run=v.run_id.map(|r| r.to_string()).unwrap_or_default()>
            <td><code title=v.version_id.clone()>{short(&v.version_id)}</code>{v.is_latest.then(|| view! { <span class="pill">"current"</span> })}</td>
            <td class="nowrap">{when(&v.last_modified)}</td>
            <td>{v.serial.map(|s| s.to_string()).unwrap_or_else(dash)}</td>
            <td>{v.resources.map(|s| s.to_string()).unwrap_or_else(dash)}</td>
            <td class="nowrap">{size(v.size)}</td>
            <td>{v.terraform_version.clone().unwrap_or_else(dash)}</td>
            <td>{writer}{v.unreadable.clone().map(|why| view! { <div class="muted">{format!("Unreadable: {why}")}</div> })}</td>
            {can_administer.then(|| view! { <td><a href=download download="">"Download"</a></td> })}
        </tr>
    }
}

fn short(version_id: &str) -> String {
    version_id.chars().take(12).collect()
}

fn size(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}
