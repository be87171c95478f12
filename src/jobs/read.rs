//! The read pipeline every job that moves data shares: a frozen range read in slices, each
//! slice's reader (async, network: an ephemeral pull consumer or batched direct gets) feeding
//! its writer (decoding and Parquet encoding on a blocking thread) through a bounded channel,
//! which also bounds memory; the slices' connections chosen from the round trip ([`Readers`]);
//! the accounting that every sequence of the range ended as a row, a gap or a filtered-out
//! message ([`Accounted`]); and SIGINT/SIGTERM turned into a clean stop ([`Signals`]).
//! `export` stages into its output folder, `archive` hands each part to its uploads.

use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::jobs::progress::sequence_bar;
use crate::lake::manifest::ReadDescription;
use crate::lake::sink::{Handoff, Layout, Sink, SinkOutput};
use crate::message::RawMessage;
use crate::nats::connect::ConnectSpec;
use crate::nats::consumer::{self, ConsumerRegistry};
use crate::nats::cursor::{classify_jumps, Cursor, ReadReport};
use crate::nats::plan::{self, FilterMode, ReadPath};
use crate::nats::{api, direct};

/// SIGINT and SIGTERM, caught from the moment this is created (the default action, dying on
/// the spot, would leave consumers and staging files behind).
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn new() -> Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let install = |kind| {
            signal(kind).map_err(|e| Error::Replay(format!("installing a signal handler: {e}")))
        };
        Ok(Self {
            int: install(SignalKind::interrupt())?,
            term: install(SignalKind::terminate())?,
        })
    }

    /// Waits for the next signal and names it.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }

    /// Runs `work` unless a signal comes first.
    pub async fn guard<T>(
        &mut self,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::select! {
            r = work => r,
            sig = self.recv() => Err(Error::Interrupted(sig)),
        }
    }
}

/// Round trips at or below this are a LAN (measured three times: they jitter).
const LAN_RTT: Duration = Duration::from_millis(2);

/// Slices chosen when `--parallel` is not given: one per 100 000 sequences, at most one per core
/// (8 at most). Decoding and encoding are the limit, so more slices than cores only compete for
/// them (and cost a writer's memory each); round trips are hidden by the pull size instead
/// ([`consumer::pull_size`]). Measured in `make bench`: 4 slices on 2 cores were slower than 2 on
/// loopback, and 2 slices at 50 ms RTT read at 93 % of their 0 ms rate.
pub fn auto_parallel(span: u64) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    ((span / 100_000) as usize).clamp(1, cores.min(8))
}

/// The round trip to the server, measured with requests to an inbox nobody listens on: the
/// server answers each at once with "no responders" (`Client::flush` cannot serve here: it only
/// writes out the client's buffer and returns without waiting for the server). One request when
/// the server is clearly far (the 2 ms threshold cannot be in doubt), else the best of three
/// (loopback and LAN round trips jitter). Unknown (no answer) counts as far.
async fn round_trip(client: &async_nats::Client) -> Duration {
    use async_nats::RequestErrorKind;
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let probe = tokio::time::timeout(
            Duration::from_secs(2),
            client.request(client.new_inbox(), bytes::Bytes::new()),
        )
        .await;
        match probe {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => {}
            _ => return best,
        }
        best = best.min(started.elapsed());
        if best > 10 * LAN_RTT {
            break;
        }
    }
    best
}

/// A read of one frozen range whose rows, gaps and filtered-out messages add up to its span.
pub struct Accounted {
    /// The slices' sinks, their parts still in staging.
    pub sinks: Vec<Sink>,
    pub out: SinkOutput,
    pub report: ReadReport,
    pub gaps: Vec<(u64, u64)>,
    pub gap_messages: u64,
    pub filtered_out: u64,
}

