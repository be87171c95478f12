//! `jsreplay archive`: move everything a stream holds past the last checkpoint into long-term
//! storage, then exit (made for cron and systemd timers).
//!
//! A destination (local folder or object store, see [`crate::lake::store`]) holds Hive partitions by
//! event hour (`dt=YYYY-MM-DD/hour=HH/part-<stream>-<first seq>-<last seq>.parquet`) and, under
//! `_jsreplay/`, the checkpoint, the lease and one manifest per committed chunk. A run takes the
//! lease, freezes the range `checkpoint + 1 ..= the stream's last sequence`, and commits it in
//! chunks. While a chunk is read, each part is uploaded as soon as it closes (so local staging
//! holds only the parts still open, whatever the chunk's size), after `pending.json` has been
//! rewritten to list it; once the read is accounted for, the chunk manifest is uploaded, the
//! checkpoint is replaced (only if unchanged since read), and `pending.json` is deleted. A run
//! killed anywhere in between
//! leaves a `pending.json` the next run acts on before anything else: it deletes the listed
//! objects unless the checkpoint already covers them, then reads the chunk again, which gives the
//! same part names. So every sequence lands exactly once, or is reported as a gap: messages that
//! retention removed before they were archived (the stream's first sequence moved past the
//! checkpoint) or that were deleted are recorded in the checkpoint and end the run with exit 6.
//!
//! With `--format delta` the destination is a Delta table ([`crate::lake::delta`]) and its log
//! replaces checkpoint, chunk manifests, pending note and lease: each chunk is one commit of its
//! parts' `add` actions, the stream's `txn` at the chunk's last sequence and jsreplay's record
//! (chunk manifest and checkpoint); the next run continues after the `txn`. Parts carry the run id
//! in their names, so a killed run's or a losing racer's files are orphans no snapshot lists
//! (`vacuum` deletes them) and never a committed file overwritten. Of two archivers committing the
//! same chunk, the later one's commit fails as a concurrent transaction (exit 7, its files
//! removed).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::jobs::read::{read_description, Accounted, Readers, Signals, Staging};
use crate::lake::delta::{self, Table, TableFormat};
use crate::lake::lease::Lease;
use crate::lake::manifest::{
    parse_part, schema_columns, Manifest, SeqRange, Tool, CHECKPOINT, META_DIR,
};
use crate::lake::sink::{sha256_file, ClosedPart, Layout, PartFile};
use crate::lake::staging::WorkDir;
use crate::lake::store::{Dest, Version, WriteMode, Written};
use crate::nats::connect::ConnectSpec;
use crate::nats::cursor::merge_ranges;
use crate::nats::window::{ReadPathChoice, Window};
use crate::nats::{api, plan};

mod chunk;
use chunk::*;

pub const PENDING: &str = "_jsreplay/pending.json";
const CHUNKS: &str = "_jsreplay/chunks";

/// What to archive and where.
#[derive(Debug, Clone)]
pub struct ArchiveRequest {
    pub stream: String,
    /// How far an event's time may lie from its JetStream time and still choose its partition
    /// (nanoseconds; `None`: any).
    pub event_time_window: Option<i64>,
    /// Where chunks are staged before upload (a private folder is made inside); `$TMPDIR` if unset.
    pub staging: Option<PathBuf>,
    pub dest: String,
    pub quiet: bool,
    pub parallel: Option<usize>,
    pub read_path: ReadPathChoice,
    /// Sequences per committed chunk.
    pub chunk: u64,
    /// Bytes per committed chunk, estimated from the stream's average message size.
    pub chunk_bytes: u64,
    /// Largest part file: what local staging holds per open part.
    pub part_bytes: u64,
    pub lease_ttl: Duration,
    /// Where a brand-new archive starts (default: the stream's first stored sequence).
    pub start_seq: Option<u64>,
    pub server_display: String,
    /// Hive or Delta; `None`: what the destination already is (Hive for a new one).
    pub format: Option<TableFormat>,
}

