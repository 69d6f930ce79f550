//! Which run wrote which version of an environment's Terraform state (migration 0007).

use super::{on_backend, Db, DbResult};
use std::collections::HashMap;

/// The run behind a state version, and that run's commit.
#[derive(Clone, Debug, PartialEq)]
pub struct Writer {
    pub run_id: i64,
    pub commit: Option<String>,
}

impl Db {
    /// Records that `run_id` wrote `version_id`. Recording it again changes nothing.
    pub async fn record_state_version(&self, environment: &str, version_id: &str, run_id: i64) -> DbResult<()> {
        on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO state_versions (environment, version_id, run_id, recorded_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (environment, version_id) DO NOTHING",
            )
            .bind(environment)
            .bind(version_id)
            .bind(run_id)
            .bind(chrono::Utc::now())
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The writers of the environment's state versions among `version_ids`.
    pub async fn state_version_writers(&self, environment: &str, version_ids: &[String]) -> DbResult<HashMap<String, Writer>> {
        if version_ids.is_empty() {
            return Ok(HashMap::new());
        }
        // One query for a page of versions; the ids are bound, never spliced.
        let placeholders: Vec<String> = (0..version_ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT s.version_id, s.run_id, r.infra_commit FROM state_versions s JOIN runs r ON r.id = s.run_id \
             WHERE s.environment = $1 AND s.version_id IN ({})",
            placeholders.join(", ")
        );
        let rows: Vec<(String, i64, Option<String>)> = on_backend!(self, pool => {
            let mut query = sqlx::query_as(&sql).bind(environment);
            for id in version_ids {
                query = query.bind(id);
            }
            query.fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(version, run_id, commit)| (version, Writer { run_id, commit })).collect())
    }
}
