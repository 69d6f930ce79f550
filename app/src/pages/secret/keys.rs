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
    let can_reveal = d.permissions.can_reveal;
    let keys = d
        .keys
        .iter()
        .map(|k| KeyRow {
            name: k.name.clone(),
            masked: k.masked.clone(),
            credential: k.credential,
            readers: d.consumers.iter().filter(|c| c.keys.is_empty() || c.keys.contains(&k.name)).map(|c| c.service.clone()).collect(),
        })
        .collect();
    view! {
        <section class="card" aria-labelledby="keys-title">
            <h2 id="keys-title">"Keys"</h2>
            <KeysTable environment=d.environment.clone() name=d.name.clone() keys can_reveal/>
            {can_reveal.then(|| view! { <p class="muted small">"Each reveal is recorded in the audit log."</p> })}
        </section>
    }.into_any()
}

/// What the keys table shows of one key. Never a value: the page carries this to the browser.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct KeyRow {
    name: String,
    masked: String,
    credential: bool,
    /// The services that read this key.
    readers: Vec<String>,
}

/// The table, as an island: with JavaScript a reveal asks the server for one value and shows it
/// in place (hidden again after a minute); without, the reveal form posts to a page of its own.
#[island]
fn KeysTable(environment: String, name: String, keys: Vec<KeyRow>, can_reveal: bool) -> impl IntoView {
    let revealed: RwSignal<Option<(String, String)>> = RwSignal::new(None);
    let failed: RwSignal<Option<String>> = RwSignal::new(None);
    let action = SecretAction::Reveal.path(&environment);
    let secret = name.clone();
    let reveal = move |key: String| {
        let (environment, name) = (environment.clone(), secret.clone());
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let (environment, name, key) = (environment.clone(), name.clone(), key.clone());
            leptos::task::spawn_local(async move {
                match reveal_secret_value(environment, name, key.clone(), crate::components::csrf::csrf_token()).await {
                    Ok(v) => {
                        failed.set(None);
                        revealed.set(Some((key, v)));
                        // Hide it again after a while, as if the page were left.
                        set_timeout(move || revealed.set(None), std::time::Duration::from_secs(60));
                    }
                    Err(e) => failed.set(Some(e.to_string())),
                }
            });
        }
    };
    view! {
        {move || failed.get().map(|e| view! { <p class="notice notice-error" role="alert">{e}</p> })}
        <table class="keys">
            <thead><tr><th>"Key"</th><th>"Value"</th><th>"Read by"</th><th></th></tr></thead>
            <tbody>
                {keys.into_iter().map(|k| {
                    let shown_key = k.name.clone();
                    let shown = move || revealed.get().filter(|(key, _)| *key == shown_key).map(|(_, v)| v);
                    let shown_again = shown.clone();
                    let (key, masked) = (k.name.clone(), k.masked.clone());
                    view! {
                        <tr data-key=k.name.clone()>
                            <td><code>{k.name.clone()}</code>{k.credential.then(|| view! { <span class="muted small">" credential"</span> })}</td>
                            <td class="value-cell">
                                {move || match shown() {
                                    Some(v) => view! { <code class="revealed-value" data-revealed=key.clone()>{v}</code> }.into_any(),
                                    None => view! { <span class="masked" aria-label="hidden value">{masked.clone()}</span> }.into_any(),
                                }}
                            </td>
                            <td class="muted small">{k.readers.join(", ")}</td>
                            <td class="nowrap">
                                {can_reveal.then(|| {
                                    let reveal_key = k.name.clone();
                                    view! {
                                        <form method="post" action=action.clone() class="inline" on:submit=reveal(k.name.clone())>
                                            <CsrfField/>
                                            <input type="hidden" name=field::NAME value=name.clone()/>
                                            <input type="hidden" name=field::KEY value=k.name.clone()/>
                                            {move || if shown_again().is_some() {
                                                view! { <button type="button" class="button small" on:click=move |_| revealed.set(None)>"Hide"</button> }.into_any()
                                            } else {
                                                view! { <button type="submit" class="button small" data-reveal=reveal_key.clone()>"Reveal"</button> }.into_any()
                                            }}
                                        </form>
                                    }
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
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
