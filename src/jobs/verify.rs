//! `jsreplay verify`: re-checks a dataset or an archive against its own accounts, for chain of
//! custody. Every file a manifest lists must be there with its size, SHA-256 and row count (read
//! from the Parquet footer); no Parquet file may be there that no manifest lists; the counts must
//! add up (`rows + gap_messages + filtered_out` = the range for a dataset, `rows + gap_messages` =
//! the archived range for an archive, and the files' rows = the rows claimed).
//!
//! An archive's accounts are its checkpoint, one manifest per committed chunk and one record per
//! compaction (which replaces inputs with an output, its rows, size and SHA-256). A file whose
//! hash no account records is a finding: without it a changed row could not be seen. What this
//! proves, without a signature: the files are what the accounts in the same place say, and the
//! accounts agree with each other. Somebody who can write to the destination can rewrite both.
//! The paths a manifest names are checked before use: one that climbs out of the destination is
//! itself a finding. Nothing is written.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::jobs::archive;
use crate::lake::delta::{self, Table};
use crate::lake::manifest::{contained, CHECKPOINT, MANIFEST, META_DIR};
use crate::lake::sink::hex;
use crate::lake::store::Dest;

/// What `verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub target: String,
    /// `dataset` or `archive`.
    pub kind: &'static str,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    /// Files whose hash no account records (each also a finding).
    pub unhashed: usize,
    /// Everything that does not match, one finding each; empty when the target checks out.
    pub problems: Vec<String>,
    /// Things worth knowing that are not failures (a chunk being committed right now).
    pub notes: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn line(&self) -> String {
        format!(
            "{} {}: {} files, {} rows, {:.1} MiB checked; {}",
            self.kind,
            self.target,
            self.files,
            self.rows,
            self.bytes as f64 / (1024.0 * 1024.0),
            if self.ok() {
                "everything matches its manifest".to_string()
            } else {
                format!("{} problem(s)", self.problems.len())
            }
        )
    }
}

/// A file as an account lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Listed {
    pub path: String,
    pub rows: u64,
    #[serde(default)]
    pub bytes: Option<u64>,
    #[serde(default)]
    pub sha256: Option<String>,
}

/// The parts of a manifest (dataset or archive chunk) that verification reads.
#[derive(Debug, Deserialize)]
struct Account {
    range: Option<Range>,
    rows: u64,
    gap_messages: u64,
    #[serde(default)]
    filtered_out: u64,
    files: Vec<Listed>,
}

#[derive(Debug, Deserialize)]
struct Range {
    first: u64,
    last: u64,
}

#[derive(Debug, Deserialize)]
struct CheckpointCounts {
    first_seq: u64,
    last_seq: u64,
    chunks: u64,
    rows: u64,
    gap_messages: u64,
}

#[derive(Debug, Deserialize)]
struct MergeRecord {
    inputs: Vec<String>,
    output: String,
    rows: u64,
    #[serde(default)]
    bytes_after: Option<u64>,
    #[serde(default)]
    sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PendingObjects {
    objects: Vec<String>,
}

fn parse<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Input(format!("{what} is unreadable: {e}")))
}

