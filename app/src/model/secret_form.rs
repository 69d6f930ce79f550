//! The secret page's forms, as both sides know them: the page (`pages::secret`) renders them and
//! the server (`http::secret_forms`) reads them. Each action posts to its own route; the field
//! names are the constants below, so a rename on one side cannot leave the other behind.

use std::fmt;

/// What a secret form asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretAction {
    /// Show one key's value (on a page of its own; audited).
    Reveal,
    /// Set, add and remove keys.
    Edit,
    /// Replace keys with generated values.
    Rotate,
    /// Make an earlier version current again.
    Rollback,
    /// Carry out a change prepared for confirmation (production).
    Confirm,
}

impl SecretAction {
    pub const ALL: [SecretAction; 5] = [SecretAction::Reveal, SecretAction::Edit, SecretAction::Rotate, SecretAction::Rollback, SecretAction::Confirm];

    pub fn as_str(self) -> &'static str {
        match self {
            SecretAction::Reveal => "reveal",
            SecretAction::Edit => "edit",
            SecretAction::Rotate => "rotate",
            SecretAction::Rollback => "rollback",
            SecretAction::Confirm => "confirm",
        }
    }

    /// Where the form posts in environment `env`.
    pub fn path(self, env: &str) -> String {
        format!("/environments/{env}/secret-actions/{self}")
    }

    /// The route the server answers it on (`{env}` is the environment).
    pub fn route(self) -> String {
        self.path("{env}")
    }
}

impl fmt::Display for SecretAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The redeploy form of a secret's consumers.
pub fn redeploy_path(env: &str) -> String {
    format!("/environments/{env}/redeploy")
}

/// The forms' field names.
pub mod field {
    /// The secret's name (every action).
    pub const NAME: &str = "name";
    /// The version the page showed: a write to a secret that moved on since is refused.
    pub const VERSION: &str = "version_id";
    /// The key to reveal.
    pub const KEY: &str = "key";
    /// A key to remove (repeated).
    pub const REMOVE: &str = "remove";
    /// A key to rotate (repeated).
    pub const ROTATE: &str = "rotate";
    /// The generated values' length and alphabet (empty: each key's own).
    pub const LENGTH: &str = "length";
    pub const ALPHABET: &str = "alphabet";
    /// The version to roll back to (empty: the previous one).
    pub const TO: &str = "to";
    /// The id of the change to confirm.
    pub const PENDING: &str = "pending";
    /// Redeploy: the secret whose page to return to, the services (repeated), and why.
    pub const RETURN_TO: &str = "return_to";
    pub const SERVICE: &str = "service";
    pub const REASON: &str = "reason";

    const SET: &str = "set.";
    const NEW_KEY: &str = "new_key.";
    const NEW_VALUE: &str = "new_value.";

    /// The field with a new value for `key` (empty: unchanged).
    pub fn set(key: &str) -> String {
        format!("{SET}{key}")
    }

    /// The `n`th new key's name and value fields.
    pub fn new_key(n: impl std::fmt::Display) -> String {
        format!("{NEW_KEY}{n}")
    }

    pub fn new_value(n: impl std::fmt::Display) -> String {
        format!("{NEW_VALUE}{n}")
    }

    /// The key a `set` field names.
    pub fn set_key(field: &str) -> Option<&str> {
        field.strip_prefix(SET)
    }

    /// The number of a `new_key` field.
    pub fn new_key_number(field: &str) -> Option<&str> {
        field.strip_prefix(NEW_KEY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_has_its_own_path_and_fields_read_back_what_they_write() {
        assert_eq!(SecretAction::Edit.path("staging"), "/environments/staging/secret-actions/edit");
        assert_eq!(SecretAction::Confirm.route(), "/environments/{env}/secret-actions/confirm");
        let paths: std::collections::BTreeSet<String> = SecretAction::ALL.iter().map(|a| a.path("x")).collect();
        assert_eq!(paths.len(), SecretAction::ALL.len());
        assert_eq!(field::set_key(&field::set("REDIS_PORT")), Some("REDIS_PORT"));
        assert_eq!(field::new_key_number(&field::new_key(3)), Some("3"));
        assert_eq!(field::new_value("3"), "new_value.3");
        assert_eq!(field::set_key("remove"), None);
    }
}
