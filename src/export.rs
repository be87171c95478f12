//! The export job: plan, replay, decode and write, account for every sequence, then publish the
//! dataset by renaming its parts into place and writing the manifest last.
//!
//! Reading (async, network) and decoding plus Parquet encoding (a blocking thread) overlap through
//! a bounded channel, which also bounds memory. SIGINT and SIGTERM stop the run at any point:
//! consumers are deleted, the staging folder is removed, and the output directory is left as it
//! was (removed again if the run created it), so nothing that looks complete remains.

use std::path::{Path, PathBuf};
use std::time::Instant;

use async_nats::jetstream;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::manifest::{classify_jumps, schema_columns, Manifest, SeqRange, Tool};
use crate::plan::{self, FilterMode};
use crate::progress::sequence_bar;
use crate::replay::{self, ConsumerRegistry};
use crate::sink::{Sink, SinkOutput};
use crate::window::Window;

/// What to export and where.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub stream: String,
    pub out_dir: PathBuf,
    pub window: Window,
    pub quiet: bool,
    /// The server URL as shown to users (secrets removed).
    pub server_display: String,
}

/// The result of a successful export, printed as the summary line or as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub out_dir: String,
    pub stream: String,
    pub range: Option<SeqRange>,
    pub rows: u64,
    pub invalid: u64,
    pub repaired: u64,
    pub gaps: Vec<[u64; 2]>,
    pub gap_messages: u64,
    pub filtered_out: u64,
    pub files: usize,
    pub bytes: u64,
    pub seconds: f64,
    pub messages_per_second: f64,
    pub recoveries: Vec<String>,
    pub warnings: Vec<String>,
}

impl ExportSummary {
    /// The one line printed on stderr at the end.
    pub fn line(&self) -> String {
        let range = self.range.map_or("empty window".to_string(), |r| {
            format!("seq {}..={}", r.first, r.last)
        });
        format!(
            "exported {} rows ({range}) from {} to {} in {:.1} s ({:.0} msg/s): {} files, {:.1} MiB; \
             {} gaps ({} messages), {} invalid, {} repaired, {} filtered out{}",
            self.rows,
            self.stream,
            self.out_dir,
            self.seconds,
            self.messages_per_second,
            self.files,
            self.bytes as f64 / (1024.0 * 1024.0),
            self.gaps.len(),
            self.gap_messages,
            self.invalid,
            self.repaired,
            self.filtered_out,
            if self.recoveries.is_empty() {
                String::new()
            } else {
                format!("; {} read recoveries", self.recoveries.len())
            }
        )
    }
}

/// Checks that `dir` is absent or empty (stale staging folders of killed runs aside) and creates
/// it. Returns whether this run created it.
fn prepare_out_dir(dir: &Path) -> Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(dir, e))?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(".jsreplay-staging-") {
                    // Left by a killed run: never part of a dataset.
                    let _ = std::fs::remove_dir_all(entry.path());
                    continue;
                }
                return Err(Error::Usage(format!(
                    "output directory {} is not empty; choose a new directory or remove it",
                    dir.display()
                )));
            }
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            Ok(true)
        }
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// Waits for SIGINT or SIGTERM and names it.
pub async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

