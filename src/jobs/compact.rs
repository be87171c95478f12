//! `jsreplay compact`: merge an archive's small parts, partition by partition, into larger,
//! better-compressed files without changing a single row.
//!
//! Scheduled archive runs leave one small part per partition and run; readers pay for every
//! file they open. Compaction takes the archive's lease (it never runs beside an archive run),
//! finishes whatever an interrupted archive or compaction left, then per partition merges runs
//! of small parts (in sequence order; the merged file is named after the first and last sequence
//! it holds). For each merge, `_jsreplay/compacting.json` names the inputs and the output before
//! the output is uploaded; the inputs are deleted once the output is in place. A run killed in
//! between is finished by the next one: if the output exists the inputs go, otherwise the inputs
//! stay and the intent is dropped. Row counts are checked before anything is replaced.
//!
//! A Delta table needs neither lease nor intent: the whole compaction is one commit of the
//! merged files' `add` and the inputs' `remove` actions (`dataChange: false`), which either
//! lands whole or not at all; the inputs stay for older snapshots until `jsreplay vacuum`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use datafusion::arrow::array::Int64Array;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::jobs::archive::{read_checkpoint, recover_pending};
use crate::jobs::read::Signals;
use crate::lake::batch::event_schema;
use crate::lake::delta::{self, Table};
use crate::lake::lease::Lease;
use crate::lake::manifest::{parse_part, part_path, PartName, META_DIR};
use crate::lake::sink::{sha256_file, writer_properties, PartFile};
use crate::lake::staging::WorkDir;
use crate::lake::store::{Dest, WriteMode};

const COMPACTING: &str = "_jsreplay/compacting.json";
const COMPACTIONS: &str = "_jsreplay/compactions";
/// Bytes of small parts merged into one file at most.
const MERGE_BYTES: u64 = 512 << 20;

/// One merge: written before the output is uploaded, kept as a record afterwards.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Merge {
    inputs: Vec<String>,
    output: String,
    rows: u64,
    bytes_before: u64,
    bytes_after: u64,
    /// The output's SHA-256: what lets `verify` check the merged rows, not only count them
    /// (records of jsreplay before it have none; `verify` reports such outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    written_at: String,
}

/// What a compaction did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactSummary {
    pub dest: String,
    /// Partitions that had parts merged.
    pub partitions: usize,
    pub inputs: usize,
    pub outputs: usize,
    pub rows: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub seconds: f64,
    pub recovered: Vec<String>,
}

impl CompactSummary {
    pub fn line(&self) -> String {
        format!(
            "compacted {}: {} parts in {} partitions merged into {} ({} rows, {:.1} MiB -> {:.1} MiB) in {:.1} s",
            self.dest,
            self.inputs,
            self.partitions,
            self.outputs,
            self.rows,
            self.bytes_before as f64 / (1024.0 * 1024.0),
            self.bytes_after as f64 / (1024.0 * 1024.0),
            self.seconds
        )
    }
}

/// Finishes a merge an interrupted compaction left.
async fn recover_merge(dest: &Dest) -> Result<Option<String>> {
    let Some((bytes, _)) = dest.read(COMPACTING).await? else {
        return Ok(None);
    };
    let merge: Merge = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Store(format!("{}/{COMPACTING} is unreadable: {e}", dest.display)))?;
    // Only ever delete what is an archive part: a tampered record must not name other objects.
    if let Some(bad) = merge
        .inputs
        .iter()
        .chain([&merge.output])
        .find(|p| parse_part(p).is_none())
    {
        return Err(Error::Store(format!(
            "{}/{COMPACTING} names {bad:?}, which is not an archive part: refusing to act on it",
            dest.display
        )));
    }
    let listed = dest.list(Some(parent(&merge.output))).await?;
    let landed = listed.iter().any(|(p, _)| *p == merge.output);
    let note = if landed {
        for input in &merge.inputs {
            dest.delete(input).await?;
        }
        record(dest, &merge).await?;
        format!(
            "finished an interrupted merge: {} now replaces {} parts",
            merge.output,
            merge.inputs.len()
        )
    } else {
        // Not there whole: deleting it removes what a killed upload left of it.
        dest.delete(&merge.output).await?;
        format!(
            "dropped an interrupted merge into {} (its parts were left as they were)",
            merge.output
        )
    };
    dest.delete(COMPACTING).await?;
    Ok(Some(note))
}