/// The archive's progress, `_jsreplay/checkpoint.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: String,
    pub stream: String,
    /// Every sequence up to this one is archived as a row or recorded as a gap.
    pub last_seq: u64,
    /// Where the archive started.
    pub first_seq: u64,
    pub rows: u64,
    pub gap_messages: u64,
    /// Sequences lost before they could be archived (retention, deletion), merged.
    pub gaps: Vec<[u64; 2]>,
    pub chunks: u64,
    pub updated_at: String,
    pub tool_version: String,
    /// The stream's creation time when the archive began (absent in archives from before it
    /// was recorded): a stream re-created under the same name is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_created: Option<String>,
}

/// The objects a chunk is about to upload; present only while a chunk is uncommitted.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    range: [u64; 2],
    objects: Vec<String>,
    written_at: String,
    /// The writing run (pid and a random id): a recovery deletes only while the note it read is
    /// still the one there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run: Option<String>,
}

impl Pending {
    /// The first listed object this pending note may not name: only the parts of its own range
    /// and its chunk manifest may ever be deleted on the strength of it.
    fn foreign_object(&self, stream: &str) -> Option<&String> {
        let [a, b] = self.range;
        let manifest = chunk_manifest(a, b);
        self.objects.iter().find(|o| {
            **o != manifest
                && !parse_part(o).is_some_and(|p| p.stream == stream && a <= p.first && p.last <= b)
        })
    }
}

fn chunk_manifest(a: u64, b: u64) -> String {
    format!("{CHUNKS}/{a:020}-{b:020}.json")
}

/// The sequence range a chunk manifest's name gives (`None` for another name).
fn chunk_range(rel: &str) -> Option<(u64, u64)> {
    let name = rel.strip_prefix(CHUNKS)?.strip_prefix('/')?;
    let (a, b) = name.strip_suffix(".json")?.split_once('-')?;
    let (a, b) = (a.parse().ok()?, b.parse().ok()?);
    (chunk_manifest(a, b) == rel).then_some((a, b))
}

/// What is wrong, if anything, with a checkpoint (`first ..= last` in `chunks` chunks) whose
/// committed chunk manifests are `names` (listed, those of an uncommitted chunk left out): their
/// ranges must tile the checkpoint's range, one after another, no more, no fewer. A checkpoint
/// moved back would archive sequences twice; moved on, it would hide them.
pub fn chunk_tiling_problem(
    (first, last, chunks): (u64, u64, u64),
    names: &[String],
) -> Option<String> {
    let mut ranges = Vec::with_capacity(names.len());
    for n in names {
        match chunk_range(n) {
            Some(r) => ranges.push(r),
            None => return Some(format!("{n:?} is not a chunk manifest's name")),
        }
    }
    ranges.sort_unstable();
    let mut next = first;
    for &(a, b) in &ranges {
        if a != next || b < a {
            return Some(format!(
                "chunk seq {a}..={b} does not follow on from seq {}",
                next.saturating_sub(1)
            ));
        }
        next = b.saturating_add(1);
    }
    if next != last.saturating_add(1) || ranges.len() as u64 != chunks {
        return Some(format!(
            "the checkpoint says {chunks} chunks up to seq {last}, the chunk manifests {} up to seq {}",
            ranges.len(),
            next.saturating_sub(1)
        ));
    }
    None
}

/// The names of the chunk manifests in `dest` (committed or not).
pub async fn chunk_manifests(dest: &Dest) -> Result<Vec<String>> {
    Ok(dest
        .list(Some(CHUNKS))
        .await?
        .into_iter()
        .map(|(rel, _)| rel)
        .collect())
}

/// The result of a run, printed as one line or as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveSummary {
    pub dest: String,
    pub stream: String,
    /// The sequences this run committed; null when there was nothing new.
    pub range: Option<SeqRange>,
    pub rows: u64,
    pub invalid: u64,
    pub gaps: Vec<[u64; 2]>,
    pub gap_messages: u64,
    pub files: usize,
    pub bytes: u64,
    pub chunks: u64,
    /// The checkpoint after the run.
    pub checkpoint: u64,
    /// Rows in the whole archive.
    pub archive_rows: u64,
    pub seconds: f64,
    pub messages_per_second: f64,
    /// Left-overs of interrupted runs this run cleaned up.
    pub recovered: Vec<String>,
    pub warnings: Vec<String>,
    pub workers: usize,
}

