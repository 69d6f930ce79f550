//! Filters as plain GET forms send them: every field present, empty meaning "any".

/// The field's text, when the form filled it in.
pub fn filled(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `key=value&…` of the filled-in fields, percent-encoded: links to more pages and exports.
pub fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    pairs.iter().filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(v)))).collect::<Vec<_>>().join("&")
}

/// Percent-encodes everything but unreserved characters (a query value or a path segment).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
