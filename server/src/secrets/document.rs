//! A secret's value as the services read it: a JSON object of strings, one per key. Values are
//! held in [`Sensitive`], which never prints them, and every error here names keys only.

use std::collections::{BTreeMap, BTreeSet};

/// Secrets Manager's limit for a secret's value, in bytes.
pub const MAX_SECRET_BYTES: usize = 65_536;
const MAX_KEY_NAME: usize = 128;

/// A secret value. `Debug` and `Display` print a placeholder, so a value that ends up in a log
/// line, an error or a trace by mistake still says nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn new(value: String) -> Self {
        Sensitive(value)
    }

    /// The value itself: call this only to send it to AWS or to the user who revealed it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Document(BTreeMap<String, Sensitive>);

impl Document {
    /// The keys and values of a `SecretString`; anything but a JSON object of strings cannot be
    /// edited here, and the error says why (without quoting the value).
    pub fn parse(secret_string: Option<&str>) -> Result<Document, String> {
        let Some(text) = secret_string else {
            return Err("This is a binary secret: edit it with the AWS CLI or console.".into());
        };
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|_| "The value is plain text, not a JSON object of keys: it is shown read-only.".to_string())?;
        let serde_json::Value::Object(map) = value else {
            return Err("The value is JSON but not an object of keys: it is shown read-only.".into());
        };
        let mut keys = BTreeMap::new();
        for (key, value) in map {
            match value {
                serde_json::Value::String(s) => {
                    keys.insert(key, Sensitive(s));
                }
                other => {
                    let kind = match other {
                        serde_json::Value::Null => "null",
                        serde_json::Value::Bool(_) => "a boolean",
                        serde_json::Value::Number(_) => "a number",
                        serde_json::Value::Array(_) => "a list",
                        _ => "an object",
                    };
                    return Err(format!("Key {key} holds {kind}, not a string: the secret is shown read-only."));
                }
            }
        }
        Ok(Document(keys))
    }

    pub fn keys(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    pub fn get(&self, key: &str) -> Option<&Sensitive> {
        self.0.get(key)
    }

    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> =
            self.0.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.0.clone()))).collect();
        serde_json::Value::Object(map).to_string()
    }

    /// Keys added, removed or holding a different value in `other`: names only.
    pub fn changed_keys(&self, other: &Document) -> Vec<String> {
        let names: BTreeSet<&String> = self.0.keys().chain(other.0.keys()).collect();
        names.into_iter().filter(|k| self.0.get(*k) != other.0.get(*k)).cloned().collect()
    }

    /// This document with `change` applied, checked against Secrets Manager's size limit.
    pub fn apply(&self, change: &Change) -> Result<Document, ChangeError> {
        let mut next = self.clone();
        for key in &change.remove {
            if next.0.remove(key).is_none() {
                return Err(ChangeError::Invalid(format!("{key} is not in the secret, so it cannot be removed")));
            }
        }
        for (key, value) in &change.set {
            next.0.insert(key.clone(), value.clone());
        }
        let size = next.to_json().len();
        if size > MAX_SECRET_BYTES {
            return Err(ChangeError::TooLarge(format!(
                "the secret would be {size} bytes; Secrets Manager allows {MAX_SECRET_BYTES}"
            )));
        }
        Ok(next)
    }
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ChangeError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
}

/// Keys to set and keys to remove, written as one new version.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Change {
    pub set: BTreeMap<String, Sensitive>,
    pub remove: BTreeSet<String>,
}

impl Change {
    /// Checks the change on its own: key names (by `rule`), non-empty values, nothing both set
    /// and removed, something to do.
    pub fn validate(&self, rule: KeyRule) -> Result<(), ChangeError> {
        if self.set.is_empty() && self.remove.is_empty() {
            return Err(ChangeError::Invalid("nothing to change: set or remove at least one key".into()));
        }
        for key in self.set.keys().chain(self.remove.iter()) {
            check_key_name(key, rule)?;
        }
        if let Some((key, _)) = self.set.iter().find(|(_, v)| v.expose().is_empty()) {
            return Err(ChangeError::Invalid(format!("{key}: the value must not be empty")));
        }
        if let Some(key) = self.set.keys().find(|k| self.remove.contains(*k)) {
            return Err(ChangeError::Invalid(format!("{key} is both set and removed")));
        }
        let size: usize = self.set.iter().map(|(k, v)| k.len() + v.expose().len()).sum();
        if size > MAX_SECRET_BYTES {
            return Err(ChangeError::TooLarge(format!(
                "the new values alone are {size} bytes; Secrets Manager allows {MAX_SECRET_BYTES} for the whole secret"
            )));
        }
        Ok(())
    }