/// Where and how a read stages its parts.
pub struct Staging<'a> {
    pub stream: &'a str,
    /// The folder the sinks stage in and commit to.
    pub dir: &'a Path,
    pub layout: &'a Layout,
    /// No progress bar.
    pub quiet: bool,
    /// Where the sinks hand each part as it closes (archives upload them at once); `None`: the
    /// parts stay staged until the sinks commit.
    pub handoff: Option<Handoff>,
}

/// The connections a job reads with: one per slice, the first being the caller's.
pub struct Readers {
    clients: Vec<async_nats::Client>,
    pull: usize,
    registry: ConsumerRegistry,
}

impl Readers {
    /// Chooses the number of slices for a range of `span` sequences (`parallel` overrides) from
    /// the round trip, and opens the extra connections.
    pub async fn connect(
        client: &async_nats::Client,
        spec: &ConnectSpec,
        span: u64,
        parallel: Option<usize>,
        signals: &mut Signals,
    ) -> Result<Self> {
        let rtt = round_trip(client).await;
        let workers = match parallel {
            Some(n) => n.max(1),
            None => auto_parallel(span),
        }
        .min(span.max(1) as usize);
        // Connected concurrently: each connection costs a few round trips on a WAN.
        let extra = futures::future::try_join_all((1..workers).map(|_| spec.connect()));
        let mut clients = vec![client.clone()];
        clients.extend(signals.guard(extra).await?);
        Ok(Self {
            clients,
            pull: consumer::pull_size(rtt),
            registry: ConsumerRegistry::default(),
        })
    }

    /// Slices read concurrently.
    pub fn workers(&self) -> usize {
        self.clients.len()
    }

    /// Reads `plan`'s range into sinks staged as `to` says, deletes every consumer it made, and
    /// checks that every sequence is accounted for (on a mismatch nothing is kept).
    pub async fn read(
        &self,
        plan: &plan::Plan,
        to: &Staging<'_>,
        signals: &mut Signals,
    ) -> Result<Accounted> {
        let stream = to.stream;
        let result = run(self, plan, to, signals).await;
        // Whatever happened, nothing of ours stays on the server.
        self.registry
            .delete_all(&jetstream::new(self.clients[0].clone()))
            .await;
        let (sinks, out, report) = result?;
        let (gaps, filtered_by_server) = match plan.range {
            None => (Vec::new(), 0),
            Some(_) => {
                let server_filtered = matches!(plan.filter, FilterMode::Server(_));
                if server_filtered && !report.jumps.is_empty() {
                    let (state, deleted) =
                        api::stream_state(&self.clients[0], stream, api::Deleted::List).await?;
                    classify_jumps(&report.jumps, state.first_seq, &deleted, true)
                } else {
                    classify_jumps(&report.jumps, 0, &[], false)
                }
            }
        };
        let gap_messages: u64 = gaps.iter().map(|(a, b)| b - a + 1).sum();
        let filtered_out = filtered_by_server + report.filtered_out;
        if out.rows + gap_messages + filtered_out != plan.span() {
            abort_all(sinks);
            return Err(Error::Replay(format!(
                "accounting mismatch: {} rows + {gap_messages} gap messages + {filtered_out} \
                 filtered out != {} sequences in the range; nothing was written",
                out.rows,
                plan.span()
            )));
        }
        Ok(Accounted {
            sinks,
            out,
            report,
            gaps,
            gap_messages,
            filtered_out,
        })
    }
}

/// The manifest's account of what was asked and how it was read.
pub fn read_description(plan: &plan::Plan) -> ReadDescription {
    let value = |v: serde_json::Result<serde_json::Value>| v.expect("plain data serializes");
    ReadDescription {
        request: value(serde_json::to_value(&plan.window)),
        filter: value(serde_json::to_value(&plan.filter)),
        read_path: value(serde_json::to_value(plan.read_path)),
    }
}

