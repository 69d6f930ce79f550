//! `/api/v1/environments/{env}/state…`: the state's versions and lock, one version's contents
//! (addresses only), the diff of two, an admin's download and force-unlock; and the state page's
//! force-unlock form, a plain HTML post.

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::openapi::{ReadErrors, Unavailable, WriteErrors};
use crate::app_state::AppState;
use super::redirect::urlencode;
use crate::state::StateError;
use app::model::state::{StateDiff, StateLock, StateOverview, StateVersionDetail};
use app::model::Identity;
use axum::extract::{Path, State};
use axum::response::{Redirect, Response};
use axum::routing::post;
use axum::{Extension, Form, Json, Router};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(version))
        .routes(routes!(download))
        .routes(routes!(diff))
        .routes(routes!(force_unlock))
}

pub fn form_router() -> Router<AppState> {
    Router::new().route("/environments/{env}/state/force-unlock", post(force_unlock_form))
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::UnknownEnvironment(_) | StateError::NotFound(_) => ApiError::NotFound(e.to_string()),
            StateError::Forbidden(m) => ApiError::Forbidden(m),
            StateError::Invalid(m) => ApiError::Unprocessable(m),
            StateError::Conflict(m) => ApiError::Conflict(m),
            StateError::Aws(m) => ApiError::Unavailable(m),
            StateError::Db(e) => e.into(),
        }
    }
}

/// The state's versions, newest first, and its lock.
#[utoipa::path(get, path = "/environments/{env}/state", tag = "state", params(("env" = String, Path, example = "staging")),
    responses((status = 200, body = StateOverview), ReadErrors, Unavailable))]
async fn overview(State(state): State<AppState>, Extension(who): Extension<Identity>, ApiPath(env): ApiPath<String>) -> Result<Json<StateOverview>, ApiError> {
    Ok(Json(state.states.overview(&who, &env).await?))
}

/// One version's resources (addresses) and output names: never a value.
#[utoipa::path(get, path = "/environments/{env}/state/versions/{version}", tag = "state", params(("env" = String, Path, example = "staging"), ("version" = String, Path, description = "An S3 version id of the state object")),
    responses((status = 200, body = StateVersionDetail), ReadErrors, Unavailable))]
async fn version(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath((env, version)): ApiPath<(String, String)>,
) -> Result<Json<StateVersionDetail>, ApiError> {
    Ok(Json(state.states.version(&who, &env, &version).await?))
}

/// The version's bytes as terraform wrote them (admins; audited; `no-store`).
#[utoipa::path(get, path = "/environments/{env}/state/versions/{version}/download", tag = "state", params(("env" = String, Path, example = "staging"), ("version" = String, Path, description = "An S3 version id of the state object")),
    responses((status = 200, description = "The state file", content_type = "application/json", body = Object), ReadErrors, Unavailable))]
async fn download(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath((env, version)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let file = state.states.download(&who, &env, &version).await?;
    let mut response = super::attachment("application/json", &file.filename, file.bytes);
    // It holds secrets: no cache anywhere keeps a copy.
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DiffQuery {
    /// A version id (required).
    from: Option<String>,
    /// A version id (required).
    to: Option<String>,
}

/// The resource addresses added, removed and changed between two versions.
#[utoipa::path(get, path = "/environments/{env}/state/diff", tag = "state", params(("env" = String, Path, example = "staging"), DiffQuery),
    responses((status = 200, body = StateDiff), ReadErrors, Unavailable))]

async fn diff(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(env): ApiPath<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Json<StateDiff>, ApiError> {
    let (Some(from), Some(to)) = (q.from.filter(|v| !v.is_empty()), q.to.filter(|v| !v.is_empty())) else {
        return Err(ApiError::BadRequest("name both versions: ?from=<version_id>&to=<version_id>".into()));
    };
    Ok(Json(state.states.diff(&who, &env, &from, &to).await?))
}

#[derive(Default, Deserialize, utoipa::ToSchema)]
struct Unlock {
    #[serde(default)]
    lock_id: String,
    /// The environment's name, typed to confirm.
    #[serde(default)]
    confirm: String,
}

/// Releases the state lock (admins; audited) when it is the lock named and no running run of
/// ours holds it.
#[utoipa::path(post, path = "/environments/{env}/state/force-unlock", tag = "state", params(("env" = String, Path, example = "staging")), request_body = Unlock,
    responses((status = 200, body = StateLock), ReadErrors, WriteErrors, Unavailable))]
async fn force_unlock(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(env): ApiPath<String>,
    ApiJson(body): ApiJson<Unlock>,
) -> Result<Json<StateLock>, ApiError> {
    Ok(Json(state.states.force_unlock(&who, &env, &body.lock_id, &body.confirm).await?))
}

async fn force_unlock_form(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(env): Path<String>,
    Form(form): Form<Unlock>,
) -> Result<Redirect, ApiError> {
    let page = format!("/environments/{}/state", urlencode(&env));
    match state.states.force_unlock(&who, &env, &form.lock_id, &form.confirm).await {
        Ok(lock) => Ok(Redirect::to(&format!("{page}?unlocked={}", urlencode(&lock.id)))),
        Err(StateError::Db(e)) => Err(e.into()),
        Err(refused) => Ok(super::redirect::back_with_error(&page, &refused)),
    }
}
