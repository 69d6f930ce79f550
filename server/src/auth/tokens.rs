//! API tokens for scripts and the CLI: shown once at creation, stored only as a hash.

use super::{hash_secret, new_secret};
use crate::config::validate::is_user_name;
use crate::db::{tokens::NewToken, Db, DbError, TokenRecord};
use app::model::Role;

pub const TOKEN_PREFIX: &str = "zc_";
/// How much of a token is kept in clear to tell tokens apart in lists (`zc_` + 7 characters).
const SHOWN_PREFIX_LEN: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0:?} is not a user name ({rule})", rule = crate::config::validate::USER_NAME_RULE)]
    BadUserName(String),
    #[error("user {user} has the {user_role} role, so a token for them cannot have the higher {token_role} role")]
    RoleAboveUser { user: String, user_role: Role, token_role: Role },
    #[error("user {0} is disabled: enable them first (`zelly-control user enable {0}`)")]
    Disabled(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Creates a token for `user_name` (creating the user with `role` if missing) and returns the
/// token in clear (to show once) with its record.
pub async fn create(
    db: &Db,
    user_name: &str,
    role: Role,
    label: &str,
    actor: &str,
) -> Result<(String, TokenRecord), TokenError> {
    if !is_user_name(user_name) {
        return Err(TokenError::BadUserName(user_name.to_string()));
    }
    let (user, _created) = db.ensure_user(user_name, "", role, actor).await?;
    if user.disabled_at.is_some() {
        return Err(TokenError::Disabled(user.name));
    }
    if role > user.role {
        return Err(TokenError::RoleAboveUser { user: user.name, user_role: user.role, token_role: role });
    }
    let token = new_secret(TOKEN_PREFIX);
    let record = db
        .insert_token(
            &NewToken {
                user_id: user.id,
                user_name: &user.name,
                token_hash: &hash_secret(&token),
                prefix: &token[..SHOWN_PREFIX_LEN],
                label,
                role,
            },
            actor,
        )
        .await?;
    Ok((token, record))
}

/// Every user with their tokens (live and revoked), for the admins' users page.
pub async fn users_with_tokens(db: &Db) -> crate::db::DbResult<Vec<app::model::users::UserSummary>> {
    use app::model::users::{TokenSummary, UserSummary};
    let (users, tokens) = tokio::try_join!(db.list_users(), db.list_tokens(None))?;
    Ok(users
        .into_iter()
        .map(|u| UserSummary {
            tokens: tokens
                .iter()
                .filter(|t| t.user_name == u.name)
                .map(|t| TokenSummary {
                    id: t.id,
                    prefix: t.prefix.clone(),
                    label: t.label.clone(),
                    role: t.role,
                    created_at: t.created_at,
                    last_used_at: t.last_used_at,
                    revoked_at: t.revoked_at,
                })
                .collect(),
            name: u.name,
            display_name: u.display_name,
            role: u.role,
            created_at: u.created_at,
            last_seen_at: u.last_seen_at,
            disabled_at: u.disabled_at,
            disabled_reason: u.disabled_reason,
        })
        .collect())
}