impl ArchiveSummary {
    pub fn line(&self) -> String {
        let range = self.range.map_or("nothing new".to_string(), |r| {
            format!("seq {}..={}", r.first, r.last)
        });
        format!(
            "archived {} rows ({range}) of {} to {} in {:.1} s ({:.0} msg/s, {} chunks, {} files, {:.1} MiB); \
             {} gaps ({} messages lost before archiving); checkpoint {}, {} rows archived in all",
            self.rows,
            self.stream,
            self.dest,
            self.seconds,
            self.messages_per_second,
            self.chunks,
            self.files,
            self.bytes as f64 / (1024.0 * 1024.0),
            self.gaps.len(),
            self.gap_messages,
            self.checkpoint,
            self.archive_rows,
        )
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads the checkpoint and the version to replace it with.
pub async fn read_checkpoint(dest: &Dest) -> Result<Option<(Checkpoint, Version)>> {
    let Some((bytes, version)) = dest.read(CHECKPOINT).await? else {
        return Ok(None);
    };
    let cp: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Store(format!(
            "{}/{CHECKPOINT} is not a jsreplay checkpoint: {e}",
            dest.display
        ))
    })?;
    Ok(Some((cp, version)))
}

/// Finishes what an interrupted run left: objects of an uncommitted chunk are deleted (the
/// chunk is read again), a committed chunk's `pending.json` is just removed. Returns what it did.
pub async fn recover_pending(dest: &Dest, stream: &str, checkpoint: u64) -> Result<Option<String>> {
    let Some((bytes, _)) = dest.read(PENDING).await? else {
        return Ok(None);
    };
    let pending: Pending = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Store(format!("{}/{PENDING} is unreadable: {e}", dest.display)))?;
    let [a, b] = pending.range;
    let note = if b <= checkpoint {
        format!("chunk seq {a}..={b} was committed by an interrupted run; its pending note removed")
    } else {
        if let Some(bad) = pending.foreign_object(stream) {
            return Err(Error::Store(format!(
                "{}/{PENDING} lists {bad:?}, which is not a part or manifest of its chunk seq {}..={}: \
                 refusing to delete anything on its strength (inspect it, then remove it by hand)",
                dest.display, pending.range[0], pending.range[1]
            )));
        }
        // Read again just before deleting: a run that may still be alive (stalled past its
        // lease, then resumed) must not lose objects to a note it has since replaced.
        let again = dest.read(PENDING).await?.map(|(b, _)| b);
        if again.as_deref() != Some(&bytes[..]) {
            return Err(Error::Busy(format!(
                "{}/{PENDING} changed while it was being recovered: another run is writing; \
                 nothing deleted",
                dest.display
            )));
        }
        for obj in &pending.objects {
            dest.delete(obj).await?;
        }
        format!(
            "removed {} objects of uncommitted chunk seq {a}..={b} left by an interrupted run (read again)",
            pending.objects.len()
        )
    };
    dest.delete(PENDING).await?;
    Ok(Some(note))
}

