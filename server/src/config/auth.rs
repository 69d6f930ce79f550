//! The `[auth]` section: how people sign in, how long sessions last, and (for single sign-on)
//! which identity provider to trust and how its users map to roles.

use app::model::Role;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Pick a configured user from a list: for local use, refused unless listening on loopback.
    Dev,
    /// Single sign-on with an OpenID Connect provider (`[auth.oidc]`).
    Oidc,
    /// API tokens only; the browser sign-in page says how to get access.
    Tokens,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// How long a browser session lasts after sign-in, however active.
    pub session_hours: u32,
    /// A session unused for this long ends (an unlocked laptop left at a desk).
    pub session_idle_minutes: u32,
    /// How long a verified API token is trusted without asking the database again (0: always
    /// ask). Revocations through this server apply at once; elsewhere within this time.
    pub token_cache_seconds: u32,
    /// Sign-in attempts allowed per client address per minute (0: no limit).
    pub login_attempts_per_minute: u32,
    #[serde(default)]
    pub dev_users: Vec<DevUser>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevUser {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    pub role: Role,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer, exactly as its discovery document and ID tokens name it (kept as
    /// written: a URL type would add a trailing slash the provider's tokens do not have).
    pub issuer_url: String,
    pub client_id: String,
    /// Best given as `ZELLY_AUTH__OIDC__CLIENT_SECRET`; never printed.
    pub client_secret: Redacted,
    /// Shown on the sign-in button: "Sign in with …".
    #[serde(default = "default_provider_name")]
    pub provider_name: String,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID token claim that lists the user's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Who gets which role; a user matching several rules gets the highest.
    #[serde(default)]
    pub roles: Vec<RoleRule>,
    /// The role of users no rule matches; unset, they are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_role: Option<Role>,
    /// Accept e-mail addresses the provider does not say it verified (`email_verified` is not
    /// `true`). Only for a provider where users cannot choose their address.
    #[serde(default)]
    pub trust_unverified_email: bool,
}

/// Matches a user by exact e-mail address, by e-mail domain, or by group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    pub role: Role,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

fn default_provider_name() -> String {
    "single sign-on".into()
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

fn default_groups_claim() -> String {
    "groups".into()
}

/// A configured secret: usable by the code, shown as `<redacted>` by `zelly-control config`,
/// `Debug` and anything else that prints the configuration.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Redacted(String);

impl Redacted {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Redacted {
    fn from(s: &str) -> Redacted {
        Redacted(s.to_string())
    }
}

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Redacted {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "<redacted>" })
    }
}
