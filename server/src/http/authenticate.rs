//! Authenticates every request before routing: an API token or a session cookie becomes an
//! `Identity` in the request's extensions, and a cookie's state-changing request must carry the
//! session's CSRF token (`auth::csrf`). Anonymous callers get a 401 on the API and are sent to
//! the sign-in page from pages. Health checks, the sign-in itself and static assets are public.

use super::error::ApiError;
use super::redirect::urlencode;
use crate::app_state::AppState;
use crate::auth::activity::{self, Activity};
use crate::auth::{csrf, hash_secret, sessions};
use app::model::Identity;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::{header, HeaderMap, Method};

/// Forms are small; anything larger is refused later by the handlers' own limit anyway.
const MAX_FORM_BYTES: usize = 1024 * 1024;

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
                if needs_csrf_token(req.method()) && !csrf_exempt(path) {
                    req = match verify_csrf(req, &token).await {
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
                append_cookie(&mut response, sessions::clearing_cookie(state.config.secure_cookies()));
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
        activity::record(&state.db, &state.recent_activity, identity.user_id, Activity::Token(token_id));
        return Ok(Caller::Known(identity, None));
    }
    if let Some(id) = session_id(headers, state.config.secure_cookies()) {
        let id_hash = hash_secret(&id);
        return Ok(match state.db.session_identity(&id_hash, sessions::idle_since(&state.config.auth)).await? {
            Some(identity) => {
                activity::record(&state.db, &state.recent_activity, identity.user_id, Activity::Session(id_hash));
                Caller::Known(identity, Some(csrf::token_for(&id)))
            }
            None => Caller::Anonymous { stale_cookie: true },
        });
    }
    Ok(Caller::Anonymous { stale_cookie: false })
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

/// Whether `method` can change something, so needs the token.
fn needs_csrf_token(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Passes the request on if it carries `expected`, else gives it back refused. A form's body is
/// read to find the field and handed on unchanged.
async fn verify_csrf(req: Request, expected: &str) -> Result<Request, ()> {
    if let Some(given) = req.headers().get(csrf::HEADER) {
        return if csrf::matches(given.as_bytes(), expected) { Ok(req) } else { Err(()) };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(());
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| ())?;
    let found = url::form_urlencoded::parse(&bytes).any(|(k, v)| k == csrf::FIELD && csrf::matches(v.as_bytes(), expected));
    if found {
        Ok(Request::from_parts(parts, Body::from(bytes)))
    } else {
        Err(())
    }
}

/// The session id from a request's `Cookie` headers, if any (only the prefixed cookie over
/// HTTPS: an unprefixed one could have been set by anyone on a sibling domain).
pub fn session_id(headers: &HeaderMap, secure: bool) -> Option<String> {
    cookie_value(headers, sessions::cookie_name(secure))
}

/// The value of the non-empty cookie `name` in a request's `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| c.value().to_string())
}

/// Adds a `Set-Cookie` to `response` (the values `auth::sessions` builds are always valid headers).
pub fn append_cookie(response: &mut Response, cookie: String) {
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Request {
        Request::post("/runs/1/approve").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(Body::from(body.to_string())).unwrap()
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

    #[tokio::test]
    async fn a_form_passes_with_its_token_and_keeps_its_body() {
        let token = csrf::token_for("session-a");
        let field = csrf::FIELD;
        let req = verify_csrf(form(&format!("comment=ship+it&{field}={token}")), &token).await.unwrap();
        let body = axum::body::to_bytes(req.into_body(), 1000).await.unwrap();
        assert_eq!(body, format!("comment=ship+it&{field}={token}").as_bytes());
    }

    #[tokio::test]
    async fn missing_wrong_or_other_sessions_tokens_are_refused() {
        let token = csrf::token_for("session-a");
        assert!(verify_csrf(form("comment=x"), &token).await.is_err());
        assert!(verify_csrf(form(&format!("{}={}", csrf::FIELD, csrf::token_for("session-b"))), &token).await.is_err());
        let json = Request::post("/x").header(header::CONTENT_TYPE, "application/json").body(Body::from("{}")).unwrap();
        assert!(verify_csrf(json, &token).await.is_err(), "a body that is not a form needs the header");
        let header_ok = Request::post("/x").header(csrf::HEADER, &token).body(Body::empty()).unwrap();
        assert!(verify_csrf(header_ok, &token).await.is_ok());
        let header_bad = Request::post("/x").header(csrf::HEADER, "nope").body(Body::empty()).unwrap();
        assert!(verify_csrf(header_bad, &token).await.is_err());
    }

    #[test]
    fn only_methods_that_change_something_need_the_token() {
        assert!(needs_csrf_token(&Method::POST) && needs_csrf_token(&Method::PUT) && !needs_csrf_token(&Method::GET));
    }
}
