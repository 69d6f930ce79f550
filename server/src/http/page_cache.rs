//! `/` rendered once for each change of what it shows, not once per request. The dashboard is the
//! page everyone keeps open and reloads; rendering it (both environments' charts, tables and
//! hydration data) took about 13 ms of CPU, while what it shows changes only when the live data
//! is refreshed (every `aws.cache_ttl_seconds`) or a run, lock or drift check moves.
//!
//! Every request still reads what the page shows, from the caches that hold it (warm: no AWS
//! call and one database query), and compares those answers with the ones the remembered page was
//! rendered from; only equal answers reuse it. A render is handed exactly the answers it is
//! compared by (`ui::PageInputs`, through the request), so a remembered page never shows other
//! data than its answers. Pages are remembered per user, role, kind of sign-in and query. The
//! per-request parts, the CSP nonce and the browser session's CSRF token, are cut out of the
//! remembered page and put back for each request: another session never sees a token not its own.

use super::security::CspNonce;
use super::ui::PageInputs;
use crate::app_state::AppState;
use crate::telemetry::prometheus::record_dashboard_view;
use app::model::{CsrfToken, Identity};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, Method, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Users, roles and queries remembered at once; an idle page is forgotten to make room.
const MAX_PAGES: usize = 64;
/// A dashboard is about 90 KB; one far larger is rendered per request rather than kept.
const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// The dashboard's remembered pages (a router layer's state: see `ui::router`).
#[derive(Clone)]
pub struct PageCache(Arc<Pages>);

struct Pages {
    state: AppState,
    slots: Mutex<HashMap<Viewer, Slot>>,
}

/// One viewer's page, locked while it is rendered.
type Slot = Arc<tokio::sync::Mutex<Option<Remembered>>>;

/// Whose page, as far as it shows: the header names the user, the role decides the forms, a
/// browser session's page carries a CSRF token, and the query picks the range and rows.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Viewer {
    user_id: i64,
    name: String,
    display_name: String,
    role: app::model::Role,
    session: bool,
    query: String,
}

struct Remembered {
    /// The answers the page was rendered from, as JSON: a page is reused only for equal answers.
    inputs: Vec<u8>,
    status: StatusCode,
    headers: HeaderMap,
    pieces: Vec<Piece>,
}

/// The remembered page, cut where the per-request values go.
enum Piece {
    Text(Bytes),
    Value(Value),
}

#[derive(Clone, Copy)]
enum Value {
    Nonce,
    Csrf,
}

/// The values one request puts into a page.
struct PerRequest {
    nonce: Arc<str>,
    csrf: Option<String>,
}

/// Serves `GET /` from the remembered page while what it shows stays the same.
pub async fn dashboard(State(cache): State<PageCache>, mut req: Request, next: Next) -> Response {
    if req.method() != Method::GET || req.uri().path() != "/" {
        return next.run(req).await;
    }
    let (Some(who), Some(nonce)) = (req.extensions().get::<Identity>().cloned(), req.extensions().get::<CspNonce>().cloned()) else {
        return next.run(req).await;
    };
    let request = PerRequest { nonce: nonce.0, csrf: req.extensions().get::<CsrfToken>().map(|t| t.0.clone()) };
    let viewer = Viewer {
        user_id: who.user_id,
        name: who.name.clone(),
        display_name: who.display_name.clone(),
        role: who.role,
        session: request.csrf.is_some(),
        query: req.uri().query().unwrap_or_default().to_string(),
    };
    let inputs = PageInputs::read(&cache.0.state, &who, req.uri()).await;
    let fingerprint = inputs.fingerprint();
    let Some(slot) = cache.slot(viewer) else { return next.run(req).await };

    // Held while rendering: requests that arrive meanwhile wait for this render, not their own.
    let mut remembered = slot.lock().await;
    if let Some(page) = remembered.as_ref().filter(|p| p.inputs == fingerprint) {
        record_dashboard_view("remembered");
        return page.answer(&request);
    }
    record_dashboard_view("rendered");
    req.extensions_mut().insert(Arc::new(inputs));
    let res = next.run(req).await;
    let (parts, body) = res.into_parts();
    let cacheable = parts.status == StatusCode::OK && !parts.headers.contains_key(header::SET_COOKIE);
    let body = match axum::body::to_bytes(body, MAX_PAGE_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!("the dashboard could not be read to remember it: {e}");
            return (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be rendered.").into_response();
        }
    };
    if !cacheable {
        *remembered = None;
        return Response::from_parts(parts, Body::from(body));
    }
    let page = Remembered { inputs: fingerprint, status: parts.status, headers: parts.headers, pieces: cut(&body, &request) };
    let res = page.answer(&request);
    *remembered = Some(page);
    res
}

impl PageCache {
    pub fn new(state: AppState) -> PageCache {
        PageCache(Arc::new(Pages { state, slots: Mutex::default() }))
    }

    /// The slot of `viewer`'s page; none when every slot is in use (that request renders alone).
    fn slot(&self, viewer: Viewer) -> Option<Slot> {
        let mut pages = self.0.slots.lock().expect("page cache lock");
        if let Some(slot) = pages.get(&viewer) {
            return Some(slot.clone());
        }
        if pages.len() >= MAX_PAGES {
            // Only this map holds an idle slot.
            pages.retain(|_, slot| Arc::strong_count(slot) > 1);
            if pages.len() >= MAX_PAGES {
                return None;
            }
        }
        Some(pages.entry(viewer).or_default().clone())
    }
}

impl Remembered {
    fn answer(&self, request: &PerRequest) -> Response {
        let text: usize = self.pieces.iter().map(|p| if let Piece::Text(t) = p { t.len() } else { 64 }).sum();
        let mut body = Vec::with_capacity(text);
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => body.extend_from_slice(text),
                Piece::Value(Value::Nonce) => body.extend_from_slice(request.nonce.as_bytes()),
                Piece::Value(Value::Csrf) => body.extend_from_slice(request.csrf.as_deref().unwrap_or_default().as_bytes()),
            }
        }
        let mut res = Response::new(Body::from(body));
        *res.status_mut() = self.status;
        *res.headers_mut() = self.headers.clone();
        res
    }
}

/// `body` cut at every occurrence of the request's nonce and CSRF token (random: they occur
/// nowhere else).
fn cut(body: &Bytes, request: &PerRequest) -> Vec<Piece> {
    let csrf = request.csrf.as_deref().filter(|t| !t.is_empty());
    let nonces = memchr::memmem::find_iter(body, request.nonce.as_bytes()).map(|at| (at, request.nonce.len(), Value::Nonce));
    let tokens = csrf.into_iter().flat_map(|t| memchr::memmem::find_iter(body, t.as_bytes()).map(move |at| (at, t.len(), Value::Csrf)));
    let mut marks: Vec<_> = nonces.chain(tokens).collect();
    marks.sort_unstable_by_key(|(at, _, _)| *at);
    let mut pieces = Vec::with_capacity(marks.len() * 2 + 1);
    let mut from = 0;
    for (at, len, piece) in marks {
        pieces.push(Piece::Text(body.slice(from..at)));
        pieces.push(Piece::Value(piece));
        from = at + len;
    }
    pieces.push(Piece::Text(body.slice(from..)));
    pieces
}
