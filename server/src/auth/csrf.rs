//! Cross-site request forgery: a browser sends the session cookie with whatever a page posts,
//! including a page on another site. So every state-changing request signed in by cookie must
//! also carry the session's CSRF token, which only Zelly's own pages know: as the `_csrf` field
//! of a form, or the `X-CSRF-Token` header of a script's request. API calls with a bearer token
//! carry no ambient credentials and need none.
//!
//! The token is derived from the session id (which never leaves the HttpOnly cookie), so it
//! needs no storage, is the same on every replica and changes when the session is rotated.

use super::hash_secret;
use axum::body::Body;
use axum::extract::Request;
use http::{header, Method};

pub const FIELD: &str = "_csrf";
pub const HEADER: &str = "x-csrf-token";
/// Forms are small; anything larger is refused later by the handlers' own limit anyway.
const MAX_FORM_BYTES: usize = 1024 * 1024;

pub fn token_for(session_id: &str) -> String {
    hash_secret(&format!("zelly-csrf:{session_id}"))
}

/// Whether `method` can change something, so needs the token.
pub fn needs_token(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Passes the request on if it carries `expected`, else gives it back refused. A form's body is
/// read to find the field and handed on unchanged.
pub async fn verify(req: Request, expected: &str) -> Result<Request, ()> {
    if let Some(given) = req.headers().get(HEADER) {
        return if same(given.as_bytes(), expected.as_bytes()) { Ok(req) } else { Err(()) };
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
    let found = url::form_urlencoded::parse(&bytes).any(|(k, v)| k == FIELD && same(v.as_bytes(), expected.as_bytes()));
    if found {
        Ok(Request::from_parts(parts, Body::from(bytes)))
    } else {
        Err(())
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Request {
        Request::post("/runs/1/approve").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(Body::from(body.to_string())).unwrap()
    }

    #[tokio::test]
    async fn a_form_passes_with_its_token_and_keeps_its_body() {
        let token = token_for("session-a");
        let req = verify(form(&format!("comment=ship+it&{FIELD}={token}")), &token).await.unwrap();
        let body = axum::body::to_bytes(req.into_body(), 1000).await.unwrap();
        assert_eq!(body, format!("comment=ship+it&{FIELD}={token}").as_bytes());
    }

    #[tokio::test]
    async fn missing_wrong_or_other_sessions_tokens_are_refused() {
        let token = token_for("session-a");
        assert!(verify(form("comment=x"), &token).await.is_err());
        assert!(verify(form(&format!("{FIELD}={}", token_for("session-b"))), &token).await.is_err());
        let json = Request::post("/x").header(header::CONTENT_TYPE, "application/json").body(Body::from("{}")).unwrap();
        assert!(verify(json, &token).await.is_err(), "a body that is not a form needs the header");
        let header_ok = Request::post("/x").header(HEADER, &token).body(Body::empty()).unwrap();
        assert!(verify(header_ok, &token).await.is_ok());
        let header_bad = Request::post("/x").header(HEADER, "nope").body(Body::empty()).unwrap();
        assert!(verify(header_bad, &token).await.is_err());
    }

    #[test]
    fn tokens_differ_per_session_and_reveal_nothing_of_it() {
        assert_ne!(token_for("a"), token_for("b"));
        assert!(!token_for("session-a").contains("session-a"));
        assert!(needs_token(&Method::POST) && needs_token(&Method::PUT) && !needs_token(&Method::GET));
    }
}
