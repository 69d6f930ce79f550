//! A run's log, in chunks at byte offsets, and its stored plan artifacts.

use super::*;

/// Chunks read per database round trip when reading or streaming a log (the writer's chunks are
/// at most 64 KB: at most 256 KB in memory).
const LOG_PAGE_CHUNKS: i64 = 4;

impl Db {
    /// The log from byte `from` on, a page of chunks at a time: `(end offset, bytes)` items, the
    /// first cut to start at `from`. Empty at the end of what is stored.
    pub async fn log_page(&self, run_id: i64, from: i64) -> DbResult<Vec<(i64, bytes::Bytes)>> {
        let chunks = self.log_chunks(run_id, from, LOG_PAGE_CHUNKS).await?;
        Ok(chunks
            .into_iter()
            .filter_map(|(start, data)| {
                let end = start + data.len() as i64;
                if end <= from {
                    return None;
                }
                let skip = (from - start).max(0) as usize;
                Some((end, bytes::Bytes::from(data).slice(skip..)))
            })
            .collect())
    }

    pub async fn artifact(&self, run_id: i64, name: &str) -> DbResult<Option<Vec<u8>>> {
        let content: Option<Vec<u8>> = on_backend!(self, pool => {
            sqlx::query_scalar("SELECT content FROM run_artifacts WHERE run_id = $1 AND name = $2")
                .bind(run_id)
                .bind(name)
                .fetch_optional(pool)
                .await
        })?;
        Ok(content)
    }

    /// Appends a chunk of whole lines at `offset` (the log's length so far).
    pub async fn append_log(&self, run_id: i64, offset: i64, data: &[u8]) -> DbResult<()> {
        on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("INSERT INTO run_log_chunks (run_id, byte_offset, data) VALUES ($1, $2, $3)")
                .bind(run_id)
                .bind(offset)
                .bind(data)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE runs SET log_bytes = $1 WHERE id = $2")
                .bind(offset + data.len() as i64)
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Up to `limit` chunks that end after byte `from`, in order, as (offset, data).
    pub async fn log_chunks(&self, run_id: i64, from: i64, limit: i64) -> DbResult<Vec<(i64, Vec<u8>)>> {
        // A chunk ends after `from` iff it starts after the last chunk starting at or before it.
        let rows: Vec<(i64, Vec<u8>)> = on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT byte_offset, data FROM run_log_chunks WHERE run_id = $1 AND byte_offset >= \
                 COALESCE((SELECT MAX(byte_offset) FROM run_log_chunks WHERE run_id = $1 AND byte_offset <= $2), 0) \
                 ORDER BY byte_offset LIMIT $3",
            )
            .bind(run_id)
            .bind(from)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }
}
