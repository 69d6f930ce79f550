//! People and their API tokens, as the admins' users page shows them (never a token itself).

use super::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserSummary {
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Set while the user may not sign in or use a token.
    #[serde(default)]
    pub disabled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub disabled_reason: String,
    pub tokens: Vec<TokenSummary>,
}

/// `GET /api/v1/users`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserList {
    pub users: Vec<UserSummary>,
}

/// A user's access after an admin changed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserAccess {
    pub name: String,
    pub role: Role,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenSummary {
    pub id: i64,
    /// The first characters of the token: enough to recognise it, useless to use it.
    pub prefix: String,
    pub label: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}
