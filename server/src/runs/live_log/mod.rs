//! Live log streams: however many people watch a run, one reader per run (a *feed*) reads its new
//! log chunks and status from the database when the run changes and hands them to every stream.
//! Each stream reads the database itself only for what came before it joined (or what it missed
//! by falling behind), so a hundred viewers cost one reader's queries, not a hundred; that keeps
//! the connection pool free for the workers' lease renewals.
//!
//! When the run is written in this process, its writer hands every line to the feed as it is
//! written (`LogTap`), before the write batch reaches the database: viewers see a line at once,
//! not one batch later. The feed keeps those lines until they are stored, so a stream that joins
//! (or falls behind) takes what is stored from the database and the rest from memory. Runs
//! written by another process reach the feed through the database, after each batch.
//!
//! A stream joins its feed *before* it reads what is stored, and every piece carries its byte
//! range, so nothing is missed or sent twice: what the stream already has is cut off, a gap is
//! read from the database. Streams are capped per user and in total (`runs.live_streams_*`).
//! Resuming (`Last-Event-ID`) goes through the same join, so the database stays the source of
//! truth: lines a crashed process showed but never stored are written again by the next attempt.

use super::wakeup::Wakeup;
use crate::db::Db;
use app::model::run::RunStatus;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

mod feed;
mod stream;
#[cfg(test)]
mod tests;

use feed::{Feed, Piece, Published};
pub use feed::LogTap;
use stream::Stream;

/// Pieces (lines, when written here) a feed holds for a slow stream before that stream must
/// catch up from the database and the feed's unstored lines.
const FEED_BUFFER: usize = 256;
/// How often a feed looks at its run unprompted (a lost notice costs at most this long), and so
/// the longest a feed whose streams all left keeps going.
const IDLE_CHECK: Duration = Duration::from_secs(15);

/// What a live log stream says, in order (`http/runs.rs` sends them as server-sent events).
#[derive(Clone, Debug, PartialEq)]
pub enum LiveEvent {
    /// Log text ending at byte offset `end` (the id a client resumes from).
    Log { end: i64, text: String },
    /// The run's status changed.
    Status(RunStatus),
    /// The run is finished and its whole log was sent.
    End(RunStatus),
}

/// Why a stream was not opened.
#[derive(Debug, PartialEq)]
pub enum StreamRefused {
    PerUser(u32),
    Total(u32),
}

impl std::fmt::Display for StreamRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamRefused::PerUser(n) => write!(f, "you have {n} live log streams open already; close some pages and try again"),
            StreamRefused::Total(n) => write!(f, "this server is serving {n} live log streams already; try again in a moment"),
        }
    }
}

/// The live log streams of this process.
pub struct LiveLogs {
    db: Db,
    wakeup: Wakeup,
    feeds: Mutex<HashMap<i64, Arc<Feed>>>,
    per_user: u32,
    total: u32,
    open: Arc<Mutex<Open>>,
}

#[derive(Default)]
struct Open {
    total: u32,
    per_user: HashMap<i64, u32>,
}

/// One open stream's place under the caps, given back when the stream ends.
struct Permit {
    open: Arc<Mutex<Open>>,
    user_id: i64,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("stream count lock");
        open.total -= 1;
        metrics::gauge!("zelly_log_streams_open").set(f64::from(open.total));
        if let Some(n) = open.per_user.get_mut(&self.user_id) {
            *n -= 1;
            if *n == 0 {
                open.per_user.remove(&self.user_id);
            }
        }
    }
}

impl LiveLogs {
    pub fn new(db: Db, wakeup: Wakeup, per_user: u32, total: u32) -> Arc<LiveLogs> {
        Arc::new(LiveLogs { db, wakeup, feeds: Mutex::default(), per_user, total, open: Arc::default() })
    }

    /// Streams open now, everyone together.
    pub fn open_streams(&self) -> u32 {
        self.open.lock().expect("stream count lock").total
    }

    fn admit(&self, user_id: i64) -> Result<Permit, StreamRefused> {
        let mut open = self.open.lock().expect("stream count lock");
        if open.total >= self.total {
            return Err(StreamRefused::Total(self.total));
        }
        let mine = open.per_user.entry(user_id).or_default();
        if *mine >= self.per_user {
            return Err(StreamRefused::PerUser(self.per_user));
        }
        *mine += 1;
        open.total += 1;
        metrics::gauge!("zelly_log_streams_open").set(f64::from(open.total));
        Ok(Permit { open: self.open.clone(), user_id })
    }

