//! The per-message bookkeeping both read paths share: where a slice's read stands, which
//! sequences it skipped, what a client-side filter dropped, and the hand-off of messages to the
//! slice's writer in chunks; plus the check that a read which saw "nothing more" before the end
//! of its slice was not answered by a replica running behind the stream leader.
//!
//! A read path feeds every message it receives to [`Cursor::offer`] (which drops duplicates
//! after a retry and records jumps), then [`Cursor::push`]es the ones it keeps. Sequences are
//! strictly increasing on the way out, so a retry from `next` can never duplicate a row.
//! After a read, [`classify_jumps`] sorts the sequences no message came for into gaps (the stream
//! no longer holds them) and messages a server-side filter excluded.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::message::RawMessage;
use crate::nats::plan::FilterMode;
use crate::nats::reply::StoredMessage;

/// Messages are handed downstream in chunks of this many,
pub const CHUNK: usize = 1024;
/// or of this many payload and header bytes, whichever comes first: with the channel's few
/// chunks in flight, a reader holds a bounded amount whatever the message sizes.
pub const CHUNK_BYTES: usize = 4 << 20;

/// What a read delivered besides the messages themselves.
#[derive(Debug, Default, Clone)]
pub struct ReadReport {
    /// Messages handed downstream.
    pub delivered: u64,
    /// Messages read but dropped by a client-side subject filter.
    pub filtered_out: u64,
    /// Inclusive ranges of sequences inside the range that no message was delivered for.
    pub jumps: Vec<(u64, u64)>,
    /// Consumers created (1 plus one per recovery).
    pub consumers_created: u64,
    /// Recoveries, with their reasons, for the summary.
    pub recoveries: Vec<String>,
}

impl ReadReport {
    /// Adds another slice's report.
    pub fn merge(&mut self, other: ReadReport) {
        self.delivered += other.delivered;
        self.filtered_out += other.filtered_out;
        self.jumps.extend(other.jumps);
        self.consumers_created += other.consumers_created;
        self.recoveries.extend(other.recoveries);
    }
}

/// Progress callback: called with the highest sequence accounted for so far.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// What to do with a message just received.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// New and inside the slice: build it and [`Cursor::push`] it (or count it as filtered).
    Take,
    /// Already handed over before a retry: drop it.
    Duplicate,
    /// Past the slice's end: the read is over.
    PastEnd,
}

/// A slice's read position and its report.
pub struct Cursor {
    /// The next sequence not yet accounted for.
    pub next: u64,
    pub end: u64,
    chunk: Vec<RawMessage>,
    /// Payload and header bytes in `chunk`.
    chunk_bytes: usize,
    tx: mpsc::Sender<Vec<RawMessage>>,
    progress: Progress,
    pub report: ReadReport,
}

impl Cursor {
    pub fn new(
        (start, end): (u64, u64),
        tx: mpsc::Sender<Vec<RawMessage>>,
        progress: Progress,
    ) -> Self {
        Self {
            next: start,
            end,
            chunk: Vec::with_capacity(CHUNK),
            chunk_bytes: 0,
            tx,
            progress,
            report: ReadReport::default(),
        }
    }

    /// True once every sequence of the slice is accounted for.
    pub fn done(&self) -> bool {
        self.next > self.end
    }

    /// Accounts for sequence `seq`; a sequence above `next` leaves a jump behind it.
    pub fn offer(&mut self, seq: u64) -> Offer {
        if seq > self.end {
            return Offer::PastEnd;
        }
        if seq < self.next {
            return Offer::Duplicate;
        }
        if seq > self.next {
            self.report.jumps.push((self.next, seq - 1));
        }
        self.next = seq + 1;
        Offer::Take
    }

    /// Counts a taken message that a client-side subject filter drops.
    pub fn filtered(&mut self) {
        self.report.filtered_out += 1;
    }

    /// Hands a taken message over; sends a full chunk to the writer. Fails when the writer hung up.
    pub async fn push(&mut self, msg: RawMessage) -> Result<()> {
        let seq = msg.stream_seq;
        self.chunk_bytes += msg.payload.len() + msg.headers.as_ref().map_or(0, String::len);
        self.chunk.push(msg);
        self.report.delivered += 1;
        if self.chunk.len() >= CHUNK || self.chunk_bytes >= CHUNK_BYTES {
            self.chunk_bytes = 0;
            let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
            self.tx.send(full).await.map_err(|_| writer_stopped())?;
            (self.progress)(seq);
        }
        Ok(())
    }

    /// Records a recovery (with the position it restarts from) for the summary.
    pub fn recovery(&mut self, reason: impl std::fmt::Display) {
        let at = self.next;
        self.report
            .recoveries
            .push(format!("at seq {at}: {reason}"));
    }

    /// Ends the slice's read: the unread tail is a jump, the last chunk goes to the writer, and
    /// progress reaches the slice's end.
    pub async fn finish(mut self) -> Result<ReadReport> {
        if self.next <= self.end {
            self.report.jumps.push((self.next, self.end));
        }
        if !self.chunk.is_empty() && self.tx.send(self.chunk).await.is_err() {
            return Err(writer_stopped());
        }
        (self.progress)(self.end);
        Ok(self.report)
    }
}

