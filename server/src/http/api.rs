//! `/api/v1`: environments, metrics and the audit log. Handlers parse, call the domain (which
//! decides what the caller may do) and serialize.

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use super::openapi::{EnvironmentDetail, EnvironmentView, ReadErrors};
use crate::app_state::AppState;
use crate::audit;
use app::model::audit::{AuditPage, AuditQuery};
use app::model::Identity;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_environments))
        .routes(routes!(get_environment))
        .routes(routes!(environment_metrics))
        .routes(routes!(list_audit))
        .routes(routes!(export_audit))
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct EnvironmentList {
    environments: Vec<EnvironmentView>,
}

/// Every environment's configuration with its live status (ECS), in display order.
#[utoipa::path(get, path = "/environments", tag = "environments", responses((status = 200, body = EnvironmentList), ReadErrors))]
async fn list_environments(State(state): State<AppState>) -> Result<Response, ApiError> {
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

/// One environment: configuration, live ECS status and drift.
#[utoipa::path(get, path = "/environments/{env}", tag = "environments", params(("env" = String, Path, description = "The environment's name", example = "staging")),
    responses((status = 200, body = EnvironmentDetail), ReadErrors))]
async fn get_environment(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
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
/// `since`, `until`; page with `before=<next_before>` (admins).
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery), responses((status = 200, body = AuditPage), ReadErrors))]
async fn list_audit(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(audit::search(&state.db, &who, &q, audit::MAX_PAGE).await?))
}

/// The same filters, every matching event (up to 50,000) as CSV (admins).
#[utoipa::path(get, path = "/audit.csv", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "The events as CSV", content_type = "text/csv", body = String), ReadErrors))]
async fn export_audit(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiQuery(mut q): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    q.limit = Some(q.limit.unwrap_or(audit::MAX_EXPORT));
    let page = audit::search(&state.db, &who, &q, audit::MAX_EXPORT).await?;
    Ok(super::csv_download("zelly-audit", "%Y-%m-%d", audit::to_csv(&page.events)))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct MetricsQuery {
    /// `1h`, `3h` (default), `12h`, `24h` or `7d`.
    #[param(pattern = "^(1h|3h|12h|24h|7d)$", example = "3h")]
    range: Option<String>,
}

/// The dashboard's series. A failing CloudWatch call is reported in `error`, with the last good
/// data when there is some: never as an error status.
#[utoipa::path(get, path = "/environments/{env}/metrics", tag = "environments",
    params(("env" = String, Path, description = "The environment's name", example = "staging"), MetricsQuery),
    responses((status = 200, body = app::model::metrics::Metrics), ReadErrors))]
async fn environment_metrics(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<MetricsQuery>,
) -> Result<Response, ApiError> {
    let range = q.range.as_deref().unwrap_or("3h").parse().map_err(ApiError::BadRequest)?;
    let json = state.metrics.get_json(&name, range).await.ok_or_else(|| ApiError::NotFound(format!("no environment called {name:?}")))?;
    Ok(json_answer(json))
}
