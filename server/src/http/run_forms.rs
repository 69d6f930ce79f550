//! The run forms of the UI, as plain HTML form posts: they work without JavaScript. Each one
//! calls the same domain operation as the JSON API and redirects back to a page, carrying a
//! readable error in the query string when the operation was refused.

use super::error::ApiError;
use super::extract::parse_id;
use crate::app_state::AppState;
use crate::runs::{RunError, RunRequest};
use app::model::run::RunKind;
use app::model::Identity;
use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::routing::post;
use axum::{Extension, Form, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/environments/{env}/runs/new", post(start))
        .route("/environments/{env}/drift-check", post(drift_check))
        .route("/runs/{id}/approve", post(approve))
        .route("/runs/{id}/reject", post(reject))
        .route("/runs/{id}/cancel", post(cancel))
}

/// Back to `page`, with the refusal shown there; database failures stay internal errors.
fn back(page: String, result: Result<String, RunError>) -> Result<Redirect, ApiError> {
    match result {
        Ok(to) => Ok(Redirect::to(&to)),
        Err(RunError::Db(e)) => Err(e.into()),
        Err(refused) => Ok(super::redirect::back_with_error(&page, &refused)),
    }
}

#[derive(Deserialize)]
struct StartForm {
    kind: String,
    #[serde(default)]
    message: String,
    /// Empty: the branch.
    #[serde(default, rename = "ref")]
    git_ref: String,
    /// Empty: follow the promotion rule.
    #[serde(default)]
    override_promotion: String,
}

async fn start(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(env): Path<String>,
    Form(form): Form<StartForm>,
) -> Result<Redirect, ApiError> {
    let page = format!("/environments/{env}/runs");
    let result = async {
        let kind: RunKind = form.kind.parse().map_err(RunError::Invalid)?;
        let git_ref = Some(form.git_ref.as_str()).filter(|r| !r.trim().is_empty());
        let override_promotion = Some(form.override_promotion.as_str()).filter(|r| !r.trim().is_empty());
        let request = RunRequest { kind, message: &form.message, git_ref, override_promotion };
        let run = state.runs.create(&who, &env, request).await?;
        Ok(format!("/runs/{}", run.id))
    }
    .await;
    back(page, result)
}

async fn drift_check(State(state): State<AppState>, Extension(who): Extension<Identity>, Path(env): Path<String>) -> Result<Redirect, ApiError> {
    let result = crate::runs::drift::check_now(&state.runs, &who, &env).await.map(|run| format!("/runs/{}", run.id));
    back(format!("/environments/{env}/runs"), result)
}

#[derive(Deserialize)]
struct DecisionForm {
    #[serde(default)]
    comment: String,
    confirm: Option<String>,
}

async fn approve(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Redirect, ApiError> {
    let id = parse_id(&id, "run")?;
    let result = state.runs.approve(&who, id, &form.comment, form.confirm.as_deref()).await.map(|_| format!("/runs/{id}"));
    back(format!("/runs/{id}"), result)
}

async fn reject(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Redirect, ApiError> {
    let id = parse_id(&id, "run")?;
    let result = state.runs.reject(&who, id, &form.comment).await.map(|_| format!("/runs/{id}"));
    back(format!("/runs/{id}"), result)
}

#[derive(Deserialize)]
struct CancelForm {
    #[serde(default)]
    force: bool,
}

async fn cancel(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    Form(form): Form<CancelForm>,
) -> Result<Redirect, ApiError> {
    let id = parse_id(&id, "run")?;
    let result = state.runs.cancel(&who, id, form.force).await.map(|_| format!("/runs/{id}"));
    back(format!("/runs/{id}"), result)
}