pub fn writer_stopped() -> Error {
    Error::Replay("the writer stopped".into())
}

/// How often a wait for the next message looks whether the connection was re-established.
const RECONNECT_CHECK: Duration = Duration::from_millis(250);

/// Why a wait for the next message gave up.
#[derive(Debug, PartialEq, Eq)]
pub enum Stalled {
    /// Nothing came within the wait's limit.
    Silence(Duration),
    /// The client reconnected since the read began: what was in flight is lost, and a consumer
    /// on a restarted server is gone, so the read restarts from the cursor at once.
    Reconnected,
}

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stalled::Silence(d) => write!(f, "nothing received for {} s", d.as_secs()),
            Stalled::Reconnected => write!(f, "reconnected to the server mid-read"),
        }
    }
}

/// The next item of `items`, unless `limit` passes without one or the client has connected
/// again since `connects_at_start` (read from `client.statistics().connects`).
pub async fn next_or_reconnect<S: futures::Stream + Unpin>(
    client: &async_nats::Client,
    items: &mut S,
    connects_at_start: u64,
    limit: Duration,
) -> std::result::Result<Option<S::Item>, Stalled> {
    use futures::StreamExt;
    use std::sync::atomic::Ordering;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout(RECONNECT_CHECK, items.next()).await {
            Ok(item) => return Ok(item),
            Err(_) if client.statistics().connects.load(Ordering::Relaxed) != connects_at_start => {
                return Err(Stalled::Reconnected)
            }
            Err(_) if tokio::time::Instant::now() >= deadline => {
                return Err(Stalled::Silence(limit))
            }
            Err(_) => {}
        }
    }
}

/// Consecutive failed attempts (without progress) before a slice's read gives up.
pub const MAX_RETRIES: u32 = 10;

/// Pause before retry number `failures` (linear, capped at 2 s).
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100 * u64::from(failures.min(20)))
}

/// The retry policy both read paths follow: an attempt that moved the cursor resets the count;
/// [`MAX_RETRIES`] attempts in a row without progress end the read with the last reason.
pub struct Retries {
    failures: u32,
    /// Names the read path in the final error.
    what: &'static str,
}

impl Retries {
    pub fn new(what: &'static str) -> Self {
        Self { failures: 0, what }
    }

    /// Records a failed attempt that began at `before`, then waits before the next one. An
    /// attempt that moved nothing first takes the slice's next message from the stream leader
    /// ([`take_from_leader`]), so a message the read path cannot deliver never stalls the read.
    pub async fn again(
        &mut self,
        (client, stream, filter): (&async_nats::Client, &str, &FilterMode),
        cursor: &mut Cursor,
        before: u64,
        mut reason: String,
    ) -> Result<()> {
        if cursor.next == before {
            reason += &taken_note(take_from_leader(client, stream, filter, cursor).await);
        }
        self.failures = if cursor.next > before {
            1
        } else {
            self.failures + 1
        };
        if self.failures > MAX_RETRIES {
            return Err(Error::Replay(format!(
                "giving up on {} at sequence {} after {MAX_RETRIES} failed attempts: {reason}",
                self.what, cursor.next
            )));
        }
        cursor.recovery(reason);
        tokio::time::sleep(backoff(self.failures)).await;
        Ok(())
    }
}

/// What taking a message from the leader did, as a note for the recovery's reason.
fn taken_note(taken: Result<Option<u64>>) -> String {
    match taken {
        Ok(Some(seq)) => format!("; seq {seq} taken from the stream leader (STREAM.MSG.GET)"),
        Ok(None) => String::new(),
        Err(e) => format!("; taking the next message from the leader: {e}"),
    }
}

/// After a read saw "nothing more": `None` when the slice is truly read to its end, else why it
/// must be read again (`who` answered from a replica behind the leader, or the check failed).
/// The leader's answer is the slice's next message: it is taken at once, not fetched again.
pub async fn end_or_retry(
    client: &async_nats::Client,
    stream: &str,
    cursor: &mut Cursor,
    filter: &FilterMode,
    who: &str,
) -> Option<String> {
    if cursor.done() {
        return None;
    }
    match leader_get(client, stream, cursor.next, filter).await {
        Ok(None) => None,
        Ok(Some(m)) if m.seq > cursor.end => None,
        Ok(Some(m)) => Some(format!(
            "{who} is behind the stream leader{}",
            taken_note(take_stored(filter, cursor, m).await)
        )),
        Err(e) => Some(format!(
            "checking the end of the slice with the leader: {e}"
        )),
    }
}

