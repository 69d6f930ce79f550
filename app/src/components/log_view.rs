//! A run's log: terminal colors as styled spans, text always as text. The server renders the
//! log's tail; an island follows the live stream (SSE) from where that tail ends, appending
//! pieces without touching what is there, and has the page's regions swapped when the run's
//! status changes (the timeline, the approvals and the buttons follow it).

use crate::ansi::{segments, Segment, Style};
use crate::server_fns::LogTail;
use leptos::prelude::*;

#[component]
pub fn LogView(run_id: i64, tail: LogTail) -> impl IntoView {
    let mut style = Style::default();
    let shown = segments(&tail.text, &mut style);
    let empty = tail.text.is_empty();
    view! {
        {(tail.from > 0).then(|| view! {
            <p class="log-cut muted">
                {format!("The first {} KB are not shown. ", tail.from / 1024)}
                <a href=format!("/api/v1/runs/{run_id}/log")>"Download the whole log"</a>
            </p>
        })}
        <LiveLog run_id from=tail.to follow=!tail.finished empty style>
            <Spans segments=shown/>
        </LiveLog>
    }
}

/// The `<pre>` with the server's part of the log as children; lines streamed after it are
/// appended in the browser. `style` is where the server's part left the terminal's colors.
#[island]
fn LiveLog(run_id: i64, from: i64, follow: bool, empty: bool, style: Style, children: Children) -> impl IntoView {
    let pieces: RwSignal<Vec<(usize, Vec<Segment>)>> = RwSignal::new(Vec::new());
    // The "No output yet." placeholder goes once the first live text arrives.
    let empty = move || (empty && pieces.with(|p| p.iter().all(|(_, segs)| segs.iter().all(|s| s.text.is_empty())))).to_string();

    #[cfg(feature = "hydrate")]
    if follow {
        stream(run_id, from, pieces, StoredValue::new(style));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (run_id, from, follow, style);

    view! {
        <pre class="log" data-empty=empty aria-live="polite">
            {children()}
            <For each=move || pieces.get() key=|(i, _)| *i let((_, segs))>
                <Spans segments=segs/>
            </For>
        </pre>
    }
}

#[component]
fn Spans(segments: Vec<Segment>) -> impl IntoView {
    segments
        .into_iter()
        .map(|seg| {
            let class = seg.style.classes();
            view! { <span class=(!class.is_empty()).then_some(class)>{seg.text}</span> }
        })
        .collect_view()
}

#[cfg(feature = "hydrate")]
fn stream(run_id: i64, from: i64, pieces: RwSignal<Vec<(usize, Vec<Segment>)>>, style: StoredValue<Style>) {
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
    let on_status = Closure::<dyn FnMut(MessageEvent)>::new(move |_ev: MessageEvent| crate::regions::refresh());
    let closer = source.clone();
    let on_end = Closure::<dyn FnMut(MessageEvent)>::new(move |_ev: MessageEvent| closer.close());
    let _ = source.add_event_listener_with_callback("log", on_log.as_ref().unchecked_ref());
    let _ = source.add_event_listener_with_callback("status", on_status.as_ref().unchecked_ref());
    let _ = source.add_event_listener_with_callback("end", on_end.as_ref().unchecked_ref());
    let held = SendWrapper::new((source, on_log, on_status, on_end));
    on_cleanup(move || held.take().0.close());
}
