#![recursion_limit = "512"]
//! The Zelly control plane's user interface and the data types it shares with the server.
//!
//! Leptos in islands mode: every page is rendered on the server and is complete as HTML; the
//! browser's wasm holds only the islands (`#[island]`: the live log, the reveal buttons) and the
//! live regions that refresh parts of a page in place (`regions.rs`).

pub mod ansi;
pub mod server_fns;
pub mod compare;
pub mod components;
pub mod model;
pub mod pages;
pub mod regions;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode, StaticSegment,
};

/// The HTML document around the app, rendered by the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <components::csrf::CsrfMeta/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="zelly" href="/pkg/zelly.css"/>
        <Title formatter=|page: String| if page.is_empty() { "Zelly".to_string() } else { format!("{page} · Zelly") }/>
        <Router>
            <components::layout::TopBar/>
            <main class="page">
                // Async: the server waits for the data and sends complete HTML, so every page
                // reads fine without JavaScript (streamed fallbacks would need a script).
                <Routes fallback=pages::not_found::NotFound>
                    <Route path=StaticSegment("") view=pages::environments::EnvironmentsPage ssr=SsrMode::Async/>
                    <Route path=path!("/environments/:env/runs") view=pages::runs::RunsPage ssr=SsrMode::Async/>
                    <Route path=path!("/environments/:env/state") view=pages::state::StatePage ssr=SsrMode::Async/>
                    <Route path=path!("/runs/:id") view=pages::run::RunPage ssr=SsrMode::Async/>
                    <Route path=path!("/secrets") view=pages::secrets::SecretsPage ssr=SsrMode::Async/>
                    <Route path=path!("/costs") view=pages::costs::CostsPage ssr=SsrMode::Async/>
                    <Route path=path!("/audit") view=pages::audit::AuditLogPage ssr=SsrMode::Async/>
                    <Route path=path!("/notifications") view=pages::notifications::NotificationsPage ssr=SsrMode::Async/>
                    <Route path=path!("/users") view=pages::users::UsersPage ssr=SsrMode::Async/>
                    <Route path=path!("/api") view=pages::api_reference::ApiReferencePage ssr=SsrMode::Async/>
                    <Route path=path!("/environments/:env/secrets/*name") view=pages::secret::SecretDetailPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// The browser's entry point, called by Leptos' islands script before it hydrates the islands.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    regions::follow();
    // The script hydrates the islands (in microtasks) once this returns; a timer runs after them
    // all. `data-hydrated` on `<body>` is then proof that the page is live (the browser tests
    // wait for it).
    set_timeout(
        || {
            if let Some(body) = document().body() {
                let _ = body.set_attribute("data-hydrated", "true");
            }
        },
        std::time::Duration::ZERO,
    );
}
