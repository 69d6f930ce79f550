use super::{on_backend, Db, DbResult};
use chrono::{DateTime, Utc};

/// What a sign-in with the identity provider was started with (see `auth::oidc`).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SignInAttempt {
    pub pkce_verifier: String,
    pub nonce: String,
    pub next: String,
}

/// Sign-ins under way at once, everyone together. Anyone can start one without credentials, so
/// the table must not grow with the requests: past this, new ones are refused until some end.
pub const MAX_SIGN_IN_ATTEMPTS: i64 = 10_000;

impl Db {
    /// Keeps the attempt, unless `MAX_SIGN_IN_ATTEMPTS` are under way (false, nothing written).
    pub async fn insert_sign_in_attempt(&self, state_hash: &str, attempt: &SignInAttempt, expires_at: DateTime<Utc>) -> DbResult<bool> {
        self.purge_expired_sign_in_attempts().await?;
        let inserted = on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO sign_in_attempts (state_hash, pkce_verifier, nonce, next, expires_at) \
                 SELECT $1, $2, $3, $4, $5 WHERE (SELECT COUNT(*) FROM sign_in_attempts) < $6",
            )
            .bind(state_hash)
            .bind(&attempt.pkce_verifier)
            .bind(&attempt.nonce)
            .bind(&attempt.next)
            .bind(expires_at)
            .bind(MAX_SIGN_IN_ATTEMPTS)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(inserted == 1)
    }

    /// The attempt started with this state, removed as it is read: a state works once, so a
    /// replayed callback finds nothing. Expired attempts are not returned.
    pub async fn take_sign_in_attempt(&self, state_hash: &str) -> DbResult<Option<SignInAttempt>> {
        let attempt = on_backend!(self, pool => {
            sqlx::query_as::<_, (String, String, String, DateTime<Utc>)>(
                "DELETE FROM sign_in_attempts WHERE state_hash = $1 RETURNING pkce_verifier, nonce, next, expires_at",
            )
            .bind(state_hash)
            .fetch_optional(pool)
            .await
        })?;
        Ok(attempt
            .filter(|(.., expires_at)| *expires_at > Utc::now())
            .map(|(pkce_verifier, nonce, next, _)| SignInAttempt { pkce_verifier, nonce, next }))
    }

    pub async fn purge_expired_sign_in_attempts(&self) -> DbResult<u64> {
        let done = on_backend!(self, pool => {
            sqlx::query("DELETE FROM sign_in_attempts WHERE expires_at <= $1").bind(Utc::now()).execute(pool).await.map(|done| done.rows_affected())
        })?;
        Ok(done)
    }
}
