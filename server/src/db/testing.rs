//! Raw SQL on either backend, for the integration tests and the benchmarks only: to set up what
//! no operation makes (a session last seen long ago, a tampered artifact, ten thousand rows) and
//! to look at what is stored. The server never calls these.

use super::{on_backend, Db, DbResult};
use chrono::{DateTime, Utc};

/// A value bound to a `$n` placeholder.
pub enum Bind {
    Int(i64),
    Text(String),
    Time(DateTime<Utc>),
    Bytes(Vec<u8>),
}

/// Binds `$binds` to `$query` in order.
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for bind in $binds {
            query = match bind {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.clone()),
                Bind::Time(v) => query.bind(*v),
                Bind::Bytes(v) => query.bind(v.clone()),
            };
        }
        query
    }};
}

impl Db {
    /// Runs one statement; the rows it changed.
    #[doc(hidden)]
    pub async fn execute_sql(&self, sql: &str, binds: &[Bind]) -> DbResult<u64> {
        Ok(on_backend!(self, pool => bind_all!(sqlx::query(sql), binds).execute(pool).await?.rows_affected()))
    }

    /// The first column, a text, of every row.
    #[doc(hidden)]
    pub async fn query_texts(&self, sql: &str) -> DbResult<Vec<String>> {
        Ok(on_backend!(self, pool => sqlx::query_scalar(sql).fetch_all(pool).await?))
    }

    /// The one number a `SELECT COUNT(*) …` answers.
    #[doc(hidden)]
    pub async fn query_count(&self, sql: &str) -> DbResult<i64> {
        Ok(on_backend!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await?))
    }

    /// Every value stored in every column of every table, as bytes, labelled `table.column`: for
    /// searching the whole database for what must never be stored.
    #[doc(hidden)]
    pub async fn every_stored_value(&self) -> DbResult<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        match &self.0 {
            super::Pool::Sqlite(pool) => {
                let tables: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").fetch_all(pool).await?;
                for table in tables {
                    let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)").bind(&table).fetch_all(pool).await?;
                    for column in columns {
                        let sql = format!("SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\"");
                        let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(&sql).fetch_all(pool).await?;
                        out.extend(values.into_iter().flatten().map(|v| (format!("{table}.{column}"), v)));
                    }
                }
            }
            super::Pool::Postgres(pool) => {
                let columns: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
                )
                .fetch_all(pool)
                .await?;
                for (table, column, kind) in columns {
                    let values: Vec<Option<Vec<u8>>> = if kind == "bytea" {
                        sqlx::query_scalar(&format!("SELECT \"{column}\" FROM \"{table}\"")).fetch_all(pool).await?
                    } else {
                        let texts: Vec<Option<String>> = sqlx::query_scalar(&format!("SELECT \"{column}\"::text FROM \"{table}\"")).fetch_all(pool).await?;
                        texts.into_iter().map(|t| t.map(String::into_bytes)).collect()
                    };
                    out.extend(values.into_iter().flatten().map(|v| (format!("{table}.{column}"), v)));
                }
            }
        }
        Ok(out)
    }
}
