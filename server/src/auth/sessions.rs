//! Browser sessions: a random id in an HttpOnly cookie, its hash in the database.

use super::{hash_secret, new_secret};
use crate::db::{Db, DbResult};
use cookie::{Cookie, SameSite};

pub const COOKIE_NAME: &str = "zelly_session";

/// Starts a session for `user_id` and returns the `Set-Cookie` value that carries it. The
/// session the browser had before, if any, ends: an id planted before sign-in is worth nothing
/// after it (session fixation).
pub async fn start(db: &Db, previous: &http::HeaderMap, user_id: i64, hours: u32, secure: bool) -> DbResult<String> {
    if let Some(old) = id_from_headers(previous) {
        end(db, &old).await?;
    }
    let id = new_secret("");
    let expires = chrono::Utc::now() + chrono::Duration::hours(i64::from(hours));
    db.create_session(&hash_secret(&id), user_id, expires).await?;
    let cookie = Cookie::build((COOKIE_NAME, id))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::hours(i64::from(hours)))
        .build();
    Ok(cookie.to_string())
}

/// Sessions not used since this moment have gone idle.
pub fn idle_since(config: &crate::config::AuthConfig) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::minutes(i64::from(config.session_idle_minutes))
}

/// A `Set-Cookie` value that makes the browser forget the session.
pub fn clearing_cookie(secure: bool) -> String {
    Cookie::build((COOKIE_NAME, ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

/// The session id from a request's `Cookie` headers, if any.
pub fn id_from_headers(headers: &http::HeaderMap) -> Option<String> {
    cookie_value(headers, COOKIE_NAME)
}

/// The value of the non-empty cookie `name` in a request's `Cookie` headers.
pub fn cookie_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| c.value().to_string())
}

pub async fn end(db: &Db, id: &str) -> DbResult<()> {
    db.delete_session(&hash_secret(id)).await
}
