//! Users and their API tokens, for admins: `GET /api/v1/users`, `POST /api/v1/tokens/{id}/revoke`,
//! and the users page's revoke form (`POST /users/tokens/{id}/revoke`, works without JavaScript).

use super::api::require;
use super::error::ApiError;
use super::extract::{parse_id, ApiPath};
use super::openapi::{ReadErrors, WriteErrors};
use super::AppState;
use crate::auth::tokens::users_with_tokens;
use crate::db::TokenRecord;
use app::model::users::UserSummary;
use app::model::{Identity, Role};
use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(revoke_api))
}

pub fn form_router() -> Router<AppState> {
    Router::new().route("/users/tokens/{id}/revoke", post(revoke_form))
}

#[derive(Serialize, utoipa::ToSchema)]
struct UserList {
    users: Vec<UserSummary>,
}

/// Every user with their tokens (admins; never a token itself).
#[utoipa::path(get, path = "/users", tag = "users", responses((status = 200, body = UserList), ReadErrors))]
async fn list(State(state): State<AppState>, Extension(who): Extension<Identity>) -> Result<Json<UserList>, ApiError> {
    require(&who, Role::Admin)?;
    Ok(Json(UserList { users: users_with_tokens(&state.db).await? }))
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

#[derive(Serialize, utoipa::ToSchema)]
struct Revoked {
    id: i64,
    prefix: String,
    user: String,
    revoked: bool,
}

/// Revokes a live token (admins; audited).
#[utoipa::path(post, path = "/tokens/{id}/revoke", tag = "users", params(("id" = i64, Path, example = 1)),
    responses((status = 200, body = Revoked), ReadErrors, WriteErrors))]
async fn revoke_api(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Revoked>, ApiError> {
    let token = revoke(&state, &who, parse_id(&id, "token")?).await?;
    Ok(Json(Revoked { id: token.id, prefix: token.prefix, user: token.user_name, revoked: true }))
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
