//! `/notifications`: for admins, every notification destination (where it sends, what it hears,
//! its last success and failure, a Send test button) and the newest deliveries with their
//! attempts and the receiver's last answer. Filters are a plain GET form, the test button a plain
//! form post; with JavaScript the destinations and deliveries refresh themselves every few
//! seconds (`regions.rs`), leaving the filter form as the user left it.

use crate::server_fns::load_notifications;
use crate::components::csrf::CsrfField;
use crate::components::loaded::Loaded;
use crate::components::run_bits::when;
use crate::model::notifications::{Delivery, DeliveryQuery, DestinationSummary, NotificationsPage};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

const REFRESH_SECONDS: u64 = 5;

#[component]
pub fn NotificationsPage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        let p = params.read();
        let text = |k: &str| p.get(k).filter(|v| !v.trim().is_empty());
        DeliveryQuery {
            destination: text("destination"),
            event: text("event"),
            status: text("status"),
            before: p.get("before").and_then(|b| b.parse().ok()),
            limit: None,
        }
    });
    let page = Resource::new(move || query.get(), load_notifications);
    let sent = move || params.read().get("sent");
    let error = move || params.read().get("error");
    view! {
        <Title text="Notifications"/>
        <div class="page-head">
            <div>
                <p class="crumbs"><a href="/">"Environments"</a>" / Notifications"</p>
                <h1>"Notifications"</h1>
                <p class="muted">"Slack messages and signed webhooks about runs, drift, secrets and the state lock. Destinations are set in the configuration ("<code>"[[notifications.destinations]]"</code>"); every event is kept until each destination has it, across restarts and receiver outages."</p>
            </div>
        </div>
        {move || sent().map(|d| view! { <div class="notice notice-ok" role="status">{format!("A test notification to {d} is on its way: it appears below in a moment.")}</div> })}
        {move || error().map(|e| view! { <div class="notice notice-error" role="alert">{e}</div> })}
        <Loaded resource=page loading="Reading notifications…" view=move |p| view! { <Overview page=p query=query.get_untracked()/> }/>
    }
}

#[component]
fn Overview(page: NotificationsPage, query: DeliveryQuery) -> impl IntoView {
    let NotificationsPage { destinations, deliveries, events } = page;
    let names: Vec<String> = destinations.iter().map(|d| d.name.clone()).collect();
    let next = deliveries.next_before.map(|before| format!("/notifications?{}", query.older_than(before)));
    let option = |value: String, selected: &Option<String>| {
        let is = selected.as_deref() == Some(value.as_str());
        view! { <option value=value.clone() selected=is>{value.clone()}</option> }
    };
    view! {
        <h2>"Destinations"</h2>
        {destinations.is_empty().then(|| view! {
            <div class="notice notice-info">"No destinations are configured. Add "<code>"[[notifications.destinations]]"</code>" entries (kind \"slack\" or \"webhook\") to the configuration file and restart."</div>
        })}
        <div class="destinations" data-live="destinations">
            {destinations.into_iter().map(|d| view! { <DestinationCard d/> }).collect_view()}
        </div>
        <h2>"Deliveries"</h2>
        <form method="get" action="/notifications" class="card audit-filters">
            <label class="field"><span>"Destination"</span>
                <select name="destination">
                    <option value="">"Any"</option>
                    {names.into_iter().map(|n| option(n, &query.destination)).collect_view()}
                </select>
            </label>
            <label class="field"><span>"Event"</span>
                <select name="event">
                    <option value="">"Any"</option>
                    {events.into_iter().map(|e| option(e, &query.event)).collect_view()}
                </select>
            </label>
            <label class="field"><span>"Status"</span>
                <select name="status">
                    <option value="">"Any"</option>
                    {["pending", "delivered", "failed"].map(|s| option(s.to_string(), &query.status)).into_iter().collect_view()}
                </select>
            </label>
            <div class="row">
                <button type="submit" class="button primary">"Filter"</button>
                <a class="button" href="/notifications">"Clear"</a>
            </div>
        </form>
        <div data-live="deliveries" data-refresh-seconds=REFRESH_SECONDS>
            <div class="table-wrap">
                <table class="audit deliveries">
                    <thead><tr><th>"Queued"</th><th>"Destination"</th><th>"Event"</th><th>"Environment"</th><th>"Status"</th><th>"Attempts"</th><th>"Last answer"</th></tr></thead>
                    <tbody>
                        {deliveries.deliveries.is_empty().then(|| view! { <tr><td colspan="7" class="muted empty">"No deliveries match."</td></tr> })}
                        {deliveries.deliveries.into_iter().map(|d| view! { <DeliveryRow d/> }).collect_view()}
                    </tbody>
                </table>
            </div>
            {next.map(|href| view! { <p><a class="button" href=href data-older>"Older deliveries"</a></p> })}
        </div>
    }
}

#[component]
fn DestinationCard(d: DestinationSummary) -> impl IntoView {
    let list = |v: &[String], all: &str| if v.is_empty() { all.to_string() } else { v.join(", ") };
    let events = list(&d.events, "every event");
    let environments = list(&d.environments, "every environment");
    let last_ok = d.last_delivered_at.map(|t| when(&t)).unwrap_or_else(|| "never".into());
    let waiting = match (d.pending, d.failed) {
        (0, 0) => String::new(),
        (p, 0) => format!("{p} waiting"),
        (0, f) => format!("{f} failed"),
        (p, f) => format!("{p} waiting, {f} failed"),
    };
    let failed = d.failed > 0;
    view! {
        <div class="card destination" data-destination=d.name.clone()>
            <div class="destination-head">
                <strong>{d.name.clone()}</strong>
                <span class="pill">{d.kind.clone()}</span>
                {d.signed.then(|| view! { <span class="pill" title="X-Zelly-Signature: HMAC-SHA256 of the body">"signed"</span> })}
            </div>
            <p class="mono small">{d.target.clone()}</p>
            <p class="small muted">{format!("Hears {events}, in {environments}.")}</p>
            <p class="small">"Last delivered: "<span data-last-delivered>{last_ok}</span>
                {(!waiting.is_empty()).then(|| view! { <span class=if failed { "pill pill-warn" } else { "pill" }>{waiting.clone()}</span> })}
            </p>
            <form method="post" action=format!("/notifications/destinations/{}/test", d.name) class="inline">
                <CsrfField/>
                <button type="submit" class="button small" data-send-test=d.name.clone()>"Send test"</button>
            </form>
        </div>
    }
}

#[component]
fn DeliveryRow(d: Delivery) -> impl IntoView {
    let answer = match (&d.last_status, &d.last_error) {
        (_, Some(e)) => e.clone(),
        (Some(s), None) => format!("HTTP {s}"),
        (None, None) => String::new(),
    };
    let detail = match (d.status.as_str(), d.delivered_at, d.next_attempt_at) {
        ("delivered", Some(t), _) => format!("at {}", when(&t)),
        ("pending", _, Some(t)) => format!("next try {}", when(&t)),
        _ => String::new(),
    };
    view! {
        <tr data-delivery=d.delivery_id.clone() data-status=d.status.clone()>
            <td class="nowrap">{when(&d.created_at)}</td>
            <td>{d.destination.clone()}</td>
            <td><code>{d.event.clone()}</code></td>
            <td>{d.environment.clone().unwrap_or_else(|| "—".into())}</td>
            <td class="nowrap"><span class=format!("status delivery-{}", d.status)>{d.status.clone()}</span>" "<span class="muted small">{detail}</span></td>
            <td>{d.attempts}</td>
            <td class="details mono small">{answer}</td>
        </tr>
    }
}