/// A destination without a checkpoint must hold nothing but an interrupted first chunk (what
/// its `pending.json` lists) and the archive's own lease: archiving into somebody else's data
/// would mix it with the evidence, and `compact` would merge it.
async fn refuse_foreign(dest: &Dest) -> Result<()> {
    let pending: Vec<String> = match dest.read(PENDING).await? {
        Some((bytes, _)) => serde_json::from_slice::<Pending>(&bytes)
            .map(|p| p.objects)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let foreign: Vec<String> = dest
        .list(None)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        // A Delta log alone is a table another archiver has just created (it is then opened).
        .filter(|p| !p.starts_with(&format!("{META_DIR}/")) && !pending.contains(p))
        .filter(|p| !p.starts_with(&format!("{}/", delta::LOG_DIR)))
        .collect();
    if let Some(first) = foreign.first() {
        return Err(Error::Usage(format!(
            "{} is not empty and holds no archive checkpoint ({} objects, {first:?} among them): \
             archive to an empty folder or prefix, or to an existing archive",
            dest.display,
            foreign.len()
        )));
    }
    Ok(())
}

/// The format of the archive in `dest`: what is there already (a Delta log, a checkpoint), else
/// the one asked for, else Hive. Asking for the other one than what is there is refused.
pub async fn destination_format(dest: &Dest, asked: Option<TableFormat>) -> Result<TableFormat> {
    let found = if delta::is_table(dest).await? {
        Some(TableFormat::Delta)
    } else if dest.read(CHECKPOINT).await?.is_some() {
        Some(TableFormat::Hive)
    } else {
        None
    };
    match (found, asked) {
        (Some(f), Some(a)) if f != a => Err(Error::Usage(format!(
            "{} is a {} archive, not {}{}",
            dest.display,
            format_name(f),
            format_name(a),
            if f == TableFormat::Hive {
                " (`jsreplay convert` turns it into a Delta table in place)"
            } else {
                ""
            }
        ))),
        (Some(f), _) => Ok(f),
        (None, a) => Ok(a.unwrap_or(TableFormat::Hive)),
    }
}

pub fn format_name(f: TableFormat) -> &'static str {
    match f {
        TableFormat::Hive => "Hive",
        TableFormat::Delta => "Delta",
    }
}

/// The application id of a stream's archive in a Delta table's `txn` actions.
pub fn app_id(stream: &str) -> String {
    format!("jsreplay:{stream}")
}

/// Runs one archive job end to end.
pub async fn archive(
    client: &async_nats::Client,
    spec: &ConnectSpec,
    req: &ArchiveRequest,
) -> Result<ArchiveSummary> {
    let mut signals = Signals::new()?;
    let dest = Dest::open(&req.dest)?;
    let format = signals.guard(destination_format(&dest, req.format)).await?;
    // A Delta table needs no lease: its log admits one commit per version and a chunk's commit
    // carries the stream's `txn`, so of two archivers racing on one chunk the later fails.
    let lease = match format {
        TableFormat::Hive => Some(
            signals
                .guard(Lease::acquire(&dest, "jsreplay archive", req.lease_ttl))
                .await?,
        ),
        TableFormat::Delta => None,
    };
    // Chunks are staged in a private folder (`--staging`, else `$TMPDIR`), outside the
    // destination so that no reader of the archive sees a staged part; a killed run's leftovers
    // are swept by the next and never uploaded: only what `pending.json` lists is ever in the
    // destination (a Delta table: only what its log lists is ever read).
    let parent = req.staging.clone().unwrap_or_else(std::env::temp_dir);
    let result = match WorkDir::create(&parent, "archive") {
        Ok(work) => {
            let keeper = Keeper {
                dest: &dest,
                lease: lease.as_ref(),
                format,
            };
            run(client, spec, req, keeper, work.path(), &mut signals).await
        }
        Err(e) => Err(e),
    };
    let Some(lease) = lease else {
        return result;
    };
    let mut summary = match result {
        Ok(s) => s,
        Err(e) => {
            lease.release().await;
            return Err(e);
        }
    };
    if let Some(old) = &lease.recovered {
        summary
            .recovered
            .insert(0, format!("took over the stale lease of {old}"));
    }
    lease.release().await;
    Ok(summary)
}

/// Where an archive's files go and what keeps its checkpoint.
#[derive(Clone, Copy)]
struct Keeper<'a> {
    dest: &'a Dest,
    /// Hive archives only.
    lease: Option<&'a Lease>,
    format: TableFormat,
}

/// Where the checkpoint was read from, to commit the next one against.
enum Kept {
    Hive(Option<Version>),
    Delta(Box<Table>),
}

/// jsreplay's record in a Delta commit, as read back.
#[derive(Debug, Deserialize)]
struct DeltaRecord {
    checkpoint: Checkpoint,
}

/// jsreplay's record in a Delta commit that moves the archive on (a chunk, a conversion);
/// compaction records carry no checkpoint.
#[derive(Debug, Serialize)]
pub struct DeltaRecordOut<'a> {
    pub kind: &'static str,
    pub checkpoint: &'a Checkpoint,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk: Option<&'a Manifest>,
}

