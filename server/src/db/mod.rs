//! Storage: one `Db` type in front of two backends, SQLite (the embedded default) and Postgres
//! (for several replicas sharing the work). Each backend has its own migrations
//! (`migrations/sqlite`, `migrations/postgres`).
//!
//! Queries are written once where the SQL is the same on both (SQLite accepts Postgres's `$1`
//! placeholders), and `on_backend!` runs that code against whichever pool is configured; where
//! the SQL differs, a method matches on the backend explicitly.

pub mod audit;
pub mod notifications;
pub mod notify;
pub mod runs;
mod secret_locks;
mod sessions;
mod sign_in_attempts;
pub mod state_versions;
#[doc(hidden)]
pub mod testing;
pub mod tokens;
mod users;

pub use sessions::MAX_SESSIONS_PER_USER;
pub use sign_in_attempts::{SignInAttempt, MAX_SIGN_IN_ATTEMPTS};
pub use tokens::TokenRecord;
pub use users::UserRecord;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// The database: one type whatever the backend, so each query is written once (`on_backend!`
/// compiles it for each). Which backend it is stays in here.
#[derive(Clone, Debug)]
pub struct Db(Pool);

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the configured backend's pool. The body is compiled once
/// per backend, so the same query text gets each backend's types and encoding.
macro_rules! on_backend {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db.pool() {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Starts a transaction that will write. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails at once with
/// "database is locked" if another writer committed in between, whatever the busy timeout.
pub(crate) trait BeginWrite {
    type Database: sqlx::Database;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Self::Database>>;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.begin().await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL {0:?}: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type DbResult<T> = Result<T, DbError>;

impl Db {
    /// Connects and applies the backend's pending migrations.
    pub async fn connect(url: &str, max_connections: u32) -> DbResult<Db> {
        let db = Self::connect_without_migrating(url, max_connections).await?;
        db.migrate().await?;
        Ok(db)
    }

    pub async fn connect_without_migrating(url: &str, max_connections: u32) -> DbResult<Db> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // Each connection caches pages; log blobs pass through every connection that
                // streams them, so the default 2 MB each adds up. 512 KB keeps memory flat.
                .pragma("cache_size", "-512");
            if let Some(dir) = options.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| DbError::Sqlx(sqlx::Error::Io(e)))?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Ok(Db(Pool::Sqlite(pool)))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Ok(Db(Pool::Postgres(pool)))
        } else {
            Err(DbError::UnsupportedUrl(url.split('?').next().unwrap_or(url).to_string()))
        }
    }

    pub async fn migrate(&self) -> DbResult<()> {
        match &self.0 {
            Pool::Sqlite(pool) => sqlx::migrate!("../migrations/sqlite").run(pool).await?,
            Pool::Postgres(pool) => sqlx::migrate!("../migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Whether several processes can share this database (Postgres; SQLite's file is one
    /// process's).
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Pool::Postgres(_))
    }

    fn pool(&self) -> &Pool {
        &self.0
    }

    pub fn backend_name(&self) -> &'static str {
        match self.0 {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Answers when the database does (readiness).
    pub async fn ping(&self) -> DbResult<()> {
        on_backend!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Sets `column` of row `id` in `table` to now, unless it was set less than a minute ago:
    /// activity bookkeeping that costs at most one write a minute per row.
    async fn touch_throttled(&self, table: &str, column: &str, id: i64) -> DbResult<()> {
        let now = chrono::Utc::now();
        let sql = format!("UPDATE {table} SET {column} = $1 WHERE id = $2 AND ({column} IS NULL OR {column} < $3)");
        on_backend!(self, pool => {
            sqlx::query(&sql)
                .bind(now)
                .bind(id)
                .bind(now - chrono::Duration::minutes(1))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    pub async fn close(&self) {
        on_backend!(self, pool => pool.close().await)
    }
}
