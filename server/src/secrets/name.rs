//! Which secret names are reachable: plain names under the configured prefix, nothing else.
//!
//! The check runs on the name as the request carries it after one URL decoding (axum's). Every
//! character outside Secrets Manager's own name alphabet is refused, which takes out ARNs (`:`),
//! a second round of percent-encoding (`%`), backslashes, whitespace, control characters and any
//! non-ASCII look-alike of `/` or `.`; path segments `.` and `..` and empty segments are refused
//! too, so nothing that a later normalisation could turn into another name gets through.

/// A secret name that passed [`check`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretName(String);

impl SecretName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SecretName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Secrets Manager allows names of at most 512 characters.
const MAX_NAME: usize = 512;

pub fn check(prefix: &str, raw: &str) -> Result<SecretName, String> {
    let refuse = || Err(format!("no secret {raw:?} under {prefix:?}"));
    if raw.is_empty() || raw.len() > MAX_NAME || !raw.starts_with(prefix) || raw.len() == prefix.len() {
        return refuse();
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
    if !raw.chars().all(allowed) {
        return refuse();
    }
    if raw.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..") {
        return refuse();
    }
    Ok(SecretName(raw.to_string()))
}

/// Whether a name from AWS (a listing) is one of ours.
pub fn is_reachable(prefix: &str, name: &str) -> bool {
    check(prefix, name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_under_the_prefix_are_reachable() {
        for name in ["zelly/aurora/master", "zelly/fastify-nova/env", "zelly/a_b+c=d.e@f-g"] {
            assert_eq!(check("zelly/", name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn everything_else_is_refused() {
        let refused = [
            "",
            "zelly/",
            "other/secret",
            "zellyx/secret",
            "Zelly/aurora/master",
            "zelly/../x",
            "zelly/./aurora/master",
            "zelly//aurora",
            "zelly/aurora/",
            "zelly/..",
            "zelly/%2e%2e/x",
            "zelly%2F..%2Fx",
            "zelly/aurora\\..\\..\\x",
            "zelly/aurora master",
            "zelly/aurora\nmaster",
            "zelly/aurora\0",
            "zelly\u{2215}..\u{2215}x",
            "zelly/\u{ff0e}\u{ff0e}/x",
            "zelly/ａurora",
            "arn:aws:secretsmanager:ap-south-1:123456789012:secret:zelly/aurora/master-AbCdEf",
            "zelly/aurora:master",
        ];
        for name in refused {
            assert!(check("zelly/", name).is_err(), "{name:?} must be refused");
        }
        assert!(check("zelly/", &format!("zelly/{}", "a".repeat(600))).is_err());
    }

    #[test]
    fn a_prefix_without_slash_still_refuses_traversal() {
        assert!(check("team-", "team-db").is_ok());
        assert!(check("team-", "team-/../x").is_err());
        assert!(check("team-", "team-x/..").is_err());
    }
}
