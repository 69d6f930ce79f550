//! Leases that let one writer at a time change a secret (see migration 0003). A lease expires
//! on its own, so a replica that dies mid-write blocks nobody for long.

use super::{on_backend, Db, DbResult};
use chrono::{Duration, Utc};

impl Db {
    /// Takes the lease on (`environment`, `name`) for `holder` unless someone else holds an
    /// unexpired one. True when taken.
    pub async fn try_lock_secret(&self, environment: &str, name: &str, holder: &str, ttl: Duration) -> DbResult<bool> {
        let now = Utc::now();
        let taken = on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO secret_write_locks (environment, name, holder, expires_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (environment, name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE secret_write_locks.expires_at < $5",
            )
            .bind(environment)
            .bind(name)
            .bind(holder)
            .bind(now + ttl)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(taken == 1)
    }

    pub async fn unlock_secret(&self, environment: &str, name: &str, holder: &str) -> DbResult<()> {
        on_backend!(self, pool => {
            sqlx::query("DELETE FROM secret_write_locks WHERE environment = $1 AND name = $2 AND holder = $3")
                .bind(environment)
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }
}
