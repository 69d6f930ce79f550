//! What a plan does to the monthly cost, like a diff: the change, then each priced resource
//! before → after, then what could not be priced (never counted as zero).

use crate::model::cost::{signed_usd, usd, CostDiff};
use leptos::prelude::*;

/// `+$40.88/month`, colored by direction.
#[component]
pub fn CostDelta(diff: CostDiff) -> impl IntoView {
    let class = match diff.monthly_delta {
        d if d >= 0.005 => "cost-delta up",
        d if d <= -0.005 => "cost-delta down",
        _ => "cost-delta",
    };
    let unpriced = diff.unpriced.len();
    view! {
        <span class=class data-cost-delta>{format!("{}/month", signed_usd(diff.monthly_delta))}</span>
        {(unpriced > 0).then(|| view! {
            <span class="muted small">{format!(" · {unpriced} resource{} not priced", if unpriced == 1 { "" } else { "s" })}</span>
        })}
    }
}

#[component]
pub fn CostDiffSection(diff: CostDiff) -> impl IntoView {
    view! {
        <section class="plan-cost" id="cost">
            <h2>"Cost " <CostDelta diff=diff.clone()/></h2>
            <p class="muted">{format!(
                "The resources this plan changes cost {} a month now and {} after it, with this environment's usage assumptions (see Cost).",
                usd(diff.monthly_before), usd(diff.monthly_after)
            )}</p>
            {(!diff.items.is_empty()).then(|| view! {
                <div class="table-wrap">
                    <table class="cost-diff">
                        <thead><tr><th>"Resource"</th><th class="num">"Before"</th><th class="num">"After"</th><th class="num">"Change"</th></tr></thead>
                        <tbody>
                            {diff.items.iter().map(|i| view! {
                                <tr data-address=i.address.clone()>
                                    <td>
                                        <span class=format!("symbol diff-{:?}", i.action).to_lowercase()>{i.action.symbol()}</span>" "
                                        <code>{i.address.clone()}</code>
                                        <p class="muted small">{i.detail.clone()}</p>
                                    </td>
                                    <td class="num">{usd(i.monthly_before)}</td>
                                    <td class="num">{usd(i.monthly_after)}</td>
                                    <td class="num">{signed_usd(i.monthly_delta)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            })}
            {(!diff.unpriced.is_empty()).then(|| view! {
                <div class="unpriced">
                    <h3>"Not priced"</h3>
                    <p class="muted small">"The catalog has no price for these, so the change above leaves them out."</p>
                    <ul>
                        {diff.unpriced.iter().map(|u| view! {
                            <li data-address=u.address.clone()><code>{u.address.clone()}</code><span class="muted">{format!(" — {}", u.reason)}</span></li>
                        }).collect_view()}
                    </ul>
                </div>
            })}
        </section>
    }
}
