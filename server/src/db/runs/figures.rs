//! What `/metrics` reports about runs.

use super::*;

/// What `/metrics` reports about runs, estate-wide.
#[derive(Debug, Default)]
pub struct RunFigures {
    /// Runs that ended, with how long each took from being asked for.
    pub ended: std::collections::BTreeMap<EndedKey, Ended>,
    pub queued: std::collections::HashMap<String, i64>,
    pub active: std::collections::HashMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EndedKey {
    pub environment: String,
    pub kind: String,
    pub status: String,
}

impl EndedKey {
    pub fn labels(&self) -> [(&'static str, &str); 3] {
        [("environment", &self.environment), ("kind", &self.kind), ("status", &self.status)]
    }
}

#[derive(Debug, Default)]
pub struct Ended {
    pub durations: Vec<f64>,
}

impl Db {
    pub async fn run_figures(&self) -> DbResult<RunFigures> {
        let sql = format!(
            "SELECT environment, kind, status, created_at, finished_at FROM runs \
             WHERE finished_at IS NOT NULL OR status = 'queued' OR status IN {ACTIVE}"
        );
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, (String, String, String, DateTime<Utc>, Option<DateTime<Utc>>)>(&sql)
            .fetch_all(pool)
            .await
        })?;
        let mut figures = RunFigures::default();
        for (environment, kind, status, created_at, finished_at) in rows {
            match finished_at {
                Some(finished) => {
                    let seconds = (finished - created_at).num_milliseconds().max(0) as f64 / 1000.0;
                    figures.ended.entry(EndedKey { environment, kind, status }).or_default().durations.push(seconds);
                }
                None if status == "queued" => *figures.queued.entry(environment).or_default() += 1,
                None => *figures.active.entry(environment).or_default() += 1,
            }
        }
        Ok(figures)
    }
}
