//! What a form post led to: the saved version (with the offer to redeploy its readers), or the
//! confirmation a production write waits for.

use super::consumers::RedeployButton;
use crate::components::csrf::CsrfField;
use crate::model::secret::{secret_path, PendingSummary, SecretDetail};
use crate::model::secret_form::{field, SecretAction};
use leptos::prelude::*;

/// After a write: what changed, and the offer to redeploy the services that read it.
#[component]
pub(super) fn Saved(d: SecretDetail, version: String, changed: Vec<String>) -> impl IntoView {
    let services: Vec<String> = d.consumers.iter().map(|c| c.service.clone()).collect();
    let can_write = d.permissions.can_write;
    view! {
        <div class="notice notice-ok" role="status">
            <p>
                {format!("Saved as version {}.", version.chars().take(8).collect::<String>())}
                {(!changed.is_empty()).then(|| format!(" Changed: {}.", changed.join(", ")))}
            </p>
            {(!services.is_empty() && can_write).then(|| view! {
                // A div, not a p: a form inside a p is closed early by the HTML parser.
                <div class="row redeploy-offer">
                    <span>{format!("Running tasks still hold the old values. Redeploy {} to read the new version: ", services.join(", "))}</span>
                    <RedeployButton env=d.environment.clone() name=d.name.clone() services=services.clone() label="Redeploy all consumers"/>
                </div>
            })}
        </div>
    }.into_any()
}

/// The confirmation step of a production write: what will change, by key name.
#[component]
pub(super) fn Confirmation(pending: PendingSummary, env_name: String, name: String) -> impl IntoView {
    let line = |label: &'static str, keys: &[String]| {
        (!keys.is_empty()).then(|| view! { <li>{label}" "{keys.iter().map(|k| view! { <code>{k.clone()}</code>" " }).collect_view()}</li> })
    };
    view! {
        <form method="post" action=SecretAction::Confirm.path(&pending.environment) class="card confirm" aria-labelledby="confirm-title">
            <CsrfField/>
            <h2 id="confirm-title">{format!("Confirm: write to {env_name}")}</h2>
            <p>{format!("{} in {}:", pending.description, pending.secret)}</p>
            <ul>
                {line("Change", &pending.set)}
                {line("Add", &pending.added)}
                {line("Remove", &pending.removed)}
                {line("New random value for", &pending.rotated)}
                {pending.rollback_to.clone().map(|v| view! { <li>"Make version "<code>{v}</code>" current again"</li> })}
            </ul>
            <input type="hidden" name=field::NAME value=name.clone()/>
            <input type="hidden" name=field::PENDING value=pending.id.clone()/>
            <div class="row">
                <button type="submit" class="button danger">{format!("Write to {env_name}")}</button>
                <a class="button" href=secret_path(&pending.environment, &name)>"Cancel"</a>
            </div>
        </form>
    }.into_any()
}
