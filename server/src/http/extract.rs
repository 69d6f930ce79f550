//! Request parsing with errors in the API's JSON shape: a bad body is a clear 4xx, never a panic
//! or axum's plain-text rejection.

use super::error::ApiError;
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use serde::de::DeserializeOwned;

/// A JSON body. An empty body means `T::default()`, so `POST /runs/1/approve` needs no `{}`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        UncheckedJson::from_request(req, state).await?.parse().map(ApiJson)
    }
}

/// A JSON body read but not yet judged: for writes that must check the caller's role first, so
/// that someone without it learns nothing more than 403, whatever they send.
pub struct UncheckedJson {
    body: Bytes,
    json_type: bool,
}

impl<S: Send + Sync> FromRequest<S> for UncheckedJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("the request body is too large".into())
            } else {
                ApiError::BadRequest(format!("could not read the request body: {e}"))
            }
        })?;
        Ok(UncheckedJson { body, json_type })
    }
}

impl UncheckedJson {
    pub fn parse<T: DeserializeOwned + Default>(self) -> Result<T, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        if !self.json_type {
            return Err(ApiError::BadRequest("send the body as JSON, with Content-Type: application/json".into()));
        }
        serde_json::from_slice(&self.body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => ApiError::Unprocessable(format!("invalid request: {e}")),
            _ => ApiError::BadRequest(format!("the body is not valid JSON: {e}")),
        })
    }
}

/// A numeric id from the path; anything else names no resource (404).
pub fn parse_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| ApiError::NotFound(format!("no {what} {raw:?}")))
}

/// Path parameters, percent-decoded; a segment that does not decode (`%FF`) is the API's JSON
/// 400, not axum's plain-text rejection.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// The query string; one that does not parse (`?limit=ten`) is the API's JSON 400.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}
