//! `/environments/{env}/secrets/{name…}`: one secret — masked keys, reveal, edit, rotate, the
//! version history with roll back, its consumers with redeploy, and the rollout that follows.
//!
//! Every form is a plain HTML form posting to its action's route (`model::secret_form`), so the
//! page works without JavaScript; the server answers with a redirect back here carrying the outcome.
//! With JavaScript, a reveal shows the value inline instead of on a page of its own, and a
//! rollout refreshes itself.

mod consumers;
mod keys;
mod outcome;
mod versions;

use crate::components::run_bits::when;
use crate::model::secret::SecretDetail;
use crate::model::secret_form::field;
use crate::server_fns::{load_secret_page, SecretPage, SecretPageAnswer};
use consumers::{ConsumersSection, RolloutSection};
use keys::{EditForm, KeysSection, RotateForm};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use outcome::{Confirmation, Saved};
use versions::VersionsSection;

#[component]
pub fn SecretDetailPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || {
        let p = params.read();
        (p.get("env").unwrap_or_default(), p.get("name").unwrap_or_default(), query.read().get("confirm"))
    };
    let page = Resource::new(key, |(env, name, confirm)| load_secret_page(env, name, confirm));
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Reading the secret…"</p> }>
            {move || Suspend::new(async move {
                let notes = query.with_untracked(|q| {
                    let list = |name: &str| q.get(name).map(|c| c.split(',').filter(|k| !k.is_empty()).map(str::to_string).collect()).unwrap_or_default();
                    Notes { error: q.get("error"), saved: q.get("saved"), changed: list("changed"), redeployed: list("redeployed") }
                });
                match page.await {
                    Err(e) => view! {
                        <p class="crumbs"><a href="/secrets">"Secrets"</a></p>
                        <div class="notice notice-error" role="alert">{e.to_string()}</div>
                    }.into_any(),
                    Ok(SecretPageAnswer::Missing(why)) => {
                        crate::pages::not_found::answer_not_found();
                        view! {
                            <Title text="Secret not found"/>
                            <p class="crumbs"><a href="/secrets">"Secrets"</a></p>
                            <h1>"Secret not found"</h1>
                            <div class="notice notice-error" role="alert">{why}</div>
                        }.into_any()
                    }
                    Ok(SecretPageAnswer::Found(p)) => view! { <SecretView p=*p notes/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// What the previous form post left in the query string.
#[derive(Clone)]
struct Notes {
    error: Option<String>,
    saved: Option<String>,
    changed: Vec<String>,
    redeployed: Vec<String>,
}

#[component]
fn SecretView(p: SecretPage, notes: Notes) -> impl IntoView {
    let d = p.detail.clone();
    let env = p.environment.clone();
    let perms = d.permissions.clone();
    let editable = perms.can_write && d.read_only.is_none();
    let short = |v: &str| v.chars().take(8).collect::<String>();
    view! {
        <Title text=format!("{} · {}", d.name, env.display_name)/>
        <div class="page-head">
            <div>
                <p class="crumbs">
                    <a href="/secrets">"Secrets"</a>" / "{env.display_name.clone()}" "<span class="region">{env.region.clone()}</span>
                </p>
                <h1 class="mono secret-title">{d.name.clone()}</h1>
                <p class="muted">
                    {format!("Version {} · ", short(&d.version_id))}
                    {d.last_changed.map(|t| format!("last changed {}", when(&t))).unwrap_or_default()}
                    {d.age_days.map(|a| format!(" ({a} days ago)")).unwrap_or_default()}
                    {d.rotation_due.then(|| view! {
                        <span class="pill pill-warn">{format!("unchanged for over {} days: rotate", d.rotation_warning_days)}</span>
                    })}
                </p>
                {d.description.clone().map(|t| view! { <p>{t}</p> })}
            </div>
        </div>
        {notes.error.clone().map(|e| view! { <div class="notice notice-error" role="alert">{e}</div> })}
        {p.pending.clone().map(|pending| view! { <Confirmation pending env_name=env.display_name.clone() name=d.name.clone()/> })}
        {notes.saved.clone().map(|v| view! { <Saved d=d.clone() version=v changed=notes.changed.clone()/> })}
        {(!notes.redeployed.is_empty()).then(|| view! { <RolloutSection env=env.name.clone() services=notes.redeployed.clone()/> })}
        {d.read_only.clone().map(|why| view! { <div class="notice notice-info" role="status">{why}</div> })}
        {d.terraform_variables.then(|| view! {
            <div class="notice notice-info" role="note" data-terraform-variables="true">
                {format!("{}'s Terraform variables: each key is a variable name, and every value is sensitive. Runs write them into their working copy and mask them in every log. A change applies from the next plan. ", env.display_name)}
                <a href=format!("/environments/{}/runs#variables", env.name)>"All variables"</a>
            </div>
        })}
        {(!perms.can_write).then(|| view! {
            <p class="notice notice-info">{format!("Changing secrets in {} needs the {} role; revealing a value needs {}.", env.display_name, perms.write_role, perms.reveal_role)}</p>
        })}
        <div class="secret-grid">
            <div class="stack-lg">
                <KeysSection d=d.clone()/>
                {editable.then(|| view! { <EditForm d=d.clone()/> })}
                {editable.then(|| view! { <RotateForm d=d.clone()/> })}
            </div>
            <div class="stack-lg">
                <ConsumersSection d=d.clone()/>
                <VersionsSection d=d.clone()/>
            </div>
        </div>
    }.into_any()
}

/// Which secret a form changes, and the version it was read at (a write to a secret that moved
/// on since is refused).
#[component]
fn ReadAt<'a>(d: &'a SecretDetail) -> impl IntoView {
    view! {
        <input type="hidden" name=field::NAME value=d.name.clone()/>
        <input type="hidden" name=field::VERSION value=d.version_id.clone()/>
    }
}