#[derive(Deserialize)]
struct MsgGetReply {
    message: Option<StoredMessage>,
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

/// JetStream's "no message found" error code.
const NO_MESSAGE_FOUND: u64 = 10037;

/// Asks the stream leader (`STREAM.MSG.GET`, which only the leader answers, unlike direct gets
/// and replica-placed consumers) for the first stored message at or after `from` that the read's
/// filter selects. `Ok(None)`: nothing stored from there on.
pub async fn leader_get(
    client: &async_nats::Client,
    stream: &str,
    from: u64,
    filter: &FilterMode,
) -> Result<Option<StoredMessage>> {
    let subjects: Vec<&str> = match filter {
        FilterMode::Server(f) => f.iter().map(String::as_str).collect(),
        _ => vec![">"],
    };
    let mut first: Option<StoredMessage> = None;
    for subj in subjects {
        let reply: MsgGetReply = crate::nats::api::js_request(
            client,
            format!("$JS.API.STREAM.MSG.GET.{stream}"),
            serde_json::json!({ "seq": from, "next_by_subj": subj }),
        )
        .await?;
        match (reply.message, reply.error) {
            (Some(m), _) if m.seq < from => {
                return Err(Error::JetStream(format!(
                    "message get from seq {from} answered seq {}",
                    m.seq
                )))
            }
            (Some(m), _) => {
                if first.as_ref().is_none_or(|f| m.seq < f.seq) {
                    first = Some(m);
                }
            }
            (None, Some(e)) if e.err_code == NO_MESSAGE_FOUND => {}
            (None, Some(e)) => {
                return Err(Error::JetStream(format!(
                    "message get on the stream leader: {} ({})",
                    e.description, e.err_code
                )))
            }
            (None, None) => {
                return Err(Error::JetStream(
                    "message get on the stream leader: empty answer".into(),
                ))
            }
        }
    }
    Ok(first)
}

/// After an attempt of a read path that moved nothing: takes the next message of the slice from
/// the stream leader with `STREAM.MSG.GET`, whose JSON answer no client library can mistake for
/// a status line or fail to parse. A message the read path cannot deliver (a stored
/// `NATS/1.0 100 Idle Heartbeat` block that async-nats swallows as a heartbeat on servers before
/// 2.11.15 / 2.12.6 / 2.14.0; a header block its parser rejects) thereby becomes a row instead of
/// stalling every read of the window. Returns the sequence taken, if any.
pub async fn take_from_leader(
    client: &async_nats::Client,
    stream: &str,
    filter: &FilterMode,
    cursor: &mut Cursor,
) -> Result<Option<u64>> {
    if cursor.done() {
        return Ok(None);
    }
    let Some(stored) = leader_get(client, stream, cursor.next, filter).await? else {
        return Ok(None);
    };
    take_stored(filter, cursor, stored).await
}

/// Takes a message the leader returned, if it is the slice's next one.
async fn take_stored(
    filter: &FilterMode,
    cursor: &mut Cursor,
    stored: StoredMessage,
) -> Result<Option<u64>> {
    let seq = stored.seq;
    if cursor.offer(seq) != Offer::Take {
        return Ok(None);
    }
    if filter.keeps(&stored.subject) {
        let raw = stored.into_raw().map_err(Error::Replay)?;
        cursor.push(raw).await?;
    } else {
        cursor.filtered();
    }
    Ok(Some(seq))
}

/// Merges sorted, possibly adjacent inclusive ranges.
pub fn merge_ranges(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Splits jump ranges into sequences the stream no longer holds (gaps) and sequences still stored
/// (excluded by a server-side filter). `first_seq` is the stream's first sequence after the read;
/// `deleted` its interior deleted sequences, sorted.
pub fn classify_jumps(
    jumps: &[(u64, u64)],
    first_seq: u64,
    deleted: &[u64],
    filtered_by_server: bool,
) -> (Vec<(u64, u64)>, u64) {
    if !filtered_by_server {
        // Without a server filter, every sequence is delivered unless the stream lost it.
        return (merge_ranges(jumps.to_vec()), 0);
    }
    let mut gaps = Vec::new();
    let mut filtered = 0;
    for &(a, b) in jumps {
        if a < first_seq {
            gaps.push((a, b.min(first_seq - 1)));
        }
        let lo = a.max(first_seq);
        if lo > b {
            continue;
        }
        let from = deleted.partition_point(|&d| d < lo);
        let to = deleted.partition_point(|&d| d <= b);
        for &d in &deleted[from..to] {
            gaps.push((d, d));
        }
        filtered += (b - lo + 1) - (to - from) as u64;
    }
    (merge_ranges(gaps), filtered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging() {
        assert_eq!(
            merge_ranges(vec![(5, 6), (1, 2), (3, 3), (9, 9)]),
            vec![(1, 3), (5, 6), (9, 9)]
        );
    }

    #[test]
    fn classification() {
        let (gaps, filtered) = classify_jumps(&[(1, 4), (8, 12)], 3, &[9, 10], true);
        assert_eq!(gaps, vec![(1, 2), (9, 10)]);
        assert_eq!(filtered, 2 + 3);
        let (gaps, filtered) = classify_jumps(&[(2, 3)], 1, &[], false);
        assert_eq!((gaps, filtered), (vec![(2, 3)], 0));
    }
}
