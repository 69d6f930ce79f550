use super::{on_backend, BeginWrite, Db, DbResult};
use app::model::{Identity, Role};
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
struct SessionOwner {
    user_id: i64,
    name: String,
    display_name: String,
    #[sqlx(try_from = "String")]
    role: Role,
}

/// Browsers one user may be signed in with at once.
pub const MAX_SESSIONS_PER_USER: i64 = 20;

impl Db {
    /// Starts a session; a user's oldest sessions beyond `MAX_SESSIONS_PER_USER` end, so
    /// signing in over and over cannot fill the table.
    pub async fn create_session(&self, id_hash: &str, user_id: i64, expires_at: DateTime<Utc>) -> DbResult<()> {
        let now = Utc::now();
        on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at) \
                 VALUES ($1, $2, $3, $3, $4)",
            )
            .bind(id_hash)
            .bind(user_id)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM sessions WHERE user_id = $1 AND id_hash NOT IN \
                 (SELECT id_hash FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id_hash LIMIT $2)",
            )
            .bind(user_id)
            .bind(MAX_SESSIONS_PER_USER)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// The user of a session that has neither expired nor been idle since `idle_since`. The role
    /// is read live, so a role change applies at once.
    pub async fn session_identity(&self, id_hash: &str, idle_since: DateTime<Utc>) -> DbResult<Option<Identity>> {
        let owner = on_backend!(self, pool => {
            sqlx::query_as::<_, SessionOwner>(
                "SELECT u.id AS user_id, u.name, u.display_name, u.role \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND u.disabled_at IS NULL",
            )
            .bind(id_hash)
            .bind(Utc::now())
            .bind(idle_since)
            .fetch_optional(pool)
            .await
        })?;
        Ok(owner.map(|o| Identity {
            user_id: o.user_id,
            display_name: if o.display_name.is_empty() { o.name.clone() } else { o.display_name },
            name: o.name,
            role: o.role,
        }))
    }

    pub async fn delete_session(&self, id_hash: &str) -> DbResult<()> {
        on_backend!(self, pool => sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(pool).await.map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Keeps an active session from going idle.
    pub async fn touch_session(&self, id_hash: &str) -> DbResult<()> {
        on_backend!(self, pool => {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2").bind(Utc::now()).bind(id_hash).execute(pool).await.map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Removes sessions that expired or went idle before `idle_since`.
    pub async fn purge_expired_sessions(&self, idle_since: DateTime<Utc>) -> DbResult<u64> {
        let done = on_backend!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
                .bind(Utc::now())
                .bind(idle_since)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(done)
    }
}
