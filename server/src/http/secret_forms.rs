//! The secret forms of the UI, as plain HTML form posts (they work without JavaScript). Each one
//! calls the same domain operation as the JSON API and redirects to the secret's page with the
//! outcome in the query string: what was saved (version, key names), the confirmation to give
//! (production), or why it was refused. Values never travel back to the browser, except on the
//! page that answers an explicit reveal.

use super::error::ApiError;
use crate::app_state::AppState;
use super::redirect::urlencode;
use crate::secrets::document::{Change, Sensitive};
use crate::secrets::generate;
use crate::secrets::pending::Write;
use crate::secrets::SecretError;
use app::model::secret::{secret_path, Alphabet, WriteOutcome};
use app::model::secret_form::{field, SecretAction};
use app::model::Identity;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Extension, Form, Router};
use http::header;

pub fn router() -> Router<AppState> {
    let route = |action: SecretAction| action.route();
    Router::new()
        .route(&route(SecretAction::Reveal), post(reveal_form))
        .route(&route(SecretAction::Edit), post(edit_form))
        .route(&route(SecretAction::Rotate), post(rotate_form))
        .route(&route(SecretAction::Rollback), post(rollback_form))
        .route(&route(SecretAction::Confirm), post(confirm_form))
}

/// The form's fields in order; repeated names (`remove`, `rotate`) stay distinct.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn one(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    /// The secret the form is about, and its page.
    fn secret(&self, env: &str) -> (String, String) {
        let name = self.one(field::NAME).unwrap_or_default().to_string();
        let page = secret_path(env, &name);
        (name, page)
    }
}

/// A form post to one of the actions: who, in which environment, with which fields.
type FormPost = (State<AppState>, Extension<Identity>, Path<String>, Form<Vec<(String, String)>>);

async fn reveal_form((State(state), Extension(who), Path(env), Form(fields)): FormPost) -> Result<Response, ApiError> {
    let fields = Fields(fields);
    let (name, _) = fields.secret(&env);
    reveal(&state, &who, &env, &name, fields.one(field::KEY).unwrap_or_default()).await
}

async fn confirm_form((State(state), Extension(who), Path(env), Form(fields)): FormPost) -> Result<Response, ApiError> {
    let fields = Fields(fields);
    let (_, page) = fields.secret(&env);
    outcome(&page, state.secrets.confirm(&who, fields.one(field::PENDING).unwrap_or_default()).await)
}

async fn edit_form((State(state), Extension(who), Path(env), Form(fields)): FormPost) -> Result<Response, ApiError> {
    let fields = Fields(fields);
    let change = edit_change(&fields);
    write(&state, &who, &env, &fields, Write::Edit(change)).await
}

async fn rotate_form((State(state), Extension(who), Path(env), Form(fields)): FormPost) -> Result<Response, ApiError> {
    let fields = Fields(fields);
    let (_, page) = fields.secret(&env);
    let length = match fields.one(field::LENGTH).map(str::trim).filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => match l.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => return outcome(&page, Err(SecretError::Invalid("length must be a whole number".into()))),
        },
    };
    let alphabet = match fields.one(field::ALPHABET).filter(|a| !a.is_empty() && *a != "default") {
        None => None,
        Some(a) => match a.parse::<Alphabet>() {
            Ok(a) => Some(a),
            Err(e) => return outcome(&page, Err(SecretError::Invalid(e))),
        },
    };
    let keys = generate::plan(fields.all(field::ROTATE), length, alphabet);
    write(&state, &who, &env, &fields, Write::Rotate(keys)).await
}

async fn rollback_form((State(state), Extension(who), Path(env), Form(fields)): FormPost) -> Result<Response, ApiError> {
    let fields = Fields(fields);
    let to = fields.one(field::TO).filter(|t| !t.is_empty()).map(str::to_string);
    write(&state, &who, &env, &fields, Write::Rollback(to)).await
}

/// A write from a form: prepared for confirmation where the environment asks for one
/// (production), else made at once.
async fn write(state: &AppState, who: &Identity, env: &str, fields: &Fields, write: Write) -> Result<Response, ApiError> {
    let (name, page) = fields.secret(env);
    let version = fields.one(field::VERSION).unwrap_or_default();
    let secrets = &state.secrets;
    if state.environments.get(env).is_some_and(|e| e.confirms_secret_writes()) {
        return Ok(match secrets.prepare(who, env, &name, version, write).await {
            Ok(pending) => Redirect::to(&format!("{page}?confirm={}", pending.id)).into_response(),
            Err(e) => refused(&page, e)?,
        });
    }
    let result = match write {
        Write::Edit(change) => secrets.edit(who, env, &name, version, change).await,
        Write::Rotate(keys) => secrets.rotate(who, env, &name, Some(version), keys).await,
        Write::Rollback(to) => secrets.rollback(who, env, &name, Some(version), to).await,
    };
    outcome(&page, result)
}

/// `set` fields with a value change that key (empty: unchanged); `remove` names keys to
/// remove; `new_key` / `new_value` pairs add keys.
fn edit_change(fields: &Fields) -> Change {
    let mut change = Change::default();
    for (name, value) in &fields.0 {
        if let Some(key) = field::set_key(name) {
            if !value.is_empty() {
                change.set.insert(key.to_string(), Sensitive::new(value.clone()));
            }
        } else if name == field::REMOVE {
            change.remove.insert(value.clone());
        } else if let Some(n) = field::new_key_number(name) {
            let key = value.trim();
            let new_value = fields.one(&field::new_value(n)).unwrap_or_default();
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
        other => Ok(super::redirect::back_with_error(page, &other).into_response()),
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
