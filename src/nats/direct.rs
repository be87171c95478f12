//! The direct-get read path: batched direct gets (ADR-31, servers 2.11+) over the core client.
//!
//! A request `{"seq": N, "batch": B, "max_bytes": M, "next_by_subj": F}` to
//! `$JS.API.DIRECT.GET.<stream>` answers up to B stored messages at or after N whose subject
//! matches F, then a `204` end-of-batch status; `404` means nothing at or after N. Every reply
//! carries `Nats-Sequence`, `Nats-Subject` and `Nats-Time-Stamp` headers. Nothing is created on
//! the server, so this path also reads work-queue and interest streams without changing them,
//! and any replica with `allow_direct` may answer. `next_by_subj` is always sent: servers
//! 2.11.0-2.11.9 answer 404 for a whole batch whose first sequence is deleted without it.
//! Batches are kept small in bytes (1 MiB): a batch holds the stream lock on 2.12 servers.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::message::RawMessage;
use crate::nats::cursor::{end_or_retry, next_or_reconnect, Cursor, Offer, ReadReport, Retries};
use crate::nats::plan::FilterMode;
use crate::nats::reply::{publisher_headers, ServerWord};

const BATCH: u64 = 1000;
const BATCH_BYTES: usize = 1 << 20;
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The subject filter a direct get can apply: one filter, or everything (then filtered here).
fn next_by_subject(filter: &FilterMode) -> &str {
    match filter {
        FilterMode::Server(f) if f.len() == 1 => &f[0],
        _ => ">",
    }
}

/// Reads the cursor's slice with batched direct gets, handing messages over in sequence order.
pub async fn read_range(
    client: &async_nats::Client,
    stream_name: &str,
    filter: &FilterMode,
    mut cursor: Cursor,
) -> Result<ReadReport> {
    let mut retries = Retries::new("direct gets");
    let mut inbox = Inbox::open(client).await?;
    while !cursor.done() {
        let before = cursor.next;
        let reason =
            match read_batches(client, stream_name, filter, &mut inbox, &mut cursor).await? {
                Batches::Retry(reason) => {
                    // Late answers to a lost request go to the old inbox, dropped with it.
                    inbox = Inbox::open(client).await?;
                    reason
                }
                // "Nothing more" from whichever replica answered: the leader has the last word.
                Batches::NothingMore => {
                    let who = "the answering replica";
                    match end_or_retry(client, stream_name, &mut cursor, filter, who).await {
                        None => break,
                        Some(reason) => reason,
                    }
                }
            };
        retries
            .again((client, stream_name, filter), &mut cursor, before, reason)
            .await?;
    }
    cursor.finish().await
}

/// A reply subscription on a fresh inbox.
struct Inbox {
    subject: async_nats::Subject,
    replies: async_nats::Subscriber,
}

impl Inbox {
    async fn open(client: &async_nats::Client) -> Result<Self> {
        let subject = async_nats::Subject::from(client.new_inbox());
        let replies = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| Error::Replay(format!("subscribing to the reply inbox: {e}")))?;
        Ok(Self { subject, replies })
    }
}

enum Batches {
    /// The server has nothing at or after the cursor (or nothing up to the slice's end).
    NothingMore,
    /// A request failed or went unanswered (reconnect, no responders, leader change): retry.
    Retry(String),
}

/// Requests batches from the cursor's position until the slice is done or a batch fails.
async fn read_batches(
    client: &async_nats::Client,
    stream_name: &str,
    filter: &FilterMode,
    inbox: &mut Inbox,
    cursor: &mut Cursor,
) -> Result<Batches> {
    let subject = format!("$JS.API.DIRECT.GET.{stream_name}");
    let next_by = next_by_subject(filter);
    let keep_all_server_side = matches!(filter, FilterMode::Server(f) if f.len() == 1);
    'batches: while !cursor.done() {
        let want = (cursor.end - cursor.next + 1).min(BATCH);
        let body = serde_json::json!({
            "seq": cursor.next, "batch": want, "max_bytes": BATCH_BYTES, "next_by_subj": next_by,
        });
        if let Err(e) = client
            .publish_with_reply(
                subject.clone(),
                inbox.subject.clone(),
                body.to_string().into(),
            )
            .await
        {
            return Ok(Batches::Retry(format!("direct get request: {e}")));
        }
        let connects = client.statistics().connects.load(Ordering::Relaxed);
        loop {
            let msg = match next_or_reconnect(client, &mut inbox.replies, connects, REPLY_TIMEOUT)
                .await
            {
                Ok(Some(m)) => m,
                Ok(None) => return Ok(Batches::Retry("reply subscription closed".into())),
                Err(reason) => return Ok(Batches::Retry(reason.to_string())),
            };
            match msg.status.map(|s| s.as_u16()) {
                Some(204) => continue 'batches, // end of batch: ask for the next one
                Some(404) => return Ok(Batches::NothingMore),
                // No replica answers right now (restart, election) or the request timed out.
                Some(code @ (408 | 503)) => {
                    return Ok(Batches::Retry(format!(
                        "direct get answered {code} {}",
                        msg.description.unwrap_or_default()
                    )))
                }
                Some(200) | None => {}
                // Anything else (a stored status line on servers before 2.11.15 / 2.12.6 /
                // 2.14.0 comes back as one): read again; an attempt that moves nothing takes
                // the message from the stream leader instead (`Retries::again`).
                Some(other) => {
                    return Ok(Batches::Retry(format!(
                        "direct get answered status {other}: {}",
                        msg.description.unwrap_or_default()
                    )))
                }
            }
            let headers = msg
                .headers
                .as_ref()
                .ok_or_else(|| Error::Replay("direct-get reply without headers".into()))?;
            // The server's values are the last of each name: a publisher can write `Nats-*`
            // headers too, and those stay in the row's headers as data. (`Nats-Stream` is not
            // compared with the stream asked for: a mirror with `mirror_direct` answers under
            // its own name.)
            let word = ServerWord::from_direct_reply(headers).map_err(Error::Replay)?;
            let seq = word.seq;
            match cursor.offer(seq) {
                Offer::PastEnd => return Ok(Batches::NothingMore),
                Offer::Duplicate => continue,
                Offer::Take => {}
            }
            if !(keep_all_server_side || filter.keeps(&word.subject)) {
                cursor.filtered();
                continue;
            }
            let raw = RawMessage {
                stream_seq: seq,
                subject: word.subject,
                time_ns: word.time_ns,
                headers: publisher_headers(headers),
                payload: msg.payload.clone(),
            };
            cursor.push(raw).await?;
        }
    }
    Ok(Batches::NothingMore)
}
