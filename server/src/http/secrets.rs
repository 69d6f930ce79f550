//! `/api/v1/.../secrets` and `/api/v1/.../services`: list, read, reveal, edit, rotate, roll back,
//! parity, redeploy and rollout. Bodies that carry values are parsed here by hand, so that no
//! error message can quote a value back (serde's would).

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, UncheckedJson};
use super::AppState;
use crate::environments::deploy::DeployError;
use crate::secrets::document::{Change, Sensitive};
use crate::secrets::generate;
use crate::secrets::SecretError;
use app::model::secret::{Alphabet, WriteOutcome};
use app::model::Identity;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/secrets/parity", get(parity))
        .route("/environments/{env}/secrets", get(list))
        .route("/environments/{env}/secrets/{name}", get(show).put(edit))
        .route("/environments/{env}/secrets/{name}/reveal", post(reveal))
        .route("/environments/{env}/secrets/{name}/rotate", post(rotate))
        .route("/environments/{env}/secrets/{name}/rollback", post(rollback))
        .route("/environments/{env}/services/{service}", get(service))
        .route("/environments/{env}/services/{service}/redeploy", post(redeploy))
}

impl From<SecretError> for ApiError {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::UnknownEnvironment(_) | SecretError::NotFound(_) => ApiError::NotFound(e.to_string()),
            SecretError::Forbidden(m) => ApiError::Forbidden(m),
            SecretError::Invalid(m) => ApiError::Unprocessable(m),
            SecretError::ReadOnly(m) => ApiError::Unprocessable(format!("this secret cannot be changed here: {m}")),
            SecretError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            SecretError::Stale { message, current_version, changed_keys } => ApiError::ConflictWith(
                message,
                json!({ "current_version_id": current_version, "changed_keys": changed_keys }),
            ),
            SecretError::Busy(m) => ApiError::Conflict(m),
            SecretError::RateLimited(seconds) => ApiError::TooManyRequests(e.to_string(), seconds),
            SecretError::Aws(m) => ApiError::Unavailable(m),
            SecretError::Db(e) => e.into(),
        }
    }
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

async fn list(State(state): State<AppState>, ApiPath(env): ApiPath<String>) -> Result<Response, ApiError> {
    Ok(Json(state.secrets.list(&env).await?).into_response())
}

async fn parity(State(state): State<AppState>) -> Response {
    Json(state.secrets.parity().await).into_response()
}

