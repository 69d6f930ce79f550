//! Live regions: how a server-rendered page changes in place once the browser code runs.
//!
//! Pages are rendered on the server only (islands mode): the browser gets HTML, and the wasm
//! holds just the islands (the live log, the reveal buttons) and this module. Instead of
//! re-rendering views in the browser, a page marks what may change and the browser asks the
//! server for the same address again and swaps those parts for their new versions:
//!
//! - `data-live="name"` marks a region; a swap replaces each region with the one of the same
//!   name in the new document. If the two documents do not have the same regions, the page is
//!   loaded as a whole instead (the server changed its layout, or sent another page, such as
//!   sign-in): a swap never leaves a page half old, half new. Regions do not nest, and hold
//!   no islands (a swapped-in island would not be hydrated).
//! - `data-refresh-seconds="N"` on a region asks for the page again after N seconds (the
//!   shortest on the page wins). The server leaves it out once nothing more will change (a
//!   settled rollout), so following stops by itself.
//! - `data-live-link` on a link loads its address the same way and puts it in the history: the
//!   time range and the row filter switch without a new document. Back and forward swap too.
//!
//! Without JavaScript none of this runs: the links are plain links, and pages that follow
//! something refresh themselves with `<noscript><meta http-equiv="refresh"></noscript>`.
//! The server's page cache makes asking for `/` again cheap (see `http/page_cache.rs`).

/// The attribute that names a region.
pub const REGION: &str = "data-live";

#[cfg(feature = "hydrate")]
pub use browser::{follow, refresh};

#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::{document, set_timeout, window};
    use std::cell::Cell;
    use std::time::Duration;
    use wasm_bindgen::{closure::Closure, JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{DomParser, Element, HtmlAnchorElement, MouseEvent, Response, SupportedType};

    thread_local! {
        /// Counts swaps and scheduled refreshes: a timer set before the latest swap is stale
        /// (the new page sets its own), so at most one refresh is ever pending.
        static GENERATION: Cell<u64> = const { Cell::new(0) };
    }

    /// Starts following the page: its refresh timer, live links, and back/forward.
    pub fn follow() {
        let on_click = Closure::<dyn FnMut(MouseEvent)>::new(on_click);
        let _ = document().add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
        on_click.forget();
        let on_pop = Closure::<dyn FnMut(web_sys::Event)>::new(|_| refresh());
        let _ = window().add_event_listener_with_callback("popstate", on_pop.as_ref().unchecked_ref());
        on_pop.forget();
        schedule();
    }

    /// Asks for the current address again now and swaps its regions (a run's status changed).
    pub fn refresh() {
        let here = window().location().href().unwrap_or_default();
        leptos::task::spawn_local(swap(here, false));
    }

    fn on_click(ev: MouseEvent) {
        // A new tab, a download or a modified click is the browser's business.
        if ev.default_prevented() || ev.button() != 0 || ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key() {
            return;
        }
        let Some(target) = ev.target().and_then(|t| t.dyn_into::<Element>().ok()) else { return };
        let Some(link) = target.closest("a[data-live-link]").ok().flatten() else { return };
        let Ok(link) = link.dyn_into::<HtmlAnchorElement>() else { return };
        ev.prevent_default();
        leptos::task::spawn_local(swap(link.href(), true));
    }

    /// Sets the next refresh from the page's shortest `data-refresh-seconds`, if any.
    fn schedule() {
        let generation = GENERATION.with(|g| g.get());
        let Ok(regions) = document().query_selector_all("[data-refresh-seconds]") else { return };
        let shortest = (0..regions.length())
            .filter_map(|i| regions.item(i)?.dyn_into::<Element>().ok())
            .filter_map(|e| e.get_attribute("data-refresh-seconds")?.parse::<u64>().ok())
            .min();
        if let Some(seconds) = shortest {
            set_timeout(
                move || {
                    if GENERATION.with(|g| g.get()) == generation {
                        refresh();
                    }
                },
                Duration::from_secs(seconds.max(1)),
            );
        }
    }

    async fn swap(url: String, push: bool) {
        GENERATION.with(|g| g.set(g.get() + 1));
        if let Err(e) = try_swap(&url, push).await {
            // Whatever went wrong (the server is restarting, the session ended), the page as a
            // whole says it better than a half-updated one.
            leptos::logging::debug_warn!("live swap of {url} failed: {e:?}");
            let _ = window().location().assign(&url);
        }
        schedule();
    }

    async fn try_swap(url: &str, push: bool) -> Result<(), JsValue> {
        let response: Response = JsFuture::from(window().fetch_with_str(url)).await?.dyn_into()?;
        if !response.ok() || response.redirected() {
            return Err(JsValue::from_str("not the page asked for"));
        }
        let html = JsFuture::from(response.text()?).await?.as_string().unwrap_or_default();
        let next = DomParser::new()?.parse_from_string(&html, SupportedType::TextHtml)?;
        // A parsed document has scripting off, so its `<noscript>` holds real elements: a
        // `<meta http-equiv="refresh">` in there would reload the page once swapped in.
        let fallbacks = next.query_selector_all("noscript")?;
        for i in 0..fallbacks.length() {
            if let Some(node) = fallbacks.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                node.remove();
            }
        }
        let pairs = pair_regions(&document(), &next).ok_or_else(|| JsValue::from_str("the regions differ"))?;
        for (old, new) in pairs {
            old.replace_with_with_node_1(&new)?;
        }
        document().set_title(&next.title());
        if push {
            window().history()?.push_state_with_url(&JsValue::NULL, "", Some(url))?;
        }
        Ok(())
    }

    /// Each region of the page with its namesake in `next`, or `None` if the names differ.
    fn pair_regions(page: &web_sys::Document, next: &web_sys::Document) -> Option<Vec<(Element, Element)>> {
        let names = |doc: &web_sys::Document| -> Option<Vec<(String, Element)>> {
            let list = doc.query_selector_all(&format!("[{}]", super::REGION)).ok()?;
            (0..list.length())
                .map(|i| {
                    let e: Element = list.item(i)?.dyn_into().ok()?;
                    Some((e.get_attribute(super::REGION)?, e))
                })
                .collect()
        };
        let (mut old, mut new) = (names(page)?, names(next)?);
        old.sort_by(|a, b| a.0.cmp(&b.0));
        new.sort_by(|a, b| a.0.cmp(&b.0));
        if old.len() != new.len() || old.iter().zip(&new).any(|(a, b)| a.0 != b.0) {
            return None;
        }
        Some(old.into_iter().zip(new).map(|((_, a), (_, b))| (a, b)).collect())
    }
}
