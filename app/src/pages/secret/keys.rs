//! The secret's keys: masked values with a reveal per key, and the edit and rotate forms.

use super::ReadAt;
use crate::components::csrf::CsrfField;
use crate::model::secret::{Alphabet, SecretDetail, MAX_GENERATED_LENGTH, MIN_GENERATED_LENGTH};
use crate::model::secret_form::{field, SecretAction};
use crate::server_fns::reveal_secret_value;
use leptos::prelude::*;

/// Keys with masked values and, for those allowed, a reveal per key.
#[component]
pub(super) fn KeysSection(d: SecretDetail) -> impl IntoView {
    let revealed: RwSignal<Option<(String, String)>> = RwSignal::new(None);
    let failed: RwSignal<Option<String>> = RwSignal::new(None);
    let can_reveal = d.permissions.can_reveal;
    let consumers = d.consumers.clone();
    view! {
        <section class="card" aria-labelledby="keys-title">
            <h2 id="keys-title">"Keys"</h2>
            {move || failed.get().map(|e| view! { <p class="notice notice-error" role="alert">{e}</p> })}
            <table class="keys">
                <thead><tr><th>"Key"</th><th>"Value"</th><th>"Read by"</th><th></th></tr></thead>
                <tbody>
                    {d.keys.iter().map(|k| {
                        let key = k.name.clone();
                        let readers: Vec<String> = consumers.iter().filter(|c| c.keys.is_empty() || c.keys.contains(&key)).map(|c| c.service.clone()).collect();
                        let (env, name) = (d.environment.clone(), d.name.clone());
                        let shown_key = key.clone();
                        let shown = move || revealed.get().filter(|(k, _)| *k == shown_key).map(|(_, v)| v);
                        let submit_key = key.clone();
                        let on_reveal = move |ev: leptos::ev::SubmitEvent| {
                            ev.prevent_default();
                            let (env, name, key) = (env.clone(), name.clone(), submit_key.clone());
                            leptos::task::spawn_local(async move {
                                match reveal_secret_value(env, name, key.clone(), crate::components::csrf::csrf_token()).await {
                                    Ok(v) => {
                                        failed.set(None);
                                        revealed.set(Some((key, v)));
                                        // Hide it again after a while, as if the page were left.
                                        set_timeout(move || revealed.set(None), std::time::Duration::from_secs(60));
                                    }
                                    Err(e) => failed.set(Some(e.to_string())),
                                }
                            });
                        };
                        let shown_again = shown.clone();
                        let (masked, key_for_value, reveal_key) = (k.masked.clone(), key.clone(), k.name.clone());
                        view! {
                            <tr data-key=key.clone()>
                                <td><code>{key.clone()}</code>{k.credential.then(|| view! { <span class="muted small">" credential"</span> })}</td>
                                <td class="value-cell">
                                    {move || match shown() {
                                        Some(v) => view! { <code class="revealed-value" data-revealed=key_for_value.clone()>{v}</code> }.into_any(),
                                        None => view! { <span class="masked" aria-label="hidden value">{masked.clone()}</span> }.into_any(),
                                    }}
                                </td>
                                <td class="muted small">{readers.join(", ")}</td>
                                <td class="nowrap">
                                    {can_reveal.then(|| view! {
                                        <form method="post" action=SecretAction::Reveal.path(&d.environment) class="inline" on:submit=on_reveal>
                                            <CsrfField/>
                                            <input type="hidden" name=field::NAME value=d.name.clone()/>
                                            <input type="hidden" name=field::KEY value=k.name.clone()/>
                                            {move || if shown_again().is_some() {
                                                view! { <button type="button" class="button small" on:click=move |_| revealed.set(None)>"Hide"</button> }.into_any()
                                            } else {
                                                view! { <button type="submit" class="button small" data-reveal=reveal_key.clone()>"Reveal"</button> }.into_any()
                                            }}
                                        </form>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            {can_reveal.then(|| view! { <p class="muted small">"Each reveal is recorded in the audit log."</p> })}
        </section>
    }.into_any()
}

#[component]
pub(super) fn EditForm(d: SecretDetail) -> impl IntoView {
    let confirm = d.permissions.confirm_writes;
    let (new_key_pattern, new_key_placeholder) =
        if d.terraform_variables { ("[A-Za-z_][A-Za-z0-9_\\-]*", "variable_name") } else { ("[A-Z][A-Z0-9_]*", "NEW_KEY") };
    view! {
        <form method="post" action=SecretAction::Edit.path(&d.environment) class="card stack" aria-labelledby="edit-title" autocomplete="off">
            <CsrfField/>
            <h2 id="edit-title">"Edit"</h2>
            <p class="muted small">"Type a new value to change a key; leave it empty to keep it. All changes are written together as one new version; the current one becomes AWSPREVIOUS."</p>
            <ReadAt d=&d/>
            <table class="keys edit">
                <thead><tr><th>"Key"</th><th>"New value"</th><th>"Remove"</th></tr></thead>
                <tbody>
                    {d.keys.iter().map(|k| view! {
                        <tr>
                            <td><label for=format!("set-{}", k.name)><code>{k.name.clone()}</code></label></td>
                            <td><input type="password" id=format!("set-{}", k.name) name=field::set(&k.name) placeholder="unchanged" autocomplete="new-password"/></td>
                            <td><input type="checkbox" name=field::REMOVE value=k.name.clone() aria-label=format!("Remove {}", k.name)/></td>
                        </tr>
                    }).collect_view()}
                    {(0..3).map(|i| view! {
                        <tr class="new-key">
                            <td><input type="text" name=field::new_key(i) placeholder=new_key_placeholder pattern=new_key_pattern aria-label="New key name"/></td>
                            <td><input type="password" name=field::new_value(i) placeholder="value" autocomplete="new-password" aria-label="New key value"/></td>
                            <td></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            <div class="row">
                <button type="submit" class="button primary">{if confirm { "Review changes" } else { "Save as new version" }}</button>
            </div>
        </form>
    }.into_any()
}

#[component]
pub(super) fn RotateForm(d: SecretDetail) -> impl IntoView {
    let confirm = d.permissions.confirm_writes;
    view! {
        <form method="post" action=SecretAction::Rotate.path(&d.environment) class="card stack" aria-labelledby="rotate-title">
            <CsrfField/>
            <h2 id="rotate-title">"Rotate"</h2>
            <p class="muted small">"Chosen keys get new random values from the server's secure random generator, in one new version. This changes what the services will read; it does not change a password inside the database or cache itself."</p>
            <ReadAt d=&d/>
            <fieldset class="rotate-keys">
                <legend class="visually-hidden">"Keys to rotate"</legend>
                {d.keys.iter().map(|k| view! {
                    <label class=if k.credential { "rotate-key" } else { "rotate-key muted" }>
                        <input type="checkbox" name=field::ROTATE value=k.name.clone()/>
                        " "<code>{k.name.clone()}</code>
                        <span class="muted small">{format!(" {} chars", k.rotation.length)}{(!k.credential).then_some(" · looks like configuration")}</span>
                    </label>
                }).collect_view()}
            </fieldset>
            <div class="row">
                <label class="field">
                    <span>"Length"</span>
                    <input type="number" name=field::LENGTH min=MIN_GENERATED_LENGTH.to_string() max=MAX_GENERATED_LENGTH.to_string() placeholder="per key"/>
                </label>
                <label class="field">
                    <span>"Characters"</span>
                    <select name=field::ALPHABET>
                        <option value="default">"Per key (letters and digits)"</option>
                        {Alphabet::ALL.into_iter().map(|a| view! { <option value=a.as_str()>{a.label()}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            <div class="row">
                <button type="submit" class="button">{if confirm { "Review rotation" } else { "Rotate selected keys" }}</button>
            </div>
        </form>
    }.into_any()
}
