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

use super::logs::read_page;
use super::wakeup::Wakeup;
use crate::db::Db;
use app::model::run::RunStatus;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Pieces (lines, when written here) a feed holds for a slow stream before that stream must
/// catch up from the database and the feed's unstored lines.
const FEED_BUFFER: usize = 256;
/// At most this much log goes into one event when several pieces wait for a stream.
const EVENT_BYTES: usize = 64 * 1024;
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
    /// Lines written here and not stored yet, in order and without gaps: they start where the
    /// database ends.
    unstored: Vec<(i64, Bytes)>,
}

#[derive(Default)]
struct FeedState {
    published: Published,
    /// A reader runs for streams (see `LiveLogs::read`).
    reading: bool,
    /// This process writes the run's log (a `LogTap` is open).
    written_here: bool,
}

struct Feed {
    state: Mutex<FeedState>,
    tx: broadcast::Sender<Piece>,
    /// A stream joined: read now, and publish the status even if unchanged.
    nudge: tokio::sync::Notify,
}

impl Feed {
    fn new() -> Arc<Feed> {
        let (tx, _) = broadcast::channel(FEED_BUFFER);
        Arc::new(Feed { state: Mutex::default(), tx, nudge: tokio::sync::Notify::new() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FeedState> {
        self.state.lock().expect("feed lock")
    }

    fn publish(&self, piece: Piece) {
        self.publish_locked(&mut self.lock(), piece);
    }

    /// Sends `piece` to the streams; under the lock, so pieces go out in the order they are
    /// published and a joining stream's snapshot lines up with them.
    fn publish_locked(&self, state: &mut FeedState, piece: Piece) {
        let published = &mut state.published;
        let piece = match piece {
            Piece::Log { end, bytes } => {
                published.offset = published.offset.max(end);
                Piece::Log { end, bytes }
            }
            // The log before a status is everything published so far, lines from memory included.
            Piece::Status { status, at } => Piece::Status { status, at: at.max(published.offset) },
            Piece::End(status) => {
                published.ended = Some(status);
                Piece::End(status)
            }
        };
        let _ = self.tx.send(piece);
    }

    fn published(&self) -> Published {
        self.lock().published.clone()
    }

    /// The end of what is published (without copying the unstored lines).
    fn offset(&self) -> i64 {
        self.lock().published.offset
    }
}

/// The writer's end of a run's feed in this process: each line as it is written, and how far the
/// database has it.
pub struct LogTap {
    logs: Arc<LiveLogs>,
    run_id: i64,
    feed: Arc<Feed>,
}

impl LogTap {
    /// `bytes`, ending at byte `end` of the log, was written (and is not stored yet).
    pub fn written(&self, end: i64, bytes: Bytes) {
        let mut state = self.feed.lock();
        state.published.unstored.push((end, bytes.clone()));
        self.feed.publish_locked(&mut state, Piece::Log { end, bytes });
    }

    /// The database has the log up to `offset`.
    pub fn stored(&self, offset: i64) {
        self.feed.lock().published.unstored.retain(|(end, _)| *end > offset);
    }
}

impl Drop for LogTap {
    fn drop(&mut self) {
        let mut feeds = self.logs.feeds.lock().expect("feeds lock");
        let mut state = self.feed.lock();
        state.written_here = false;
        state.published.unstored.clear();
        if !state.reading {
            drop(state);
            self.logs.remove(self.run_id, &self.feed, &mut feeds);
        }
    }
}

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

/// Joins to a log piece the log pieces already waiting right after it, up to `EVENT_BYTES`: one
/// event for what came while the client read the last one, rather than one per line (a line is
/// still sent the moment it comes when nothing is waiting). The first piece not joined is handed
/// back, to be handled next.
fn gather(pieces: &mut broadcast::Receiver<Piece>, mut end: i64, bytes: Bytes) -> (i64, Bytes, Option<Result<Piece, broadcast::error::RecvError>>) {
    use broadcast::error::{RecvError, TryRecvError};
    let mut joined: Option<Vec<u8>> = None;
    let mut after = None;
    while joined.as_ref().map_or(bytes.len(), Vec::len) < EVENT_BYTES {
        let (next_end, next) = match pieces.try_recv() {
            Ok(Piece::Log { end, bytes }) => (end, bytes),
            Ok(other) => {
                after = Some(Ok(other));
                break;
            }
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Lagged(n)) => {
                after = Some(Err(RecvError::Lagged(n)));
                break;
            }
            Err(TryRecvError::Closed) => {
                after = Some(Err(RecvError::Closed));
                break;
            }
        };
        let start = next_end - next.len() as i64;
        if start > end {
            // A gap (pieces from the database and from memory meet): the stream reads it.
            after = Some(Ok(Piece::Log { end: next_end, bytes: next }));
            break;
        }
        if next_end > end {
            joined.get_or_insert_with(|| bytes.to_vec()).extend_from_slice(&next[(end - start) as usize..]);
            end = next_end;
        }
    }
    (end, joined.map_or(bytes, Bytes::from), after)
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

/// One client's stream: where it is in the log and which status it was told last.
struct Stream {
    db: Db,
    feed: Arc<Feed>,
    run_id: i64,
    offset: i64,
    status: Option<RunStatus>,
    tx: mpsc::Sender<LiveEvent>,
}

/// The client has gone.
struct Gone;

impl Stream {
    async fn run(&mut self, mut pieces: broadcast::Receiver<Piece>, published: Published) -> crate::db::DbResult<()> {
        let Ok(()) = self.catch_up_with(published.offset, published.unstored).await? else { return Ok(()) };
        if let Some(status) = published.ended {
            return self.end(status).await;
        }
        let mut held = None;
        loop {
            let next = match held.take() {
                Some(next) => next,
                None => pieces.recv().await,
            };
            let sent = match next {
                Ok(Piece::Log { end, bytes }) => {
                    let (end, bytes, after) = gather(&mut pieces, end, bytes);
                    held = after;
                    self.log(end, bytes).await?
                }
                Ok(Piece::Status { status, at }) => match self.catch_up(at).await? {
                    Ok(()) => self.status(status).await,
                    gone => gone,
                },
                Ok(Piece::End(status)) => return self.end(status).await,
                // Fell behind the feed: what was missed is in the database and the feed's
                // unstored lines.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let published = self.feed.published();
                    self.catch_up_with(published.offset, published.unstored).await?
                }
                // The feed stopped without an end (a failed read): the client reconnects and
                // resumes from its last event id.
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            };
            if sent.is_err() {
                return Ok(());
            }
        }
    }

    /// Sends the log up to `offset`: from the database up to where `unstored` (lines written here
    /// and not stored yet) begins, then those.
    async fn catch_up_with(&mut self, offset: i64, unstored: Vec<(i64, Bytes)>) -> crate::db::DbResult<Result<(), Gone>> {
        let stored = unstored.first().map_or(offset, |(end, bytes)| end - bytes.len() as i64);
        if let Err(gone) = self.catch_up(stored).await? {
            return Ok(Err(gone));
        }
        for (end, bytes) in unstored {
            if let Err(gone) = self.log(end, bytes).await? {
                return Ok(Err(gone));
            }
        }
        Ok(Ok(()))
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
        let event = LiveEvent::Log { end, text: String::from_utf8_lossy(&bytes).into_owned() };
        self.tx.send(event).await.map_err(|_| Gone)?;
        self.offset = end;
        Ok(())
    }

    async fn status(&mut self, status: RunStatus) -> Result<(), Gone> {
        if self.status == Some(status) {
            return Ok(());
        }
        self.status = Some(status);
        self.tx.send(LiveEvent::Status(status)).await.map_err(|_| Gone)
    }

    /// The run is over: the rest of the log (the database has all of it now), its last status,
    /// and `end`.
    async fn end(&mut self, status: RunStatus) -> crate::db::DbResult<()> {
        if self.catch_up(i64::MAX).await?.is_err() || self.status(status).await.is_err() {
            return Ok(());
        }
        let _ = self.tx.send(LiveEvent::End(status)).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::runs::NewRun;
    use crate::runs::source::Pinned;
    use app::model::run::RunKind;

    async fn next_log(rx: &mut mpsc::Receiver<LiveEvent>) -> (i64, String) {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("an event").expect("the stream goes on") {
                LiveEvent::Log { end, text } => return (end, text),
                LiveEvent::Status(_) => continue,
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn lines_reach_streams_before_they_are_stored_and_joining_streams_get_them_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite:{}", dir.path().join("db.sqlite").display()), 2).await.unwrap();
        let pinned = Pinned { git_ref: None, commit: None };
        let new = NewRun { environment: "staging", kind: RunKind::Plan, requested_by: "meera", message: "", pinned: &pinned, promotion_override: None };
        let run = db.insert_run(&new).await.unwrap().id;
        let logs = LiveLogs::new(db.clone(), Wakeup::new(db.clone()), 10, 10);

        // "one" is stored; "two" is written, in the writer's batch, not stored yet.
        let tap = logs.tap(run);
        db.append_log(run, 0, b"one\n").await.unwrap();
        tap.written(4, Bytes::from_static(b"one\n"));
        tap.stored(4);
        tap.written(8, Bytes::from_static(b"two\n"));

        let mut first = logs.stream(1, run, 0).unwrap();
        assert_eq!(next_log(&mut first).await, (4, "one\n".into()), "from the database");
        assert_eq!(next_log(&mut first).await, (8, "two\n".into()), "from memory: the database has 4 bytes");
        tap.written(14, Bytes::from_static(b"three\n"));
        assert_eq!(next_log(&mut first).await, (14, "three\n".into()), "handed over as written");

        // A viewer resuming after "one" gets the rest once, though none of it is stored.
        let mut resumed = logs.stream(2, run, 4).unwrap();
        assert_eq!(next_log(&mut resumed).await, (8, "two\n".into()));
        assert_eq!(next_log(&mut resumed).await, (14, "three\n".into()));

        // Stored, the lines leave memory; a later viewer reads them from the database.
        db.append_log(run, 4, b"two\nthree\n").await.unwrap();
        tap.stored(14);
        assert!(logs.feeds.lock().unwrap()[&run].published().unstored.is_empty());
        tap.written(19, Bytes::from_static(b"four\n"));
        let mut late = logs.stream(3, run, 0).unwrap();
        let mut text = String::new();
        let mut end = 0;
        while end < 19 {
            let (e, t) = next_log(&mut late).await;
            assert!(e > end, "no piece twice");
            (end, text) = (e, text + &t);
        }
        assert_eq!(text, "one\ntwo\nthree\nfour\n");
        assert_eq!(next_log(&mut first).await, (19, "four\n".into()));
        assert_eq!(next_log(&mut resumed).await, (19, "four\n".into()));
    }
}
