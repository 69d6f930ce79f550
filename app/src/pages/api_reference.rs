//! `/api`: the JSON API's reference, rendered from the server's OpenAPI document (the same one
//! `GET /api/v1/openapi.json` serves), with no script or stylesheet from anywhere else.

use crate::server_fns::load_api_reference;
use crate::model::api_reference::{ApiGroup, ApiOperation, ApiType};
use std::collections::BTreeSet;
use std::sync::Arc;
use crate::components::loaded::Loaded;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ApiReferencePage() -> impl IntoView {
    let reference = Resource::new(|| (), |_| load_api_reference());
    view! {
        <Title text="API"/>
        <Loaded resource=reference loading="Reading the API's document…" view=|r| view! {
            <div class="page-head">
                <div>
                    <p class="crumbs"><a href="/">"Environments"</a>" / API"</p>
                    <h1>"HTTP API"<span class="muted small">{format!(" v1 · {}", r.version)}</span></h1>
                    <p class="muted">{prose(&r.description)}</p>
                    <p class="muted">
                        "The machine-readable document: "<a href="/api/v1/openapi.json" download="zelly-openapi.json"><code>"/api/v1/openapi.json"</code></a>
                        " (OpenAPI 3.1). Errors are "<code>"{\"error\", \"message\"}"</code>"."
                    </p>
                </div>
            </div>
            <nav class="api-toc" aria-label="Operations">
                {r.groups.iter().map(|g| view! {
                    <div class="api-toc-group">
                        <a href=format!("#{}", g.tag) class="api-toc-tag">{g.tag.clone()}</a>
                        <span class="muted small">{format!(" {}", g.operations.len())}</span>
                    </div>
                }).collect_view()}
                <div class="api-toc-group"><a href="#types" class="api-toc-tag">"Types"</a></div>
            </nav>
            {
                let known: Arc<BTreeSet<String>> = Arc::new(r.types.iter().map(|t| t.name.clone()).collect());
                view! {
                    {r.groups.into_iter().map(|g| view! { <Group g known=known.clone()/> }).collect_view()}
                    <section class="api-group" id="types">
                        <h2>"Types"</h2>
                        {r.types.into_iter().map(|t| view! { <TypeCard t known=known.clone()/> }).collect_view()}
                    </section>
                }
            }
        }/>
    }
}

/// The document's text: `backticks` become code, the rest stays text (never markup).
fn prose(text: &str) -> impl IntoView + use<> {
    text.split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { view! { <code>{part.to_string()}</code> }.into_any() } else { part.to_string().into_any() })
        .collect_view()
}

/// A type's name, linked to its description when it is one of the document's named types
/// (`Run`, `Run[]`, `Drift or null`).
fn kind_link(kind: &str, known: &BTreeSet<String>) -> AnyView {
    let base = kind.trim_end_matches("[]").trim_end_matches(" or null");
    if known.contains(base) {
        view! { <a href=format!("#type-{base}") class="mono">{kind.to_string()}</a> }.into_any()
    } else {
        view! { <span class="mono">{kind.to_string()}</span> }.into_any()
    }
}

#[component]
fn Group(g: ApiGroup, known: Arc<BTreeSet<String>>) -> impl IntoView {
    view! {
        <section class="api-group" id=g.tag.clone()>
            <h2>{g.tag.clone()}</h2>
            {g.operations.into_iter().map(|op| view! { <Operation op known=known.clone()/> }).collect_view()}
        </section>
    }
}

#[component]
fn TypeCard(t: ApiType, known: Arc<BTreeSet<String>>) -> impl IntoView {
    view! {
        <article class="card api-op" id=format!("type-{}", t.name)>
            <h3><code>{t.name.clone()}</code></h3>
            {(!t.description.is_empty()).then(|| view! { <p class="muted">{prose(&t.description)}</p> })}
            {(!t.values.is_empty()).then(|| view! { <p class="small">"One of: "{t.values.iter().map(|v| view! { <code>{v.clone()}</code>" " }).collect_view()}</p> })}
            {(!t.fields.is_empty()).then(|| view! {
                <table class="api-table">
                    <thead><tr><th>"Field"</th><th>"Type"</th><th>"About"</th></tr></thead>
                    <tbody>
                        {t.fields.iter().map(|f| view! {
                            <tr>
                                <td><code>{f.name.clone()}</code>{(!f.required).then(|| view! { <span class="muted small">" optional"</span> })}</td>
                                <td class="small">{kind_link(&f.kind, &known)}</td>
                                <td class="muted">{prose(&f.description)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </article>
    }
}

#[component]
fn Operation(op: ApiOperation, known: Arc<BTreeSet<String>>) -> impl IntoView {
    let method_class = format!("api-method api-method-{}", op.method.to_lowercase());
    view! {
        <article class="card api-op" id=op.id.clone() data-operation=format!("{} {}", op.method, op.path)>
            <h3>
                <span class=method_class>{op.method.clone()}</span>
                " "<code class="api-path">{op.path.clone()}</code>
            </h3>
            <p>{prose(&op.summary)}</p>
            {(!op.description.is_empty()).then(|| view! { <p class="muted">{prose(&op.description)}</p> })}
            {(!op.parameters.is_empty()).then(|| view! {
                <table class="api-table">
                    <thead><tr><th>"Parameter"</th><th>"In"</th><th>"Type"</th><th>"About"</th></tr></thead>
                    <tbody>
                        {op.parameters.iter().map(|p| view! {
                            <tr>
                                <td><code>{p.name.clone()}</code>{p.required.then(|| view! { <span class="muted small">" required"</span> })}</td>
                                <td>{p.location.clone()}</td>
                                <td class="mono small">{p.kind.clone()}</td>
                                <td class="muted">{prose(&p.description)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            {op.body.clone().map(|(kind, required)| view! {
                <p class="small">"Body: "{kind_link(&kind, &known)}{(!required).then_some(" (optional: an empty body means the defaults)")}</p>
            })}
            <table class="api-table">
                <thead><tr><th>"Answer"</th><th>"Meaning"</th><th>"Body"</th></tr></thead>
                <tbody>
                    {op.responses.iter().map(|r| view! {
                        <tr>
                            <td class=if r.status.starts_with('2') { "api-status api-status-ok" } else { "api-status" }>{r.status.clone()}</td>
                            <td>{prose(&r.description)}</td>
                            <td class="small">{r.body.clone().map(|(content, kind)| view! { {kind_link(&kind, &known)}<span class="muted">{format!(" ({content})")}</span> })}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </article>
    }
}