    /// Names of the keys this change touches.
    pub fn key_names(&self) -> Vec<String> {
        let names: BTreeSet<&String> = self.set.keys().chain(self.remove.iter()).collect();
        names.into_iter().cloned().collect()
    }
}

/// What a secret's key names must look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRule {
    /// `^[A-Z][A-Z0-9_]*$`: the names environment variables in the task definitions get.
    EnvironmentVariable,
    /// Terraform input variable names (`cloudflare_api_token`): the variables secret's keys.
    TerraformVariable,
}

pub fn check_key_name(key: &str, rule: KeyRule) -> Result<(), ChangeError> {
    let valid = key.len() <= MAX_KEY_NAME
        && match rule {
            KeyRule::EnvironmentVariable => {
                let mut chars = key.chars();
                chars.next().is_some_and(|c| c.is_ascii_uppercase())
                    && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            }
            KeyRule::TerraformVariable => crate::config::validate::is_variable_name(key),
        };
    if valid {
        return Ok(());
    }
    // The name is the user's own input and not a value: it is safe to quote, but cut short.
    let shown: String = key.chars().take(40).collect();
    let rule = match rule {
        KeyRule::EnvironmentVariable => "use capital letters, digits and _, starting with a letter",
        KeyRule::TerraformVariable => "this secret's keys are Terraform variable names: letters, digits, _ and -, starting with a letter or _",
    };
    Err(ChangeError::Invalid(format!("key name {shown:?} is not valid: {rule} (at most {MAX_KEY_NAME})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(set: &[(&str, &str)], remove: &[&str]) -> Change {
        Change {
            set: set.iter().map(|(k, v)| (k.to_string(), Sensitive::new(v.to_string()))).collect(),
            remove: remove.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn only_json_objects_of_strings_are_editable() {
        assert_eq!(Document::parse(Some(r#"{"A":"1","B":"2"}"#)).unwrap().keys(), ["A", "B"]);
        for (text, why) in [
            (None, "binary"),
            (Some("hunter2"), "plain text"),
            (Some("[1,2]"), "not an object"),
            (Some(r#"{"PORT": 6379}"#), "PORT holds a number"),
        ] {
            let err = Document::parse(text).unwrap_err();
            assert!(err.contains(why), "{err}");
            assert!(!err.contains("hunter2") && !err.contains("6379"), "no value in {err}");
        }
    }

    #[test]
    fn a_change_sets_and_removes_in_one_version() {
        let doc = Document::parse(Some(r#"{"A":"1","B":"2","C":"3"}"#)).unwrap();
        let next = doc.apply(&change(&[("A", "new"), ("D", "4")], &["B"])).unwrap();
        assert_eq!(next.keys(), ["A", "C", "D"]);
        assert_eq!(next.get("A").unwrap().expose(), "new");
        assert_eq!(doc.changed_keys(&next), ["A", "B", "D"]);
    }

    #[test]
    fn invalid_changes_are_refused_by_name() {
        let cases = [
            (change(&[], &[]), "nothing to change"),
            (change(&[("lower", "x")], &[]), "not valid"),
            (change(&[("1ABC", "x")], &[]), "not valid"),
            (change(&[("A-B", "x")], &[]), "not valid"),
            (change(&[("A", "")], &[]), "must not be empty"),
            (change(&[("A", "x")], &["A"]), "both set and removed"),
            (change(&[], &["bad name"]), "not valid"),
        ];
        for (c, expected) in cases {
            let err = c.validate(KeyRule::EnvironmentVariable).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should say {expected}");
        }
        // The variables secret's keys are Terraform variable names.
        assert!(change(&[("cloudflare_api_token", "x")], &[]).validate(KeyRule::TerraformVariable).is_ok());
        let err = change(&[("bad name", "x")], &[]).validate(KeyRule::TerraformVariable).unwrap_err().to_string();
        assert!(err.contains("Terraform variable names"), "{err}");
        let doc = Document::parse(Some(r#"{"A":"1"}"#)).unwrap();
        assert!(doc.apply(&change(&[], &["B"])).unwrap_err().to_string().contains("not in the secret"));
    }

    #[test]
    fn the_size_limit_is_the_whole_secret() {
        let doc = Document::parse(Some(&format!(r#"{{"A":"{}"}}"#, "x".repeat(60_000)))).unwrap();
        let big = change(&[("B", &"y".repeat(10_000))], &[]);
        assert!(big.validate(KeyRule::EnvironmentVariable).is_ok());
        assert!(matches!(doc.apply(&big), Err(ChangeError::TooLarge(_))));
    }

    #[test]
    fn values_never_print() {
        let s = Sensitive::new("hunter2".into());
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        let c = change(&[("A", "hunter2")], &[]);
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
