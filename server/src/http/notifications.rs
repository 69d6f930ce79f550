//! Notifications, for admins: `GET /api/v1/notifications/deliveries`,
//! `GET /api/v1/notifications/destinations`, `POST /api/v1/notifications/destinations/{name}/test`,
//! and the notifications page's test form (`POST /notifications/destinations/{name}/test`).

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use super::openapi::{ReadErrors, WriteErrors};
use crate::app_state::AppState;
use super::redirect::urlencode;
use crate::notifications::NotificationError;
use app::model::notifications::{DeliveryPage, DeliveryQuery, DestinationSummary};
use app::model::Identity;
use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::routing::post;
use axum::{Extension, Json, Router};
use http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(deliveries)).routes(routes!(destinations)).routes(routes!(test_api))
}

pub fn form_router() -> Router<AppState> {
    Router::new().route("/notifications/destinations/{name}/test", post(test_form))
}

impl From<NotificationError> for ApiError {
    fn from(e: NotificationError) -> Self {
        match e {
            NotificationError::Forbidden(m) => ApiError::Forbidden(m),
            NotificationError::NotFound(m) => ApiError::NotFound(m),
            NotificationError::BadQuery(m) => ApiError::BadRequest(m),
            NotificationError::Db(e) => e.into(),
        }
    }
}

/// Deliveries, newest first, filtered; page with `before=<next_before>` (admins).
#[utoipa::path(get, path = "/notifications/deliveries", tag = "notifications", params(DeliveryQuery),
    responses((status = 200, body = DeliveryPage), ReadErrors))]
async fn deliveries(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> Result<Json<DeliveryPage>, ApiError> {
    Ok(Json(state.notifications.deliveries(&who, &q).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
struct DestinationList {
    destinations: Vec<DestinationSummary>,
}

/// The configured destinations with their delivery figures (admins; never a URL's path or a key).
#[utoipa::path(get, path = "/notifications/destinations", tag = "notifications", responses((status = 200, body = DestinationList), ReadErrors))]
async fn destinations(State(state): State<AppState>, Extension(who): Extension<Identity>) -> Result<Json<DestinationList>, ApiError> {
    Ok(Json(DestinationList { destinations: state.notifications.destinations(&who).await? }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct TestQueued {
    destination: String,
    queued: bool,
}

/// Queues a `test` event for this destination only (admins; audited).
#[utoipa::path(post, path = "/notifications/destinations/{name}/test", tag = "notifications", params(("name" = String, Path, example = "ops-webhook")),
    responses((status = 202, body = TestQueued), ReadErrors, WriteErrors))]

async fn test_api(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<TestQueued>), ApiError> {
    state.notifications.send_test(&who, &name).await?;
    Ok((StatusCode::ACCEPTED, Json(TestQueued { destination: name, queued: true })))
}

async fn test_form(State(state): State<AppState>, Extension(who): Extension<Identity>, Path(name): Path<String>) -> Result<Redirect, ApiError> {
    match state.notifications.send_test(&who, &name).await {
        Ok(()) => Ok(Redirect::to(&format!("/notifications?sent={}", urlencode(&name)))),
        Err(NotificationError::Db(e)) => Err(e.into()),
        Err(refused) => Ok(super::redirect::back_with_error("/notifications", &refused)),
    }
}
