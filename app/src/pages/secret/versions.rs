//! The secret's versions, with a roll back to each earlier one.

use super::ReadAt;
use crate::components::csrf::CsrfField;
use crate::components::run_bits::when;
use crate::model::secret::SecretDetail;
use crate::model::secret_form::{field, SecretAction};
use leptos::prelude::*;

#[component]
pub(super) fn VersionsSection(d: SecretDetail) -> impl IntoView {
    let can_write = d.permissions.can_write;
    view! {
        <section class="card" aria-labelledby="versions-title">
            <h2 id="versions-title">"Versions"</h2>
            <table class="versions">
                <thead><tr><th>"Version"</th><th>"Stages"</th><th>"Created"</th><th></th></tr></thead>
                <tbody>
                    {d.versions.iter().map(|v| view! {
                        <tr data-version=v.version_id.clone()>
                            <td><code title=v.version_id.clone()>{v.version_id.chars().take(8).collect::<String>()}</code></td>
                            <td>{v.stages.iter().map(|s| view! { <span class=format!("stage stage-{}", s.to_lowercase())>{s.clone()}</span>" " }).collect_view()}</td>
                            <td class="muted small nowrap">{v.created_at.map(|t| when(&t)).unwrap_or_default()}</td>
                            <td>
                                {(can_write && !v.is_current()).then(|| view! {
                                    <form method="post" action=SecretAction::Rollback.path(&d.environment) class="inline">
                                        <CsrfField/>
                                        <ReadAt d=&d/>
                                        <input type="hidden" name=field::TO value=v.version_id.clone()/>
                                        <button type="submit" class="button small">"Roll back to this"</button>
                                    </form>
                                })}
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }.into_any()
}
