//! Users and their API tokens, for admins: `GET /api/v1/users`, `POST /api/v1/tokens/{id}/revoke`,
//! and the users page's revoke form (`POST /users/tokens/{id}/revoke`, works without JavaScript).

use super::api::require;
use super::error::ApiError;
use super::extract::{parse_id, ApiPath};
use super::AppState;
use crate::auth::tokens::users_with_tokens;
use crate::db::TokenRecord;
use app::model::users::UserSummary;
use app::model::{Identity, Role};
use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

pub fn api_router() -> Router<AppState> {
    Router::new().route("/users", get(list)).route("/tokens/{id}/revoke", post(revoke_api))
}

pub fn form_router() -> Router<AppState> {
    Router::new().route("/users/tokens/{id}/revoke", post(revoke_form))
}

async fn list(State(state): State<AppState>, Extension(who): Extension<Identity>) -> Result<Json<Value>, ApiError> {
    require(&who, Role::Admin)?;
    let users: Vec<UserSummary> = users_with_tokens(&state.db).await?;
    Ok(Json(json!({ "users": users })))
}

async fn revoke(state: &AppState, who: &Identity, id: i64) -> Result<TokenRecord, ApiError> {
    require(who, Role::Admin)?;
    let revoked = state
        .db
        .revoke_token(&id.to_string(), &who.name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no live token with id {id}")))?;
    state.token_cache.forget(id);
    Ok(revoked)
}

async fn revoke_api(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let token = revoke(&state, &who, parse_id(&id, "token")?).await?;
    Ok(Json(json!({ "id": token.id, "prefix": token.prefix, "user": token.user_name, "revoked": true })))
}

async fn revoke_form(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Redirect, ApiError> {
    let to = match revoke(&state, &who, parse_id(&id, "token")?).await {
        Ok(token) => format!("/users?revoked={}", crate::auth::middleware::urlencode(&token.prefix)),
        Err(ApiError::NotFound(m) | ApiError::Forbidden(m)) => format!("/users?error={}", crate::auth::middleware::urlencode(&m)),
        Err(e) => return Err(e),
    };
    Ok(Redirect::to(&to))
}
