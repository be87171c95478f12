//! Jobs on an archive as a Delta table: [`convert`] turns a Hive archive into a Delta table in
//! place, and [`vacuum`] removes the files no snapshot needs any more.
//!
//! Converting writes no data: it takes the Hive archive's lease (no archive or compaction runs
//! meanwhile), finishes what an interrupted run left, checks the checkpoint, chunk manifests and
//! compaction records against each other and against the files there, then commits every listed
//! file (statistics read from its footer, its recorded SHA-256 and sequence range as tags) in one
//! commit that carries the stream's `txn` at the checkpoint's last sequence and the checkpoint
//! itself as jsreplay's record. Only then is `checkpoint.json` retired (kept as
//! `_jsreplay/converted-checkpoint.json`): from that commit on, the table's log is the archive's
//! account. delta-rs's `ConvertToDeltaBuilder` is not used: it registers every Parquet file it
//! lists (an interrupted chunk's too), without hashes or sequence ranges, and cannot carry the
//! `txn`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::jobs::archive::{self, read_checkpoint, recover_pending, DeltaRecordOut};
use crate::jobs::read::Signals;
use crate::jobs::verify::{archive_accounts, VerifyReport};
use crate::lake::batch::event_schema;
use crate::lake::delta::{self, Table};
use crate::lake::lease::Lease;
use crate::lake::manifest::{parse_part, CHECKPOINT};
use crate::lake::sink::PartFile;
use crate::lake::store::{Dest, WriteMode};

/// Where a converted archive's old checkpoint is kept.
pub const CONVERTED: &str = "_jsreplay/converted-checkpoint.json";

/// What a conversion did.
#[derive(Debug, Clone, Serialize)]
pub struct ConvertSummary {
    pub dest: String,
    pub stream: String,
    pub files: usize,
    pub rows: u64,
    /// The stream's `txn` version in the table: the checkpoint carried over.
    pub checkpoint: u64,
    /// The table version that holds the files.
    pub version: i64,
    pub recovered: Vec<String>,
}

/// Converts the Hive archive at `text` into a Delta table in place.
pub async fn convert(text: &str, ttl: Duration) -> Result<ConvertSummary> {
    let mut signals = Signals::new()?;
    let dest = Dest::open(text)?;
    if delta::is_table(&dest).await? {
        return Err(Error::Usage(format!("{text} is a Delta table already")));
    }
    let lease = signals
        .guard(Lease::acquire(&dest, "jsreplay convert", ttl))
        .await?;
    let result = signals.guard(run_convert(&dest, &lease)).await;
    lease.release().await;
    result
}

