//! Browser sessions: a random id in an HttpOnly cookie, its hash in the database.

use super::{hash_secret, new_secret};
use crate::db::{Db, DbResult};
use cookie::{Cookie, SameSite};

/// Over HTTPS the cookie's name carries the `__Host-` prefix: browsers then only accept it with
/// Secure, `Path=/` and no Domain, so a neighbouring subdomain cannot plant or shadow it.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-zelly_session"
    } else {
        "zelly_session"
    }
}

/// Starts a session for `user_id` and returns the `Set-Cookie` value that carries it. The
/// session the browser had before, if any, ends: an id planted before sign-in is worth nothing
/// after it (session fixation).
pub async fn start(db: &Db, previous: &http::HeaderMap, user_id: i64, hours: u32, secure: bool) -> DbResult<String> {
    if let Some(old) = id_from_headers(previous, secure) {
        end(db, &old).await?;
    }
    let id = new_secret("");
    let expires = chrono::Utc::now() + chrono::Duration::hours(i64::from(hours));
    db.create_session(&hash_secret(&id), user_id, expires).await?;
    Ok(cookie(cookie_name(secure), id, "/", cookie::time::Duration::hours(i64::from(hours)), secure))
}

/// A `Set-Cookie` value for Zelly's cookies: never readable by scripts, sent along on top-level
/// navigations from other sites but not with their posts, Secure behind HTTPS. A zero
/// `max_age` makes the browser forget it.
pub fn cookie(name: &'static str, value: String, path: &'static str, max_age: cookie::time::Duration, secure: bool) -> String {
    Cookie::build((name, value)).http_only(true).same_site(SameSite::Lax).secure(secure).path(path).max_age(max_age).build().to_string()
}

/// Adds a `Set-Cookie` to `response` (the values built here are always valid headers).
pub fn append_cookie(response: &mut axum::response::Response, cookie: String) {
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(http::header::SET_COOKIE, value);
    }
}

/// Sessions not used since this moment have gone idle.
pub fn idle_since(config: &crate::config::AuthConfig) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::minutes(i64::from(config.session_idle_minutes))
}

/// A `Set-Cookie` value that makes the browser forget the session.
pub fn clearing_cookie(secure: bool) -> String {
    cookie(cookie_name(secure), String::new(), "/", cookie::time::Duration::ZERO, secure)
}

/// The session id from a request's `Cookie` headers, if any (only the prefixed cookie over
/// HTTPS: an unprefixed one could have been set by anyone on a sibling domain).
pub fn id_from_headers(headers: &http::HeaderMap, secure: bool) -> Option<String> {
    cookie_value(headers, cookie_name(secure))
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
