//! Live log streams: however many people watch a run, one reader per run (a *feed*) reads its new
//! log chunks and status from the database when the run changes and hands them to every stream.
//! Each stream reads the database itself only for what came before it joined (or what it missed
//! by falling behind), so a hundred viewers cost one reader's queries, not a hundred; that keeps
//! the connection pool free for the workers' lease renewals.
//!
//! A stream joins its feed *before* it reads what is stored, and every piece carries its byte
//! range, so nothing is missed or sent twice: what the stream already has is cut off, a gap is
//! read from the database. Streams are capped per user and in total (`runs.live_streams_*`).

use super::logs::read_page;
use super::wakeup::Wakeup;
use crate::db::Db;
use app::model::run::RunStatus;
use axum::response::sse::Event;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Pieces a feed holds for a slow stream before that stream must catch up from the database.
const FEED_BUFFER: usize = 64;
/// How often a feed looks at its run unprompted (a lost notice costs at most this long), and so
/// the longest a feed whose streams all left keeps going.
const IDLE_CHECK: Duration = Duration::from_secs(15);

#[derive(Clone, Debug)]
enum Piece {
    /// Log bytes ending at byte offset `end`.
    Log { end: i64, bytes: Bytes },
    /// A new status, after the log up to `at`: a stream sends that much first, so the status
    /// never comes before the lines that led to it.
    Status { status: RunStatus, at: i64 },
    /// The run is finished and the feed has published its whole log.
    End(RunStatus),
}

/// What the feed has published so far, read together with joining it. Not the status: the
/// feed's last one may be older than the stream (an approval just made), so a joining stream
/// nudges the feed to read and publish the status again.
#[derive(Clone, Debug, Default)]
struct Published {
    offset: i64,
    ended: Option<RunStatus>,
}

struct Feed {
    published: Mutex<Published>,
    tx: broadcast::Sender<Piece>,
    /// A stream joined: read now, and publish the status even if unchanged.
    nudge: tokio::sync::Notify,
}

