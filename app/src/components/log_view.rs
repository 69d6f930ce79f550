//! A run's log: terminal colors as styled spans, text always as text. The server renders the
//! log's tail; once hydrated, the page follows the live stream (SSE) from where that tail ends,
//! appending pieces without re-rendering what is there.

use crate::ansi::{segments, Segment, Style};
use crate::server_fns::LogTail;
use leptos::prelude::*;

#[component]
pub fn LogView(
    run_id: i64,
    tail: LogTail,
    /// Called with the new status when the run's status changes (to refresh the page).
    #[prop(into)]
    on_status: Callback<String>,
) -> impl IntoView {
    let style = StoredValue::new(Style::default());
    let initial = {
        let mut s = Style::default();
        let segs = segments(&tail.text, &mut s);
        style.set_value(s);
        segs
    };
    let pieces: RwSignal<Vec<(usize, Vec<Segment>)>> = RwSignal::new(vec![(0, initial)]);
    // The "No output yet." placeholder goes once the first live line arrives.
    let empty = move || pieces.with(|p| p.iter().all(|(_, segs)| segs.iter().all(|s| s.text.is_empty()))).to_string();

    #[cfg(feature = "hydrate")]
    if !tail.finished {
        follow(run_id, tail.to, pieces, style, on_status);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = on_status;

    view! {
        {(tail.from > 0).then(|| view! {
            <p class="log-cut muted">
                {format!("The first {} KB are not shown. ", tail.from / 1024)}
                <a href=format!("/api/v1/runs/{run_id}/log")>"Download the whole log"</a>
            </p>
        })}
        <pre class="log" data-empty=empty aria-live="polite">
            <For each=move || pieces.get() key=|(i, _)| *i let((_, segs))>
                {segs.into_iter().map(|seg| {
                    let class = seg.style.classes();
                    view! { <span class=(!class.is_empty()).then_some(class)>{seg.text}</span> }
                }).collect_view()}
            </For>
        </pre>
    }
}

#[cfg(feature = "hydrate")]
fn follow(
    run_id: i64,
    from: i64,
    pieces: RwSignal<Vec<(usize, Vec<Segment>)>>,
    style: StoredValue<Style>,
    on_status: Callback<String>,
) {
    use send_wrapper::SendWrapper;
    use wasm_bindgen::{closure::Closure, JsCast};
    use web_sys::{EventSource, MessageEvent};

    let Ok(source) = EventSource::new(&format!("/api/v1/runs/{run_id}/log/stream?offset={from}")) else { return };
    let on_log = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let Some(text) = ev.data().as_string() else { return };
        let segs = style.try_update_value(|s| segments(&text, s)).unwrap_or_default();
        pieces.update(|p| {
            let next = p.len();
            p.push((next, segs));
        });
    });
    let on_change = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        if let Some(status) = ev.data().as_string() {
            on_status.run(status);
        }
    });
    let closer = source.clone();
    let on_end = Closure::<dyn FnMut(MessageEvent)>::new(move |_ev: MessageEvent| closer.close());
    let _ = source.add_event_listener_with_callback("log", on_log.as_ref().unchecked_ref());
    let _ = source.add_event_listener_with_callback("status", on_change.as_ref().unchecked_ref());
    let _ = source.add_event_listener_with_callback("end", on_end.as_ref().unchecked_ref());
    let held = SendWrapper::new((source, on_log, on_change, on_end));
    on_cleanup(move || held.take().0.close());
}
