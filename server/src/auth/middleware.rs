//! Authenticates every request before routing: an API token or a session cookie becomes an
//! `Identity` in the request's extensions. Anonymous callers get a 401 on the API and are sent to
//! the sign-in page from pages. Health checks, the sign-in itself and static assets are public.

use super::{csrf, hash_secret, sessions};
use crate::http::{error::ApiError, AppState};
use app::model::Identity;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::{header, HeaderMap};

enum Caller {
    /// With the session's CSRF token when signed in by cookie.
    Known(Identity, Option<String>),
    Anonymous { stale_cookie: bool },
}

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let public = is_public(path);
    let caller = match identify(&state, req.headers()).await {
        Ok(caller) => caller,
        // A bad token on a public route is ignored: health checks need no credentials at all.
        Err(e) if public => {
            tracing::debug!("ignoring credentials on public path: {e:?}");
            Caller::Anonymous { stale_cookie: false }
        }
        Err(e) => return e.into_response(),
    };

    match caller {
        Caller::Known(identity, csrf_token) => {
            if let Some(token) = csrf_token {
                if csrf::needs_token(req.method()) && !csrf_exempt(path) {
                    req = match csrf::verify(req, &token).await {
                        Ok(req) => req,
                        Err(()) => {
                            return ApiError::Forbidden(
                                "this form is missing its security token or it has expired; reload the page and try again".into(),
                            )
                            .into_response()
                        }
                    };
                }
                req.extensions_mut().insert(app::model::CsrfToken(token));
            }
            req.extensions_mut().insert(identity);
            next.run(req).await
        }
        Caller::Anonymous { .. } if public => next.run(req).await,
        Caller::Anonymous { stale_cookie } => {
            let mut response = if wants_json(path) {
                ApiError::Unauthorized("sign in, or send Authorization: Bearer <token>".into()).into_response()
            } else {
                let next_url = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
                Redirect::to(&format!("/login?next={}", urlencode(next_url))).into_response()
            };
            if stale_cookie {
                sessions::append_cookie(&mut response, sessions::clearing_cookie(state.config.secure_cookies()));
            }
            response
        }
    }
}

async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into()))?;
        let token_hash = hash_secret(token);
        let (token_id, identity) = match state.token_cache.get(&token_hash) {
            Some(known) => known,
            None => {
                let found = state
                    .db
                    .token_identity(&token_hash)
                    .await?
                    .ok_or_else(|| ApiError::Unauthorized("unknown or revoked API token".into()))?;
                state.token_cache.put(&token_hash, found.0, &found.1);
                found
            }
        };
        record_activity(state, identity.user_id, Activity::Token(token_id));
        return Ok(Caller::Known(identity, None));
    }
    if let Some(id) = sessions::id_from_headers(headers, state.config.secure_cookies()) {
        let id_hash = hash_secret(&id);
        return Ok(match state.db.session_identity(&id_hash, sessions::idle_since(&state.config.auth)).await? {
            Some(identity) => {
                record_activity(state, identity.user_id, Activity::Session(id_hash));
                Caller::Known(identity, Some(csrf::token_for(&id)))
            }
            None => Caller::Anonymous { stale_cookie: true },
        });
    }
    Ok(Caller::Anonymous { stale_cookie: false })
}

/// What a request was authenticated with, for last-seen bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Activity {
    Token(i64),
    /// The session's id hash: an active session does not go idle.
    Session(String),
}

/// Last-seen bookkeeping happens off the request path: a slow write must not slow a page. The
/// database keeps it to a minute's precision, so this process writes at most once a minute per
/// token or session (an UPDATE that changes nothing still takes SQLite's write lock).
fn record_activity(state: &AppState, user_id: i64, activity: Activity) {
    use std::time::{Duration, Instant};
    {
        let mut recent = state.recent_activity.lock().expect("activity lock");
        let now = Instant::now();
        if recent.get(&activity).is_some_and(|at| now.duration_since(*at) < Duration::from_secs(60)) {
            return;
        }
        if recent.len() > 10_000 {
            recent.retain(|_, at| now.duration_since(*at) < Duration::from_secs(60));
        }
        recent.insert(activity.clone(), now);
    }
    let db = state.db.clone();
    tokio::spawn(async move {
        let result = match &activity {
            Activity::Token(id) => db.touch_token(*id).await.and(db.touch_user(user_id).await),
            Activity::Session(id_hash) => db.touch_session(id_hash).await.and(db.touch_user(user_id).await),
        };
        if let Err(e) = result {
            tracing::warn!("could not record activity: {e}");
        }
    });
}

fn is_public(path: &str) -> bool {
    // `/metrics` decides itself: anonymous scrapes are allowed when `metrics.public` is set.
    matches!(path, "/healthz" | "/readyz" | "/metrics" | "/login" | "/favicon.ico" | "/favicon.svg")
        || path.starts_with("/auth/")
        || path.starts_with("/pkg/")
}

/// Server functions (`/app/…`) are the pages' own fetches, kept same-site by the Origin check
/// and the SameSite cookie; the one that changes something (a reveal) takes the token as an
/// argument. Signing in replaces the session, so it cannot need that session's token (the
/// sign-in page is the same for everyone).
fn csrf_exempt(path: &str) -> bool {
    path.starts_with("/app/") || path == "/auth/dev/login"
}

/// The JSON API and the UI's server functions answer 401; pages redirect to the sign-in page.
fn wants_json(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/app/")
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Where to go after signing in: only a path on this site, never another origin. Browsers drop
/// tabs and newlines from a URL and read `\` as `/`, so `/<TAB>/evil.example` would be
/// `//evil.example`: a path with any of those, or starting `//`, is not taken.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') => n,
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_urls_stay_on_this_site() {
        assert_eq!(safe_next(Some("/?view=differences")), "/?view=differences");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(None), "/");
        for sneaky in ["/\t/evil.example", "/\n/evil.example", "/ /evil.example", "/\u{a0}/evil.example", "/x\\y", "/\r\n//evil.example"] {
            assert_eq!(safe_next(Some(sneaky)), "/", "{sneaky:?}");
        }
        assert_eq!(safe_next(Some("/runs/12?tab=log#end")), "/runs/12?tab=log#end");
    }

    #[test]
    fn only_health_sign_in_and_assets_are_public() {
        for p in ["/healthz", "/readyz", "/login", "/auth/dev/login", "/pkg/zelly.css"] {
            assert!(is_public(p), "{p}");
        }
        for p in ["/", "/api/v1/environments", "/app/whoami", "/login/x", "/healthzz"] {
            assert!(!is_public(p), "{p}");
        }
    }
}
