//! Users and their API tokens, for admins: `GET /api/v1/users`, disabling, enabling and giving a
//! role (`POST /api/v1/users/{name}/disable|enable`, `PUT /api/v1/users/{name}`), revoking a
//! token (`POST /api/v1/tokens/{id}/revoke`), and the users page's forms for each (plain posts
//! that work without JavaScript). `crate::users` decides who may do what.

use super::error::ApiError;
use super::extract::{parse_id, ApiPath, UncheckedJson};
use super::openapi::{ReadErrors, WriteErrors};
use crate::app_state::AppState;
use crate::db::TokenRecord;
use crate::users::{Actor, UserError, Users};
use app::model::users::{UserAccess, UserList};
use app::model::{Identity, Role};
use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(set_role_api))
        .routes(routes!(disable_api))
        .routes(routes!(enable_api))
        .routes(routes!(revoke_api))
}

pub fn form_router() -> Router<AppState> {
    Router::new()
        .route("/users/tokens/{id}/revoke", post(revoke_form))
        .route("/users/{name}/disable", post(disable_form))
        .route("/users/{name}/enable", post(enable_form))
        .route("/users/{name}/role", post(set_role_form))
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Forbidden(m) => ApiError::Forbidden(m),
            UserError::NotFound(_) | UserError::NoToken(_) => ApiError::NotFound(e.to_string()),
            UserError::Invalid(m) => ApiError::Unprocessable(m),
            UserError::Db(e) => e.into(),
        }
    }
}

fn users(state: &AppState) -> Users<'_> {
    Users { db: &state.db, tokens: Some(&state.token_cache) }
}

fn access(user: crate::db::UserRecord) -> UserAccess {
    UserAccess { name: user.name, role: user.role, disabled_at: user.disabled_at, disabled_reason: user.disabled_reason }
}

#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewRole {
    /// `viewer`, `operator`, `approver` or `admin` (required).
    role: Option<Role>,
}

/// Gives a user a role (admins; audited; not your own). With single sign-on the provider's role
/// rules apply again at their next sign-in.
#[utoipa::path(put, path = "/users/{name}", tag = "users", params(("name" = String, Path, example = "ravi")), request_body = NewRole,
    responses((status = 200, body = UserAccess), ReadErrors, WriteErrors))]
async fn set_role_api(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(name): ApiPath<String>,
    body: UncheckedJson,
) -> Result<Json<UserAccess>, ApiError> {
    // Refused before the body is read (`UncheckedJson`).
    Actor::User(&who).may_manage()?;
    let role = body.parse::<NewRole>()?.role.ok_or_else(|| ApiError::Unprocessable("name the role: {\"role\": \"operator\"}".into()))?;
    Ok(Json(access(users(&state).set_role(Actor::User(&who), &name, role).await?)))
}

#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Disable {
    /// Why (required; kept in the audit log and shown on the users page).
    #[serde(default)]
    reason: String,
}

/// Disables a user (admins; audited; not yourself): their sessions end and their tokens are
/// refused at once, and they cannot sign in until enabled.
#[utoipa::path(post, path = "/users/{name}/disable", tag = "users", params(("name" = String, Path, example = "ravi")), request_body = Disable,
    responses((status = 200, body = UserAccess), ReadErrors, WriteErrors))]
async fn disable_api(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath(name): ApiPath<String>,
    body: UncheckedJson,
) -> Result<Json<UserAccess>, ApiError> {
    Actor::User(&who).may_manage()?;
    let reason = body.parse::<Disable>()?.reason;
    Ok(Json(access(users(&state).disable(Actor::User(&who), &name, &reason).await?)))
}

/// Lets a disabled user sign in and use their tokens again (admins; audited).
#[utoipa::path(post, path = "/users/{name}/enable", tag = "users", params(("name" = String, Path, example = "ravi")),
    responses((status = 200, body = UserAccess), ReadErrors, WriteErrors))]
async fn enable_api(State(state): State<AppState>, Extension(who): Extension<Identity>, ApiPath(name): ApiPath<String>) -> Result<Json<UserAccess>, ApiError> {
    Ok(Json(access(users(&state).enable(Actor::User(&who), &name).await?)))
}

/// The users page after a form: what was done, or why not.
fn back_to_users(result: Result<String, UserError>) -> Result<Redirect, ApiError> {
    let urlencode = super::redirect::urlencode;
    match result {
        Ok(done) => Ok(Redirect::to(&format!("/users?done={}", urlencode(&done)))),
        Err(UserError::Db(e)) => Err(e.into()),
        Err(refused) => Ok(Redirect::to(&format!("/users?error={}", urlencode(&refused.to_string())))),
    }
}

async fn disable_form(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    axum::Form(form): axum::Form<DisableForm>,
) -> Result<Redirect, ApiError> {
    let done = users(&state).disable(Actor::User(&who), &name, &form.reason).await;
    back_to_users(done.map(|u| format!("Disabled {}: their sessions ended and their tokens are refused.", u.name)))
}

async fn enable_form(State(state): State<AppState>, Extension(who): Extension<Identity>, Path(name): Path<String>) -> Result<Redirect, ApiError> {
    let done = users(&state).enable(Actor::User(&who), &name).await;
    back_to_users(done.map(|u| format!("Enabled {}: they can sign in again.", u.name)))
}

/// The page's form carries its CSRF field too, so unknown fields are not refused here.
#[derive(Deserialize)]
struct DisableForm {
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
struct RoleForm {
    role: String,
}

async fn set_role_form(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    axum::Form(form): axum::Form<RoleForm>,
) -> Result<Redirect, ApiError> {
    let Some(role) = Role::ALL.into_iter().find(|r| r.as_str() == form.role) else {
        return back_to_users(Err(UserError::Invalid(format!("{:?} is not a role", form.role))));
    };
    let done = users(&state).set_role(Actor::User(&who), &name, role).await;
    back_to_users(done.map(|u| format!("{} is now {}.", u.name, u.role)))
}

/// Every user with their tokens (admins; never a token itself).
#[utoipa::path(get, path = "/users", tag = "users", responses((status = 200, body = UserList), ReadErrors))]
async fn list(State(state): State<AppState>, Extension(who): Extension<Identity>) -> Result<Json<UserList>, ApiError> {
    Ok(Json(UserList { users: users(&state).list(Actor::User(&who)).await? }))
}

async fn revoke(state: &AppState, who: &Identity, id: i64) -> Result<TokenRecord, ApiError> {
    Ok(users(state).revoke_token(Actor::User(who), id).await?)
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
        Ok(token) => format!("/users?revoked={}", super::redirect::urlencode(&token.prefix)),
        Err(ApiError::NotFound(m) | ApiError::Forbidden(m)) => format!("/users?error={}", super::redirect::urlencode(&m)),
        Err(e) => return Err(e),
    };
    Ok(Redirect::to(&to))
}
