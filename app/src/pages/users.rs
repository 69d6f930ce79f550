//! `/users`: for admins, everyone who has signed in or holds a token, with their role, when they
//! were last seen, and their API tokens (prefix, label, role, last use). Each user's role can be
//! changed and their access taken away (disabled, with a reason) or given back, and each token
//! revoked: all plain form posts.

use crate::server_fns::{load_users, whoami};
use crate::components::loaded::Loaded;
use crate::components::run_bits::when;
use crate::model::users::{TokenSummary, UserSummary};
use crate::model::Role;
use leptos::prelude::*;
use crate::components::csrf::CsrfField;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn UsersPage() -> impl IntoView {
    // The table marks the signed-in admin's own row (they cannot disable themselves): both reads
    // together, as the one thing this page waits for.
    let users = Resource::new(|| (), |_| async {
        let me = whoami().await.ok().flatten().map(|who| who.name).unwrap_or_default();
        load_users().await.map(|list| (list, me))
    });
    let query = use_query_map();
    let revoked = move || query.read().get("revoked");
    let done = move || query.read().get("done");
    let error = move || query.read().get("error");
    view! {
        <Title text="Users"/>
        <div class="page-head">
            <div>
                <p class="crumbs"><a href="/">"Environments"</a>" / Users"</p>
                <h1>"Users"</h1>
                <p class="muted">"People appear here when they first sign in or get a token. Tokens are created with "<code>"zelly-control token create"</code>"; the token itself is never stored, only its prefix."</p>
            </div>
        </div>
        {move || revoked().map(|p| view! { <div class="notice notice-ok" role="status">{format!("Revoked token {p}. Requests with it are refused from now on.")}</div> })}
        {move || done().map(|d| view! { <div class="notice notice-ok" role="status">{d}</div> })}
        {move || error().map(|e| view! { <div class="notice notice-error" role="alert">{e}</div> })}
        <Loaded resource=users loading="Reading users…" view=|(list, me)| view! { <UserTable list me/> }/>
    }
}

#[component]
fn UserTable(list: Vec<UserSummary>, me: String) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="users">
                <thead><tr><th>"User"</th><th>"Role"</th><th>"Last seen"</th><th>"API tokens"</th><th>"Access"</th></tr></thead>
                <tbody>
                    {list.into_iter().map(|u| {
                        let yourself = u.name == me;
                        let access = view! { <Access name=u.name.clone() role=u.role disabled=u.disabled_at.map(|t| (when(&t), u.disabled_reason.clone())) yourself/> };
                        view! {
                        <tr data-user=u.name.clone() class:disabled=u.disabled_at.is_some()>
                            <td>
                                <strong>{if u.display_name.is_empty() { u.name.clone() } else { u.display_name.clone() }}</strong>
                                <span class="muted small mono">{format!(" {}", u.name)}</span>
                                <p class="muted small">{format!("since {}", when(&u.created_at))}</p>
                            </td>
                            <td><span class=format!("role role-{}", u.role)>{u.role.to_string()}</span></td>
                            <td class="nowrap">{u.last_seen_at.map(|t| when(&t)).unwrap_or_else(|| "never".into())}</td>
                            <td>
                                {u.tokens.is_empty().then(|| view! { <span class="muted">"none"</span> })}
                                <ul class="tokens">{u.tokens.into_iter().map(|t| view! { <Token t/> }).collect_view()}</ul>
                            </td>
                            <td>{access}</td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// A user's role and whether they may get in, with the forms that change them (not for yourself:
/// another admin has to).
#[component]
fn Access(name: String, role: Role, disabled: Option<(String, String)>, yourself: bool) -> impl IntoView {
    let path = |what: &str| format!("/users/{}/{what}", crate::model::query::encode(&name));
    if yourself {
        return view! { <span class="muted small">"you"</span> }.into_any();
    }
    let role_form = view! {
        <form method="post" action=path("role") class="inline access-role">
            <CsrfField/>
            <label class="visually-hidden" for=format!("role-{name}")>"Role"</label>
            <select name="role" id=format!("role-{name}")>
                {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str() selected=r == role>{r.as_str()}</option> }).collect_view()}
            </select>
            <button type="submit" class="button small" data-set-role=name.clone()>"Change role"</button>
        </form>
    };
    let switch = match disabled {
        Some((since, reason)) => view! {
            <p class="small"><span class="pill pill-danger">"disabled"</span>{format!(" {since}: {reason}")}</p>
            <form method="post" action=path("enable") class="inline">
                <CsrfField/>
                <button type="submit" class="button small" data-enable=name.clone()>"Enable"</button>
            </form>
        }.into_any(),
        None => view! {
            <form method="post" action=path("disable") class="inline access-disable">
                <CsrfField/>
                <input type="text" name="reason" required maxlength="500" placeholder="Reason (kept in the audit log)" aria-label=format!("Why disable {name}")/>
                <button type="submit" class="button small danger" data-disable=name.clone()>"Disable"</button>
            </form>
        }.into_any(),
    };
    view! { <div class="access">{role_form}{switch}</div> }.into_any()
}

#[component]
fn Token(t: TokenSummary) -> impl IntoView {
    let used = t.last_used_at.map(|x| format!("last used {}", when(&x))).unwrap_or_else(|| "never used".into());
    let label = if t.label.is_empty() { String::new() } else { format!(" · {}", t.label) };
    view! {
        <li data-token=t.prefix.clone() class:revoked=t.revoked_at.is_some()>
            <code>{t.prefix.clone()}"…"</code>
            <span class="muted small">{format!(" {}{label} · {used}", t.role)}</span>
            {match t.revoked_at {
                Some(at) => view! { <span class="pill">{format!("revoked {}", when(&at))}</span> }.into_any(),
                None => view! {
                    <form method="post" action=format!("/users/tokens/{}/revoke", t.id) class="inline">
                        <CsrfField/>
                        <button type="submit" class="button small danger" data-revoke=t.prefix.clone()>"Revoke"</button>
                    </form>
                }.into_any(),
            }}
        </li>
    }
}
