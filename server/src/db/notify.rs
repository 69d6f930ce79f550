//! Messages between the processes that share a Postgres database (LISTEN/NOTIFY): a `worker`
//! process and every `serve` replica hear each other's wake-ups. With SQLite there is one process
//! (it holds the database file), so there is no one to tell and nothing to hear.

use super::{Db, DbResult, Pool};
use std::time::Duration;

/// What a listener hears.
pub enum Heard<'a> {
    /// The connection was (re)made: notifications sent meanwhile were missed.
    Connected,
    Message { channel: &'a str, payload: &'a str },
}

impl Db {
    /// Sends `payload` on `channel` to the other processes; nothing with SQLite.
    pub async fn notify(&self, channel: &str, payload: &str) -> DbResult<()> {
        if let Pool::Postgres(pool) = &self.0 {
            sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload).execute(pool).await?;
        }
        Ok(())
    }

    /// Calls `heard` for what other processes send on `channels`, for as long as the process runs,
    /// connecting again when the connection drops; nothing with SQLite.
    pub fn listen(&self, channels: &'static [&'static str], heard: impl Fn(Heard<'_>) + Send + 'static) {
        let Pool::Postgres(pool) = self.0.clone() else { return };
        tokio::spawn(async move {
            loop {
                let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!("LISTEN connection failed, retrying: {e}");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        continue;
                    }
                };
                if let Err(e) = listener.listen_all(channels.iter().copied()).await {
                    tracing::warn!("LISTEN failed, retrying: {e}");
                    continue;
                }
                heard(Heard::Connected);
                while let Ok(n) = listener.recv().await {
                    heard(Heard::Message { channel: n.channel(), payload: n.payload() });
                }
            }
        });
    }
}
