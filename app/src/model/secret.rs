//! Secrets Manager secrets as the control plane shows them: names, key names, versions and who
//! reads them. Values never appear in these types; a revealed value travels alone, in the reply
//! to the reveal that asked for it.

use super::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What every masked value looks like: the same for every key, so it says nothing about length.
pub const MASK: &str = "••••••••";

/// One environment's secrets under the configured prefix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecretList {
    pub environment: String,
    pub prefix: String,
    pub rotation_warning_days: u32,
    pub secrets: Vec<SecretSummary>,
    /// AWS could not be asked (the list is then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecretSummary {
    pub name: String,
    pub keys: Vec<String>,
    pub version_id: Option<String>,
    pub last_changed: Option<DateTime<Utc>>,
    pub age_days: Option<i64>,
    /// Unchanged for longer than the rotation warning allows.
    pub rotation_due: bool,
    /// Why the secret cannot be edited here (it is not a JSON object of strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<String>,
}

/// The detail page of one secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecretDetail {
    pub environment: String,
    pub name: String,
    pub description: Option<String>,
    /// The AWSCURRENT version: edits must name it to be accepted.
    pub version_id: String,
    pub last_changed: Option<DateTime<Utc>>,
    pub age_days: Option<i64>,
    pub rotation_due: bool,
    pub rotation_warning_days: u32,
    pub keys: Vec<SecretKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<String>,
    /// Newest first.
    pub versions: Vec<SecretVersion>,
    pub consumers: Vec<Consumer>,
    /// The consumers could not be read (ECS unavailable): the list above may be incomplete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumers_error: Option<String>,
    pub permissions: SecretPermissions,
    /// The environment's Terraform variables secret: its keys are variable names, and every
    /// value reaches terraform (masked in the run logs).
    #[serde(default)]
    pub terraform_variables: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecretPermissions {
    pub write_role: Role,
    pub reveal_role: Role,
    pub can_write: bool,
    pub can_reveal: bool,
    /// Writes here go through a confirmation step that lists what will change (production).
    pub confirm_writes: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecretKey {
    pub name: String,
    /// Always [`MASK`].
    pub masked: String,
    /// The name says it holds a credential (a password, a secret, a token, a key), so rotating
    /// it makes sense; `DB_HOST` or `CORS_ORIGINS` are configuration.
    pub credential: bool,
    /// What a rotation of this key generates unless told otherwise.
    pub rotation: RotationOptions,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecretVersion {
    pub version_id: String,
    /// `AWSCURRENT`, `AWSPREVIOUS`, `AWSPENDING` or custom labels; empty for an old version.
    pub stages: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
}

impl SecretVersion {
    pub fn is_current(&self) -> bool {
        self.stages.iter().any(|s| s == "AWSCURRENT")
    }
}

/// An ECS service whose task definition reads this secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Consumer {
    pub service: String,
    pub task_definition: String,
    /// The keys it reads (`valueFrom` with a JSON key); empty when it reads the whole secret.
    pub keys: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Alphabet {
    /// A–Z, a–z, 0–9: safe in URLs, shells, connection strings and every AWS password field.
    Alphanumeric,
    Hex,
    /// A–Z, a–z, 0–9, `-` and `_`.
    Base64url,
    /// Alphanumeric plus `!#%+-=^_~*`: none of the characters databases or URLs refuse.
    Symbols,
}

impl Alphabet {
    pub const ALL: [Alphabet; 4] = [Alphabet::Alphanumeric, Alphabet::Hex, Alphabet::Base64url, Alphabet::Symbols];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alphanumeric => "alphanumeric",
            Self::Hex => "hex",
            Self::Base64url => "base64url",
            Self::Symbols => "symbols",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Alphanumeric => "Letters and digits",
            Self::Hex => "Hexadecimal",
            Self::Base64url => "Base64url (letters, digits, - _)",
            Self::Symbols => "Letters, digits and !#%+-=^_~*",
        }
    }

    pub fn characters(self) -> &'static [u8] {
        match self {
            Self::Alphanumeric => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            Self::Hex => b"0123456789abcdef",
            Self::Base64url => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
            Self::Symbols => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%+-=^_~*",
        }
    }
}

impl std::str::FromStr for Alphabet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Alphabet::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| "alphabet must be one of alphanumeric, hex, base64url, symbols".to_string())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RotationOptions {
    pub length: usize,
    pub alphabet: Alphabet,
}

/// Generated values are at least this long (96 bits of entropy even in hex)…
pub const MIN_GENERATED_LENGTH: usize = 24;
/// …and at most this long.
pub const MAX_GENERATED_LENGTH: usize = 4096;

impl RotationOptions {
    /// Sensible defaults by key name: database and cache passwords are 32 letters and digits
    /// (every engine accepts them); signing secrets and tokens 64.
    pub fn for_key(key: &str) -> RotationOptions {
        let length = if key.to_ascii_uppercase().contains("PASSWORD") { 32 } else { 64 };
        RotationOptions { length, alphabet: Alphabet::Alphanumeric }
    }
}

/// Whether a key's name says it holds a credential.
pub fn is_credential(key: &str) -> bool {
    // Terraform variable names are lowercase (`cloudflare_api_token`).
    let key = key.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "PRIVATE"].iter().any(|w| key.contains(w)) || key.ends_with("_KEY") || key == "KEY"
}

/// Secrets present in more than one environment whose key names differ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Parity {
    pub environments: Vec<String>,
    pub secrets: Vec<ParityRow>,
    /// Environments whose secrets could not be read, with why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ParityRow {
    pub name: String,
    /// Per environment, the keys other environments have and this one lacks.
    pub missing: BTreeMap<String, Vec<String>>,
}

impl ParityRow {
    pub fn in_sync(&self) -> bool {
        self.missing.values().all(Vec::is_empty)
    }
}

/// A change waiting for its confirmation (production writes): names only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PendingSummary {
    pub id: String,
    pub environment: String,
    pub secret: String,
    pub description: String,
    pub set: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub rotated: Vec<String>,
    pub rollback_to: Option<String>,
}

/// What a write did, for the page that follows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WriteOutcome {
    pub environment: String,
    pub secret: String,
    pub version_id: String,
    pub previous_version_id: String,
    pub changed_keys: Vec<String>,
}

/// The page of secret `name` in `env`. The name stays readable (`/` is kept); anything outside
/// the characters secret names may hold is percent-encoded, so any input makes a valid URL.
pub fn secret_path(env: &str, name: &str) -> String {
    format!("/environments/{}/secrets/{}", encode(env, false), encode(name, true))
}

fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"_+=.@-".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_paths_are_readable_and_always_valid() {
        assert_eq!(secret_path("production", "zelly/aurora/master"), "/environments/production/secrets/zelly/aurora/master");
        assert_eq!(secret_path("a b", "x\ny?#"), "/environments/a%20b/secrets/x%0Ay%3F%23");
    }
}
