//! `/api/v1/.../secrets`: list, read, reveal, edit, rotate, roll back and parity. Bodies that carry values are parsed here by hand, so that no
//! error message can quote a value back (serde's would).

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, UncheckedJson};
use super::openapi::{ReadErrors, Unavailable, WriteErrors};
use crate::app_state::AppState;
use crate::secrets::document::{Change, Sensitive};
use crate::secrets::generate;
use crate::secrets::SecretError;
use app::model::secret::{Alphabet, Parity, SecretDetail, SecretList, WriteOutcome};
use app::model::Identity;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(parity))
        .routes(routes!(list))
        .routes(routes!(show, edit))
        .routes(routes!(reveal))
        .routes(routes!(rotate))
        .routes(routes!(rollback))
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

/// The environment's secrets: names, key names, versions and ages (never a value).
#[utoipa::path(get, path = "/environments/{env}/secrets", tag = "secrets", params(("env" = String, Path, example = "staging")),
    responses((status = 200, body = SecretList), ReadErrors, Unavailable))]
async fn list(State(state): State<AppState>, ApiPath(env): ApiPath<String>) -> Result<Response, ApiError> {
    Ok(Json(state.secrets.list(&env).await?).into_response())
}

/// Per secret present in several environments, the keys each lacks.
#[utoipa::path(get, path = "/secrets/parity", tag = "secrets", responses((status = 200, body = Parity), ReadErrors))]
async fn parity(State(state): State<AppState>) -> Response {
    Json(state.secrets.parity().await).into_response()
}

/// One secret: masked keys, versions, consumers, what the caller may do (audited view).
#[utoipa::path(get, path = "/environments/{env}/secrets/{name}", tag = "secrets", params(("env" = String, Path, example = "staging"), ("name" = String, Path, description = "The secret's name, URL-encoded (`zelly%2Fredis%2Fauth`)", example = "zelly/redis/auth")),
    responses((status = 200, body = SecretDetail), ReadErrors, Unavailable))]
async fn show(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath((env, name)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(Json(state.secrets.detail(&who, &env, &name).await?).into_response())
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RevealBody {
    key: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Revealed<'a> {
    key: String,
    value: &'a str,
    version_id: String,
}

/// One key's value (audited, `Cache-Control: no-store`); 429 past `secrets.reveals_per_minute`.
#[utoipa::path(post, path = "/environments/{env}/secrets/{name}/reveal", tag = "secrets", params(("env" = String, Path, example = "staging"), ("name" = String, Path, description = "The secret's name, URL-encoded (`zelly%2Fredis%2Fauth`)", example = "zelly/redis/auth")), request_body = RevealBody,
    responses((status = 200, body = Revealed), (status = 429, description = "Too many reveals: see Retry-After", body = super::openapi::ErrorBody), ReadErrors, WriteErrors, Unavailable))]
async fn reveal(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    ApiPath((env, name)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RevealBody>,
) -> Result<Response, ApiError> {
    let key = body.key.ok_or_else(|| ApiError::Unprocessable("\"key\" is required".into()))?;
    let (value, version_id) = state.secrets.reveal(&who, &env, &name, &key).await?;
    let body = Revealed { key, value: value.expose(), version_id };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// The body of an edit (parsed by hand, so that no error can quote a value back).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct EditBody {
    /// The version you read: the edit is refused (409) if it is no longer current.
    version_id: String,
    set: Option<BTreeMap<String, String>>,
    remove: Option<Vec<String>>,
}

/// Sets and removes keys in one new version (writers; audited; consumers are redeployed).
#[utoipa::path(put, path = "/environments/{env}/secrets/{name}", tag = "secrets", params(("env" = String, Path, example = "staging"), ("name" = String, Path, description = "The secret's name, URL-encoded (`zelly%2Fredis%2Fauth`)", example = "zelly/redis/auth")), request_body = EditBody,
    responses((status = 200, body = WriteOutcome), ReadErrors, WriteErrors, Unavailable))]
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

#[derive(Deserialize, Default, utoipa::ToSchema)]
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

/// New random values for keys (writers; audited).
#[utoipa::path(post, path = "/environments/{env}/secrets/{name}/rotate", tag = "secrets", params(("env" = String, Path, example = "staging"), ("name" = String, Path, description = "The secret's name, URL-encoded (`zelly%2Fredis%2Fauth`)", example = "zelly/redis/auth")), request_body(content = Option<RotateBody>),
    responses((status = 200, body = WriteOutcome), ReadErrors, WriteErrors, Unavailable))]
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

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    /// The version to make current again (default: AWSPREVIOUS).
    version_id: Option<String>,
    /// When given, the rollback is refused if the secret is no longer at this version.
    expected_version_id: Option<String>,
}

/// Makes an earlier version current again (writers; audited).
#[utoipa::path(post, path = "/environments/{env}/secrets/{name}/rollback", tag = "secrets", params(("env" = String, Path, example = "staging"), ("name" = String, Path, description = "The secret's name, URL-encoded (`zelly%2Fredis%2Fauth`)", example = "zelly/redis/auth")), request_body(content = Option<RollbackBody>),
    responses((status = 200, body = WriteOutcome), ReadErrors, WriteErrors, Unavailable))]
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
