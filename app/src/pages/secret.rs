//! `/environments/{env}/secrets/{name…}`: one secret — masked keys, reveal, edit, rotate, the
//! version history with roll back, its consumers with redeploy, and the rollout that follows.
//!
//! Every form is a plain HTML form posting to `/environments/{env}/secret-actions/…`, so the page
//! works without JavaScript; the server answers with a redirect back here carrying the outcome.
//! With JavaScript, a reveal shows the value inline instead of on a page of its own, and a
//! rollout refreshes itself.

use crate::api::{load_rollout, load_secret_page, reveal_secret_value, Rollout, SecretPage, SecretPageAnswer};
use crate::components::live_status::HealthBadge;
use crate::components::run_bits::when;
use crate::model::secret::{secret_path, Alphabet, PendingSummary, SecretDetail, MAX_GENERATED_LENGTH, MIN_GENERATED_LENGTH};
use leptos::prelude::*;
use crate::components::csrf::CsrfField;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

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

fn action(env: &str, what: &str) -> String {
    format!("/environments/{env}/secret-actions/{what}")
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

/// Keys with masked values and, for those allowed, a reveal per key.
#[component]
fn KeysSection(d: SecretDetail) -> impl IntoView {
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
                                        <form method="post" action=action(&d.environment, "reveal") class="inline" on:submit=on_reveal>
                                            <CsrfField/>
                                            <input type="hidden" name="name" value=d.name.clone()/>
                                            <input type="hidden" name="key" value=k.name.clone()/>
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
fn EditForm(d: SecretDetail) -> impl IntoView {
    let confirm = d.permissions.confirm_writes;
    let (new_key_pattern, new_key_placeholder) =
        if d.terraform_variables { ("[A-Za-z_][A-Za-z0-9_\\-]*", "variable_name") } else { ("[A-Z][A-Z0-9_]*", "NEW_KEY") };
    view! {
        <form method="post" action=action(&d.environment, "edit") class="card stack" aria-labelledby="edit-title" autocomplete="off">
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
                            <td><input type="password" id=format!("set-{}", k.name) name=format!("set.{}", k.name) placeholder="unchanged" autocomplete="new-password"/></td>
                            <td><input type="checkbox" name="remove" value=k.name.clone() aria-label=format!("Remove {}", k.name)/></td>
                        </tr>
                    }).collect_view()}
                    {(0..3).map(|i| view! {
                        <tr class="new-key">
                            <td><input type="text" name=format!("new_key.{i}") placeholder=new_key_placeholder pattern=new_key_pattern aria-label="New key name"/></td>
                            <td><input type="password" name=format!("new_value.{i}") placeholder="value" autocomplete="new-password" aria-label="New key value"/></td>
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
fn RotateForm(d: SecretDetail) -> impl IntoView {
    let confirm = d.permissions.confirm_writes;
    view! {
        <form method="post" action=action(&d.environment, "rotate") class="card stack" aria-labelledby="rotate-title">
            <CsrfField/>
            <h2 id="rotate-title">"Rotate"</h2>
            <p class="muted small">"Chosen keys get new random values from the server's secure random generator, in one new version. This changes what the services will read; it does not change a password inside the database or cache itself."</p>
            <ReadAt d=&d/>
            <fieldset class="rotate-keys">
                <legend class="visually-hidden">"Keys to rotate"</legend>
                {d.keys.iter().map(|k| view! {
                    <label class=if k.credential { "rotate-key" } else { "rotate-key muted" }>
                        <input type="checkbox" name="rotate" value=k.name.clone()/>
                        " "<code>{k.name.clone()}</code>
                        <span class="muted small">{format!(" {} chars", k.rotation.length)}{(!k.credential).then_some(" · looks like configuration")}</span>
                    </label>
                }).collect_view()}
            </fieldset>
            <div class="row">
                <label class="field">
                    <span>"Length"</span>
                    <input type="number" name="length" min=MIN_GENERATED_LENGTH.to_string() max=MAX_GENERATED_LENGTH.to_string() placeholder="per key"/>
                </label>
                <label class="field">
                    <span>"Characters"</span>
                    <select name="alphabet">
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

/// Which secret a form changes, and the version it was read at (a write to a secret that moved
/// on since is refused).
#[component]
fn ReadAt<'a>(d: &'a SecretDetail) -> impl IntoView {
    view! {
        <input type="hidden" name="name" value=d.name.clone()/>
        <input type="hidden" name="version_id" value=d.version_id.clone()/>
    }
}

#[component]
fn VersionsSection(d: SecretDetail) -> impl IntoView {
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
                                    <form method="post" action=action(&d.environment, "rollback") class="inline">
                                        <CsrfField/>
                                        <input type="hidden" name="name" value=d.name.clone()/>
                                        <input type="hidden" name="version_id" value=d.version_id.clone()/>
                                        <input type="hidden" name="to" value=v.version_id.clone()/>
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

/// The services whose task definitions read this secret, with a redeploy for each.
#[component]
fn ConsumersSection(d: SecretDetail) -> impl IntoView {
    let can_write = d.permissions.can_write;
    view! {
        <section class="card" aria-labelledby="consumers-title">
            <h2 id="consumers-title">"Read by"</h2>
            {d.consumers_error.clone().map(|e| view! { <p class="muted small">{format!("Consumers unavailable: {e}")}</p> })}
            {(d.consumers.is_empty() && d.consumers_error.is_none()).then(|| view! { <p class="muted">"No ECS service reads this secret."</p> })}
            <ul class="consumers">
                {d.consumers.iter().map(|c| view! {
                    <li data-consumer=c.service.clone()>
                        <strong>{c.service.clone()}</strong>
                        <span class="muted small">{format!(" {} · ", c.task_definition)}{if c.keys.is_empty() { "all keys".to_string() } else { c.keys.join(", ") }}</span>
                        {can_write.then(|| view! { <RedeployButton env=d.environment.clone() name=d.name.clone() services=vec![c.service.clone()] label="Redeploy"/> })}
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }.into_any()
}

#[component]
fn RedeployButton(env: String, name: String, services: Vec<String>, label: &'static str) -> impl IntoView {
    view! {
        <form method="post" action=format!("/environments/{env}/redeploy") class="inline">
            <CsrfField/>
            <input type="hidden" name="return_to" value=name.clone()/>
            <input type="hidden" name="reason" value=format!("read the new version of {name}")/>
            {services.iter().map(|s| view! { <input type="hidden" name="service" value=s.clone()/> }).collect_view()}
            <button type="submit" class="button small" data-redeploy=services.join(",")>{label}</button>
        </form>
    }.into_any()
}

/// After a write: what changed, and the offer to redeploy the services that read it.
#[component]
fn Saved(d: SecretDetail, version: String, changed: Vec<String>) -> impl IntoView {
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
fn Confirmation(pending: PendingSummary, env_name: String, name: String) -> impl IntoView {
    let line = |label: &'static str, keys: &[String]| {
        (!keys.is_empty()).then(|| view! { <li>{label}" "{keys.iter().map(|k| view! { <code>{k.clone()}</code>" " }).collect_view()}</li> })
    };
    view! {
        <form method="post" action=action(&pending.environment, "confirm") class="card confirm" aria-labelledby="confirm-title">
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
            <input type="hidden" name="name" value=name.clone()/>
            <input type="hidden" name="pending" value=pending.id.clone()/>
            <div class="row">
                <button type="submit" class="button danger">{format!("Write to {env_name}")}</button>
                <a class="button" href=secret_path(&pending.environment, &name)>"Cancel"</a>
            </div>
        </form>
    }.into_any()
}

/// Redeployed services, followed until their rollouts settle (every 3 s with JavaScript; the
/// page reloads itself without).
#[component]
fn RolloutSection(env: String, services: Vec<String>) -> impl IntoView {
    let tick = RwSignal::new(0u32);
    let rollout = Resource::new(move || tick.get(), {
        let (env, services) = (env.clone(), services.clone());
        move |_| load_rollout(env.clone(), services.clone())
    });
    let settled = |rows: &[Rollout]| rows.iter().all(|r| r.status.as_ref().map(|s| s.rollout != "IN_PROGRESS" && s.deployments.len() <= 1).unwrap_or(true));
    Effect::new(move |_| {
        if let Some(Ok(rows)) = rollout.get() {
            if !settled(&rows) {
                set_timeout(move || tick.update(|t| *t += 1), std::time::Duration::from_secs(3));
            }
        }
    });
    view! {
        <section class="card rollout" aria-labelledby="rollout-title">
            <h2 id="rollout-title">"Rollout"</h2>
            <Transition fallback=|| view! { <p class="muted">"Asking ECS…"</p> }>
                {move || Suspend::new(async move {
                    match rollout.await {
                        Err(e) => view! { <p class="notice notice-error">{e.to_string()}</p> }.into_any(),
                        Ok(rows) => {
                            let done = settled(&rows);
                            view! {
                                {(!done).then(|| view! { <noscript><meta http-equiv="refresh" content="3"/></noscript> })}
                                <ul class="rollout-list" data-settled=done.to_string()>
                                    {rows.into_iter().map(|r| view! { <RolloutRow r/> }).collect_view()}
                                </ul>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }.into_any()
}

#[component]
fn RolloutRow(r: Rollout) -> impl IntoView {
    match r.status {
        Err(e) => view! { <li data-rollout=r.service.clone()><strong>{r.service.clone()}</strong>" "<span class="muted">{e}</span></li> }.into_any(),
        Ok(s) => view! {
            <li data-rollout=r.service.clone() data-state=s.rollout.clone()>
                <strong>{r.service.clone()}</strong>" "
                <HealthBadge health=s.health/>" "
                <span class="mono small">{s.rollout.clone()}</span>
                <span class="muted small">{format!(" · {}/{} running · {}", s.running, s.desired, s.task_definition)}</span>
                <ul class="deployments">
                    {s.deployments.iter().map(|dep| view! {
                        <li class="small">
                            {format!("{} {} · {} · {}/{} running, {} pending", dep.status, dep.task_definition, dep.rollout, dep.running, dep.desired, dep.pending)}
                            {dep.updated_at.map(|t| format!(" · {}", when(&t)))}
                        </li>
                    }).collect_view()}
                </ul>
            </li>
        }.into_any(),
    }
}
