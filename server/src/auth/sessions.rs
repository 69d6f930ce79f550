//! Browser sessions: a random id in an HttpOnly cookie, its hash in the database.

use super::{hash_secret, random_id};
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
/// session the browser had before (`previous`), if any, ends: an id planted before sign-in is
/// worth nothing after it (session fixation).
pub async fn start(db: &Db, previous: Option<&str>, user_id: i64, hours: u32, secure: bool) -> DbResult<String> {
    if let Some(old) = previous {
        end(db, old).await?;
    }
    let id = random_id(40);
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

/// Sessions not used since this moment have gone idle.
pub fn idle_since(config: &crate::config::AuthConfig) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::minutes(i64::from(config.session_idle_minutes))
}

/// A `Set-Cookie` value that makes the browser forget the session.
pub fn clearing_cookie(secure: bool) -> String {
    cookie(cookie_name(secure), String::new(), "/", cookie::time::Duration::ZERO, secure)
}

pub async fn end(db: &Db, id: &str) -> DbResult<()> {
    db.delete_session(&hash_secret(id)).await
}
