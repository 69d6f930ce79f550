//! The bar at the top of every page: product name, navigation, and who is signed in.

use crate::server_fns::whoami;
use leptos::prelude::*;
use crate::components::csrf::CsrfField;

#[component]
pub fn TopBar() -> impl IntoView {
    let me = Resource::new(|| (), |_| whoami());
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"Z"</span>
                <span class="brand-name">"Zelly"</span>
                <span class="brand-sub">"control plane"</span>
            </a>
            <nav class="nav">
                <a href="/" class="nav-link">"Environments"</a>
                <a href="/secrets" class="nav-link">"Secrets"</a>
                <a href="/costs" class="nav-link">"Cost"</a>
                <a href="/api" class="nav-link">"API"</a>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let admin = me.await.ok().flatten().is_some_and(|who| who.can(crate::model::Role::Admin));
                        admin.then(|| view! {
                            <a href="/audit" class="nav-link">"Audit"</a>
                            <a href="/users" class="nav-link">"Users"</a>
                            <a href="/notifications" class="nav-link">"Notifications"</a>
                        })
                    })}
                </Suspense>
            </nav>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    me.await.ok().flatten().map(|who| view! {
                        <div class="who">
                            <span class="who-name">{who.display_name.clone()}</span>
                            <span class=format!("role role-{}", who.role)>{who.role.to_string()}</span>
                            // A plain form: signing out works without JavaScript.
                            <form method="post" action="/auth/logout" class="inline">
                                <CsrfField/>
                                <button type="submit" class="link-button">"Sign out"</button>
                            </form>
                        </div>
                    })
                })}
            </Suspense>
        </header>
    }
}