async fn run_convert(dest: &Dest, lease: &Lease) -> Result<ConvertSummary> {
    let Some((cp, _)) = read_checkpoint(dest).await? else {
        return Err(Error::Usage(format!(
            "{} holds no {CHECKPOINT}: not a jsreplay Hive archive",
            dest.display
        )));
    };
    let recovered: Vec<String> = recover_pending(dest, &cp.stream, cp.last_seq)
        .await?
        .into_iter()
        .collect();
    let (body, _) = dest
        .read(CHECKPOINT)
        .await?
        .ok_or_else(|| Error::Busy(format!("{}/{CHECKPOINT} vanished", dest.display)))?;
    let mut report = VerifyReport::default();
    let listed = archive_accounts(dest, &body, &BTreeSet::new(), &mut report).await?;
    let present: BTreeMap<String, u64> = dest.list(None).await?.into_iter().collect();
    for f in &listed {
        match present.get(&f.path) {
            None => report.problems.push(format!("{} is missing", f.path)),
            Some(&size) if f.bytes.is_some_and(|b| b != size) => report.problems.push(format!(
                "{}: {size} bytes, its manifest says {:?}",
                f.path, f.bytes
            )),
            Some(_) => {}
        }
    }
    if !report.problems.is_empty() {
        return Err(Error::Store(format!(
            "{} does not match its own accounts, nothing converted (run `jsreplay verify`): {}",
            dest.display,
            report.problems.join("; ")
        )));
    }
    let mut adds = Vec::with_capacity(listed.len());
    for f in &listed {
        lease.check()?;
        let size = present[&f.path];
        let footer = delta::remote_footer(dest, &f.path, size).await?;
        let name = parse_part(&f.path)
            .ok_or_else(|| Error::Store(format!("{}: not an archive part's name", f.path)))?;
        let mut add = delta::add_action(
            &PartFile {
                path: f.path.clone(),
                rows: f.rows,
                bytes: size,
                sha256: f.sha256.clone().unwrap_or_default(),
                first_seq: name.first,
                last_seq: name.last,
            },
            &footer,
            true,
        );
        if f.sha256.is_none() {
            // A compaction output: its hash was never recorded.
            if let Some(tags) = add.tags.as_mut() {
                tags.remove(delta::TAG_SHA256);
            }
        }
        adds.push(add);
    }
    let files = adds.len();
    let mut table = Table::create(dest, &event_schema(), &cp.stream).await?;
    if !table.files().await?.is_empty() {
        return Err(Error::Busy(format!(
            "{} became a Delta table with files while it was being converted",
            dest.display
        )));
    }
    lease.check()?;
    let record = DeltaRecordOut {
        kind: "convert",
        checkpoint: &cp,
        chunk: None,
    };
    let version = table
        .commit(delta::Commit {
            adds,
            removes: Vec::new(),
            txn: Some((archive::app_id(&cp.stream), cp.last_seq as i64)),
            record: serde_json::to_value(&record).expect("record serializes"),
            file_schema: event_schema(),
            rearrange: false,
        })
        .await?;
    // The log is the account from now on: a Hive archiver finds no checkpoint to go on from.
    dest.write(CONVERTED, body, WriteMode::Overwrite).await?;
    dest.delete(CHECKPOINT).await?;
    Ok(ConvertSummary {
        dest: dest.display.clone(),
        stream: cp.stream.clone(),
        files,
        rows: cp.rows,
        checkpoint: cp.last_seq,
        version,
        recovered,
    })
}

/// What a vacuum removed (or, dry, would remove).
#[derive(Debug, Clone, Serialize)]
pub struct VacuumSummary {
    pub dest: String,
    pub dry_run: bool,
    pub retention_hours: f64,
    pub files: Vec<String>,
}

/// Removes files of the table at `text` that its latest snapshot does not list and that are
/// older than `retention`: files removed by compaction (older snapshots then lose them),
/// orphans of killed or losing writers (never listed), and in a local folder the unfinished
/// uploads such writers left. Younger ones stay: a writer may be about to commit them.
pub async fn vacuum(text: &str, retention: Duration, dry_run: bool) -> Result<VacuumSummary> {
    let mut signals = Signals::new()?;
    let dest = Dest::open(text)?;
    let Some(table) = signals.guard(Table::open(&dest, None)).await? else {
        return Err(Error::Usage(format!(
            "{text} is not a Delta table (vacuum applies to `archive --format delta` tables)"
        )));
    };
    // Vacuum deletes what the snapshot does not name: if the snapshot names files the store
    // does not hold under those names, the names disagree somewhere (an encoding, a hand-made
    // log) and what the store holds may be exactly the committed data. Nothing is deleted then.
    let listed = signals.guard(table.files()).await?;
    let present: BTreeMap<String, u64> =
        signals.guard(dest.list(None)).await?.into_iter().collect();
    let absent: Vec<&str> = listed
        .iter()
        .filter(|f| present.get(&f.path) != Some(&f.bytes))
        .map(|f| f.path.as_str())
        .collect();
    if let Some(first) = absent.first() {
        return Err(Error::Mismatch(format!(
            "{text}: {} of the {} files of version {} are not there as the log names them \
             (first: {first:?}); nothing vacuumed (run `jsreplay verify`)",
            absent.len(),
            listed.len(),
            table.version()
        )));
    }
    let mut files = signals.guard(table.vacuum(retention, dry_run)).await?;
    // Unfinished uploads of killed writers in a local table: orphans the log never listed,
    // which the store's listing (and so delta-rs) does not show.
    for rel in dest.staged_uploads(retention) {
        if !dry_run {
            dest.remove_staged_upload(&rel)?;
        }
        files.push(rel);
    }
    files.sort();
    Ok(VacuumSummary {
        dest: dest.display.clone(),
        dry_run,
        retention_hours: retention.as_secs_f64() / 3600.0,
        files,
    })
}
