//! The resource-level diff of a plan, grouped by action, each resource expandable to the
//! attributes that change. Works without JavaScript (`<details>`). Sensitive values arrive from
//! the server already removed; they show as "(sensitive)".

use crate::model::plan::{AttributeChange, ChangeAction, PlanSummary};
use leptos::prelude::*;

#[component]
pub fn PlanDiff(plan: PlanSummary) -> impl IntoView {
    let groups = [ChangeAction::Delete, ChangeAction::Replace, ChangeAction::Update, ChangeAction::Create];
    view! {
        <div class="plan-diff">
            {groups.into_iter().filter_map(|action| {
                let resources: Vec<_> = plan.resources.iter().filter(|r| r.action == action).cloned().collect();
                (!resources.is_empty()).then(|| view! {
                    <section class=format!("diff-group diff-{action:?}").to_lowercase()>
                        <h3>{format!("{} {} ({})", action.symbol(), capitalize(action.label()), resources.len())}</h3>
                        {resources.into_iter().map(|r| view! {
                            <details class="resource">
                                <summary>
                                    <span class="symbol">{action.symbol()}</span>
                                    <code>{r.address.clone()}</code>
                                    <span class="muted">{format!("{} attribute{}", r.attributes.len(), if r.attributes.len() == 1 { "" } else { "s" })}</span>
                                </summary>
                                <table class="attributes">
                                    <tbody>
                                        {r.attributes.into_iter().map(|a| view! { <AttributeRow attr=a/> }).collect_view()}
                                    </tbody>
                                </table>
                            </details>
                        }).collect_view()}
                    </section>
                })
            }).collect_view()}
        </div>
    }
}

#[component]
fn AttributeRow(attr: AttributeChange) -> impl IntoView {
    let shown = |v: Option<String>, missing: &'static str| -> AnyView {
        match (attr.sensitive, v) {
            (true, _) => view! { <span class="sensitive">"(sensitive)"</span> }.into_any(),
            (false, Some(v)) => view! { <code>{v}</code> }.into_any(),
            (false, None) => view! { <span class="muted">{missing}</span> }.into_any(),
        }
    };
    let after = if attr.known_after_apply {
        view! { <span class="muted">"(known after apply)"</span> }.into_any()
    } else {
        shown(attr.after.clone(), "(removed)")
    };
    view! {
        <tr>
            <th scope="row"><code>{attr.path.clone()}</code></th>
            <td>{shown(attr.before.clone(), "(none)")}</td>
            <td class="arrow">"→"</td>
            <td>{after}</td>
        </tr>
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}
