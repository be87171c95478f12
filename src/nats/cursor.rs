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

/// Messages are handed downstream in chunks of this many.
pub const CHUNK: usize = 1024;

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

/// Headers as a JSON object of arrays (repeated values kept), leaving out the names in `skip`;
/// `None` when nothing is left.
pub fn headers_json(h: &async_nats::HeaderMap, skip: &[&str]) -> Option<String> {
    let mut map = serde_json::Map::new();
    for (name, values) in h.iter() {
        let name = name.to_string();
        if skip.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
            continue;
        }
        let vals = values
            .iter()
            .map(|v| serde_json::Value::String(v.to_string()))
            .collect();
        map.insert(name, serde_json::Value::Array(vals));
    }
    (!map.is_empty()).then(|| serde_json::Value::Object(map).to_string())
}

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
        self.chunk.push(msg);
        self.report.delivered += 1;
        if self.chunk.len() >= CHUNK {
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

    /// Records a failed attempt that began at `before`, then waits before the next one.
    pub async fn again(&mut self, cursor: &mut Cursor, before: u64, reason: String) -> Result<()> {
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

/// After a read saw "nothing more": `None` when the slice is truly read to its end, else why it
/// must be read again (`who` answered from a replica behind the leader, or the check failed).
pub async fn end_or_retry(
    client: &async_nats::Client,
    stream: &str,
    cursor: &Cursor,
    filter: &FilterMode,
    who: &str,
) -> Option<String> {
    match behind_leader(client, stream, cursor, filter).await {
        Ok(false) => None,
        Ok(true) => Some(format!("{who} is behind the stream leader")),
        Err(e) => Some(format!(
            "checking the end of the slice with the leader: {e}"
        )),
    }
}

#[derive(Deserialize)]
struct MsgGetReply {
    message: Option<StoredSeq>,
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct StoredSeq {
    seq: u64,
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
/// and replica-placed consumers) for the first stored sequence at or after `from` that the read's
/// filter selects. `Ok(None)`: nothing stored from there on.
pub async fn leader_next(
    client: &async_nats::Client,
    stream: &str,
    from: u64,
    filter: &FilterMode,
) -> Result<Option<u64>> {
    let subjects: Vec<&str> = match filter {
        FilterMode::Server(f) => f.iter().map(String::as_str).collect(),
        _ => vec![">"],
    };
    let mut first: Option<u64> = None;
    for subj in subjects {
        let reply: MsgGetReply = crate::nats::plan::js_request(
            client,
            format!("$JS.API.STREAM.MSG.GET.{stream}"),
            serde_json::json!({ "seq": from, "next_by_subj": subj }),
        )
        .await?;
        match (reply.message, reply.error) {
            (Some(m), _) => first = Some(first.map_or(m.seq, |f| f.min(m.seq))),
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

/// After a read saw "nothing more" at `cursor.next` before the slice's end: true when the leader
/// does hold a message the read should have had (the replica that answered runs behind), so the
/// read must resume; false when the rest of the slice is truly not stored.
async fn behind_leader(
    client: &async_nats::Client,
    stream: &str,
    cursor: &Cursor,
    filter: &FilterMode,
) -> Result<bool> {
    if cursor.done() {
        return Ok(false);
    }
    Ok(leader_next(client, stream, cursor.next, filter)
        .await?
        .is_some_and(|seq| seq <= cursor.end))
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
