//! `/api/v1`: the public JSON API. Handlers parse, authorize, call the domain and serialize.

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use super::AppState;
use crate::audit;
use app::model::audit::{AuditPage, AuditQuery};
use app::model::{Identity, Role};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/environments", get(list_environments))
        .route("/environments/{env}", get(get_environment))
        .route("/environments/{env}/metrics", get(environment_metrics))
        .route("/audit", get(list_audit))
        .route("/audit.csv", get(export_audit))
}

/// JSON answers for paths and methods the API does not have.
pub fn with_fallbacks(router: Router<AppState>) -> Router<AppState> {
    router.fallback(|| async { ApiError::NotFound("no such API endpoint".into()) }).method_not_allowed_fallback(|| async {
        (
            http::StatusCode::METHOD_NOT_ALLOWED,
            Json(json!({ "error": "method_not_allowed", "message": "this endpoint does not take that method" })),
        )
    })
}

/// Fails with 403 unless the caller has at least `role`.
pub fn require(who: &Identity, role: Role) -> Result<(), ApiError> {
    if who.can(role) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("this needs the {role} role; you have {}", who.role)))
    }
}

/// Every environment's configuration with its live status (ECS); see `Environments::write_view`.
async fn list_environments(State(state): State<AppState>, Extension(who): Extension<Identity>) -> Result<Response, ApiError> {
    require(&who, Role::Viewer)?;
    let statuses = state.live.all().await;
    let mut body = Vec::with_capacity(16 * 1024);
    body.extend_from_slice(b"{\"environments\":[");
    for (i, e) in state.environments.all().iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        state.environments.write_view(&e.name, statuses.iter().find(|s| s.environment == e.name), &mut body);
    }
    body.extend_from_slice(b"]}");
    Ok(json_answer(body))
}

async fn get_environment(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    require(&who, Role::Viewer)?;
    let status = state.live.get(&name).await;
    let mut body = Vec::with_capacity(8 * 1024);
    if !state.environments.write_view(&name, status.as_ref(), &mut body) {
        return Err(ApiError::NotFound(format!("no environment called {name:?}")));
    }
    let drift = crate::runs::drift::status(&state.runs, &name).await?;
    crate::environments::Environments::append_field(&mut body, "drift", &drift);
    Ok(json_answer(body))
}

fn json_answer(body: impl Into<axum::body::Body>) -> Response {
    ([(http::header::CONTENT_TYPE, "application/json")], body.into()).into_response()
}

/// Newest first, filtered by `actor`, `environment`, `action` (or a prefix ending in `.`),
/// `since`, `until`; page with `before=<next_before>`.
async fn list_audit(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    require(&who, Role::Admin)?;
    Ok(Json(audit::search(&state.db, &q, audit::MAX_PAGE).await?))
}

/// The same filters, every matching event (up to 50,000) as CSV.
async fn export_audit(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiQuery(mut q): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    require(&who, Role::Admin)?;
    q.limit = Some(q.limit.unwrap_or(audit::MAX_EXPORT));
    let page = audit::search(&state.db, &q, audit::MAX_EXPORT).await?;
    Ok(super::csv_download("zelly-audit", "%Y-%m-%d", audit::to_csv(&page.events)))
}

#[derive(serde::Deserialize)]
struct MetricsQuery {
    range: Option<String>,
}

/// `?range=1h|3h|12h|24h|7d` (default 3h). A failing CloudWatch call is reported in `error`,
/// with the last good data when there is some: never as an error status.
async fn environment_metrics(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<MetricsQuery>,
) -> Result<Response, ApiError> {
    require(&who, Role::Viewer)?;
    let range = q.range.as_deref().unwrap_or("3h").parse().map_err(ApiError::BadRequest)?;
    let json = state.metrics.get_json(&name, range).await.ok_or_else(|| ApiError::NotFound(format!("no environment called {name:?}")))?;
    Ok(json_answer(json))
}