/// A Delta archive's checkpoint: the stream's `txn` version, with the accounting of the newest
/// jsreplay commit, which must agree with it. `None` for a table nothing was archived to yet.
pub async fn delta_checkpoint(table: &Table, stream: &str) -> Result<Option<Checkpoint>> {
    let txn = table.txn(&app_id(stream)).await?;
    let record = match table.latest_record("checkpoint").await? {
        Some(r) => Some(serde_json::from_value::<DeltaRecord>(r).map_err(|e| {
            Error::Store(format!(
                "{}: jsreplay's record in the table's log is unreadable: {e}",
                table.display
            ))
        })?),
        None => None,
    };
    match (txn, record) {
        (None, None) => Ok(None),
        (_, Some(r)) if r.checkpoint.stream != stream => Err(Error::Usage(format!(
            "{} archives stream {}, not {stream}",
            table.display, r.checkpoint.stream
        ))),
        (Some(v), Some(r)) if u64::try_from(v).ok() == Some(r.checkpoint.last_seq) => {
            Ok(Some(r.checkpoint))
        }
        (txn, r) => Err(Error::Store(format!(
            "{}: the table's transaction for {} says seq {}, jsreplay's newest record seq {}:              the log was altered or written by something else; nothing archived",
            table.display,
            app_id(stream),
            txn.map_or("none".into(), |v| v.to_string()),
            r.map_or("none".into(), |r| r.checkpoint.last_seq.to_string()),
        ))),
    }
}

impl Keeper<'_> {
    fn check_lease(&self) -> Result<()> {
        self.lease.map_or(Ok(()), Lease::check)
    }

    /// Reads the checkpoint (`None` for a new archive) after cleaning up what an interrupted run
    /// left; notes what was recovered.
    async fn load(
        &self,
        stream: &str,
        signals: &mut Signals,
        recovered: &mut Vec<String>,
    ) -> Result<(Option<Checkpoint>, Kept)> {
        let dest = self.dest;
        if self.format == TableFormat::Delta {
            let table = match Table::open(dest, None).await? {
                Some(t) => t,
                None => {
                    refuse_foreign(dest).await?;
                    Table::create(dest, &crate::lake::batch::event_schema(), stream).await?
                }
            };
            let cp = delta_checkpoint(&table, stream).await?;
            if cp.is_none() && !table.files().await?.is_empty() {
                return Err(Error::Usage(format!(
                    "{} is a Delta table with files but no jsreplay archive of {stream}: archive                      to an empty folder or prefix, or to an existing archive",
                    dest.display
                )));
            }
            return Ok((cp, Kept::Delta(Box::new(table))));
        }
        let found = read_checkpoint(dest).await?;
        if let Some((cp, _)) = found.as_ref().filter(|(cp, _)| cp.stream != stream) {
            return Err(Error::Usage(format!(
                "{} archives stream {}, not {stream}",
                dest.display, cp.stream
            )));
        }
        let last = found.as_ref().map_or(0, |(cp, _)| cp.last_seq);
        if found.is_none() {
            refuse_foreign(dest).await?;
        }
        if let Some(note) = signals.guard(recover_pending(dest, stream, last)).await? {
            recovered.push(note);
        }
        if let Some((cp, _)) = &found {
            let names = chunk_manifests(dest).await?;
            if let Some(problem) =
                chunk_tiling_problem((cp.first_seq, cp.last_seq, cp.chunks), &names)
            {
                return Err(Error::Store(format!(
                    "{}/{CHECKPOINT} does not match the archive's chunk manifests ({problem}): one of \
                     them was altered; nothing archived (run `jsreplay verify` and restore them first)",
                    dest.display
                )));
            }
        }
        Ok(match found {
            Some((cp, v)) => (Some(cp), Kept::Hive(Some(v))),
            None => (None, Kept::Hive(None)),
        })
    }
}