impl Feed {
    fn publish(&self, piece: Piece) {
        let mut published = self.published.lock().expect("feed lock");
        match &piece {
            Piece::Log { end, .. } => published.offset = *end,
            Piece::Status { .. } => {}
            Piece::End(status) => published.ended = Some(*status),
        }
        let _ = self.tx.send(piece);
    }
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
    pub fn stream(self: &Arc<Self>, user_id: i64, run_id: i64, from: i64) -> Result<mpsc::Receiver<Event>, StreamRefused> {
        let permit = self.admit(user_id)?;
        // A slow client holds at most this many events in memory; then its stream waits for it.
        let (tx, rx) = mpsc::channel::<Event>(8);
        let (pieces, published) = self.join(run_id);
        let db = self.db.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let gone = tx.clone();
            let mut stream = Stream { db, run_id, offset: from, status: None, tx };
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

    /// Joins the run's feed, starting it if there is none: the pieces from now on, and what was
    /// published before them.
    fn join(self: &Arc<Self>, run_id: i64) -> (broadcast::Receiver<Piece>, Published) {
        let mut feeds = self.feeds.lock().expect("feeds lock");
        let feed = feeds
            .entry(run_id)
            .or_insert_with(|| {
                let (tx, _) = broadcast::channel(FEED_BUFFER);
                let feed = Arc::new(Feed { published: Mutex::default(), tx, nudge: tokio::sync::Notify::new() });
                tokio::spawn(self.clone().read(run_id, feed.clone()));
                feed
            })
            .clone();
        metrics::gauge!("zelly_log_stream_readers").set(feeds.len() as f64);
        let published = feed.published.lock().expect("feed lock");
        let joined = (feed.tx.subscribe(), published.clone());
        feed.nudge.notify_one();
        joined
    }

    /// The feed's reader: publishes what the database has after each change of the run, until the
    /// run is over or nobody watches.
    async fn read(self: Arc<Self>, run_id: i64, feed: Arc<Feed>) {
        // Subscribed before the first read: a change between the two is announced to us.
        let mut changes = self.wakeup.subscribe();
        // What is stored already, streams read themselves: the feed starts at the end.
        let mut offset = match self.db.get_run(run_id).await {
            Ok(Some(run)) => run.log_bytes,
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
        self.remove(run_id, &feed, &mut self.feeds.lock().expect("feeds lock"));
    }

    fn remove(&self, run_id: i64, feed: &Arc<Feed>, feeds: &mut HashMap<i64, Arc<Feed>>) {
        if feeds.get(&run_id).is_some_and(|f| Arc::ptr_eq(f, feed)) {
            feeds.remove(&run_id);
        }
        metrics::gauge!("zelly_log_stream_readers").set(feeds.len() as f64);
    }

    /// Publishes the log after `offset` and a new status (the status `again` too, for a stream
    /// that just joined); true once the run is over and all of its log published.
    async fn publish_new(&self, run_id: i64, feed: &Feed, offset: &mut i64, status: &mut Option<RunStatus>, again: bool) -> crate::db::DbResult<bool> {
        loop {
            let page = read_page(&self.db, run_id, *offset).await?;
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
        self.remove(run_id, feed, &mut feeds);
        true
    }
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

/// One client's stream: where it is in the log and which status it was told last.
struct Stream {
    db: Db,
    run_id: i64,
    offset: i64,
    status: Option<RunStatus>,
    tx: mpsc::Sender<Event>,
}

/// The client has gone.
struct Gone;

impl Stream {
    async fn run(&mut self, mut pieces: broadcast::Receiver<Piece>, published: Published) -> crate::db::DbResult<()> {
        let Ok(()) = self.catch_up(published.offset).await? else { return Ok(()) };
        if let Some(status) = published.ended {
            return self.end(status).await;
        }
        loop {
            let sent = match pieces.recv().await {
                Ok(Piece::Log { end, bytes }) => self.log(end, bytes).await?,
                Ok(Piece::Status { status, at }) => match self.catch_up(at).await? {
                    Ok(()) => self.status(status).await,
                    gone => gone,
                },
                Ok(Piece::End(status)) => return self.end(status).await,
                // Fell behind the feed: what was missed is in the database.
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up(i64::MAX).await?,
                // The feed stopped without an end (a failed read): the client reconnects and
                // resumes from its last event id.
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            };
            if sent.is_err() {
                return Ok(());
            }
        }
    }

    /// Sends what the database holds from the stream's offset up to `until` (or its end).
    async fn catch_up(&mut self, until: i64) -> crate::db::DbResult<Result<(), Gone>> {
        while self.offset < until {
            let page = read_page(&self.db, self.run_id, self.offset).await?;
            if page.is_empty() {
                break;
            }
            for (end, bytes) in page {
                if self.send_log(end, bytes).await.is_err() {
                    return Ok(Err(Gone));
                }
            }
        }
        Ok(Ok(()))
    }

    /// A piece from the feed: the part the client does not have yet, after any gap before it.
    async fn log(&mut self, end: i64, bytes: Bytes) -> crate::db::DbResult<Result<(), Gone>> {
        let start = end - bytes.len() as i64;
        if start > self.offset {
            if let Err(gone) = self.catch_up(start).await? {
                return Ok(Err(gone));
            }
        }
        if end <= self.offset {
            return Ok(Ok(()));
        }
        let skip = (self.offset - start).max(0) as usize;
        Ok(self.send_log(end, bytes.slice(skip..)).await)
    }

    async fn send_log(&mut self, end: i64, bytes: Bytes) -> Result<(), Gone> {
        let event = Event::default().event("log").id(end.to_string()).data(String::from_utf8_lossy(&bytes));
        self.tx.send(event).await.map_err(|_| Gone)?;
        self.offset = end;
        Ok(())
    }

    async fn status(&mut self, status: RunStatus) -> Result<(), Gone> {
        if self.status == Some(status) {
            return Ok(());
        }
        self.status = Some(status);
        self.tx.send(Event::default().event("status").data(status.as_str())).await.map_err(|_| Gone)
    }

    /// The run is over: the rest of the log (the database has all of it now), its last status,
    /// and `end`.
    async fn end(&mut self, status: RunStatus) -> crate::db::DbResult<()> {
        if self.catch_up(i64::MAX).await?.is_err() || self.status(status).await.is_err() {
            return Ok(());
        }
        let _ = self.tx.send(Event::default().event("end").data(status.as_str())).await;
        Ok(())
    }
}
