//! One client's stream: it catches up from the database (and the feed's unstored lines), then
//! follows the feed, cutting off what it has and reading any gap.

use super::*;

/// At most this much log goes into one event when several pieces wait for a stream.
const EVENT_BYTES: usize = 64 * 1024;

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

/// One client's stream: where it is in the log and which status it was told last.
pub(super) struct Stream {
    pub(super) db: Db,
    pub(super) feed: Arc<Feed>,
    pub(super) run_id: i64,
    pub(super) offset: i64,
    pub(super) status: Option<RunStatus>,
    pub(super) tx: mpsc::Sender<LiveEvent>,
}

/// The client has gone.
struct Gone;

impl Stream {
    pub(super) async fn run(&mut self, mut pieces: broadcast::Receiver<Piece>, published: Published) -> crate::db::DbResult<()> {
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
            let page = self.db.log_page(self.run_id, self.offset).await?;
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
