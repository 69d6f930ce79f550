//! `/api/v1/.../runs`: start, list, read, approve, reject, cancel, and the run log (plain and live).

use super::error::ApiError;
use super::extract::{parse_id, ApiJson, ApiPath, ApiQuery};
use super::openapi::{ReadErrors, Unavailable, WriteErrors};
use crate::app_state::AppState;
use crate::runs::live_log::LiveEvent;
use crate::runs::{logs, RunError, RunRequest};
use app::model::run::{Run, RunKind, RunList};
use app::model::Identity;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(variables))
        .routes(routes!(drift_check))
        .routes(routes!(show))
        .routes(routes!(log_text))
        .routes(routes!(log_stream))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(cancel))
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

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewRun {
    /// `plan` or `apply` (required).
    #[schema(example = "plan")]
    kind: Option<String>,
    #[serde(default)]
    message: String,
    /// A branch, tag or commit of the infra repository (default: `terraform.branch`).
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    /// Admins: why this apply may skip the promotion rule.
    override_promotion: Option<String>,
}

/// Queues a run (operators): 201 with the run.
#[utoipa::path(post, path = "/environments/{env}/runs", tag = "runs", params(("env" = String, Path, example = "staging")), request_body = NewRun,
    responses((status = 201, body = Run), ReadErrors, WriteErrors, Unavailable))]
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
#[utoipa::path(post, path = "/environments/{env}/drift-check", tag = "runs", params(("env" = String, Path, example = "staging")),
    responses((status = 202, body = Run), ReadErrors, WriteErrors, Unavailable))]
async fn drift_check(State(state): State<AppState>, Extension(who): Extension<Identity>, ApiPath(env): ApiPath<String>) -> Result<(StatusCode, Json<Run>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(crate::runs::drift::check_now(&state.runs, &who, &env).await?)))
}

/// The environment's Terraform variables: names and sources, plain values, sensitive ones masked.
#[utoipa::path(get, path = "/environments/{env}/variables", tag = "runs", params(("env" = String, Path, example = "staging")),
    responses((status = 200, body = app::model::variables::Variables), ReadErrors, Unavailable))]
async fn variables(State(state): State<AppState>, ApiPath(env): ApiPath<String>) -> Result<Json<app::model::variables::Variables>, ApiError> {
    Ok(Json(state.runs.variables(&env).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Page {
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Runs older than this id (paging).
    before: Option<i64>,
}

/// The environment's runs, newest first.
#[utoipa::path(get, path = "/environments/{env}/runs", tag = "runs", params(("env" = String, Path, example = "staging"), Page),
    responses((status = 200, body = RunList), ReadErrors))]
async fn list(State(state): State<AppState>, ApiPath(env): ApiPath<String>, ApiQuery(page): ApiQuery<Page>) -> Result<Json<RunList>, ApiError> {
    let limit = page.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 500".into()));
    }
    Ok(Json(RunList { runs: state.runs.list(&env, limit, page.before).await? }))
}

/// One run: status, commit, plan summary, cost change, approvals, error.
#[utoipa::path(get, path = "/runs/{id}", tag = "runs", params(("id" = i64, Path, example = 1)), responses((status = 200, body = Run), ReadErrors))]
async fn show(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> Result<Json<Run>, ApiError> {
    Ok(Json(state.runs.get(parse_id(&id, "run")?).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LogQuery {
    /// The byte to start from (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
}

/// The log from byte `offset`, streamed from the database (never held whole in memory).
#[utoipa::path(get, path = "/runs/{id}/log", tag = "runs", params(("id" = i64, Path, example = 1), LogQuery),
    responses((status = 200, description = "The log as text; `X-Log-Bytes` is its length so far", content_type = "text/plain", body = String), ReadErrors))]
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

/// One server-sent event of the live log.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct LogEvent {
    /// `log` (a piece of the log), `status` (the run's new status) or `end` (its final status).
    #[schema(example = "log")]
    event: String,
    /// For `log`: the byte offset after it, to resume from (`Last-Event-ID`).
    id: Option<String>,
    data: String,
}

/// Live log (server-sent events `log` with the byte offset after it as id, `status`, `end`):
/// resumes from `Last-Event-ID` (the byte offset the client has) or `?offset=`.
#[utoipa::path(get, path = "/runs/{id}/log/stream", tag = "runs", params(("id" = i64, Path, example = 1), LogQuery),
    responses((status = 200, description = "Server-sent events until the run ends", content_type = "text/event-stream", body = LogEvent), ReadErrors,
        (status = 429, description = "Too many live log streams open (`runs.live_streams_per_user`, `runs.live_streams_total`)", body = super::openapi::ErrorBody)))]
async fn log_stream(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let run = state.runs.get(parse_id(&id, "run")?).await?;
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
    let from = resume.or(q.offset).unwrap_or(0).max(0);
    let events = state.runs.live_logs.stream(who.user_id, run.id, from).map_err(|refused| ApiError::TooManyRequests(refused.to_string(), 5))?;
    let stream = futures_util::stream::unfold(events, |mut rx| async move {
        rx.recv().await.map(|event| (Ok::<_, std::convert::Infallible>(sse_event(event)), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn sse_event(event: LiveEvent) -> Event {
    match event {
        LiveEvent::Log { end, text } => Event::default().event("log").id(end.to_string()).data(text),
        LiveEvent::Status(status) => Event::default().event("status").data(status.as_str()),
        LiveEvent::End(status) => Event::default().event("end").data(status.as_str()),
    }
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Decision {
    #[serde(default)]
    comment: String,
    /// The environment's name, when the plan destroys resources under deletion protection.
    confirm: Option<String>,
}

/// Approves a planned run (approvers; production: not its requester).
#[utoipa::path(post, path = "/runs/{id}/approve", tag = "runs", params(("id" = i64, Path, example = 1)), request_body(content = Option<Decision>),
    responses((status = 200, body = Run), ReadErrors, WriteErrors))]
async fn approve(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Decision>,
) -> Result<Json<Run>, ApiError> {
    let id = parse_id(&id, "run")?;
    Ok(Json(state.runs.approve(&who, id, &body.comment, body.confirm.as_deref()).await?))
}

/// Rejects a planned run: its plan is discarded.
#[utoipa::path(post, path = "/runs/{id}/reject", tag = "runs", params(("id" = i64, Path, example = 1)), request_body(content = Option<Decision>),
    responses((status = 200, body = Run), ReadErrors, WriteErrors))]
async fn reject(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Decision>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(state.runs.reject(&who, parse_id(&id, "run")?, &body.comment).await?))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    /// Kill terraform at once (admins).
    #[serde(default)]
    force: bool,
}

/// Cancels a run; a running terraform gets SIGINT, then SIGKILL after the grace time.
#[utoipa::path(post, path = "/runs/{id}/cancel", tag = "runs", params(("id" = i64, Path, example = 1)), request_body(content = Option<CancelBody>),
    responses((status = 200, body = Run), ReadErrors, WriteErrors))]
async fn cancel(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CancelBody>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(state.runs.cancel(&who, parse_id(&id, "run")?, body.force).await?))
}
