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

use std::time::Duration;

use chrono::DateTime;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::batch::{headers_json, RawMessage};
use crate::error::{Error, Result};
use crate::plan::FilterMode;
use crate::replay::{finish_slice, Progress, ReadReport, CHUNK};

const BATCH: u64 = 1000;
const BATCH_BYTES: usize = 1 << 20;
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_RETRIES: u32 = 10;

/// Headers the server adds to direct-get replies; the message's own headers are the others.
const SERVER_HEADERS: [&str; 6] = [
    "Nats-Stream",
    "Nats-Subject",
    "Nats-Sequence",
    "Nats-Time-Stamp",
    "Nats-Num-Pending",
    "Nats-Last-Sequence",
];

/// The subject filter a direct get can apply: one filter, or everything (then filtered here).
fn next_by_subject(filter: &FilterMode) -> &str {
    match filter {
        FilterMode::Server(f) if f.len() == 1 => &f[0],
        _ => ">",
    }
}

/// Reads `[start, end]` with batched direct gets, sending chunks in sequence order to `tx`.
pub async fn read_range(
    client: &async_nats::Client,
    stream_name: &str,
    (start, end): (u64, u64),
    filter: &FilterMode,
    tx: mpsc::Sender<Vec<RawMessage>>,
    progress: Progress,
) -> Result<ReadReport> {
    let subject = format!("$JS.API.DIRECT.GET.{stream_name}");
    let next_by = next_by_subject(filter);
    let keep_all_server_side = matches!(filter, FilterMode::Server(f) if f.len() == 1);
    let mut report = ReadReport::default();
    let mut next = start;
    let mut failures = 0;
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut inbox = client.new_inbox();
    let mut replies = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| Error::Replay(format!("subscribing to the reply inbox: {e}")))?;
    'batches: while next <= end {
        let want = (end - next + 1).min(BATCH);
        let body = serde_json::json!({
            "seq": next, "batch": want, "max_bytes": BATCH_BYTES, "next_by_subj": next_by,
        });
        client
            .publish_with_reply(subject.clone(), inbox.clone(), body.to_string().into())
            .await
            .map_err(|e| Error::Replay(format!("direct get request: {e}")))?;
        loop {
            let msg = match tokio::time::timeout(REPLY_TIMEOUT, replies.next()).await {
                Ok(Some(m)) => m,
                Ok(None) => return Err(Error::Replay("reply subscription closed".into())),
                Err(_) => {
                    failures += 1;
                    if failures > MAX_RETRIES {
                        return Err(Error::Replay(format!(
                            "no direct-get answer at sequence {next} after {MAX_RETRIES} tries"
                        )));
                    }
                    report
                        .recoveries
                        .push(format!("at seq {next}: direct get timed out"));
                    // Late answers to the lost request go to the old inbox, dropped with it.
                    inbox = client.new_inbox();
                    replies = client.subscribe(inbox.clone()).await.map_err(|e| {
                        Error::Replay(format!("subscribing to the reply inbox: {e}"))
                    })?;
                    continue 'batches;
                }
            };
            match msg.status.map(|s| s.as_u16()) {
                Some(204) => continue 'batches, // end of batch: ask for the next one
                Some(404) => break 'batches,    // nothing stored at or after `next`
                Some(408) | Some(503) => {
                    return Err(Error::Replay(format!(
                        "direct get refused: {} {}",
                        msg.status.map_or(0, |s| s.as_u16()),
                        msg.description.unwrap_or_default()
                    )))
                }
                Some(200) | None => {}
                Some(other) => {
                    return Err(Error::Replay(format!(
                        "direct get answered status {other}: {}",
                        msg.description.unwrap_or_default()
                    )))
                }
            }
            failures = 0;
            let headers = msg
                .headers
                .as_ref()
                .ok_or_else(|| Error::Replay("direct-get reply without headers".into()))?;
            let get = |name: &str| headers.get(name).map(|v| v.as_str().to_string());
            let seq: u64 = get("Nats-Sequence")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Error::Replay("direct-get reply without Nats-Sequence".into()))?;
            if seq > end {
                break 'batches;
            }
            if seq < next {
                continue;
            }
            if seq > next {
                report.jumps.push((next, seq - 1));
            }
            next = seq + 1;
            let subj = get("Nats-Subject").unwrap_or_default();
            let time_ns = get("Nats-Time-Stamp")
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .and_then(|t| t.timestamp_nanos_opt())
                .ok_or_else(|| {
                    Error::Replay(format!(
                        "seq {seq}: reply without a readable Nats-Time-Stamp"
                    ))
                })?;
            if keep_all_server_side || filter.keeps(&subj) {
                chunk.push(RawMessage {
                    stream_seq: seq,
                    subject: subj,
                    time_ns,
                    headers: headers_json(headers, &SERVER_HEADERS),
                    payload: msg.payload,
                });
                report.delivered += 1;
            } else {
                report.filtered_out += 1;
            }
            if chunk.len() >= CHUNK {
                if tx
                    .send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                    .await
                    .is_err()
                {
                    return Err(Error::Replay("the writer stopped".into()));
                }
                progress(seq);
            }
        }
    }
    finish_slice(next, end, chunk, &tx, &progress, report).await
}
