//! One output's loop: read the records stored after its cursor, write them to the receiver,
//! and move the cursor once they are delivered; on any failure, connect again and send again
//! from the cursor (at least once).
//!
//! Syslog over TCP has no acknowledgement. A batch counts as delivered once the connection
//! was still open [`CONFIRM_AFTER`] after it was written and, on Linux, the receiver's TCP has
//! acknowledged every byte (a receiver that stopped would have closed the connection by then;
//! one whose host died leaves data unacknowledged until the connection times out); what was
//! not confirmed is sent again. Records wait in storage, so the receiver being away costs
//! backlog, bounded by `max_backlog` (beyond it the oldest are skipped and counted as dropped)
//! and by retention (records it deletes first are not sent). Storage and acknowledgements to
//! sentries never wait for an output (on SQLite, outputs read through the reading
//! connection).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use super::cursor::CursorFile;
use super::link::{Dialer, Link, still_open};
use super::stats::OutputStats;
use super::syslog::SyslogFormat;
use crate::storage::{RecordFilter, Storage, StorageError};

/// Records read and written at a time, and the most bytes of params and messages a page
/// reads (records may be megabytes each; two pages are in memory at once).
const PAGE: usize = 2000;
const PAGE_BYTES: usize = 8 << 20;
/// How long after a write the connection must still be open for the write to count.
const CONFIRM_AFTER: Duration = Duration::from_secs(2);
/// How long one write may take (a receiver that stopped reading).
const WRITE_LIMIT: Duration = Duration::from_secs(30);
/// How long closing the connection may take when the base stops.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(2);
/// How often an idle output looks for new records.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// How often the backlog is measured (and bounded).
const BACKLOG_EVERY: Duration = Duration::from_secs(5);
/// Waits between connection attempts: the first, and the longest.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MOST: Duration = Duration::from_secs(30);

