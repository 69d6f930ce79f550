//! ECS services: `/api/v1/environments/{env}/services/{service}` (its status, read fresh) and
//! `…/redeploy` (a forced new deployment, so new tasks read their secrets again), and the form
//! that redeploys the services reading a secret from its page.

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::openapi::{ReadErrors, Unavailable, WriteErrors};
use super::redirect::{back_with_error, urlencode};
use crate::app_state::AppState;
use crate::live::deploy::DeployError;
use app::model::secret::secret_path;
use app::model::secret_form::{field, redeploy_path};
use app::model::status::ServiceStatus;
use app::model::Identity;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Extension, Form, Json, Router};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(service)).routes(routes!(redeploy))
}

pub fn form_router() -> Router<AppState> {
    Router::new().route(&redeploy_path("{env}"), post(redeploy_form))
}

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> Self {
        match e {
            DeployError::UnknownEnvironment(_) | DeployError::UnknownService(_) => ApiError::NotFound(e.to_string()),
            DeployError::Forbidden(m) => ApiError::Forbidden(m),
            DeployError::Aws(m) => ApiError::Unavailable(m),
            DeployError::Db(e) => e.into(),
        }
    }
}

/// The service as ECS sees it now (for following a rollout).
#[utoipa::path(get, path = "/environments/{env}/services/{service}", tag = "services", params(("env" = String, Path, example = "staging"), ("service" = String, Path, example = "fastify-nova")),
    responses((status = 200, body = ServiceStatus), ReadErrors, Unavailable))]
async fn service(State(state): State<AppState>, ApiPath((env, service)): ApiPath<(String, String)>) -> Result<Response, ApiError> {
    Ok(Json(state.live.service_now(&env, &service).await?).into_response())
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RedeployBody {
    #[serde(default)]
    reason: String,
}

/// Forces a new deployment of the service (operators; audited): 202 with its deployments.
#[utoipa::path(post, path = "/environments/{env}/services/{service}/redeploy", tag = "services", params(("env" = String, Path, example = "staging"), ("service" = String, Path, example = "fastify-nova")), request_body(content = Option<RedeployBody>),
    responses((status = 202, body = ServiceStatus), ReadErrors, WriteErrors, Unavailable))]
async fn redeploy(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath((env, service)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RedeployBody>,
) -> Result<Response, ApiError> {
    let status = state.live.redeploy(&state.db, &who, &env, &service, &body.reason).await?;
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}

/// Redeploys the `service` fields (one or several), then shows their rollout on `return_to`.
async fn redeploy_form(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(env): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let one = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    let page = secret_path(&env, one(field::RETURN_TO));
    let services: Vec<&str> = fields.iter().filter(|(k, _)| k == field::SERVICE).map(|(_, v)| v.as_str()).collect();
    let reason = one(field::REASON);
    for service in &services {
        match state.live.redeploy(&state.db, &who, &env, service, reason).await {
            Ok(_) => {}
            Err(DeployError::Db(e)) => return Err(e.into()),
            Err(e) => return Ok(back_with_error(&page, &e).into_response()),
        }
    }
    Ok(Redirect::to(&format!("{page}?redeployed={}", urlencode(&services.join(",")))).into_response())
}
