//! Notifications, for admins: `GET /api/v1/notifications/deliveries`,
//! `GET /api/v1/notifications/destinations`, `POST /api/v1/notifications/destinations/{name}/test`,
//! and the notifications page's test form (`POST /notifications/destinations/{name}/test`).

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use super::AppState;
use crate::auth::middleware::urlencode;
use crate::notifications::NotificationError;
use app::model::notifications::{DeliveryPage, DeliveryQuery};
use app::model::Identity;
use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http::StatusCode;
use serde_json::{json, Value};

pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/notifications/deliveries", get(deliveries))
        .route("/notifications/destinations", get(destinations))
        .route("/notifications/destinations/{name}/test", post(test_api))
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

async fn deliveries(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> Result<Json<DeliveryPage>, ApiError> {
    Ok(Json(state.notifications.deliveries(&who, &q).await?))
}

async fn destinations(State(state): State<AppState>, Extension(who): Extension<Identity>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "destinations": state.notifications.destinations(&who).await? })))
}

async fn test_api(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.notifications.send_test(&who, &name).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "destination": name, "queued": true }))))
}

async fn test_form(State(state): State<AppState>, Extension(who): Extension<Identity>, Path(name): Path<String>) -> Result<Redirect, ApiError> {
    match state.notifications.send_test(&who, &name).await {
        Ok(()) => Ok(Redirect::to(&format!("/notifications?sent={}", urlencode(&name)))),
        Err(NotificationError::Db(e)) => Err(e.into()),
        Err(refused) => Ok(super::back_with_error("/notifications", &refused)),
    }
}