    /// Events of run `run_id`'s log for `user_id` from byte `from`, in order: `log` (id = the byte
    /// offset after it), `status` when the run's status changes, and `end` once the run is
    /// finished and the whole log was sent.
    pub fn stream(self: &Arc<Self>, user_id: i64, run_id: i64, from: i64) -> Result<mpsc::Receiver<LiveEvent>, StreamRefused> {
        let permit = self.admit(user_id)?;
        // A slow client holds at most this many events in memory; then its stream waits for it.
        let (tx, rx) = mpsc::channel::<LiveEvent>(8);
        let (feed, pieces, published) = self.join(run_id);
        let db = self.db.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let gone = tx.clone();
            let mut stream = Stream { db, feed, run_id, offset: from, status: None, tx };
            tokio::select! {
                _ = gone.closed() => {}
                result = stream.run(pieces, published) => {
                    if let Err(e) = result {
                        tracing::warn!(run_id, "log stream read failed: {e}");
                    }
                }
            }
        });
        Ok(rx)
    }

    /// The feed of run `run_id`, made if there is none.
    fn feed(&self, feeds: &mut HashMap<i64, Arc<Feed>>, run_id: i64) -> Arc<Feed> {
        let feed = feeds.entry(run_id).or_insert_with(Feed::new).clone();
        count_readers(feeds);
        feed
    }

    /// Opens the writing end of run `run_id`'s feed, for the run's writer in this process.
    pub fn tap(self: &Arc<Self>, run_id: i64) -> LogTap {
        let mut feeds = self.feeds.lock().expect("feeds lock");
        let feed = self.feed(&mut feeds, run_id);
        feed.lock().written_here = true;
        LogTap { logs: self.clone(), run_id, feed }
    }

    /// Joins the run's feed, starting its reader if none runs: the pieces from now on, and what
    /// was published before them.
    fn join(self: &Arc<Self>, run_id: i64) -> (Arc<Feed>, broadcast::Receiver<Piece>, Published) {
        let mut feeds = self.feeds.lock().expect("feeds lock");
        let feed = self.feed(&mut feeds, run_id);
        let mut state = feed.lock();
        if !state.reading {
            state.reading = true;
            tokio::spawn(self.clone().read(run_id, feed.clone()));
        }
        let (pieces, published) = (feed.tx.subscribe(), state.published.clone());
        drop(state);
        count_readers(&feeds);
        feed.nudge.notify_one();
        (feed, pieces, published)
    }

    /// The feed's reader: publishes what the database has after each change of the run, until the
    /// run is over or nobody watches.
    async fn read(self: Arc<Self>, run_id: i64, feed: Arc<Feed>) {
        // Subscribed before the first read: a change between the two is announced to us.
        let mut changes = self.wakeup.subscribe();
        // What is stored already, streams read themselves: the feed starts at the end.
        let mut offset = match self.db.get_run(run_id).await {
            Ok(Some(run)) => run.log_bytes.max(feed.offset()),
            _ => 0,
        };
        let mut status = None;
        let mut again = true;
        loop {
            match self.publish_new(run_id, &feed, &mut offset, &mut status, again).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(run_id, "live log read failed: {e}");
                    break;
                }
            }
            if self.leave_if_unwatched(run_id, &feed) {
                return;
            }
            again = tokio::select! {
                _ = changed(&mut changes, run_id) => false,
                _ = feed.nudge.notified() => true,
            };
        }
        // Over (or failing): later streams start a feed of their own. Dropping the sender ends
        // the streams that are still here after the last piece.
        let mut feeds = self.feeds.lock().expect("feeds lock");
        feed.lock().reading = false;
        self.remove(run_id, &feed, &mut feeds);
    }

    fn remove(&self, run_id: i64, feed: &Arc<Feed>, feeds: &mut HashMap<i64, Arc<Feed>>) {
        if feeds.get(&run_id).is_some_and(|f| Arc::ptr_eq(f, feed)) {
            feeds.remove(&run_id);
        }
        count_readers(feeds);
    }

    /// Publishes the log after `offset` and a new status (the status `again` too, for a stream
    /// that just joined); true once the run is over and all of its log published.
    async fn publish_new(&self, run_id: i64, feed: &Feed, offset: &mut i64, status: &mut Option<RunStatus>, again: bool) -> crate::db::DbResult<bool> {
        // What this process's writer handed over is published already.
        *offset = (*offset).max(feed.offset());
        loop {
            let page = self.db.log_page(run_id, *offset).await?;
            if page.is_empty() {
                break;
            }
            for (end, bytes) in page {
                *offset = end;
                feed.publish(Piece::Log { end, bytes });
            }
        }
        let Some(run) = self.db.get_run(run_id).await? else { return Ok(true) };
        if again || *status != Some(run.status) {
            *status = Some(run.status);
            feed.publish(Piece::Status { status: run.status, at: *offset });
        }
        *offset = (*offset).max(feed.offset());
        if run.status.is_terminal() && *offset >= run.log_bytes {
            feed.publish(Piece::End(run.status));
            return Ok(true);
        }
        Ok(false)
    }

    /// Stops the feed when no stream is left; decided under the lock new streams join with, so
    /// none joins a feed that is going away.
    fn leave_if_unwatched(&self, run_id: i64, feed: &Arc<Feed>) -> bool {
        let mut feeds = self.feeds.lock().expect("feeds lock");
        if feed.tx.receiver_count() > 0 {
            return false;
        }
        let mut state = feed.lock();
        state.reading = false;
        let written_here = state.written_here;
        drop(state);
        if !written_here {
            self.remove(run_id, feed, &mut feeds);
        } else {
            count_readers(&feeds);
        }
        true
    }
}

/// The gauge of runs whose log this process reads for streams.
fn count_readers(feeds: &HashMap<i64, Arc<Feed>>) {
    metrics::gauge!("zelly_log_stream_readers").set(feeds.values().filter(|f| f.lock().reading).count() as f64);
}

/// Waits until run `run_id` changes, or `IDLE_CHECK` of quiet (true when it changed).
async fn changed(changes: &mut broadcast::Receiver<i64>, run_id: i64) -> bool {
    let wait = async {
        loop {
            match changes.recv().await {
                Ok(id) if id == run_id => return true,
                Ok(_) => continue,
                // Missed notices: look again rather than risk waiting forever.
                Err(broadcast::error::RecvError::Lagged(_)) => return true,
                Err(broadcast::error::RecvError::Closed) => return false,
            }
        }
    };
    tokio::time::timeout(IDLE_CHECK, wait).await.unwrap_or(false)
}