async fn show(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath((env, name)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(Json(state.secrets.detail(&who, &env, &name).await?).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RevealBody {
    key: Option<String>,
}

/// The one response that carries a value: never stored by a cache or the browser.
async fn reveal(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath((env, name)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RevealBody>,
) -> Result<Response, ApiError> {
    let key = body.key.ok_or_else(|| ApiError::Unprocessable("\"key\" is required".into()))?;
    let (value, version_id) = state.secrets.reveal(&who, &env, &name, &key).await?;
    let body = json!({ "key": key, "value": value.expose(), "version_id": version_id });
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

async fn edit(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath((env, name)): ApiPath<(String, String)>,
    body: UncheckedJson,
) -> Result<Json<WriteOutcome>, ApiError> {
    state.secrets.may_write_in(&who, &env)?;
    let (version_id, change) = edit_request(body.parse()?)?;
    Ok(Json(state.secrets.edit(&who, &env, &name, &version_id, change).await?))
}

/// `{"version_id": "...", "set": {"KEY": "value"}, "remove": ["KEY"]}`.
fn edit_request(body: Value) -> Result<(String, Change), ApiError> {
    let invalid = |m: &str| ApiError::Unprocessable(m.to_string());
    let Value::Object(mut fields) = body else {
        return Err(invalid("send an object: {\"version_id\": \"...\", \"set\": {\"KEY\": \"value\"}, \"remove\": [\"KEY\"]}"));
    };
    let version_id = match fields.remove("version_id") {
        Some(Value::String(v)) if !v.is_empty() => v,
        _ => return Err(invalid("\"version_id\" is required: the version you read (edits are refused if it is no longer current)")),
    };
    let mut change = Change::default();
    match fields.remove("set") {
        None | Some(Value::Null) => {}
        Some(Value::Object(set)) => {
            for (key, value) in set {
                let Value::String(value) = value else {
                    return Err(ApiError::Unprocessable(format!("set.{}: values must be strings", shorten(&key))));
                };
                change.set.insert(key, Sensitive::new(value));
            }
        }
        Some(_) => return Err(invalid("\"set\" must be an object of key names to string values")),
    }
    match fields.remove("remove") {
        None | Some(Value::Null) => {}
        Some(Value::Array(keys)) => {
            for key in keys {
                let Value::String(key) = key else { return Err(invalid("\"remove\" must be a list of key names")) };
                change.remove.insert(key);
            }
        }
        Some(_) => return Err(invalid("\"remove\" must be a list of key names")),
    }
    if let Some(unknown) = fields.keys().next() {
        return Err(ApiError::Unprocessable(format!("unknown field {:?}: expected version_id, set, remove", shorten(unknown))));
    }
    Ok((version_id, change))
}

fn shorten(s: &str) -> String {
    s.chars().take(40).collect()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    #[serde(default)]
    keys: Vec<String>,
    /// Every key gets this length (default: per key, see `RotationOptions::for_key`).
    length: Option<usize>,
    alphabet: Option<String>,
    /// When given, the rotation is refused if the secret is no longer at this version.
    version_id: Option<String>,
}

async fn rotate(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath((env, name)): ApiPath<(String, String)>,
    body: UncheckedJson,
) -> Result<Json<WriteOutcome>, ApiError> {
    state.secrets.may_write_in(&who, &env)?;
    let body: RotateBody = body.parse()?;
    let alphabet = body.alphabet.as_deref().map(str::parse::<Alphabet>).transpose().map_err(ApiError::Unprocessable)?;
    let keys = generate::plan(body.keys, body.length, alphabet);
    Ok(Json(state.secrets.rotate(&who, &env, &name, body.version_id.as_deref(), keys).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    /// The version to make current again (default: AWSPREVIOUS).
    version_id: Option<String>,
    /// When given, the rollback is refused if the secret is no longer at this version.
    expected_version_id: Option<String>,
}

async fn rollback(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath((env, name)): ApiPath<(String, String)>,
    body: UncheckedJson,
) -> Result<Json<WriteOutcome>, ApiError> {
    state.secrets.may_write_in(&who, &env)?;
    let body: RollbackBody = body.parse()?;
    Ok(Json(state.secrets.rollback(&who, &env, &name, body.expected_version_id.as_deref(), body.version_id).await?))
}

async fn service(State(state): State<AppState>, ApiPath((env, service)): ApiPath<(String, String)>) -> Result<Response, ApiError> {
    Ok(Json(state.live.service_now(&env, &service).await?).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RedeployBody {
    #[serde(default)]
    reason: String,
}

async fn redeploy(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath((env, service)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RedeployBody>,
) -> Result<Response, ApiError> {
    let status = state.live.redeploy(&state.db, &who, &env, &service, &body.reason).await?;
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_bodies_are_checked_without_quoting_values() {
        let ok = edit_request(json!({ "version_id": "v1", "set": { "A": "x" }, "remove": ["B"] })).unwrap();
        assert_eq!(ok.0, "v1");
        assert_eq!(ok.1.key_names(), ["A", "B"]);
        for body in [
            json!("hunter2"),
            json!({ "set": { "A": "hunter2" } }),
            json!({ "version_id": "v1", "set": { "A": 4242 } }),
            json!({ "version_id": "v1", "set": ["hunter2"] }),
            json!({ "version_id": "v1", "remove": "hunter2" }),
            json!({ "version_id": "v1", "remove": [4242] }),
            json!({ "version_id": "v1", "extra": "hunter2" }),
        ] {
            let err = edit_request(body.clone()).err().unwrap_or_else(|| panic!("{body} must be refused")).to_string();
            assert!(!err.contains("hunter2") && !err.contains("4242"), "{err}");
        }
    }
}