/// Whether the output is told to stop (or whoever could tell it is gone).
fn stopping(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// One `[[forward]]` output, ready to run.
pub struct Output {
    pub name: String,
    pub dialer: Dialer,
    pub format: SyslogFormat,
    pub storage: Arc<dyn Storage>,
    pub cursor: CursorFile,
    pub max_backlog: u64,
    pub stats: Arc<OutputStats>,
}

/// A page of records, framed.
struct FramedPage {
    frames: Vec<u8>,
    records: usize,
    /// Whether it stopped at a bound (more may be waiting) rather than at the newest record.
    full: bool,
    /// The id of its last record (none: nothing was stored after the position).
    last_id: Option<i64>,
}

/// Where the output is: the last id delivered (saved) and the last one written.
struct Position {
    delivered: i64,
    written: i64,
    /// (when written, last id) of writes not yet confirmed, oldest first.
    unconfirmed: VecDeque<(Instant, i64)>,
}

impl Output {
    /// Runs until `stop` turns true, starting after record `delivered`.
    pub async fn run(self, delivered: i64, mut stop: watch::Receiver<bool>) {
        let mut position = Position { delivered, written: delivered, unconfirmed: VecDeque::new() };
        let mut retry = RETRY_FIRST;
        let mut last_failure = String::new();
        while !stopping(&stop) {
            self.bound_backlog(&mut position).await;
            let connection = tokio::select! {
                connection = self.dialer.connect() => connection,
                _ = stop.changed() => break,
            };
            let failure = match connection {
                Ok(link) => {
                    self.stats.connected.set(1);
                    tracing::info!(output = %self.name, "forwarding: connected");
                    retry = RETRY_FIRST;
                    let outcome = self.pump(link, &mut position, &mut stop).await;
                    self.stats.connected.set(0);
                    match outcome {
                        Ok(()) => break,
                        Err(error) => error,
                    }
                }
                Err(error) => error,
            };
            self.stats.failures.inc();
            // What was written but not confirmed is sent again.
            position.written = position.delivered;
            position.unconfirmed.clear();
            let failure = format!("{failure:#}");
            if failure != last_failure {
                tracing::warn!(output = %self.name, error = %failure, "forwarding: receiver unreachable, retrying");
                last_failure = failure;
            }
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = stop.changed() => break,
            }
            retry = (retry * 2).min(RETRY_MOST);
        }
    }

    /// Writes what is stored after the cursor until the connection fails (`Err`) or `stop`.
    /// The next page is read and framed (on the blocking pool) while this one is written.
    async fn pump(
        &self,
        mut link: Link,
        position: &mut Position,
        stop: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut measured = Instant::now();
        // The page being read ahead, if any.
        let mut next = None;
        loop {
            if stopping(stop) {
                // What is not confirmed is sent again after the next start.
                let _ = tokio::time::timeout(SHUTDOWN_LIMIT, link.stream.shutdown()).await;
                return Ok(());
            }
            if measured.elapsed() >= BACKLOG_EVERY {
                let before = position.written;
                self.bound_backlog(position).await;
                measured = Instant::now();
                if position.written != before {
                    next = None;
                }
            }
            let reading = next.take().unwrap_or_else(|| self.framed_page(position.written));
            let page = tokio::select! {
                page = reading => page.map_err(|e| anyhow!("reading records: {e}"))??,
                _ = stop.changed() => return Ok(()),
            };
            // A full page: more is waiting, read it while this one is written.
            let full = page.full;
            if let (true, Some(last)) = (full, page.last_id) {
                next = Some(self.framed_page(last));
            }
            if let Some(last) = page.last_id {
                let writing = tokio::time::timeout(WRITE_LIMIT, async {
                    link.stream.write_all(&page.frames).await?;
                    link.stream.flush().await
                });
                tokio::select! {
                    written = writing => written
                        .map_err(|_| anyhow!("the receiver took no data for {WRITE_LIMIT:?}"))?
                        .context("write")?,
                    // Cut short: the page is sent again after the next start.
                    _ = stop.changed() => return Ok(()),
                }
                position.written = last;
                position.unconfirmed.push_back((Instant::now(), last));
                self.stats.sent.inc_by(page.records as u64);
                self.stats.sent_bytes.inc_by(page.frames.len() as u64);
            }
            self.confirm(&mut link, position).await?;
            if !full {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }

    /// Reads up to [`PAGE`] records stored after `after` and frames them, on the blocking pool.
    fn framed_page(&self, after: i64) -> tokio::task::JoinHandle<Result<FramedPage, StorageError>> {
        let (storage, format) = (self.storage.clone(), self.format.clone());
        tokio::task::spawn_blocking(move || {
            let filter = RecordFilter {
                after_id: Some(after),
                limit: PAGE,
                own_node_only: true,
                max_bytes: Some(PAGE_BYTES),
                ..RecordFilter::default()
            };
            let page = storage.records(&filter)?;
            // Messages are at most `max_message_bytes`, however large the records.
            let most = format.max_message_bytes + 16;
            let mut frames =
                Vec::with_capacity(page.iter().map(|(_, r)| (r.params.len() + 200).min(most)).sum());
            for (_, record) in &page {
                format.frame(record, &mut frames);
            }
            let bytes: usize =
                page.iter().map(|(_, r)| r.params.len() + r.msg.as_ref().map_or(0, String::len)).sum();
            let full = page.len() == PAGE || bytes >= PAGE_BYTES;
            Ok(FramedPage { frames, records: page.len(), full, last_id: page.last().map(|(id, _)| *id) })
        })
    }

    /// Moves the saved cursor past the writes the receiver has had for [`CONFIRM_AFTER`] with
    /// the connection still open and (on Linux) every byte acknowledged by its TCP; `Err`
    /// when it has closed.
    async fn confirm(&self, link: &mut Link, position: &mut Position) -> anyhow::Result<()> {
        let Some(&(written_at, _)) = position.unconfirmed.front() else { return Ok(()) };
        if written_at.elapsed() < CONFIRM_AFTER {
            return Ok(());
        }
        if !still_open(&mut link.stream).await {
            return Err(anyhow!("the receiver closed the connection"));
        }
        if !link.all_acknowledged() {
            // Waits; data unacknowledged for long ends the connection (`TCP_USER_TIMEOUT`).
            return Ok(());
        }
        let mut confirmed = None;
        while let Some(&(at, id)) = position.unconfirmed.front() {
            if at.elapsed() < CONFIRM_AFTER {
                break;
            }
            confirmed = Some(id);
            position.unconfirmed.pop_front();
        }
        if let Some(id) = confirmed {
            self.save(position, id).await;
        }
        Ok(())
    }

    /// Saves `id` as delivered. A cursor that cannot be saved is logged: the records after
    /// the old one are sent again after a restart (at least once), nothing is lost.
    async fn save(&self, position: &mut Position, id: i64) {
        position.delivered = id;
        let cursor = self.cursor.clone();
        match tokio::task::spawn_blocking(move || cursor.save(id)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(output = %self.name, error = %format!("{error:#}"), "forwarding: cannot save the cursor")
            }
            Err(_) => {}
        }
    }

    /// Measures the backlog (records stored after the last one delivered, those written but
    /// not yet confirmed included) and, over `max_backlog`, skips the oldest: counted as
    /// dropped, and saved, so a restart does not bring them back.
    async fn bound_backlog(&self, position: &mut Position) {
        let (storage, after, keep) = (self.storage.clone(), position.delivered, self.max_backlog);
        let measured = tokio::task::spawn_blocking(move || storage.forward_backlog(after, keep)).await;
        let backlog = match measured {
            Ok(Ok(backlog)) => backlog,
            Ok(Err(error)) => {
                tracing::debug!(output = %self.name, %error, "forwarding: cannot measure the backlog");
                return;
            }
            Err(_) => return,
        };
        self.stats.backlog.set(i64::try_from(backlog.waiting).unwrap_or(i64::MAX));
        if let Some(skip_to) = backlog.skip_to {
            self.stats.dropped.inc_by(backlog.skipped);
            tracing::warn!(
                output = %self.name,
                dropped = backlog.skipped,
                max_backlog = self.max_backlog,
                "forwarding: backlog over its bound, the oldest records were skipped"
            );
            position.written = position.written.max(skip_to);
            position.unconfirmed.retain(|(_, id)| *id > skip_to);
            self.save(position, skip_to).await;
        }
    }
}
