//! `/api/v1/.../runs`: start, list, read, approve, reject, cancel, and the run log (plain and live).

use super::error::ApiError;
use super::extract::{parse_id, ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::runs::{logs, RunError, RunRequest};
use app::model::run::{Run, RunKind};
use app::model::Identity;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/environments/{env}/runs", post(create).get(list))
        .route("/environments/{env}/variables", get(variables))
        .route("/environments/{env}/drift-check", post(drift_check))
        .route("/runs/{id}", get(show))
        .route("/runs/{id}/log", get(log_text))
        .route("/runs/{id}/log/stream", get(log_stream))
        .route("/runs/{id}/approve", post(approve))
        .route("/runs/{id}/reject", post(reject))
        .route("/runs/{id}/cancel", post(cancel))
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::UnknownEnvironment(_) | RunError::NotFound(_) => ApiError::NotFound(e.to_string()),
            RunError::Forbidden(m) => ApiError::Forbidden(m),
            RunError::Invalid(m) => ApiError::Unprocessable(m),
            RunError::Conflict(m) | RunError::Expired(m) => ApiError::Conflict(m),
            RunError::Unavailable(m) => ApiError::Unavailable(m),
            RunError::Db(e) => e.into(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewRun {
    kind: Option<String>,
    #[serde(default)]
    message: String,
    /// A branch, tag or commit of the infra repository (default: `terraform.branch`).
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    /// Admins: why this apply may skip the promotion rule.
    override_promotion: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(env): ApiPath<String>,
    ApiJson(body): ApiJson<NewRun>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let kind: RunKind = body
        .kind
        .as_deref()
        .ok_or_else(|| ApiError::Unprocessable("\"kind\" is required: \"plan\" or \"apply\"".into()))?
        .parse()
        .map_err(ApiError::Unprocessable)?;
    let request = RunRequest { kind, message: &body.message, git_ref: body.git_ref.as_deref(), override_promotion: body.override_promotion.as_deref() };
    let run = state.runs.create(&who, &env, request).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

/// Queues a drift check (202: it runs when a worker takes it).
async fn drift_check(State(state): State<AppState>, Extension(who): Extension<Identity>, ApiPath(env): ApiPath<String>) -> Result<(StatusCode, Json<Run>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(crate::runs::drift::check_now(&state.runs, &who, &env).await?)))
}

/// The environment's Terraform variables: names and sources, plain values, sensitive ones masked.
async fn variables(State(state): State<AppState>, ApiPath(env): ApiPath<String>) -> Result<Json<app::model::variables::Variables>, ApiError> {
    Ok(Json(state.runs.variables(&env).await?))
}

#[derive(Deserialize)]
struct Page {
    limit: Option<i64>,
    before: Option<i64>,
}

async fn list(State(state): State<AppState>, ApiPath(env): ApiPath<String>, ApiQuery(page): ApiQuery<Page>) -> Result<Json<Value>, ApiError> {
    let limit = page.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 500".into()));
    }
    Ok(Json(json!({ "runs": state.runs.list(&env, limit, page.before).await? })))
}

async fn show(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> Result<Json<Run>, ApiError> {
    Ok(Json(state.runs.get(parse_id(&id, "run")?).await?))
}

#[derive(Deserialize)]
struct LogQuery {
    offset: Option<i64>,
}

/// The log from byte `offset`, streamed from the database (never held whole in memory).
async fn log_text(State(state): State<AppState>, ApiPath(id): ApiPath<String>, ApiQuery(q): ApiQuery<LogQuery>) -> Result<Response, ApiError> {
    let run = state.runs.get(parse_id(&id, "run")?).await?;
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::BadRequest("offset must not be negative".into()));
    }
    let body = Body::from_stream(logs::body_from(state.db.clone(), run.id, offset));
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
            (header::HeaderName::from_static("x-log-bytes"), run.log_bytes.to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        body,
    )
        .into_response())
}

/// Live log: resumes from `Last-Event-ID` (the byte offset the client has) or `?offset=`.
async fn log_stream(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let run = state.runs.get(parse_id(&id, "run")?).await?;
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
    let from = resume.or(q.offset).unwrap_or(0).max(0);
    let events = logs::sse_events(state.db.clone(), state.runs.wakeup.clone(), run.id, from);
    let stream = futures_util::stream::unfold(events, |mut rx| async move {
        rx.recv().await.map(|event| (Ok::<_, std::convert::Infallible>(event), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Decision {
    #[serde(default)]
    comment: String,
    /// The environment's name, when the plan destroys resources under deletion protection.
    confirm: Option<String>,
}

async fn approve(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Decision>,
) -> Result<Json<Run>, ApiError> {
    let id = parse_id(&id, "run")?;
    Ok(Json(state.runs.approve(&who, id, &body.comment, body.confirm.as_deref()).await?))
}

async fn reject(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Decision>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(state.runs.reject(&who, parse_id(&id, "run")?, &body.comment).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    #[serde(default)]
    force: bool,
}

async fn cancel(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CancelBody>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(state.runs.cancel(&who, parse_id(&id, "run")?, body.force).await?))
}
