//! Where a response sends the browser next: query strings built safely, a sign-in's way back to
//! the page it came from, and a form's way back with the reason it was refused.

use axum::response::Redirect;

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

/// A form's way back to `page` when the operation was refused: the reason, readable there.
pub fn back_with_error(page: &str, why: &impl std::fmt::Display) -> Redirect {
    Redirect::to(&format!("{page}?error={}", urlencode(&why.to_string())))
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
}
