//! Wake-ups instead of polling: "there is work" for idle workers, and "run N changed" for
//! live pages and log streams. In-process they are a `Notify` and a broadcast channel; they also
//! go to the other processes sharing the database (`db::notify`), so a `worker` process and
//! every `serve` replica hear each other.

use crate::db::notify::Heard;
use crate::db::Db;
use std::sync::Arc;
use tokio::sync::{broadcast, Notify};

const WORK_CHANNEL: &str = "zelly_work";
const RUN_CHANNEL: &str = "zelly_run";

#[derive(Clone)]
pub struct Wakeup {
    work: Arc<Notify>,
    changes: broadcast::Sender<i64>,
    db: Db,
}

impl Wakeup {
    pub fn new(db: Db) -> Self {
        let (changes, _) = broadcast::channel(1024);
        let wakeup = Wakeup { work: Arc::new(Notify::new()), changes, db };
        wakeup.listen_to_other_processes();
        wakeup
    }

    /// The future to await for "there may be work". Create it (and `enable` it) before
    /// looking for work, so a wake-up between the look and the wait is not lost.
    pub fn work(&self) -> &Notify {
        &self.work
    }

    /// Receives the id of every run that changed, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.changes.subscribe()
    }

    pub async fn work_available(&self) {
        self.work.notify_waiters();
        self.notify_others(WORK_CHANNEL, "").await;
    }

    pub async fn run_changed(&self, run_id: i64) {
        let _ = self.changes.send(run_id);
        self.notify_others(RUN_CHANNEL, &run_id.to_string()).await;
    }

    async fn notify_others(&self, channel: &str, payload: &str) {
        if let Err(e) = self.db.notify(channel, payload).await {
            tracing::warn!("could not notify other processes: {e}");
        }
    }

    fn listen_to_other_processes(&self) {
        let (work, changes) = (self.work.clone(), self.changes.clone());
        self.db.listen(&[WORK_CHANNEL, RUN_CHANNEL], move |heard| match heard {
            // A reconnect may have missed notifications: wake everyone to look again.
            Heard::Connected => work.notify_waiters(),
            Heard::Message { channel: WORK_CHANNEL, .. } => work.notify_waiters(),
            Heard::Message { payload, .. } => {
                if let Ok(id) = payload.parse() {
                    let _ = changes.send(id);
                }
            }
        });
    }
}
