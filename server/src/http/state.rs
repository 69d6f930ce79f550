//! `/api/v1/environments/{env}/state…`: the state's versions and lock, one version's contents
//! (addresses only), the diff of two, an admin's download and force-unlock; and the state page's
//! force-unlock form, a plain HTML post.

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::auth::middleware::urlencode;
use crate::state::StateError;
use app::model::state::{StateDiff, StateLock, StateOverview, StateVersionDetail};
use app::model::Identity;
use axum::extract::{Path, State};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use serde::Deserialize;

pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/environments/{env}/state", get(overview))
        .route("/environments/{env}/state/versions/{version}", get(version))
        .route("/environments/{env}/state/versions/{version}/download", get(download))
        .route("/environments/{env}/state/diff", get(diff))
        .route("/environments/{env}/state/force-unlock", post(force_unlock))
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

async fn overview(State(state): State<AppState>, Extension(who): Extension<Identity>, ApiPath(env): ApiPath<String>) -> Result<Json<StateOverview>, ApiError> {
    Ok(Json(state.states.overview(&who, &env).await?))
}

async fn version(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath((env, version)): ApiPath<(String, String)>,
) -> Result<Json<StateVersionDetail>, ApiError> {
    Ok(Json(state.states.version(&who, &env, &version).await?))
}

/// The version's bytes as terraform wrote them (admins; audited).
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

#[derive(Deserialize)]
struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

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

#[derive(Default, Deserialize)]
struct Unlock {
    #[serde(default)]
    lock_id: String,
    /// The environment's name, typed to confirm.
    #[serde(default)]
    confirm: String,
}

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
        Err(refused) => Ok(super::back_with_error(&page, &refused)),
    }
}
