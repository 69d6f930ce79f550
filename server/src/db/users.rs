use app::model::audit::AuditAction;
use super::audit::{insert_audit, NewAuditEvent};
use super::{on_backend, BeginWrite, Db, DbResult};
use app::model::Role;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct UserRecord {
    pub id: i64,
    pub name: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Set while the user may not sign in or use a token.
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: String,
    /// The single sign-on identity (issuer, subject) this user is bound to, once seen.
    pub oidc_issuer: Option<String>,
    pub oidc_subject: Option<String>,
}

const USER_COLUMNS: &str = "id, name, display_name, role, created_at, last_seen_at, disabled_at, disabled_reason, oidc_issuer, oidc_subject";

impl Db {
    pub async fn find_user(&self, name: &str) -> DbResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1");
        let user = on_backend!(self, pool => {
            sqlx::query_as::<_, UserRecord>(&sql).bind(name).fetch_optional(pool).await
        })?;
        Ok(user)
    }

    pub async fn list_users(&self) -> DbResult<Vec<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name");
        let users = on_backend!(self, pool => sqlx::query_as::<_, UserRecord>(&sql).fetch_all(pool).await)?;
        Ok(users)
    }

    /// Returns the user called `name`, creating it with `role` if there is none (audited as
    /// done by `actor`). An existing user keeps its role. The bool says whether it was created.
    pub async fn ensure_user(
        &self,
        name: &str,
        display_name: &str,
        role: Role,
        actor: &str,
    ) -> DbResult<(UserRecord, bool)> {
        let select = format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1");
        let result = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let inserted = sqlx::query(
                "INSERT INTO users (name, display_name, role, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(display_name)
            .bind(role.as_str())
            .bind(Utc::now())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if inserted {
                let event = NewAuditEvent {
                    actor: actor.to_string(),
                    action: AuditAction::UserCreated,
                    environment: None,
                    target: Some(name.to_string()),
                    details: serde_json::json!({ "role": role }),
                };
                insert_audit!(&mut *tx, &event)?;
            }
            let user = sqlx::query_as::<_, UserRecord>(&select).bind(name).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((user, inserted))
        })?;
        Ok(result)
    }

    /// Gives the user `role` (audited as done by `actor`, with the role it had); no change, no row.
    pub async fn set_user_role(&self, user: &UserRecord, role: Role, actor: &str) -> DbResult<UserRecord> {
        if user.role == role {
            return Ok(user.clone());
        }
        on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE users SET role = $1 WHERE id = $2").bind(role.as_str()).bind(user.id).execute(&mut *tx).await?;
            let event = NewAuditEvent {
                actor: actor.to_string(),
                action: AuditAction::UserRoleChanged,
                environment: None,
                target: Some(user.name.clone()),
                details: serde_json::json!({ "from": user.role, "to": role }),
            };
            insert_audit!(&mut *tx, &event)?;
            tx.commit().await
        })?;
        Ok(UserRecord { role, ..user.clone() })
    }

    /// The user bound to the provider `issuer`'s account `subject`, if any.
    pub async fn find_user_by_subject(&self, issuer: &str, subject: &str) -> DbResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2");
        let user = on_backend!(self, pool => {
            sqlx::query_as::<_, UserRecord>(&sql).bind(issuer).bind(subject).fetch_optional(pool).await
        })?;
        Ok(user)
    }

    /// Binds the user to the provider account (`issuer`, `subject`) unless it is bound to
    /// another one already; true when it is bound to this one now.
    pub async fn bind_user_subject(&self, user_id: i64, issuer: &str, subject: &str) -> DbResult<bool> {
        let bound = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE users SET oidc_issuer = $1, oidc_subject = $2 \
                 WHERE id = $3 AND (oidc_subject IS NULL OR (oidc_issuer = $1 AND oidc_subject = $2))",
            )
            .bind(issuer)
            .bind(subject)
            .bind(user_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(bound == 1)
    }

    /// Disables the user (audited as done by `actor`) and ends their sessions, in one
    /// transaction; `None` when they were disabled already (nothing written).
    pub async fn disable_user(&self, user: &UserRecord, reason: &str, actor: &str) -> DbResult<Option<UserRecord>> {
        let now = Utc::now();
        let done = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query("UPDATE users SET disabled_at = $1, disabled_reason = $2 WHERE id = $3 AND disabled_at IS NULL")
                .bind(now)
                .bind(reason)
                .bind(user.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 1 {
                let sessions = sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.id).execute(&mut *tx).await?.rows_affected();
                let event = NewAuditEvent {
                    actor: actor.to_string(),
                    action: AuditAction::UserDisabled,
                    environment: None,
                    target: Some(user.name.clone()),
                    details: serde_json::json!({ "reason": reason, "sessions_ended": sessions }),
                };
                insert_audit!(&mut *tx, &event)?;
                tx.commit().await?;
            }
            Ok::<_, sqlx::Error>(changed == 1)
        })?;
        Ok(done.then(|| UserRecord { disabled_at: Some(now), disabled_reason: reason.to_string(), ..user.clone() }))
    }

    /// Lets a disabled user in again (audited); `None` when they were not disabled.
    pub async fn enable_user(&self, user: &UserRecord, actor: &str) -> DbResult<Option<UserRecord>> {
        let done = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query("UPDATE users SET disabled_at = NULL, disabled_reason = '' WHERE id = $1 AND disabled_at IS NOT NULL")
                .bind(user.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 1 {
                let event = NewAuditEvent {
                    actor: actor.to_string(),
                    action: AuditAction::UserEnabled,
                    environment: None,
                    target: Some(user.name.clone()),
                    details: serde_json::json!({ "was_disabled_for": user.disabled_reason }),
                };
                insert_audit!(&mut *tx, &event)?;
                tx.commit().await?;
            }
            Ok::<_, sqlx::Error>(changed == 1)
        })?;
        Ok(done.then(|| UserRecord { disabled_at: None, disabled_reason: String::new(), ..user.clone() }))
    }

    /// Notes that the user was active; writes at most once a minute per user.
    pub async fn touch_user(&self, user_id: i64) -> DbResult<()> {
        self.touch_throttled("users", "last_seen_at", user_id).await
    }
}
