//! Run logs: written in chunks of whole lines at byte offsets and read back from any offset (live
//! streams: `live_log`, which also gets every line from the writer as it is written). Every line is scrubbed of the run's sensitive values before it is
//! stored, so nothing downstream (readers, streams, the page) ever holds one. Readers go through
//! the database page by page, so a huge log is never held in memory.

use super::live_log::LogTap;
use super::scrub::Scrubber;
use super::wakeup::Wakeup;
use crate::db::Db;
use bytes::Bytes;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Lines are flushed when this much is buffered, or after `FLUSH_AFTER` of quiet.
const CHUNK_BYTES: usize = 64 * 1024;
const FLUSH_AFTER: Duration = Duration::from_millis(50);

/// Appends a run's output to its log. Send whole lines (newline included) through `sender()`.
pub struct LogWriter {
    tx: mpsc::Sender<Vec<u8>>,
    task: JoinHandle<i64>,
    scrubber: SharedScrubber,
}

/// The writer's scrubber, set once the run's sensitive values are known.
type SharedScrubber = Arc<RwLock<Arc<Scrubber>>>;

impl LogWriter {
    /// Starts writing at `offset`, the log's current length, handing each line to `tap` too.
    pub fn start(db: Db, wakeup: Wakeup, tap: LogTap, run_id: i64, offset: i64) -> LogWriter {
        let (tx, rx) = mpsc::channel::<Vec<u8>>(256);
        let scrubber = SharedScrubber::default();
        let out = Output { db, wakeup, tap, run_id };
        let task = tokio::spawn(write_chunks(out, offset, rx, scrubber.clone()));
        LogWriter { tx, task, scrubber }
    }

    pub fn sender(&self) -> &mpsc::Sender<Vec<u8>> {
        &self.tx
    }

    /// Masks these values in every line from now on. Lines already sent go through it too:
    /// the writer scrubs each line as it takes it from the channel.
    pub fn scrub_with(&self, scrubber: Scrubber) {
        *self.scrubber.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(scrubber);
    }

    /// The scrubber in effect, for error texts and anything else that leaves the run.
    pub fn scrubber(&self) -> Arc<Scrubber> {
        self.scrubber.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A line of our own (a step header, an explanation), bold so it stands out from terraform's.
    pub async fn note(&self, text: &str) {
        let _ = self.tx.send(format!("\x1b[1m{text}\x1b[0m\n").into_bytes()).await;
    }

    /// Flushes what is left and returns the log's length.
    pub async fn finish(self) -> i64 {
        drop(self.tx);
        self.task.await.unwrap_or_default()
    }
}

/// Where a run's log goes: the database in batches, live streams line by line.
struct Output {
    db: Db,
    wakeup: Wakeup,
    tap: LogTap,
    run_id: i64,
}

async fn write_chunks(out: Output, mut offset: i64, mut rx: mpsc::Receiver<Vec<u8>>, scrubber: SharedScrubber) -> i64 {
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
    loop {
        let next = if buf.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(FLUSH_AFTER, rx.recv()).await {
                Ok(line) => line,
                Err(_quiet) => {
                    out.flush(&mut offset, &mut buf).await;
                    continue;
                }
            }
        };
        match next {
            Some(line) => {
                let scrubber = scrubber.read().unwrap_or_else(|e| e.into_inner()).clone();
                let line = if scrubber.is_empty() { line } else { scrubber.bytes(&line) };
                buf.extend_from_slice(&line);
                // Its place in the log is final: a failed flush keeps the buffer and retries it
                // at the same offset.
                out.tap.written(offset + buf.len() as i64, Bytes::from(line));
                if buf.len() >= CHUNK_BYTES {
                    out.flush(&mut offset, &mut buf).await;
                }
            }
            None => {
                out.flush(&mut offset, &mut buf).await;
                return offset;
            }
        }
    }
}

impl Output {
    async fn flush(&self, offset: &mut i64, buf: &mut Vec<u8>) {
        if buf.is_empty() {
            return;
        }
        match self.db.append_log(self.run_id, *offset, buf).await {
            Ok(()) => {
                *offset += buf.len() as i64;
                buf.clear();
                self.tap.stored(*offset);
                self.wakeup.run_changed(self.run_id).await;
            }
            // Kept in the buffer: the next flush tries again with more lines appended.
            Err(e) => tracing::warn!(run_id = self.run_id, "could not store log output, will retry: {e}"),
        }
    }
}

/// The body of `GET /runs/{id}/log?offset=N`: everything from N, streamed page by page. Fused:
/// a compressing layer polls a body once more after its end, which an unfused `unfold` answers
/// with a panic (the fuzzer found it: every gzip download of a log broke off at its end).
pub fn body_from(db: Db, run_id: i64, from: i64) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    use futures_util::StreamExt;
    futures_util::stream::unfold(Some(from), move |state| {
        let db = db.clone();
        async move {
            let from = state?;
            match db.log_page(run_id, from).await {
                Ok(page) if page.is_empty() => None,
                Ok(page) => {
                    let end = page.last().map(|(end, _)| *end).unwrap_or(from);
                    let mut joined = Vec::new();
                    for (_, bytes) in page {
                        joined.extend_from_slice(&bytes);
                    }
                    Some((Ok(Bytes::from(joined)), Some(end)))
                }
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    })
    .fuse()
}

/// The end of a run's log, at most `max_bytes` of it, starting at a line boundary when cut: what
/// the run page shows when it loads (the rest is a download away), and where its live stream
/// continues from.
pub async fn tail(db: &Db, run: &app::model::run::Run, max_bytes: i64) -> Result<app::server_fns::LogTail, crate::db::DbError> {
    let mut from = (run.log_bytes - max_bytes).max(0);
    let mut bytes = Vec::new();
    let mut at = from;
    while at < run.log_bytes {
        let page = db.log_page(run.id, at).await?;
        let Some((end, _)) = page.last() else { break };
        at = *end;
        for (_, chunk) in page {
            bytes.extend_from_slice(&chunk);
        }
    }
    if from > 0 {
        if let Some(nl) = bytes.iter().position(|b| *b == b'\n') {
            bytes.drain(..=nl);
            from += nl as i64 + 1;
        }
    }
    // `run` was read before its log: if it had finished then, its log was complete.
    let finished = run.status.is_terminal();
    Ok(app::server_fns::LogTail { text: String::from_utf8_lossy(&bytes).into_owned(), from, to: at.max(from), finished })
}
