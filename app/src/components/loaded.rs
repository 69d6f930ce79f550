//! A part of a page that waits for one server read: a line saying what is being read, then the
//! answer drawn by `view`, or why it could not be read, as a notice. Rendered on the server
//! only, which waits for the answer: the page is complete without JavaScript.

use leptos::prelude::*;
use serde::{de::DeserializeOwned, Serialize};

/// The notice that says what went wrong.
#[component]
pub fn ErrorNotice(#[prop(into)] message: String) -> impl IntoView {
    view! { <div class="notice notice-error" role="alert">{message}</div> }
}

/// `resource`'s answer drawn by `view`, with `loading` shown until it is there.
#[component]
pub fn Loaded<T, V, F>(resource: Resource<Result<T, ServerFnError>>, loading: &'static str, view: F) -> impl IntoView
where
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Clone + Send + Sync + 'static,
{
    view! {
        <Suspense fallback=move || view! { <p class="muted">{loading}</p> }>
            {move || {
                let view = view.clone();
                Suspend::new(async move {
                    match resource.await {
                        Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                        Ok(answer) => view(answer).into_any(),
                    }
                })
            }}
        </Suspense>
    }
}
