//! Cross-site request forgery: a browser sends the session cookie with whatever a page posts,
//! including a page on another site. So every state-changing request signed in by cookie must
//! also carry the session's CSRF token, which only Zelly's own pages know: as the `_csrf` field
//! of a form, or the `X-CSRF-Token` header of a script's request (checked by
//! `http::authenticate`). API calls with a bearer token carry no ambient credentials and need none.
//!
//! The token is derived from the session id (which never leaves the HttpOnly cookie), so it
//! needs no storage, is the same on every replica and changes when the session is rotated.

use super::hash_secret;

pub const FIELD: &str = "_csrf";
pub const HEADER: &str = "x-csrf-token";

pub fn token_for(session_id: &str) -> String {
    hash_secret(&format!("zelly-csrf:{session_id}"))
}

/// Whether `given` is `expected`, compared without stopping at the first difference, so timing
/// tells nothing of the token.
pub fn matches(given: &[u8], expected: &str) -> bool {
    let expected = expected.as_bytes();
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_per_session_and_reveal_nothing_of_it() {
        assert_ne!(token_for("a"), token_for("b"));
        assert!(!token_for("session-a").contains("session-a"));
        let token = token_for("session-a");
        assert!(matches(token.as_bytes(), &token));
        assert!(!matches(token_for("session-b").as_bytes(), &token));
        assert!(!matches(&token.as_bytes()[1..], &token));
    }
}