/// Verifies the dataset folder or archive (folder or object-store URL) `text`; a Delta table at
/// its latest snapshot or at `version`.
pub async fn verify(text: &str, version: Option<i64>) -> Result<VerifyReport> {
    // Opening a local destination creates it: a folder that is not there is a usage error here.
    if !text.contains("://") && !std::path::Path::new(text).is_dir() {
        return Err(Error::Usage(format!("{text} is not a folder")));
    }
    let dest = Dest::open(text)?;
    let mut report = VerifyReport {
        target: text.to_string(),
        ..Default::default()
    };
    if let Some(table) = Table::open(&dest, version).await? {
        report.kind = "delta archive";
        let expected = delta_accounts(&table, &mut report).await?;
        let present: BTreeMap<String, u64> = dest.list(None).await?.into_iter().collect();
        let listed: BTreeSet<&str> = expected.iter().map(|f| f.path.as_str()).collect();
        let orphans = present
            .keys()
            .filter(|p| p.ends_with(".parquet") && !p.starts_with(delta::LOG_DIR))
            .filter(|p| !listed.contains(p.as_str()))
            .count();
        if orphans > 0 {
            report.notes.push(format!(
                "{orphans} Parquet files are not in this snapshot (a killed or losing writer's, \
                 compacted away, or newer): never read through the table; `jsreplay vacuum` \
                 removes the old ones"
            ));
        }
        for f in &expected {
            if !contained(&f.path) {
                report.problems.push(format!(
                    "the log lists {:?}, a path outside the table: never read",
                    f.path
                ));
                continue;
            }
            check_file(
                &dest,
                &f.path,
                f,
                present.get(&f.path).copied(),
                &mut report,
            )
            .await?;
        }
        return Ok(report);
    }
    if version.is_some() {
        return Err(Error::Usage(format!(
            "{text} is not a Delta table: --version applies to Delta tables only"
        )));
    }
    let pending: BTreeSet<String> = match dest.read(&format!("{META_DIR}/pending.json")).await? {
        Some((bytes, _)) => {
            report.notes.push(
                "a chunk is being committed (pending.json): its objects are not checked".into(),
            );
            parse::<PendingObjects>("pending.json", &bytes)?
                .objects
                .into_iter()
                .collect()
        }
        None => BTreeSet::new(),
    };
    let expected = if let Some((bytes, _)) = dest.read(MANIFEST).await? {
        report.kind = "dataset";
        let m: Account = parse(MANIFEST, &bytes)?;
        let span = m.range.as_ref().map_or(0, |r| r.last - r.first + 1);
        let total = m.rows + m.gap_messages + m.filtered_out;
        if total != span {
            report.problems.push(format!(
                "{MANIFEST}: rows {} + gap_messages {} + filtered_out {} = {total}, but the range holds {span}",
                m.rows, m.gap_messages, m.filtered_out
            ));
        }
        let listed: u64 = m.files.iter().map(|f| f.rows).sum();
        if listed != m.rows {
            report.problems.push(format!(
                "{MANIFEST}: its files hold {listed} rows, it claims {}",
                m.rows
            ));
        }
        m.files
    } else if let Some((bytes, _)) = dest.read(CHECKPOINT).await? {
        report.kind = "archive";
        archive_accounts(&dest, &bytes, &pending, &mut report).await?
    } else {
        return Err(Error::Usage(format!(
            "{text} holds no {MANIFEST} and no {CHECKPOINT}: nothing to verify against"
        )));
    };

    let mut by_path: BTreeMap<String, Listed> = BTreeMap::new();
    for f in expected {
        if !contained(&f.path) {
            report.problems.push(format!(
                "a manifest lists {:?}, a path outside the destination",
                f.path
            ));
        } else if by_path.insert(f.path.clone(), f.clone()).is_some() {
            report.problems.push(format!("{} is listed twice", f.path));
        }
    }
    let present: BTreeMap<String, u64> = dest
        .list(None)
        .await?
        .into_iter()
        .filter(|(p, _)| p.ends_with(".parquet"))
        .filter(|(p, _)| {
            !p.split('/')
                .any(|part| part.starts_with('.') || part == META_DIR)
        })
        .collect();
    for path in present.keys() {
        if !by_path.contains_key(path) && !pending.contains(path) {
            report
                .problems
                .push(format!("{path} is there but no manifest lists it"));
        }
    }
    for (path, f) in &by_path {
        check_file(&dest, path, f, present.get(path).copied(), &mut report).await?;
    }
    Ok(report)
}

/// The files an archive's accounts list, after checking the accounts against each other
/// (disagreements go to `report`).
pub async fn archive_accounts(
    dest: &Dest,
    checkpoint: &Bytes,
    pending: &BTreeSet<String>,
    report: &mut VerifyReport,
) -> Result<Vec<Listed>> {
    let cp: CheckpointCounts = parse(CHECKPOINT, checkpoint)?;
    let span = (cp.last_seq + 1).saturating_sub(cp.first_seq);
    if cp.rows + cp.gap_messages != span {
        report.problems.push(format!(
            "{CHECKPOINT}: rows {} + gap_messages {} != {span} sequences archived ({}..={})",
            cp.rows, cp.gap_messages, cp.first_seq, cp.last_seq
        ));
    }
    let mut files: BTreeMap<String, Listed> = BTreeMap::new();
    let (mut chunk_rows, mut chunk_gaps) = (0u64, 0u64);
    // The manifest of a chunk being committed is not yet the checkpoint's.
    let names: Vec<String> = archive::chunk_manifests(dest)
        .await?
        .into_iter()
        .filter(|rel| !pending.contains(rel))
        .collect();
    if let Some(problem) =
        archive::chunk_tiling_problem((cp.first_seq, cp.last_seq, cp.chunks), &names)
    {
        report
            .problems
            .push(format!("{CHECKPOINT} and the chunk manifests: {problem}"));
    }
    for rel in names {
        let Some((bytes, _)) = dest.read(&rel).await? else {
            continue;
        };
        let m: Account = parse(&rel, &bytes)?;
        let span = m.range.as_ref().map_or(0, |r| r.last - r.first + 1);
        if m.rows + m.gap_messages != span {
            report.problems.push(format!(
                "{rel}: rows {} + gap_messages {} != {span} sequences",
                m.rows, m.gap_messages
            ));
        }
        chunk_rows += m.rows;
        chunk_gaps += m.gap_messages;
        for f in m.files {
            files.insert(f.path.clone(), f);
        }
    }
    if (chunk_rows, chunk_gaps) != (cp.rows, cp.gap_messages) {
        report.problems.push(format!(
            "the chunk manifests hold {chunk_rows} rows and {chunk_gaps} gap messages, the checkpoint {} and {}",
            cp.rows, cp.gap_messages
        ));
    }
    for (rel, _) in dest.list(Some(&format!("{META_DIR}/compactions"))).await? {
        let Some((bytes, _)) = dest.read(&rel).await? else {
            continue;
        };
        let merge: MergeRecord = parse(&rel, &bytes)?;
        if merge.inputs.contains(&merge.output) {
            report.problems.push(format!(
                "{rel}: names {} as its own output: a compaction never rewrites a file in place",
                merge.output
            ));
        }
        let mut rows = 0;
        for input in &merge.inputs {
            match files.remove(input) {
                Some(f) => rows += f.rows,
                None => report
                    .problems
                    .push(format!("{rel}: merged {input}, which no account lists")),
            }
        }
        if rows != merge.rows {
            report.problems.push(format!(
                "{rel}: its inputs held {rows} rows, the merge records {}",
                merge.rows
            ));
        }
        files.insert(
            merge.output.clone(),
            Listed {
                path: merge.output,
                rows: merge.rows,
                bytes: merge.bytes_after,
                sha256: merge.sha256,
            },
        );
    }
    Ok(files.into_values().collect())
}

