//! The names in `server.allowed_hosts`: a host name, or a host name and port. Read here so that
//! the configuration refuses what the server could not match (`validate`), and the server
//! (`http::hosts`) matches exactly what the configuration took.

use http::uri::Authority;

/// A name with the port it must come with (`None`: any port, or none).
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    pub host: String,
    pub port: Option<u16>,
}

/// `name` or `name:port`; `None` when it is neither.
pub fn parse_entry(entry: &str) -> Option<Name> {
    let authority = entry.trim().parse::<Authority>().ok().filter(|a| !a.as_str().contains('@'))?;
    Some(Name { host: authority.host().to_ascii_lowercase(), port: authority.port_u16() })
}

/// Whether `entry` can be one of `server.allowed_hosts`.
pub fn is_host_entry(entry: &str) -> bool {
    !entry.trim().is_empty() && parse_entry(entry).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_names_with_an_optional_port() {
        assert!(is_host_entry("zelly.internal") && is_host_entry("zelly.internal:8080") && is_host_entry("[::1]:8080"));
        assert!(!is_host_entry("") && !is_host_entry("https://zelly.internal/") && !is_host_entry("a@b") && !is_host_entry("a b"));
    }
}
