//! The secret forms of the UI, as plain HTML form posts (they work without JavaScript). Each one
//! calls the same domain operation as the JSON API and redirects to the secret's page with the
//! outcome in the query string: what was saved (version, key names), the confirmation to give
//! (production), or why it was refused. Values never travel back to the browser, except on the
//! page that answers an explicit reveal.

use super::error::ApiError;
use super::AppState;
use crate::auth::middleware::urlencode;
use crate::secrets::document::{Change, Sensitive};
use crate::secrets::generate;
use crate::secrets::pending::Write;
use crate::secrets::SecretError;
use app::model::secret::{secret_path, Alphabet, WriteOutcome};
use app::model::Identity;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Extension, Form, Router};
use http::header;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/environments/{env}/secret-actions/{action}", post(secret_action))
        .route("/environments/{env}/redeploy", post(redeploy))
}

/// The form's fields in order; repeated names (`remove`, `rotate`, `service`) stay distinct.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn one(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
}

async fn secret_action(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path((env, action)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let fields = Fields(fields);
    let name = fields.one("name").unwrap_or_default().to_string();
    let page = secret_path(&env, &name);
    let version = fields.one("version_id").unwrap_or_default().to_string();
    let secrets = &state.secrets;
    let confirm_writes = state.environments.get(&env).is_some_and(|e| e.confirms_secret_writes());
    let write = match action.as_str() {
        "reveal" => return reveal(&state, &who, &env, &name, fields.one("key").unwrap_or_default()).await,
        "confirm" => {
            let result = secrets.confirm(&who, fields.one("pending").unwrap_or_default()).await;
            return outcome(&page, result);
        }
        "edit" => Write::Edit(edit_change(&fields)),
        "rotate" => {
            let length = match fields.one("length").map(str::trim).filter(|l| !l.is_empty()) {
                None => None,
                Some(l) => match l.parse::<usize>() {
                    Ok(n) => Some(n),
                    Err(_) => return outcome(&page, Err(SecretError::Invalid("length must be a whole number".into()))),
                },
            };
            let alphabet = match fields.one("alphabet").filter(|a| !a.is_empty() && *a != "default") {
                None => None,
                Some(a) => match a.parse::<Alphabet>() {
                    Ok(a) => Some(a),
                    Err(e) => return outcome(&page, Err(SecretError::Invalid(e))),
                },
            };
            Write::Rotate(generate::plan(fields.all("rotate"), length, alphabet))
        }
        "rollback" => Write::Rollback(fields.one("to").filter(|t| !t.is_empty()).map(str::to_string)),
        other => return Err(ApiError::NotFound(format!("no secret action {other:?}"))),
    };
    if confirm_writes {
        return Ok(match secrets.prepare(&who, &env, &name, &version, write).await {
            Ok(pending) => Redirect::to(&format!("{page}?confirm={}", pending.id)).into_response(),
            Err(e) => refused(&page, e)?,
        });
    }
    let result = match write {
        Write::Edit(change) => secrets.edit(&who, &env, &name, &version, change).await,
        Write::Rotate(keys) => secrets.rotate(&who, &env, &name, Some(&version), keys).await,
        Write::Rollback(to) => secrets.rollback(&who, &env, &name, Some(&version), to).await,
    };
    outcome(&page, result)
}

/// `set.KEY` fields with a value change that key (empty: unchanged); `remove` names keys to
/// remove; `new_key.N` / `new_value.N` add keys.
fn edit_change(fields: &Fields) -> Change {
    let mut change = Change::default();
    for (field, value) in &fields.0 {
        if let Some(key) = field.strip_prefix("set.") {
            if !value.is_empty() {
                change.set.insert(key.to_string(), Sensitive::new(value.clone()));
            }
        } else if field == "remove" {
            change.remove.insert(value.clone());
        } else if let Some(n) = field.strip_prefix("new_key.") {
            let key = value.trim();
            let new_value = fields.one(&format!("new_value.{n}")).unwrap_or_default();
            if !key.is_empty() || !new_value.is_empty() {
                // An empty value is passed on, so the user hears it must not be empty.
                change.set.insert(key.to_string(), Sensitive::new(new_value.to_string()));
            }
        }
    }
    change
}

fn outcome(page: &str, result: Result<WriteOutcome, SecretError>) -> Result<Response, ApiError> {
    match result {
        Ok(done) => Ok(Redirect::to(&format!(
            "{page}?saved={}&changed={}",
            urlencode(&done.version_id),
            urlencode(&done.changed_keys.join(","))
        ))
        .into_response()),
        Err(e) => refused(page, e),
    }
}

/// Back to the page with the reason; database failures stay internal errors.
fn refused(page: &str, e: SecretError) -> Result<Response, ApiError> {
    match e {
        SecretError::Db(e) => Err(e.into()),
        other => Ok(super::back_with_error(page, &other).into_response()),
    }
}

#[derive(Template)]
#[template(path = "reveal.html")]
struct RevealPage<'a> {
    environment: &'a str,
    secret: &'a str,
    key: &'a str,
    value: &'a str,
    version_id: &'a str,
    back: &'a str,
}

async fn reveal(state: &AppState, who: &Identity, env: &str, name: &str, key: &str) -> Result<Response, ApiError> {
    let back = secret_path(env, name);
    let (value, version_id) = match state.secrets.reveal(who, env, name, key).await {
        Ok(found) => found,
        Err(e) => return refused(&back, e),
    };
    let page = RevealPage { environment: env, secret: name, key, value: value.expose(), version_id: &version_id, back: &back };
    let html = page.render().map_err(|e| ApiError::Internal(e.into()))?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response())
}

/// Redeploys the `service` fields (one or several), then shows their rollout on `return_to`.
async fn redeploy(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(env): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let fields = Fields(fields);
    let page = secret_path(&env, fields.one("return_to").unwrap_or_default());
    let services = fields.all("service");
    let reason = fields.one("reason").unwrap_or_default();
    for service in &services {
        match state.live.redeploy(&state.db, &who, &env, service, reason).await {
            Ok(_) => {}
            Err(crate::environments::deploy::DeployError::Db(e)) => return Err(e.into()),
            Err(e) => return Ok(super::back_with_error(&page, &e).into_response()),
        }
    }
    Ok(Redirect::to(&format!("{page}?redeployed={}", urlencode(&services.join(",")))).into_response())
}
