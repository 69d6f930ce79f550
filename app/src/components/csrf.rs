//! The CSRF token in pages: a `<meta>` in the head (for scripts) and a hidden field in every form
//! that posts with the session cookie. The server refuses such a post without it.

use leptos::prelude::*;

/// The session's token: from the request on the server, from the page's `<meta>` in the browser.
pub fn csrf_token() -> String {
    #[cfg(feature = "ssr")]
    {
        crate::server_fns::backend::csrf_token().unwrap_or_default()
    }
    #[cfg(not(feature = "ssr"))]
    {
        document()
            .query_selector("meta[name=csrf-token]")
            .ok()
            .flatten()
            .and_then(|meta| meta.get_attribute("content"))
            .unwrap_or_default()
    }
}

#[component]
pub fn CsrfMeta() -> impl IntoView {
    view! { <meta name="csrf-token" content=csrf_token()/> }
}

#[component]
pub fn CsrfField() -> impl IntoView {
    view! { <input type="hidden" name="_csrf" value=csrf_token()/> }
}