/// A slice's writer: decodes and encodes on a blocking thread until the channel closes.
fn spawn_writer(
    mut sink: Sink,
    mut rx: mpsc::Receiver<Vec<RawMessage>>,
) -> tokio::task::JoinHandle<(Sink, Result<SinkOutput>)> {
    tokio::task::spawn_blocking(move || {
        let mut result = Ok(());
        while let Some(chunk) = rx.blocking_recv() {
            if let Err(e) = chunk.iter().try_for_each(|m| sink.push(m)) {
                result = Err(e);
                break;
            }
        }
        drop(rx);
        let result = result.and_then(|_| sink.finish());
        (sink, result)
    })
}

/// Reads the slices concurrently, each on its own connection with its own writer thread; on
/// any failure or signal every staging folder is removed.
async fn run(
    readers: &Readers,
    plan: &plan::Plan,
    to: &Staging<'_>,
    signals: &mut Signals,
) -> Result<(Vec<Sink>, SinkOutput, ReadReport)> {
    let Readers {
        clients,
        pull,
        registry,
    } = readers;
    let Staging {
        stream,
        dir,
        layout,
        quiet,
        ref handoff,
    } = *to;
    let pull = *pull;
    let Some(range) = plan.range else {
        let mut sink = Sink::new(stream, dir, 0, layout.clone())?;
        let out = sink.finish()?;
        return Ok((vec![sink], out, ReadReport::default()));
    };
    let slices = consumer::slices(range, clients.len());
    let (bar, progress) = sequence_bar(&slices, quiet);
    let mut writers = Vec::with_capacity(slices.len());
    let mut reads = Vec::with_capacity(slices.len());
    for (i, (&slice, progress)) in slices.iter().zip(progress).enumerate() {
        let sink = match Sink::new(stream, dir, i, layout.clone()) {
            Ok(s) => match handoff {
                Some(to) => s.hand_off(to.clone()),
                None => s,
            },
            Err(e) => {
                abort_all(collect_writers(writers).await.0);
                return Err(e);
            }
        };
        let (tx, rx) = mpsc::channel::<Vec<RawMessage>>(8);
        writers.push(spawn_writer(sink, rx));
        let client = clients[i].clone();
        let filter = &plan.filter;
        reads.push(async move {
            let cursor = Cursor::new(slice, tx, progress);
            match plan.read_path {
                ReadPath::Consumer => {
                    let js = jetstream::new(client);
                    consumer::read_range(&js, stream, filter, registry, pull, cursor).await
                }
                ReadPath::Direct => direct::read_range(&client, stream, filter, cursor).await,
            }
        });
    }
    let outcome = signals.guard(futures::future::try_join_all(reads)).await;
    // The read futures (and with them the channels' senders) are gone: writers drain and stop.
    let (sinks, written) = collect_writers(writers).await;
    bar.finish_and_clear();
    match (outcome, written) {
        (Ok(reports), Ok(out)) => {
            let mut report = ReadReport::default();
            reports.into_iter().for_each(|r| report.merge(r));
            Ok((sinks, out, report))
        }
        // A writer error explains a reader's "writer stopped": report the writer's.
        (_, Err(e)) | (Err(e), _) => {
            abort_all(sinks);
            Err(e)
        }
    }
}

type WriterHandle = tokio::task::JoinHandle<(Sink, Result<SinkOutput>)>;

/// Waits for every writer; returns their sinks and their merged output or the first error.
async fn collect_writers(writers: Vec<WriterHandle>) -> (Vec<Sink>, Result<SinkOutput>) {
    let mut sinks = Vec::with_capacity(writers.len());
    let mut out: Result<SinkOutput> = Ok(SinkOutput::default());
    for w in writers {
        match w.await {
            Ok((sink, result)) => {
                sinks.push(sink);
                match (&mut out, result) {
                    (Ok(all), Ok(o)) => all.merge(o),
                    (Ok(_), Err(e)) => out = Err(e),
                    (Err(_), _) => {}
                }
            }
            Err(e) => out = Err(Error::Replay(format!("writer thread failed: {e}"))),
        }
    }
    (sinks, out)
}

fn abort_all(sinks: Vec<Sink>) {
    sinks.into_iter().for_each(Sink::abort);
}
