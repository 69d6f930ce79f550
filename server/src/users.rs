//! Users and their access: the list with their API tokens, disable, enable, change role, revoke
//! a token. Admins decide here (the HTTP edge only translates); the command line on the server's
//! own machine acts as the console.
//!
//! A disabled user's sessions are deleted in the same transaction that disables them, and
//! sessions and tokens are only honoured for users who are not disabled, so the next request
//! with either is refused: on this replica at once (its token cache forgets the user), on others
//! within `auth.token_cache_seconds`. Signing in refuses a disabled user (`http::sign_in`).

use crate::auth::token_cache::TokenCache;
use crate::db::{Db, DbError, TokenRecord, UserRecord};
use app::model::users::UserSummary;
use app::model::{Identity, Role};

/// Who asks.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    User(&'a Identity),
    /// `zelly-control user …` on the server's machine, with the database's credentials.
    Console,
}

impl Actor<'_> {
    fn name(&self) -> String {
        match self {
            Actor::User(who) => who.name.clone(),
            Actor::Console => crate::audit::console_actor(),
        }
    }

    /// Only admins manage users (asked before the user is looked up: a refusal says nothing
    /// of who exists).
    pub fn may_manage(&self) -> Result<(), UserError> {
        match self {
            Actor::User(who) if who.role < Role::Admin => Err(UserError::Forbidden("only admins manage users".into())),
            _ => Ok(()),
        }
    }

    /// Only admins see the users and their tokens, or revoke one.
    fn may_see(&self) -> Result<(), UserError> {
        match self {
            Actor::User(who) if who.role < Role::Admin => {
                Err(UserError::Forbidden(format!("this needs the admin role; you have {}", who.role)))
            }
            _ => Ok(()),
        }
    }

    /// Nobody changes their own access: an admin who locks themselves out needs another.
    fn is(&self, target: &UserRecord) -> bool {
        matches!(self, Actor::User(who) if who.user_id == target.id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    Forbidden(String),
    #[error("there is no user called {0:?}")]
    NotFound(String),
    #[error("no live token with id {0}")]
    NoToken(i64),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The longest reason kept with a disabled user.
const REASON_MAX: usize = 500;

pub struct Users<'a> {
    pub db: &'a Db,
    pub tokens: Option<&'a TokenCache>,
}

impl Users<'_> {
    /// Every user with their tokens, live and revoked (never a token itself).
    pub async fn list(&self, actor: Actor<'_>) -> Result<Vec<UserSummary>, UserError> {
        actor.may_see()?;
        Ok(crate::auth::tokens::users_with_tokens(self.db).await?)
    }

    /// Revokes the live token `id` (audited); a revoked or unknown one is `NotFound`.
    pub async fn revoke_token(&self, actor: Actor<'_>, id: i64) -> Result<TokenRecord, UserError> {
        actor.may_see()?;
        let revoked = self.db.revoke_token(&id.to_string(), &actor.name()).await?.ok_or(UserError::NoToken(id))?;
        if let Some(cache) = self.tokens {
            cache.forget(id);
        }
        Ok(revoked)
    }

    /// Disables `name` for `reason`; disabling a disabled user changes nothing.
    pub async fn disable(&self, actor: Actor<'_>, name: &str, reason: &str) -> Result<UserRecord, UserError> {
        let user = self.target(actor, name).await?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > REASON_MAX || reason.chars().any(char::is_control) {
            return Err(UserError::Invalid(format!("say why, in one line of at most {REASON_MAX} characters (the reason is kept in the audit log)")));
        }
        let disabled = match self.db.disable_user(&user, reason, &actor.name()).await? {
            Some(done) => done,
            None => user,
        };
        self.forget(&disabled);
        Ok(disabled)
    }

    /// Lets `name` in again; enabling an enabled user changes nothing.
    pub async fn enable(&self, actor: Actor<'_>, name: &str) -> Result<UserRecord, UserError> {
        let user = self.target(actor, name).await?;
        Ok(self.db.enable_user(&user, &actor.name()).await?.unwrap_or(user))
    }

    /// Gives `name` the role (audited when it changes). With single sign-on the provider's
    /// role rules apply again at the user's next sign-in.
    pub async fn set_role(&self, actor: Actor<'_>, name: &str, role: Role) -> Result<UserRecord, UserError> {
        let user = self.target(actor, name).await?;
        let changed = self.db.set_user_role(&user, role, &actor.name()).await?;
        self.forget(&changed);
        Ok(changed)
    }

    async fn target(&self, actor: Actor<'_>, name: &str) -> Result<UserRecord, UserError> {
        actor.may_manage()?;
        let user = self.db.find_user(name).await?.ok_or_else(|| UserError::NotFound(name.to_string()))?;
        if actor.is(&user) {
            return Err(UserError::Invalid("you cannot disable yourself or change your own role: ask another admin".into()));
        }
        Ok(user)
    }

    fn forget(&self, user: &UserRecord) {
        if let Some(cache) = self.tokens {
            cache.forget_user(user.id);
        }
    }
}
