//! `/secrets`: every environment's Secrets Manager secrets side by side (names, keys, version,
//! age, rotation warnings), and the keys that exist in one environment and not another.

use crate::server_fns::{load_secrets_overview, SecretsOverview};
use crate::components::run_bits::when;
use crate::model::secret::{secret_path, Parity, SecretList};
use crate::model::Environment;
use crate::components::loaded::Loaded;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn SecretsPage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| load_secrets_overview());
    view! {
        <Title text="Secrets"/>
        <div class="page-head">
            <div>
                <p class="crumbs"><a href="/">"Environments"</a>" / Secrets"</p>
                <h1>"Secrets"</h1>
                <p class="muted">"AWS Secrets Manager, per environment in its own region. Values stay masked; open a secret to edit, rotate or roll it back."</p>
            </div>
        </div>
        <Loaded resource=overview loading="Reading Secrets Manager…" view=|o| view! { <Overview o/> }/>
    }
}

#[component]
fn Overview(o: SecretsOverview) -> impl IntoView {
    let columns = o.environments.len().max(1);
    view! {
        <ParitySection parity=o.parity environments=o.environments.iter().map(|(e, _)| e.clone()).collect()/>
        <div class="secret-columns" style=format!("--columns: {columns}")>
            {o.environments.into_iter().map(|(env, list)| view! { <EnvironmentSecrets env list/> }).collect_view()}
        </div>
    }
}

#[component]
fn EnvironmentSecrets(env: Environment, list: Result<SecretList, String>) -> impl IntoView {
    view! {
        <section class="secret-column" id=env.name.clone() data-environment=env.name.clone()>
            <h2>{env.display_name.clone()}" "<span class="region">{env.region.clone()}</span></h2>
            {match list {
                Err(e) => view! { <div class="notice notice-error" role="status">{format!("Secrets unavailable: {e}")}</div> }.into_any(),
                Ok(list) if list.secrets.is_empty() => view! {
                    <p class="muted empty">{format!("No secrets under {}.", list.prefix)}</p>
                }.into_any(),
                Ok(list) => {
                    let warn = list.rotation_warning_days;
                    view! {
                        <div class="table-wrap">
                            <table class="secrets">
                                <thead><tr><th>"Secret"</th><th>"Keys"</th><th>"Last changed"</th></tr></thead>
                                <tbody>
                                    {list.secrets.into_iter().map(|s| {
                                        let href = secret_path(&env.name, &s.name);
                                        let age = s.age_days.map(|d| format!("{d} days ago")).unwrap_or_default();
                                        view! {
                                            <tr data-secret=s.name.clone()>
                                                <td>
                                                    <a href=href class="mono">{s.name.clone()}</a>
                                                    {s.read_only.clone().map(|why| view! { <p class="muted small" title=why>"Read-only here"</p> })}
                                                </td>
                                                <td class="key-list">{s.keys.iter().map(|k| view! { <code>{k.clone()}</code>" " }).collect_view()}</td>
                                                <td class="nowrap">
                                                    {s.last_changed.map(|t| when(&t)).unwrap_or_default()}
                                                    <span class="muted small">" "{age}</span>
                                                    {s.rotation_due.then(|| view! {
                                                        <span class="pill pill-warn" title=format!("Unchanged for more than {warn} days")>"rotate"</span>
                                                    })}
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any()
                }
            }}
        </section>
    }
}

#[component]
fn ParitySection(parity: Parity, environments: Vec<Environment>) -> impl IntoView {
    let display = move |name: &str| environments.iter().find(|e| e.name == name).map(|e| e.display_name.clone()).unwrap_or_else(|| name.to_string());
    let differing: Vec<_> = parity.secrets.iter().filter(|r| !r.in_sync()).cloned().collect();
    let in_sync = parity.secrets.len() - differing.len();
    view! {
        <section class="card parity" aria-labelledby="parity-title">
            <h2 id="parity-title">"Parity"</h2>
            {if differing.is_empty() {
                view! { <p class="muted">{format!("All {in_sync} secrets present in more than one environment have the same keys.")}</p> }.into_any()
            } else {
                view! {
                    <p class="muted">{format!("Keys present in one environment and missing in another ({} in sync).", in_sync)}</p>
                    <ul class="parity-list">
                        {differing.into_iter().map(|row| view! {
                            <li data-parity=row.name.clone()>
                                <code>{row.name.clone()}</code>
                                {row.missing.iter().filter(|(_, keys)| !keys.is_empty()).map(|(env, keys)| view! {
                                    <span class="parity-missing">
                                        {format!("{} lacks ", display(env))}
                                        {keys.iter().map(|k| view! { <code class="differs-key">{k.clone()}</code>" " }).collect_view()}
                                    </span>
                                }).collect_view()}
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {parity.errors.into_iter().map(|(env, e)| view! { <p class="muted small">{format!("{env}: not compared ({e})")}</p> }).collect_view()}
        </section>
    }
}
