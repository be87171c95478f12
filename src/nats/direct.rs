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
//! Several batch requests are kept in flight per slice ([`Pipeline`]), as many as cover the
//! measured round trip, so the server answers the next batch while this side takes in the last.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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
    let mut depth = Depth::new();
    while !cursor.done() {
        let before = cursor.next;
        // A fresh pipeline per attempt: late answers to a lost request go to the old inboxes,
        // dropped with them.
        let mut pipeline = Pipeline::new(client, stream_name, filter, cursor.next);
        let reason = match pipeline.run(&mut cursor, &mut depth).await? {
            Batches::Retry(reason) => reason,
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

/// At most this many batch requests in flight per slice (each up to [`BATCH_BYTES`] of answers
/// waiting in its inbox).
pub const MAX_DEPTH: usize = 16;

/// How many requests a slice keeps in flight: enough to cover the round trip with batches in
/// transfer, `1 + round trip / transfer time of one batch`, from the fastest round trip seen
/// (time to a request's first answer when it was sent alone) and the latest transfer time.
struct Depth {
    round_trip: Option<Duration>,
    transfer: Option<Duration>,
    /// False once the stream proved sparse for the filter (see [`Pipeline`]).
    pipelined: bool,
}

impl Depth {
    fn new() -> Self {
        Self {
            round_trip: None,
            transfer: None,
            pipelined: true,
        }
    }

    fn get(&self) -> usize {
        if !self.pipelined {
            return 1;
        }
        match (self.round_trip, self.transfer) {
            (Some(rtt), Some(transfer)) => {
                let per_batch = transfer.max(Duration::from_micros(50));
                let extra = rtt.as_secs_f64() / per_batch.as_secs_f64();
                (1 + extra.ceil() as usize).clamp(2, MAX_DEPTH)
            }
            _ => 2,
        }
    }

    fn observe(&mut self, round_trip: Option<Duration>, transfer: Duration) {
        if let Some(rtt) = round_trip {
            self.round_trip = Some(self.round_trip.map_or(rtt, |r| r.min(rtt)));
        }
        self.transfer = Some(transfer);
    }
}

/// One batch request: the sequences `from..=to` asked of the server, answered on an inbox.
struct Request {
    from: u64,
    to: u64,
    inbox: Inbox,
    sent: Instant,
    /// Sent while no other request was in flight: its first answer measures the round trip.
    alone: bool,
    /// The client's connection count when it was sent: a reconnect since means it was lost.
    connects: u64,
}

/// Batch requests kept in flight ahead of the cursor, answered in order.
///
/// Pipelined, each request asks for the next [`BATCH`] sequences (`seq: from, batch: BATCH`),
/// so the server answers the next ones while the client takes in the current batch. A batch
/// answers the next `BATCH` messages at or after `from`: where sequences are deleted (or a
/// server-side filter skips them) it runs past `to` into the next request's range, and those
/// messages are dropped here, delivered by the next request; where it stops short of `to` (the
/// byte limit, the stream's end) the rest of the range is asked again before moving on. A batch
/// that runs past `to` having delivered less than half its range shows a sparse stream for this
/// filter: the slice goes on with one request at a time, each asking from the cursor to the
/// slice's end, so nothing is read twice.
struct Pipeline<'a> {
    client: &'a async_nats::Client,
    subject: String,
    next_by: &'a str,
    filter: &'a FilterMode,
    queue: VecDeque<Request>,
    /// The first sequence no request has asked for yet.
    next_from: u64,
    /// Inboxes of finished requests, reused.
    spare: Vec<Inbox>,
}

impl<'a> Pipeline<'a> {
    fn new(
        client: &'a async_nats::Client,
        stream_name: &str,
        filter: &'a FilterMode,
        from: u64,
    ) -> Self {
        Self {
            client,
            subject: format!("$JS.API.DIRECT.GET.{stream_name}"),
            next_by: next_by_subject(filter),
            filter,
            queue: VecDeque::new(),
            next_from: from,
            spare: Vec::new(),
        }
    }

    /// Sends a request for `from..=to` (at most `BATCH` messages); `Err` is a reason to retry.
    async fn send(&mut self, from: u64, to: u64) -> Result<std::result::Result<Request, String>> {
        let inbox = match self.spare.pop() {
            Some(inbox) => inbox,
            None => Inbox::open(self.client).await?,
        };
        let body = serde_json::json!({
            "seq": from, "batch": (to - from + 1).min(BATCH), "max_bytes": BATCH_BYTES,
            "next_by_subj": self.next_by,
        });
        let alone = self.queue.is_empty();
        let connects = self.client.statistics().connects.load(Ordering::Relaxed);
        if let Err(e) = self
            .client
            .publish_with_reply(
                self.subject.clone(),
                inbox.subject.clone(),
                body.to_string().into(),
            )
            .await
        {
            return Ok(Err(format!("direct get request: {e}")));
        }
        Ok(Ok(Request {
            from,
            to,
            inbox,
            sent: Instant::now(),
            alone,
            connects,
        }))
    }

    /// Tops the queue up to `depth` requests (one covering the whole rest when not pipelined).
    async fn fill(&mut self, cursor: &Cursor, depth: &Depth) -> Result<Option<String>> {
        while self.queue.len() < depth.get() && self.next_from <= cursor.end {
            let from = self.next_from;
            let to = if depth.pipelined {
                cursor.end.min(from + BATCH - 1)
            } else {
                cursor.end
            };
            match self.send(from, to).await? {
                Ok(request) => self.queue.push_back(request),
                Err(reason) => return Ok(Some(reason)),
            }
            self.next_from = to + 1;
        }
        Ok(None)
    }

    /// Requests batches until the slice is done, the server has nothing more, or a request fails.
    async fn run(&mut self, cursor: &mut Cursor, depth: &mut Depth) -> Result<Batches> {
        loop {
            if let Some(reason) = self.fill(cursor, depth).await? {
                return Ok(Batches::Retry(reason));
            }
            let Some(mut request) = self.queue.pop_front() else {
                return Ok(Batches::NothingMore);
            };
            // The request's range (and, after a short batch, the rest of it) until covered.
            loop {
                match self.answer(&mut request, cursor, depth).await? {
                    Answer::Covered => break,
                    Answer::Short => {
                        // Ask again from the cursor (the next requests stay in flight).
                        let (from, to) = (cursor.next, request.to);
                        self.spare.push(request.inbox);
                        request = match self.send(from, to).await? {
                            Ok(r) => r,
                            Err(reason) => return Ok(Batches::Retry(reason)),
                        };
                    }
                    Answer::Sparse => {
                        // Everything in flight asks for ranges past the cursor: start over
                        // with one request at a time.
                        depth.pipelined = false;
                        self.queue.clear();
                        self.next_from = cursor.next;
                        break;
                    }
                    Answer::End(batches) => return Ok(batches),
                }
            }
            self.spare.push(request.inbox);
            if cursor.done() {
                return Ok(Batches::NothingMore);
            }
        }
    }

    /// Takes in one request's answers, up to its end-of-batch status.
    async fn answer(
        &mut self,
        request: &mut Request,
        cursor: &mut Cursor,
        depth: &mut Depth,
    ) -> Result<Answer> {
        let mut first_answer = None;
        let mut ran_past = false;
        // Messages of the range this batch answered (kept or filtered here).
        let mut in_range = 0u64;
        loop {
            let msg = match next_or_reconnect(
                self.client,
                &mut request.inbox.replies,
                request.connects,
                REPLY_TIMEOUT,
            )
            .await
            {
                Ok(Some(m)) => m,
                Ok(None) => {
                    return Ok(Answer::End(Batches::Retry(
                        "reply subscription closed".into(),
                    )))
                }
                Err(reason) => return Ok(Answer::End(Batches::Retry(reason.to_string()))),
            };
            // The clock is read for a batch's first answer and its end, not for every message.
            let first = *first_answer.get_or_insert_with(Instant::now);
            match msg.status.map(|s| s.as_u16()) {
                Some(204) => {
                    // End of batch.
                    let now = Instant::now();
                    let round_trip = request.alone.then(|| first - request.sent);
                    depth.observe(round_trip, now - first);
                    let sparse = in_range * 2 < request.to - request.from + 1;
                    return Ok(if ran_past && depth.pipelined && sparse {
                        Answer::Sparse
                    } else if ran_past || cursor.next > request.to {
                        Answer::Covered
                    } else if in_range == 0 {
                        // Asked again, an empty batch would be asked for forever.
                        Answer::End(Batches::Retry("direct get answered an empty batch".into()))
                    } else {
                        Answer::Short
                    });
                }
                Some(404) => return Ok(Answer::End(Batches::NothingMore)),
                // No replica answers right now (restart, election) or the request timed out.
                Some(code @ (408 | 503)) => {
                    return Ok(Answer::End(Batches::Retry(format!(
                        "direct get answered {code} {}",
                        msg.description.unwrap_or_default()
                    ))))
                }
                Some(200) | None => {}
                // Anything else (a stored status line on servers before 2.11.15 / 2.12.6 /
                // 2.14.0 comes back as one): read again; an attempt that moves nothing takes
                // the message from the stream leader instead (`Retries::again`).
                Some(other) => {
                    return Ok(Answer::End(Batches::Retry(format!(
                        "direct get answered status {other}: {}",
                        msg.description.unwrap_or_default()
                    ))))
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
            if seq > request.to {
                // The next request's range (or past the slice): it delivers those.
                ran_past = true;
                continue;
            }
            match cursor.offer(seq) {
                Offer::PastEnd => return Ok(Answer::End(Batches::NothingMore)),
                Offer::Duplicate => continue,
                Offer::Take => in_range += 1,
            }
            // Only a client-side filter drops anything: the server applied any other.
            if !self.filter.keeps(&word.subject) {
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
}

/// How one request's answers ended.
enum Answer {
    /// Every sequence of its range is accounted for (delivered or known absent).
    Covered,
    /// The batch stopped before the end of its range (the byte limit, or the stream's end).
    Short,
    /// The batch ran past its range having delivered less than half of it.
    Sparse,
    /// The read stops here (nothing more, or a reason to retry).
    End(Batches),
}
