//! `manifest.json`: the account of an export, written last and atomically at the dataset's root.
//!
//! It says what was asked (the request), what was frozen (the range), and where every sequence of
//! the range went: `rows` written, `gaps` (sequences the stream no longer holds) and
//! `filtered_out` (messages on subjects the filters excluded), with
//! `rows + gap_messages + filtered_out == range.last - range.first + 1`. It lists every file with
//! its size and SHA-256 and the schema, so a dataset can be checked without the tool.
//! A dataset folder without a manifest is, by definition, incomplete.

use std::path::Path;

use serde::Serialize;

use crate::batch::{event_schema, ParseCounts};
use crate::error::Result;
use crate::plan::FilterMode;
use crate::sink::{write_atomically, PartFile};
use crate::window::Window;

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// The manifest as written to disk.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub format: &'static str,
    pub tool: Tool,
    pub stream: String,
    pub server: String,
    pub server_version: String,
    pub request: Window,
    pub filter: FilterMode,
    pub read_path: crate::plan::ReadPath,
    /// The frozen range, inclusive; null when the window held no sequence.
    pub range: Option<SeqRange>,
    /// First and last sequence written as rows.
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub rows: u64,
    /// Payloads that are not JSON and could not be repaired (kept as rows with raw bytes).
    pub invalid: u64,
    pub parse: ParseCounts,
    pub gaps: Vec<[u64; 2]>,
    pub gap_messages: u64,
    pub filtered_out: u64,
    pub partitioning: &'static str,
    pub files: Vec<PartFile>,
    pub schema: Vec<Column>,
    pub warnings: Vec<String>,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Default for Tool {
    fn default() -> Self {
        Self {
            name: "jsreplay",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct SeqRange {
    pub first: u64,
    pub last: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
}

/// The event schema as the manifest lists it, partition columns included.
pub fn schema_columns() -> Vec<Column> {
    let mut cols: Vec<Column> = event_schema()
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
            nullable: f.is_nullable(),
        })
        .collect();
    for name in ["dt", "hour"] {
        cols.push(Column {
            name: name.into(),
            data_type: "Utf8 (Hive partition)".into(),
            nullable: false,
        });
    }
    cols
}

impl Manifest {
    /// Writes the manifest into `dir` atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("manifest serializes");
        write_atomically(&dir.join(MANIFEST), &json)
    }
}

/// Merges sorted, possibly adjacent inclusive ranges.
pub fn merge_ranges(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Splits jump ranges into sequences the stream no longer holds (gaps) and sequences still stored
/// (excluded by a server-side filter). `first_seq` is the stream's first sequence after the read;
/// `deleted` its interior deleted sequences, sorted.
pub fn classify_jumps(
    jumps: &[(u64, u64)],
    first_seq: u64,
    deleted: &[u64],
    filtered_by_server: bool,
) -> (Vec<(u64, u64)>, u64) {
    if !filtered_by_server {
        // Without a server filter, every sequence is delivered unless the stream lost it.
        return (merge_ranges(jumps.to_vec()), 0);
    }
    let mut gaps = Vec::new();
    let mut filtered = 0;
    for &(a, b) in jumps {
        if a < first_seq {
            gaps.push((a, b.min(first_seq - 1)));
        }
        let lo = a.max(first_seq);
        if lo > b {
            continue;
        }
        let from = deleted.partition_point(|&d| d < lo);
        let to = deleted.partition_point(|&d| d <= b);
        for &d in &deleted[from..to] {
            gaps.push((d, d));
        }
        filtered += (b - lo + 1) - (to - from) as u64;
    }
    (merge_ranges(gaps), filtered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging() {
        assert_eq!(
            merge_ranges(vec![(5, 6), (1, 2), (3, 3), (9, 9)]),
            vec![(1, 3), (5, 6), (9, 9)]
        );
    }

    #[test]
    fn classification() {
        let (gaps, filtered) = classify_jumps(&[(1, 4), (8, 12)], 3, &[9, 10], true);
        assert_eq!(gaps, vec![(1, 2), (9, 10)]);
        assert_eq!(filtered, 2 + 3);
        let (gaps, filtered) = classify_jumps(&[(2, 3)], 1, &[], false);
        assert_eq!((gaps, filtered), (vec![(2, 3)], 0));
    }
}
