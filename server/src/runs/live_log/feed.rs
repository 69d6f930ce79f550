//! A run's feed: what one reader (or this process's writer) publishes to every stream of the
//! run, and the writer's end of it (`LogTap`).

use super::*;

#[derive(Clone, Debug)]
pub(super) enum Piece {
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
pub(super) struct Published {
    pub(super) offset: i64,
    pub(super) ended: Option<RunStatus>,
    /// Lines written here and not stored yet, in order and without gaps: they start where the
    /// database ends.
    pub(super) unstored: Vec<(i64, Bytes)>,
}

#[derive(Default)]
pub(super) struct FeedState {
    pub(super) published: Published,
    /// A reader runs for streams (see `LiveLogs::read`).
    pub(super) reading: bool,
    /// This process writes the run's log (a `LogTap` is open).
    pub(super) written_here: bool,
}

pub(super) struct Feed {
    pub(super) state: Mutex<FeedState>,
    pub(super) tx: broadcast::Sender<Piece>,
    /// A stream joined: read now, and publish the status even if unchanged.
    pub(super) nudge: tokio::sync::Notify,
}

impl Feed {
    pub(super) fn new() -> Arc<Feed> {
        let (tx, _) = broadcast::channel(FEED_BUFFER);
        Arc::new(Feed { state: Mutex::default(), tx, nudge: tokio::sync::Notify::new() })
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, FeedState> {
        self.state.lock().expect("feed lock")
    }

    pub(super) fn publish(&self, piece: Piece) {
        self.publish_locked(&mut self.lock(), piece);
    }

    /// Sends `piece` to the streams; under the lock, so pieces go out in the order they are
    /// published and a joining stream's snapshot lines up with them.
    pub(super) fn publish_locked(&self, state: &mut FeedState, piece: Piece) {
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

    pub(super) fn published(&self) -> Published {
        self.lock().published.clone()
    }

    /// The end of what is published (without copying the unstored lines).
    pub(super) fn offset(&self) -> i64 {
        self.lock().published.offset
    }
}

/// The writer's end of a run's feed in this process: each line as it is written, and how far the
/// database has it.
pub struct LogTap {
    pub(super) logs: Arc<LiveLogs>,
    pub(super) run_id: i64,
    pub(super) feed: Arc<Feed>,
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
