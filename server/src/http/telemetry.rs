//! Every answer's request id, log span and Prometheus figures, and `GET /metrics` itself.

use super::error::ApiError;
use crate::app_state::AppState;
use crate::telemetry::prometheus;
use app::model::Identity;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use http::{HeaderName, HeaderValue, Method};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Where request ids come from.
pub struct RequestIds {
    /// The incoming header a trusted proxy puts its id in (`log.request_id_header`).
    incoming: Option<HeaderName>,
}

impl RequestIds {
    pub fn new(config: &crate::config::LogConfig) -> RequestIds {
        RequestIds { incoming: HeaderName::from_bytes(config.request_id_header.as_bytes()).ok() }
    }

    fn for_request(&self, req: &Request) -> String {
        self.incoming
            .as_ref()
            .and_then(|name| req.headers().get(name))
            .and_then(|v| v.to_str().ok())
            .filter(|id| plausible_id(id))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()))
    }
}

/// An id that can go into a log line and a header as it is: a UUID, a load balancer's trace id.
fn plausible_id(id: &str) -> bool {
    (1..=200).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:=;+/".contains(c))
}

/// The outermost layer. axum runs a router's layers after routing, so the matched route template
/// is known here even for answers the authentication layer gives.
pub async fn observe(State(ids): State<Arc<RequestIds>>, req: Request, next: Next) -> Response {
    let began = Instant::now();
    let id = ids.for_request(&req);
    let method = method_label(req.method());
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!("request", request_id = %id, method, route = %route);
    let mut response = next.run(req).instrument(span.clone()).await;
    let seconds = began.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    span.in_scope(|| tracing::debug!(status, ms = seconds * 1000.0, "answered"));
    prometheus::record_request(method, route, status, seconds);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        // Any other word would be a label value per caller's whim.
        _ => "other",
    }
}

/// Prometheus' scrape: any signed-in caller (an API token of any role), or anyone when
/// `metrics.public` is set.
async fn metrics(State(state): State<AppState>, who: Option<Extension<Identity>>) -> Result<Response, ApiError> {
    if who.is_none() && !state.config.metrics.public {
        return Err(ApiError::Unauthorized("send Authorization: Bearer <token> (any role), or set metrics.public = true".into()));
    }
    let environments: Vec<String> = state.environments.all().iter().map(|e| e.name.clone()).collect();
    let text = prometheus::render(&state.db, &environments).await?;
    Ok(([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ids_that_are_safe_in_a_log_line_are_taken_from_the_caller() {
        assert!(plausible_id("6f1c2a4e-92b1-4b6e-9d7e-1f2a3b4c5d6e"));
        assert!(plausible_id("Root=1-67891233-abcdef012345678912345678"));
        for bad in ["", "two words", "line\nbreak", "quote\"", &"x".repeat(201)] {
            assert!(!plausible_id(bad), "{bad:?}");
        }
    }
}
