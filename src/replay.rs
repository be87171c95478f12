//! Reading a frozen sequence range out of a stream, in strictly increasing sequence order.
//!
//! The reader uses ephemeral no-ack pull consumers (memory storage, one replica, inactivity
//! threshold as a safety net) and does its own recovery instead of relying on ordered consumers,
//! which restart from the beginning of the stream when they reset early (see JETSTREAM.md): on a
//! missed heartbeat, a deleted consumer, a consumer-sequence jump (transport loss) or a
//! disconnect, it deletes the consumer and creates a new one at the last delivered sequence + 1.
//! Messages already delivered are dropped by sequence, so a retry never duplicates a row.
//! Every sequence of the range that is not delivered is reported as a jump; the export stage
//! classifies jumps into gaps (no longer stored) and messages filtered out by subject.
//! Consumers the reader creates are recorded in a [`ConsumerRegistry`] so they can be deleted
//! when the run is interrupted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, consumer::pull::MessagesErrorKind};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::batch::{headers_json, RawMessage};
use crate::error::{Error, Result};
use crate::plan::{ephemeral_config, FilterMode};

/// Messages are handed downstream in chunks of this many.
pub const CHUNK: usize = 1024;
/// Pull request size, in messages and bytes (deep enough to hide round trips on a LAN).
const PULL_MESSAGES: usize = 5000;
const PULL_BYTES: usize = 8 << 20;
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Consecutive failures (without progress) before the read gives up.
const MAX_RETRIES: u32 = 10;

/// The consumers alive on the server, so that an interrupted run can delete them.
#[derive(Clone, Default)]
pub struct ConsumerRegistry {
    live: Arc<Mutex<Vec<(String, String)>>>,
}

impl ConsumerRegistry {
    fn add(&self, stream: &str, name: &str) {
        self.live
            .lock()
            .expect("registry lock")
            .push((stream.to_string(), name.to_string()));
    }

    fn remove(&self, name: &str) {
        self.live
            .lock()
            .expect("registry lock")
            .retain(|(_, n)| n != name);
    }

    /// Deletes every consumer still recorded; returns how many could not be deleted.
    pub async fn delete_all(&self, js: &jetstream::Context) -> usize {
        let live: Vec<_> = std::mem::take(&mut *self.live.lock().expect("registry lock"));
        let mut failed = 0;
        for (stream, name) in live {
            let deleted = match js.get_stream_no_info(&stream).await {
                Ok(s) => tokio::time::timeout(Duration::from_secs(3), s.delete_consumer(&name))
                    .await
                    .is_ok_and(|r| r.is_ok()),
                Err(_) => false,
            };
            failed += usize::from(!deleted);
        }
        failed
    }
}

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

/// Cuts `[start, end]` into at most `n` contiguous slices of nearly equal length.
pub fn slices((start, end): (u64, u64), n: usize) -> Vec<(u64, u64)> {
    let span = end - start + 1;
    let n = (n.max(1) as u64).min(span);
    let size = span.div_ceil(n);
    (0..n)
        .map(|i| (start + i * size, (start + (i + 1) * size - 1).min(end)))
        .filter(|(a, b)| a <= b)
        .collect()
}

/// Progress callback: called with the highest sequence accounted for so far.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Reads `[start, end]` of `stream_name`, sending chunks of messages in sequence order to `tx`.
pub async fn read_range(
    js: &jetstream::Context,
    stream_name: &str,
    (start, end): (u64, u64),
    filter: &FilterMode,
    registry: &ConsumerRegistry,
    tx: mpsc::Sender<Vec<RawMessage>>,
    progress: Progress,
) -> Result<ReadReport> {
    let stream = js
        .get_stream_no_info(stream_name)
        .await
        .map_err(|e| Error::Replay(format!("opening stream {stream_name}: {e}")))?;
    let mut report = ReadReport::default();
    let mut next = start;
    let mut failures = 0u32;
    let mut chunk = Vec::with_capacity(CHUNK);

    'consumers: while next <= end {
        let cfg = ephemeral_config(
            consumer::DeliverPolicy::ByStartSequence {
                start_sequence: next,
            },
            filter,
        );
        let created = stream.create_consumer(cfg).await;
        let consumer = match created {
            Ok(c) => c,
            Err(e) => {
                failures += 1;
                if failures > MAX_RETRIES {
                    return Err(Error::Replay(format!("cannot create a consumer: {e}")));
                }
                report
                    .recoveries
                    .push(format!("consumer create failed: {e}"));
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        report.consumers_created += 1;
        let name = consumer.cached_info().name.clone();
        registry.add(stream_name, &name);
        let outcome = drain(
            &consumer,
            next,
            end,
            filter,
            &mut chunk,
            &tx,
            &mut report,
            &progress,
        )
        .await;
        // The consumer is gone with this read either way; deletion is best effort.
        let _ = tokio::time::timeout(Duration::from_secs(3), stream.delete_consumer(&name)).await;
        registry.remove(&name);
        match outcome {
            Drained::Done(n) => {
                next = n;
                break 'consumers;
            }
            Drained::Retry(n, reason) => {
                if n > next {
                    failures = 0;
                } else {
                    failures += 1;
                }
                next = n;
                if failures > MAX_RETRIES {
                    return Err(Error::Replay(format!(
                        "giving up at sequence {next} after {MAX_RETRIES} failed attempts: {reason}"
                    )));
                }
                report.recoveries.push(format!("at seq {next}: {reason}"));
                tokio::time::sleep(backoff(failures)).await;
            }
            Drained::Closed => return Err(Error::Replay("the writer stopped".into())),
        }
    }
    finish_slice(next, end, chunk, &tx, &progress, report).await
}

/// Ends a slice's read, whatever the read path: the unread tail `[next, end]` is a jump, the
/// last chunk goes to the writer, and progress reaches the slice's end.
pub(crate) async fn finish_slice(
    next: u64,
    end: u64,
    chunk: Vec<RawMessage>,
    tx: &mpsc::Sender<Vec<RawMessage>>,
    progress: &Progress,
    mut report: ReadReport,
) -> Result<ReadReport> {
    if next <= end {
        report.jumps.push((next, end));
    }
    if !chunk.is_empty() && tx.send(chunk).await.is_err() {
        return Err(Error::Replay("the writer stopped".into()));
    }
    progress(end);
    Ok(report)
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100 * u64::from(failures.min(20)))
}