async fn run(
    client: &async_nats::Client,
    spec: &ConnectSpec,
    req: &ArchiveRequest,
    keeper: Keeper<'_>,
    work: &Path,
    signals: &mut Signals,
) -> Result<ArchiveSummary> {
    let started = Instant::now();
    let dest = keeper.dest;
    let (state, _) = signals
        .guard(api::stream_state(client, &req.stream, api::Deleted::Omit))
        .await?;
    let mut recovered = Vec::new();
    let (found, mut kept) = keeper.load(&req.stream, signals, &mut recovered).await?;
    let mut cp = match found {
        Some(cp) => {
            if cp.stream != req.stream {
                return Err(Error::Usage(format!(
                    "{} archives stream {}, not {}",
                    dest.display, cp.stream, req.stream
                )));
            }
            if let (Some(was), Some(now)) = (&cp.stream_created, &state.created) {
                if was != now {
                    return Err(Error::Store(format!(
                        "stream {} was created at {now}, but {} archives the stream created at \
                         {was}: it was deleted and made again; archive it to a new destination",
                        req.stream, dest.display
                    )));
                }
            }
            if req.start_seq.is_some() {
                return Err(Error::Usage(format!(
                    "--start-seq only applies to a new archive; {} continues after its checkpoint {}",
                    dest.display, cp.last_seq
                )));
            }
            // Archives begun before the creation time was recorded learn it at their next commit.
            let mut cp = cp;
            if cp.stream_created.is_none() {
                cp.stream_created.clone_from(&state.created);
            }
            cp
        }
        None => {
            let first = req.start_seq.unwrap_or(state.first_seq).max(1);
            Checkpoint {
                format: "jsreplay-archive/1".into(),
                stream: req.stream.clone(),
                last_seq: first - 1,
                first_seq: first,
                rows: 0,
                gap_messages: 0,
                gaps: Vec::new(),
                chunks: 0,
                updated_at: now(),
                tool_version: env!("CARGO_PKG_VERSION").into(),
                stream_created: state.created.clone(),
            }
        }
    };
    if state.last_seq < cp.last_seq {
        return Err(Error::Store(format!(
            "stream {}'s last sequence {} is behind the archive's checkpoint {}: the stream was \
             recreated or reset; archive it to a new destination",
            req.stream, state.last_seq, cp.last_seq
        )));
    }
    // Frozen: nothing past the last sequence seen now is read by this run.
    let (start, end) = (cp.last_seq + 1, state.last_seq);
    let mut summary = ArchiveSummary {
        dest: dest.display.clone(),
        stream: req.stream.clone(),
        range: None,
        rows: 0,
        invalid: 0,
        gaps: Vec::new(),
        gap_messages: 0,
        files: 0,
        bytes: 0,
        chunks: 0,
        checkpoint: cp.last_seq,
        archive_rows: cp.rows,
        seconds: 0.0,
        messages_per_second: 0.0,
        recovered,
        warnings: Vec::new(),
        workers: 0,
    };
    if start > end {
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    if state.first_seq > start {
        summary.warnings.push(format!(
            "sequences {start}..={} expired from the stream before they were archived \
             (retention removed them since the last run): reported as gaps",
            (state.first_seq - 1).min(end)
        ));
    }
    let readers = Readers::connect(client, spec, end - start + 1, req.parallel, signals).await?;
    summary.workers = readers.workers();
    let run_id = format!(
        "{}-{:016x}",
        std::process::id(),
        crate::lake::staging::random()
    );
    let layout = Layout {
        // Two Delta writers racing on a chunk must never write one name: the loser's parts are
        // orphans nobody reads, not a committed file overwritten.
        name_suffix: match keeper.format {
            TableFormat::Hive => String::new(),
            TableFormat::Delta => format!(".{run_id}"),
        },
        part_bytes: req.part_bytes,
        ..Layout::archive(&req.stream, req.event_time_window)
    };
    // Sequences per chunk: `--chunk`, fewer when the stream's messages are large on average
    // (what a killed run redoes; staging is bounded by the open parts, not by the chunk).
    let average = state.bytes.checked_div(state.messages).unwrap_or(0).max(1);
    let chunk = req.chunk.min(req.chunk_bytes / average).max(1);
    let mut a = start;
    while a <= end {
        let b = end.min(a.saturating_add(chunk - 1));
        let window = Window {
            start_seq: Some(a),
            end_seq: Some(b),
            read_path: req.read_path,
            ..Window::default()
        };
        let plan = signals
            .guard(plan::resolve(
                client,
                &req.stream,
                &window,
                plan::Estimate::Skip,
            ))
            .await?;
        let mut uploads = Uploads::new(keeper, (a, b), &run_id);
        let read = match plan.range {
            // The stream holds nothing at all any more: the whole chunk is lost.
            None => None,
            Some(_) => {
                let (tx, rx) = tokio::sync::mpsc::channel::<ClosedPart>(1);
                let reading = async {
                    let staging = Staging {
                        stream: &req.stream,
                        dir: work,
                        layout: &layout,
                        quiet: req.quiet,
                        handoff: Some(tx),
                    };
                    // The sinks' handoffs end with the read; `staging` holds the last one.
                    readers.read(&plan, &staging, signals).await
                };
                let (read, uploaded) = tokio::join!(reading, uploads.take(rx));
                // An upload failure stops the writers: it explains the read's error.
                uploaded?;
                Some(read?)
            }
        };
        let chunk = Chunk {
            range: (a, b),
            read,
            plan: &plan,
            req,
        };
        let committed = signals.guard(chunk.commit(&cp, &mut kept, uploads)).await?;
        cp = committed.checkpoint;
        summary.range = Some(SeqRange {
            first: start,
            last: b,
        });
        summary.rows += committed.rows;
        summary.invalid += committed.invalid;
        summary.files += committed.files.len();
        summary.bytes += committed.files.iter().map(|f| f.bytes).sum::<u64>();
        summary
            .gaps
            .extend(committed.gaps.iter().map(|&(x, y)| [x, y]));
        summary.gap_messages += committed.gaps.iter().map(|(x, y)| y - x + 1).sum::<u64>();
        summary.chunks += 1;
        summary.warnings.extend(committed.note);
        a = b + 1;
    }
    summary.gaps = merge_ranges(summary.gaps.iter().map(|g| (g[0], g[1])).collect())
        .into_iter()
        .map(|(x, y)| [x, y])
        .collect();
    summary.checkpoint = cp.last_seq;
    summary.archive_rows = cp.rows;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.messages_per_second = summary.rows as f64 / summary.seconds.max(1e-9);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ranges: &[(u64, u64)]) -> Vec<String> {
        ranges.iter().map(|&(a, b)| chunk_manifest(a, b)).collect()
    }

    #[test]
    fn chunk_names_round_trip() {
        assert_eq!(chunk_range(&chunk_manifest(7, 99)), Some((7, 99)));
        assert_eq!(chunk_range("_jsreplay/chunks/7-99.json"), None);
        assert_eq!(chunk_range("_jsreplay/chunks/../x.json"), None);
        assert_eq!(chunk_range("dt=2026-01-01/hour=00/x.json"), None);
    }

    #[test]
    fn tiling() {
        let ok = names(&[(201, 300), (1, 100), (101, 200)]);
        assert_eq!(chunk_tiling_problem((1, 300, 3), &ok), None);
        assert_eq!(chunk_tiling_problem((1, 0, 0), &[]), None);
        // Moved back, moved on, a chunk missing, one too many, a stray name.
        assert!(chunk_tiling_problem((1, 200, 3), &ok).is_some());
        assert!(chunk_tiling_problem((1, 400, 3), &ok).is_some());
        assert!(chunk_tiling_problem((1, 300, 2), &names(&[(1, 100), (201, 300)])).is_some());
        assert!(
            chunk_tiling_problem((1, 300, 3), &names(&[(1, 100), (50, 300), (101, 200)])).is_some()
        );
        let mut stray = ok.clone();
        stray.push("_jsreplay/chunks/notes.txt".into());
        assert!(chunk_tiling_problem((1, 300, 3), &stray).is_some());
        // A count that does not match, with ranges that do.
        assert!(chunk_tiling_problem((1, 300, 4), &ok).is_some());
    }
}