/// The files a Delta snapshot lists, after checking jsreplay's accounting in the log against the
/// table's transaction and against the files' rows.
async fn delta_accounts(table: &Table, report: &mut VerifyReport) -> Result<Vec<Listed>> {
    let files = table.all_files().await?;
    let mut listed = Vec::with_capacity(files.len());
    let mut rows = 0u64;
    for f in &files {
        let Some(n) = f.rows else {
            report
                .problems
                .push(format!("{}: its add action has no numRecords", f.path));
            continue;
        };
        rows += n;
        listed.push(Listed {
            path: f.path.clone(),
            rows: n,
            bytes: Some(f.bytes),
            sha256: f.tag(delta::TAG_SHA256).map(String::from),
        });
    }
    let Some(record) = table.latest_record("checkpoint").await? else {
        report
            .notes
            .push("no jsreplay record in the log: only the files are checked".into());
        return Ok(listed);
    };
    let stream = record
        .pointer("/checkpoint/stream")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    match archive::delta_checkpoint(table, &stream).await {
        Ok(Some(cp)) => {
            let span = (cp.last_seq + 1).saturating_sub(cp.first_seq);
            if cp.rows + cp.gap_messages != span {
                report.problems.push(format!(
                    "the log's checkpoint: rows {} + gap_messages {} != {span} sequences archived \
                     ({}..={})",
                    cp.rows, cp.gap_messages, cp.first_seq, cp.last_seq
                ));
            }
            if rows != cp.rows {
                report.problems.push(format!(
                    "the snapshot's files hold {rows} rows, the log's checkpoint {}",
                    cp.rows
                ));
            }
        }
        Ok(None) => {}
        Err(e) => report.problems.push(e.to_string()),
    }
    Ok(listed)
}

/// Checks one listed file: present, its size and SHA-256 as recorded, its footer's rows.
async fn check_file(
    dest: &Dest,
    path: &str,
    f: &Listed,
    listed_size: Option<u64>,
    report: &mut VerifyReport,
) -> Result<()> {
    if listed_size.is_none() {
        report.problems.push(format!("{path} is missing"));
        return Ok(());
    }
    let Some((bytes, _)) = dest.read(path).await? else {
        report.problems.push(format!("{path} is missing"));
        return Ok(());
    };
    report.files += 1;
    report.bytes += bytes.len() as u64;
    if let Some(size) = f.bytes.filter(|&b| b != bytes.len() as u64) {
        report.problems.push(format!(
            "{path}: {} bytes, the manifest says {size}",
            bytes.len()
        ));
    }
    match &f.sha256 {
        Some(want) => {
            let got = hex(&Sha256::digest(&bytes));
            if !got.eq_ignore_ascii_case(want) {
                report
                    .problems
                    .push(format!("{path}: SHA-256 {got}, the manifest says {want}"));
            }
        }
        None => {
            report.unhashed += 1;
            report.problems.push(format!(
                "{path}: no account records its SHA-256, so its contents cannot be checked (a \
                 compaction record or a Delta `add` without one: an older jsreplay's, or not \
                 jsreplay's at all)"
            ));
        }
    }
    match SerializedFileReader::new(bytes) {
        Ok(reader) => {
            let rows = reader.metadata().file_metadata().num_rows() as u64;
            report.rows += rows;
            if rows != f.rows {
                report
                    .problems
                    .push(format!("{path}: {rows} rows, the manifest says {}", f.rows));
            }
        }
        Err(e) => report
            .problems
            .push(format!("{path}: not a readable Parquet file: {e}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::lake::manifest::contained;

    #[test]
    fn paths_stay_inside() {
        assert!(contained("dt=2025-07-10/hour=02/part-1-2.parquet"));
        for bad in [
            "",
            "/etc/passwd",
            "../x.parquet",
            "a/../../b",
            "a//b",
            "a\\b",
            "./a",
        ] {
            assert!(!contained(bad), "{bad}");
        }
    }
}
