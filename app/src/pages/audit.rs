//! `/audit`: the audit log for admins, newest first: who did what, where, when. Filters are a
//! plain GET form (they live in the address, so a filtered view can be shared), with paging and
//! the same view as CSV.

use crate::server_fns::{list_environments, load_audit};
use crate::components::run_bits::when;
use crate::model::audit::{AuditAction, AuditPage, AuditQuery};
use crate::components::loaded::Loaded;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        let p = params.read();
        let text = |k: &str| p.get(k).filter(|v| !v.trim().is_empty());
        AuditQuery {
            actor: text("actor"),
            environment: text("environment"),
            action: text("action"),
            since: text("since"),
            until: text("until"),
            before: p.get("before").and_then(|b| b.parse().ok()),
            limit: None,
        }
    });
    let page = Resource::new(move || query.get(), load_audit);
    let envs = Resource::new(|| (), |_| list_environments());
    view! {
        <Title text="Audit log"/>
        <div class="page-head">
            <div>
                <p class="crumbs"><a href="/">"Environments"</a>" / Audit log"</p>
                <h1>"Audit log"</h1>
                <p class="muted">"Every change and every reveal, newest first. Rows are only ever added: the database refuses to change or delete them."</p>
            </div>
        </div>
        <form method="get" action="/audit" class="card audit-filters">
            <label class="field"><span>"Actor"</span><input type="text" name="actor" value=move || query.get().actor.unwrap_or_default() placeholder="ravi"/></label>
            <label class="field"><span>"Environment"</span>
                <select name="environment">
                    <option value="">"Any"</option>
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            let selected = query.get().environment.unwrap_or_default();
                            envs.await.unwrap_or_default().into_iter().map(|e| {
                                let is = e.name == selected;
                                view! { <option value=e.name.clone() selected=is>{e.display_name.clone()}</option> }
                            }).collect_view()
                        })}
                    </Suspense>
                </select>
            </label>
            <label class="field"><span>"Action"</span><input type="text" name="action" list="audit-actions" value=move || query.get().action.unwrap_or_default() placeholder="secret. or run.approved"/></label>
            <ActionChoices/>
            <label class="field"><span>"From (UTC)"</span><input type="date" name="since" value=move || query.get().since.unwrap_or_default()/></label>
            <label class="field"><span>"To (UTC)"</span><input type="date" name="until" value=move || query.get().until.unwrap_or_default()/></label>
            <div class="row">
                <button type="submit" class="button primary">"Filter"</button>
                <a class="button" href="/audit">"Clear"</a>
                <a class="button" data-export href=move || format!("/api/v1/audit.csv?{}", query.get().to_query_string())>"Download CSV"</a>
            </div>
        </form>
        <Loaded resource=page loading="Reading the audit log…" view=move |p| view! { <Events page=p query=query.get_untracked()/> }/>
    }
}

#[component]
fn Events(page: AuditPage, query: AuditQuery) -> impl IntoView {
    let next = page.next_before.map(|before| {
        let filters = query.to_query_string();
        let sep = if filters.is_empty() { "" } else { "&" };
        format!("/audit?{filters}{sep}before={before}")
    });
    view! {
        <div class="table-wrap">
            <table class="audit">
                <thead><tr><th>"When"</th><th>"Actor"</th><th>"Action"</th><th>"Environment"</th><th>"Target"</th><th>"Details"</th></tr></thead>
                <tbody>
                    {page.events.is_empty().then(|| view! { <tr><td colspan="6" class="muted empty">"No events match."</td></tr> })}
                    {page.events.into_iter().map(|e| view! {
                        <tr data-event=e.id.to_string() data-action=e.action.clone()>
                            <td class="nowrap">{when(&e.at)}</td>
                            <td>{e.actor.clone()}</td>
                            <td><code>{e.action.clone()}</code></td>
                            <td>{e.environment.clone().unwrap_or_default()}</td>
                            <td class="mono small">{e.target.clone().unwrap_or_default()}</td>
                            <td class="details mono small">{e.details.clone()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {next.map(|href| view! { <p><a class="button" href=href data-older>"Older events"</a></p> })}
    }
}

/// The action field's suggestions: every kind of row, and each family (`secret.`), described.
#[component]
fn ActionChoices() -> impl IntoView {
    let mut families: Vec<&str> = AuditAction::ALL.iter().filter_map(|a| a.as_str().split_once('.').map(|(family, _)| family)).collect();
    families.dedup();
    view! {
        <datalist id="audit-actions">
            {families.into_iter().map(|f| view! { <option value=format!("{f}.")>{format!("every {f} action")}</option> }).collect_view()}
            {AuditAction::ALL.iter().map(|a| view! { <option value=a.as_str()>{a.describe()}</option> }).collect_view()}
        </datalist>
    }
}
