//! The export job: plan, replay, decode and write, account for every sequence, then publish the
//! dataset by renaming its parts into place and writing the manifest last.
//!
//! Reading (async, network) and decoding plus Parquet encoding (a blocking thread) overlap through
//! a bounded channel, which also bounds memory. SIGINT and SIGTERM stop the run at any point:
//! consumers are deleted, the staging folder is removed, and the output directory is left as it
//! was (removed again if the run created it), so nothing that looks complete remains.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::lake::manifest::{schema_columns, Manifest, SeqRange, Tool};
use crate::lake::sink::{Layout, STAGING_PREFIX};
use crate::lake::staging::Made;
use crate::nats::connect::ConnectSpec;
use crate::nats::plan;
use crate::nats::window::Window;

use crate::jobs::read::{read_description, Readers, Signals, Staging};

/// What to export and where.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub stream: String,
    pub out_dir: PathBuf,
    pub window: Window,
    pub quiet: bool,
    /// Slices read concurrently; `None` chooses from the range's size.
    pub parallel: Option<usize>,
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
    /// Slices read concurrently.
    pub workers: usize,
}

impl ExportSummary {
    /// The one line printed on stderr at the end.
    pub fn line(&self) -> String {
        let range = self.range.map_or("empty window".to_string(), |r| {
            format!("seq {}..={}", r.first, r.last)
        });
        format!(
            "exported {} rows ({range}) from {} to {} in {:.1} s ({:.0} msg/s, {} workers): {} files, {:.1} MiB; \
             {} gaps ({} messages), {} invalid, {} repaired, {} filtered out{}",
            self.rows,
            self.stream,
            self.out_dir,
            self.seconds,
            self.messages_per_second,
            self.workers,
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
            crate::lake::staging::check_output_folder(dir, Made::Before)?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(dir, e))?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(STAGING_PREFIX) {
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
            crate::lake::staging::check_output_folder(dir, Made::ByThisRun)?;
            Ok(true)
        }
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// Runs one export end to end. `client` resolves the plan and reads the first slice; further
/// slices get connections of their own, made with `spec`.
pub async fn export(
    client: &async_nats::Client,
    spec: &ConnectSpec,
    req: &ExportRequest,
) -> Result<ExportSummary> {
    let started = Instant::now();
    let started_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut signals = Signals::new()?;
    let plan = signals
        .guard(plan::resolve(
            client,
            &req.stream,
            &req.window,
            plan::Estimate::Skip,
        ))
        .await?;
    let readers = Readers::connect(client, spec, plan.span(), req.parallel, &mut signals).await?;
    let created_dir = prepare_out_dir(&req.out_dir)?;
    let staging = Staging {
        stream: &req.stream,
        dir: &req.out_dir,
        layout: &Layout::export(),
        quiet: req.quiet,
        handoff: None,
    };
    let read = readers.read(&plan, &staging, &mut signals).await;
    let read = match read {
        Ok(done) => done,
        Err(e) => {
            if created_dir {
                let _ = std::fs::remove_dir_all(&req.out_dir);
            }
            return Err(e);
        }
    };
    for sink in read.sinks {
        sink.commit()?;
    }
    let (out, gaps) = (read.out, read.gaps);
    let (gap_messages, filtered_out) = (read.gap_messages, read.filtered_out);
    let manifest = Manifest {
        format: "jsreplay-dataset/1",
        tool: Tool::default(),
        stream: req.stream.clone(),
        server: req.server_display.clone(),
        server_version: plan.server_version.clone(),
        read: read_description(&plan),
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
        recoveries: read.report.recoveries,
        warnings: plan.warnings.clone(),
        workers: readers.workers(),
    })
}