enum Drained {
    /// Nothing more to read in the range; the value is the next sequence not accounted for.
    Done(u64),
    /// The consumer failed; read again from the value.
    Retry(u64, String),
    /// The receiving side hung up.
    Closed,
}

#[allow(clippy::too_many_arguments)]
async fn drain(
    consumer: &consumer::Consumer<consumer::pull::Config>,
    mut next: u64,
    end: u64,
    filter: &FilterMode,
    chunk: &mut Vec<RawMessage>,
    tx: &mpsc::Sender<Vec<RawMessage>>,
    report: &mut ReadReport,
    progress: &Progress,
) -> Drained {
    if consumer.cached_info().num_pending == 0 {
        return Drained::Done(next);
    }
    let remaining = (end - next + 1).min(PULL_MESSAGES as u64) as usize;
    let messages = consumer
        .stream()
        .max_messages_per_batch(remaining.max(1))
        .max_bytes_per_batch(PULL_BYTES)
        .heartbeat(HEARTBEAT)
        .expires(Duration::from_secs(30))
        .messages()
        .await;
    let mut messages = match messages {
        Ok(m) => m,
        Err(e) => return Drained::Retry(next, format!("pull failed: {e}")),
    };
    let mut last_consumer_seq = consumer.cached_info().delivered.consumer_sequence;
    loop {
        let item = tokio::time::timeout(HEARTBEAT * 3, messages.next()).await;
        let msg = match item {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => {
                let reason = match e.kind() {
                    MessagesErrorKind::MissingHeartbeat => "missed heartbeat".to_string(),
                    MessagesErrorKind::ConsumerDeleted => {
                        "consumer deleted by the server".to_string()
                    }
                    _ => e.to_string(),
                };
                return Drained::Retry(next, reason);
            }
            Ok(None) => return Drained::Retry(next, "message stream ended".into()),
            Err(_) => return Drained::Retry(next, "no message or heartbeat for 15 s".into()),
        };
        let info = match msg.info() {
            Ok(i) => i,
            Err(e) => {
                return Drained::Retry(next, format!("message without JetStream metadata: {e}"))
            }
        };
        let seq = info.stream_sequence;
        if info.consumer_sequence != last_consumer_seq + 1 {
            return Drained::Retry(
                next,
                format!(
                    "consumer sequence jumped from {last_consumer_seq} to {} (messages lost in transit)",
                    info.consumer_sequence
                ),
            );
        }
        last_consumer_seq = info.consumer_sequence;
        if seq > end {
            return Drained::Done(next);
        }
        if seq < next {
            continue; // already delivered before a recovery
        }
        if seq > next {
            report.jumps.push((next, seq - 1));
        }
        let pending = info.pending;
        let time_ns = info.published.unix_timestamp_nanos() as i64;
        next = seq + 1;
        if filter.keeps(&msg.subject) {
            chunk.push(RawMessage {
                stream_seq: seq,
                subject: msg.subject.to_string(),
                time_ns,
                headers: msg.headers.as_ref().and_then(|h| headers_json(h, &[])),
                payload: msg.payload.clone(),
            });
            report.delivered += 1;
        } else {
            report.filtered_out += 1;
        }
        if chunk.len() >= CHUNK {
            if tx
                .send(std::mem::replace(chunk, Vec::with_capacity(CHUNK)))
                .await
                .is_err()
            {
                return Drained::Closed;
            }
            progress(seq);
        }
        if pending == 0 || seq == end {
            return Drained::Done(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::slices;

    #[test]
    fn slicing() {
        assert_eq!(slices((1, 10), 3), vec![(1, 4), (5, 8), (9, 10)]);
        assert_eq!(slices((5, 5), 4), vec![(5, 5)]);
        assert_eq!(slices((1, 4), 4), vec![(1, 1), (2, 2), (3, 3), (4, 4)]);
        assert_eq!(slices((1, 100), 1), vec![(1, 100)]);
        for n in 1..9 {
            let s = slices((7, 1000), n);
            assert_eq!(s.first().unwrap().0, 7);
            assert_eq!(s.last().unwrap().1, 1000);
            assert!(s.windows(2).all(|w| w[0].1 + 1 == w[1].0));
        }
    }
}