fn parent(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(p, _)| p)
}

async fn record(dest: &Dest, merge: &Merge) -> Result<()> {
    let name = merge.output.replace('/', "_").replace(".parquet", ".json");
    let body = serde_json::to_vec_pretty(merge).expect("merge serializes");
    dest.write(&format!("{COMPACTIONS}/{name}"), body, WriteMode::Overwrite)
        .await?;
    Ok(())
}

/// Compacts the archive at `dest_text`; merges are staged in a private folder inside `staging`.
pub async fn compact(
    dest_text: &str,
    small: u64,
    ttl: Duration,
    staging: &Path,
) -> Result<CompactSummary> {
    let mut signals = Signals::new()?;
    let dest = Dest::open(dest_text)?;
    if let Some(table) = signals.guard(Table::open(&dest, None)).await? {
        return signals
            .guard(compact_delta(&dest, table, small, staging))
            .await;
    }
    let lease = signals
        .guard(Lease::acquire(&dest, "jsreplay compact", ttl))
        .await?;
    let result = signals.guard(run(&dest, small, &lease, staging)).await;
    lease.release().await;
    result
}

async fn run(dest: &Dest, small: u64, lease: &Lease, staging: &Path) -> Result<CompactSummary> {
    let started = Instant::now();
    let mut summary = CompactSummary {
        dest: dest.display.clone(),
        ..Default::default()
    };
    // An unreadable checkpoint is an error here as in `archive`: read as 0, it would make a
    // committed chunk's pending note look uncommitted and its objects be deleted.
    let (checkpoint, stream) = read_checkpoint(dest)
        .await?
        .map_or((0, String::new()), |(cp, _)| (cp.last_seq, cp.stream));
    summary
        .recovered
        .extend(recover_pending(dest, &stream, checkpoint).await?);
    summary.recovered.extend(recover_merge(dest).await?);

    let mut by_partition: BTreeMap<String, Vec<(PartName, String, u64)>> = BTreeMap::new();
    for (rel, size) in dest.list(None).await? {
        if rel.starts_with(META_DIR) || size >= small {
            continue;
        }
        if let Some(name) = parse_part(&rel) {
            by_partition
                .entry(name.partition.clone())
                .or_default()
                .push((name, rel, size));
        }
    }
    let work = WorkDir::create(staging, "compact")?;
    for (_, mut parts) in by_partition {
        parts.sort_by_key(|(n, _, _)| n.first);
        let mut merged_here = false;
        for group in groups(&parts) {
            lease.check()?;
            let merge = merge_group(dest, group, work.path()).await?;
            summary.inputs += merge.inputs.len();
            summary.outputs += 1;
            summary.rows += merge.rows;
            summary.bytes_before += merge.bytes_before;
            summary.bytes_after += merge.bytes_after;
            merged_here = true;
        }
        summary.partitions += usize::from(merged_here);
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Runs of two or more parts of one stream, up to [`MERGE_BYTES`] each.
fn groups(parts: &[(PartName, String, u64)]) -> Vec<&[(PartName, String, u64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, (name, _, size)) in parts.iter().enumerate() {
        let same_stream = parts[start].0.stream == name.stream;
        if i > start && (!same_stream || bytes + size > MERGE_BYTES) {
            if i - start >= 2 {
                out.push(&parts[start..i]);
            }
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if parts.len() - start >= 2 {
        out.push(&parts[start..]);
    }
    out
}

/// A group of parts merged into one local file, not yet anywhere else.
struct Merged {
    local: std::path::PathBuf,
    merge: Merge,
    first: u64,
    last: u64,
}

/// Writes `group` (parts of one partition, in sequence order) into one local file, checking
/// that the sequences rise and that every row arrived.
async fn write_merged(
    dest: &Dest,
    group: &[(PartName, String, u64)],
    work: &Path,
    suffix: &str,
) -> Result<Merged> {
    let first = &group[0].0;
    let last = group
        .iter()
        .map(|(n, _, _)| n.last)
        .max()
        .unwrap_or(first.last);
    let plain = part_path(&first.partition, &first.stream, first.first, last);
    let output = match plain.strip_suffix(".parquet") {
        Some(stem) if !suffix.is_empty() => format!("{stem}{suffix}.parquet"),
        _ => plain,
    };
    let local = work.join("merged.parquet");
    let file = File::create(&local).map_err(|e| Error::io(&local, e))?;
    let mut writer =
        ArrowWriter::try_new(file, event_schema(), Some(writer_properties(&first.stream)))?;
    let (mut rows_in, mut rows_out, mut bytes_before) = (0u64, 0u64, 0u64);
    let mut prev_seq = i64::MIN;
    for (_, rel, size) in group {
        let (bytes, _) = dest
            .read(rel)
            .await?
            .ok_or_else(|| Error::Store(format!("{rel} disappeared during compaction")))?;
        bytes_before += size;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
        rows_in += reader.metadata().file_metadata().num_rows() as u64;
        for batch in reader.build()? {
            let batch = batch?;
            // Parts of a partition hold disjoint, rising sequence ranges: the merge stays
            // sorted by `seq`, which the files declare.
            let seqs = batch
                .column_by_name("seq")
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                .ok_or_else(|| Error::Store(format!("{rel} has no Int64 seq column")))?;
            for s in seqs.iter().flatten() {
                if s <= prev_seq {
                    return Err(Error::Store(format!(
                        "{rel}: seq {s} does not follow {prev_seq}; parts overlap, not merged"
                    )));
                }
                prev_seq = s;
            }
            rows_out += batch.num_rows() as u64;
            let batch = batch.with_schema(event_schema())?;
            writer.write(&batch)?;
        }
    }
    writer.close()?;
    if rows_in != rows_out {
        return Err(Error::Store(format!(
            "merging into {output}: read {rows_out} rows, the parts declare {rows_in}; nothing replaced"
        )));
    }
    let bytes_after = std::fs::metadata(&local)
        .map_err(|e| Error::io(&local, e))?
        .len();
    Ok(Merged {
        merge: Merge {
            inputs: group.iter().map(|(_, rel, _)| rel.clone()).collect(),
            output,
            rows: rows_out,
            bytes_before,
            bytes_after,
            sha256: None,
            written_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        },
        local,
        first: first.first,
        last,
    })
}

async fn merge_group(dest: &Dest, group: &[(PartName, String, u64)], work: &Path) -> Result<Merge> {
    let Merged {
        local, mut merge, ..
    } = write_merged(dest, group, work, "").await?;
    merge.sha256 = Some(sha256_file(&local)?);
    let body = serde_json::to_vec_pretty(&merge).expect("merge serializes");
    dest.write(COMPACTING, body, WriteMode::Overwrite).await?;
    dest.upload(&local, &merge.output).await?;
    for input in &merge.inputs {
        dest.delete(input).await?;
    }
    record(dest, &merge).await?;
    dest.delete(COMPACTING).await?;
    std::fs::remove_file(&local).map_err(|e| Error::io(&local, e))?;
    Ok(merge)
}

/// Compacts a Delta table in one commit: every merged file's `add` and its inputs' `remove`
/// (`dataChange: false`), so a reader of any version sees each row once. Outputs get a run id
/// in their names (never a committed file's name); if the commit loses to another writer they
/// are deleted again. Inputs stay on disk for readers of older versions until `vacuum`.
async fn compact_delta(
    dest: &Dest,
    mut table: Table,
    small: u64,
    staging: &Path,
) -> Result<CompactSummary> {
    let started = Instant::now();
    let mut summary = CompactSummary {
        dest: dest.display.clone(),
        ..Default::default()
    };
    let files = table.files().await?;
    let by_path: BTreeMap<&str, &delta::TableFile> =
        files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut by_partition: BTreeMap<String, Vec<(PartName, String, u64)>> = BTreeMap::new();
    for f in files.iter().filter(|f| f.bytes < small) {
        if let Some(name) = parse_part(&f.path) {
            by_partition
                .entry(name.partition.clone())
                .or_default()
                .push((name, f.path.clone(), f.bytes));
        }
    }
    let run = format!(
        ".{}-{:016x}",
        std::process::id(),
        crate::lake::staging::random()
    );
    let work = WorkDir::create(staging, "compact")?;
    let (mut adds, mut removes, mut merges, mut uploaded) = (vec![], vec![], vec![], vec![]);
    let outcome: Result<()> = async {
        for (_, mut parts) in by_partition {
            parts.sort_by_key(|(n, _, _)| n.first);
            let mut merged_here = false;
            for group in groups(&parts) {
                let mut m = write_merged(dest, group, work.path(), &run).await?;
                let local = m.local.clone();
                let (sha256, footer) = tokio::task::spawn_blocking(move || {
                    Ok::<_, Error>((sha256_file(&local)?, delta::footer(&local)?))
                })
                .await
                .map_err(|e| Error::Replay(format!("hashing a merged file failed: {e}")))??;
                m.merge.sha256 = Some(sha256.clone());
                uploaded.push(m.merge.output.clone());
                dest.upload(&m.local, &m.merge.output).await?;
                let file = PartFile {
                    path: m.merge.output.clone(),
                    rows: m.merge.rows,
                    bytes: m.merge.bytes_after,
                    sha256,
                    first_seq: m.first,
                    last_seq: m.last,
                };
                adds.push(delta::add_action(&file, &footer, false));
                removes.extend(
                    m.merge
                        .inputs
                        .iter()
                        .filter_map(|p| by_path.get(p.as_str()))
                        .map(|f| delta::remove_action(f)),
                );
                summary.inputs += m.merge.inputs.len();
                summary.outputs += 1;
                summary.rows += m.merge.rows;
                summary.bytes_before += m.merge.bytes_before;
                summary.bytes_after += m.merge.bytes_after;
                std::fs::remove_file(&m.local).map_err(|e| Error::io(&m.local, e))?;
                merges.push(m.merge);
                merged_here = true;
            }
            summary.partitions += usize::from(merged_here);
        }
        if merges.is_empty() {
            return Ok(());
        }
        let commit = delta::Commit {
            adds,
            removes,
            txn: None,
            record: serde_json::json!({"kind": "compact", "merges": merges}),
            file_schema: event_schema(),
            rearrange: true,
        };
        table.commit(commit).await.map(|_| ())
    }
    .await;
    if let Err(e) = outcome {
        // An error is not proof that nothing landed (the answer to the PUT of the log entry
        // may be what was lost): the outputs are deleted only when the table does not list
        // them, and kept when the table cannot be read (vacuum removes orphans later).
        match table.lists_all(&uploaded).await {
            Ok(true) => summary.recovered.push(format!(
                "the commit answered with an error ({e}), but the table lists the merged \
                 files: it had landed (its answer was lost); nothing was removed"
            )),
            Ok(false) => {
                for rel in &uploaded {
                    let _ = dest.delete(rel).await;
                }
                return Err(e);
            }
            Err(check) => {
                return Err(Error::Store(format!(
                    "{e}; the table could not be read to see whether the commit landed \
                     ({check}): the merged files were kept"
                )))
            }
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names() {
        let n = parse_part(
            "dt=2026-11-27/hour=03/part-SYSDIG-EVENTS-00000000000000000010-00000000000000000042.parquet",
        )
        .unwrap();
        assert_eq!(n.stream, "SYSDIG-EVENTS");
        assert_eq!((n.first, n.last), (10, 42));
        assert_eq!(n.partition, "dt=2026-11-27/hour=03");
        assert_eq!(
            part_path(&n.partition, &n.stream, 10, 42),
            "dt=2026-11-27/hour=03/part-SYSDIG-EVENTS-00000000000000000010-00000000000000000042.parquet"
        );
        assert!(parse_part("dt=x/hour=y/other.parquet").is_none());
    }

    #[test]
    fn grouping() {
        let p = |first: u64, size: u64, stream: &str| {
            let n = PartName {
                partition: "p".into(),
                stream: stream.into(),
                first,
                last: first,
            };
            (n, format!("p/{first}"), size)
        };
        let parts = vec![
            p(1, 10, "A"),
            p(2, 10, "A"),
            p(3, 10, "B"),
            p(4, MERGE_BYTES - 5, "B"),
            p(5, 1, "B"),
        ];
        let g = groups(&parts);
        // A's two parts; B's first alone (the second would overflow it), then B's last two.
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].len(), 2);
        assert_eq!(
            g[1].iter().map(|x| x.0.first).collect::<Vec<_>>(),
            vec![4, 5]
        );
    }
}
