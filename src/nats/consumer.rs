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

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, consumer::pull::MessagesErrorKind};

use crate::error::{Error, Result};
use crate::message::RawMessage;
use crate::nats::api::ephemeral_config;
use crate::nats::cursor::{
    end_or_retry, next_or_reconnect, take_from_leader, writer_stopped, Cursor, Offer, ReadReport,
    Retries,
};
use crate::nats::plan::{pulls_broken, FilterMode};
use crate::nats::reply::{headers_json, Delivery};

/// A pull's byte cap (the message count, from [`pull_size`], is what normally binds).
const PULL_BYTES: usize = 16 << 20;

/// Messages per pull for a round trip: enough that a slice never waits for the next batch, about
/// a round trip at 1 M msg/s, 5,000 at least, 40,000 at most (about 15 MiB of these events, under
/// the byte cap). Through the bench's 50 ms proxy one plain consumer read 92 k msg/s with
/// 6,250-message pulls and 242 k with 20,000, and one export slice went from 72 k to 143 k msg/s;
/// at 10 ms, 5,000-message pulls held the default export to 73 % of its 0 ms rate and 10,000 to
/// 99 %; on loopback 5,000 did better than 10,000 (63 % against 52 % of the raw drain, with
/// less memory). The round trip is measured with no-responder requests (`jobs::export::round_trip`).
pub fn pull_size(rtt: Duration) -> usize {
    ((rtt.as_secs_f64() * 1_000_000.0) as usize).clamp(5_000, 40_000)
}
const HEARTBEAT: Duration = Duration::from_secs(5);

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

/// Reads the cursor's slice of `stream_name`, handing messages over in sequence order.
pub async fn read_range(
    js: &jetstream::Context,
    stream_name: &str,
    filter: &FilterMode,
    registry: &ConsumerRegistry,
    pull: usize,
    mut cursor: Cursor,
) -> Result<ReadReport> {
    let client = js.client();
    if pulls_broken(stream_name) {
        // No pull would ever answer: each message from the leader, one request each, instead of
        // a consumer created, failed and backed off per message.
        while take_from_leader(&client, stream_name, filter, &mut cursor)
            .await?
            .is_some()
        {}
        return cursor.finish().await;
    }
    let stream = js
        .get_stream_no_info(stream_name)
        .await
        .map_err(|e| Error::Replay(format!("opening stream {stream_name}: {e}")))?;
    let mut retries = Retries::new("the consumer read");

    while !cursor.done() {
        let before = cursor.next;
        let cfg = ephemeral_config(
            consumer::DeliverPolicy::ByStartSequence {
                start_sequence: cursor.next,
            },
            filter,
        );
        let outcome = match stream.create_consumer(cfg).await {
            Ok(consumer) => {
                cursor.report.consumers_created += 1;
                let name = consumer.cached_info().name.clone();
                registry.add(stream_name, &name);
                let outcome = drain(&client, &consumer, filter, pull, &mut cursor).await;
                // The consumer is gone with this read either way; deletion is best effort.
                let _ = tokio::time::timeout(Duration::from_secs(3), stream.delete_consumer(&name))
                    .await;
                registry.remove(&name);
                outcome
            }
            Err(e) => Drained::Retry(format!("consumer create failed: {e}")),
        };
        let reason = match outcome {
            Drained::Closed => return Err(writer_stopped()),
            Drained::Retry(reason) => reason,
            // "Nothing more" from a consumer on a replica: the leader has the last word.
            Drained::Done => {
                let who = "the consumer's replica";
                match end_or_retry(&client, stream_name, &mut cursor, filter, who).await {
                    None => break,
                    Some(reason) => reason,
                }
            }
        };
        retries
            .again((&client, stream_name, filter), &mut cursor, before, reason)
            .await?;
    }
    cursor.finish().await
}

enum Drained {
    /// The consumer has nothing more in the range (the cursor says whether the range is done).
    Done,
    /// The consumer failed; read again from the cursor's position.
    Retry(String),
    /// The receiving side hung up.
    Closed,
}

async fn drain(
    client: &async_nats::Client,
    consumer: &consumer::Consumer<consumer::pull::Config>,
    filter: &FilterMode,
    pull: usize,
    cursor: &mut Cursor,
) -> Drained {
    let connects = client.statistics().connects.load(Ordering::Relaxed);
    if consumer.cached_info().num_pending == 0 {
        return Drained::Done;
    }
    let remaining = (cursor.end - cursor.next + 1).min(pull as u64) as usize;
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
        Err(e) => return Drained::Retry(format!("pull failed: {e}")),
    };
    let mut last_consumer_seq = consumer.cached_info().delivered.consumer_sequence;
    loop {
        let item = next_or_reconnect(client, &mut messages, connects, HEARTBEAT * 3).await;
        let msg = match item {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => {
                return Drained::Retry(match e.kind() {
                    MessagesErrorKind::MissingHeartbeat => "missed heartbeat".to_string(),
                    MessagesErrorKind::ConsumerDeleted => {
                        "consumer deleted by the server".to_string()
                    }
                    _ => e.to_string(),
                })
            }
            Ok(None) => return Drained::Retry("message stream ended".into()),
            Err(stalled) => return Drained::Retry(stalled.to_string()),
        };
        let Some(info) = msg.reply.as_deref().and_then(Delivery::from_ack_reply) else {
            return Drained::Retry(format!(
                "message without JetStream metadata (reply subject {:?})",
                msg.reply.as_deref().unwrap_or("")
            ));
        };
        if info.consumer_seq != last_consumer_seq + 1 {
            return Drained::Retry(format!(
                "consumer sequence jumped from {last_consumer_seq} to {} (messages lost in transit)",
                info.consumer_seq
            ));
        }
        last_consumer_seq = info.consumer_seq;
        let seq = info.stream_seq;
        match cursor.offer(seq) {
            Offer::PastEnd => return Drained::Done,
            Offer::Duplicate => continue,
            Offer::Take => {}
        }
        let pending = info.pending;
        if filter.keeps(&msg.subject) {
            let raw = RawMessage {
                stream_seq: seq,
                subject: msg.subject.to_string(),
                time_ns: info.time_ns,
                headers: msg.headers.as_ref().and_then(headers_json),
                payload: msg.payload.clone(),
            };
            if cursor.push(raw).await.is_err() {
                return Drained::Closed;
            }
        } else {
            cursor.filtered();
        }
        if pending == 0 || cursor.done() {
            return Drained::Done;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{pull_size, slices};
    use std::time::Duration;

    #[test]
    fn pulls_grow_with_the_round_trip() {
        assert_eq!(pull_size(Duration::from_micros(200)), 5_000);
        assert_eq!(pull_size(Duration::from_millis(10)), 10_000);
        assert_eq!(pull_size(Duration::from_millis(20)), 20_000);
        assert_eq!(pull_size(Duration::from_millis(50)), 40_000);
        assert_eq!(pull_size(Duration::from_secs(2)), 40_000);
    }

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