/// Runs one export end to end.
pub async fn export(client: &async_nats::Client, req: &ExportRequest) -> Result<ExportSummary> {
    let started = Instant::now();
    let started_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let plan = plan::resolve(client, &req.stream, &req.window, false).await?;
    let created_dir = prepare_out_dir(&req.out_dir)?;
    let js = jetstream::new(client.clone());
    let registry = ConsumerRegistry::default();

    let result = run(&js, &plan, req, &registry).await;
    // Whatever happened, nothing of ours stays on the server.
    registry.delete_all(&js).await;
    let (sink, out, report) = match result {
        Ok(done) => done,
        Err(e) => {
            if created_dir {
                let _ = std::fs::remove_dir_all(&req.out_dir);
            }
            return Err(e);
        }
    };

    let (gaps, filtered_by_server) = match plan.range {
        None => (Vec::new(), 0),
        Some(_) => {
            let server_filtered = matches!(plan.filter, FilterMode::Server(_));
            if server_filtered && !report.jumps.is_empty() {
                let (state, deleted) = plan::stream_state(client, &req.stream, true).await?;
                classify_jumps(&report.jumps, state.first_seq, &deleted, true)
            } else {
                classify_jumps(&report.jumps, 0, &[], false)
            }
        }
    };
    let gap_messages: u64 = gaps.iter().map(|(a, b)| b - a + 1).sum();
    let filtered_out = filtered_by_server + report.filtered_out;
    let accounted = out.rows + gap_messages + filtered_out;
    if accounted != plan.span() {
        sink.abort();
        if created_dir {
            let _ = std::fs::remove_dir_all(&req.out_dir);
        }
        return Err(Error::Replay(format!(
            "accounting mismatch: {} rows + {gap_messages} gap messages + {filtered_out} filtered \
             out != {} sequences in the range; nothing was written",
            out.rows,
            plan.span()
        )));
    }

    sink.commit()?;
    let manifest = Manifest {
        format: "jsreplay-dataset/1",
        tool: Tool::default(),
        stream: req.stream.clone(),
        server: req.server_display.clone(),
        server_version: plan.server_version.clone(),
        request: req.window.clone(),
        filter: plan.filter.clone(),
        read_path: plan.read_path.clone(),
        range: plan.range.map(|(first, last)| SeqRange { first, last }),
        first_seq: out.files.first().map(|f| f.first_seq),
        last_seq: out.files.last().map(|f| f.last_seq),
        rows: out.rows,
        invalid: out.counts.invalid,
        parse: out.counts,
        gaps: gaps.iter().map(|&(a, b)| [a, b]).collect(),
        gap_messages,
        filtered_out,
        partitioning: "dt=YYYY-MM-DD/hour=HH of the JetStream time (UTC)",
        files: out.files.clone(),
        schema: schema_columns(),
        warnings: plan.warnings.clone(),
        started_at,
        finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
    };
    manifest.write(&req.out_dir)?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(ExportSummary {
        out_dir: req.out_dir.display().to_string(),
        stream: req.stream.clone(),
        range: manifest.range,
        rows: out.rows,
        invalid: out.counts.invalid,
        repaired: out.counts.repaired,
        gaps: manifest.gaps.clone(),
        gap_messages,
        filtered_out,
        files: out.files.len(),
        bytes: out.files.iter().map(|f| f.bytes).sum(),
        seconds,
        messages_per_second: out.rows as f64 / seconds.max(1e-9),
        recoveries: report.recoveries,
        warnings: plan.warnings.clone(),
    })
}

/// Reads and writes concurrently; on any failure or signal the staging folder is removed.
async fn run(
    js: &jetstream::Context,
    plan: &plan::Plan,
    req: &ExportRequest,
    registry: &ConsumerRegistry,
) -> Result<(Sink, SinkOutput, replay::ReadReport)> {
    let mut sink = Sink::new(&req.stream, &req.out_dir)?;
    let Some(range) = plan.range else {
        let out = sink.finish()?;
        return Ok((sink, out, replay::ReadReport::default()));
    };
    let staging = sink.staging_dir().to_path_buf();
    let (bar, progress) = sequence_bar(range.0, range.1, req.quiet);
    let (tx, mut rx) = mpsc::channel::<Vec<crate::batch::RawMessage>>(16);
    let writer = tokio::task::spawn_blocking(move || {
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
    });
    let read = replay::read_range(js, &req.stream, range, &plan.filter, registry, tx, progress);
    let outcome = tokio::select! {
        r = read => r,
        sig = interrupted() => Err(Error::Interrupted(sig)),
    };
    // The read future (and with it the channel's sender) is gone: the writer drains and stops.
    let (sink, written) = writer
        .await
        .map_err(|e| Error::Replay(format!("writer thread failed: {e}")))?;
    bar.finish_and_clear();
    let fail = |sink: Sink, e: Error| {
        sink.abort();
        let _ = std::fs::remove_dir_all(&staging);
        Err(e)
    };
    match (outcome, written) {
        (Ok(report), Ok(out)) => Ok((sink, out, report)),
        // A writer error explains a reader's "writer stopped": report the writer's.
        (_, Err(e)) => fail(sink, e),
        (Err(e), _) => fail(sink, e),
    }
}
