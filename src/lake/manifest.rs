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

use crate::error::Result;
use crate::lake::batch::{event_schema, ParseCounts};
use crate::lake::sink::{write_atomically, PartFile};

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// The archive's metadata folder at the root of a destination: readers skip it (Spark and Hive
/// ignore `_` folders).
pub const META_DIR: &str = "_jsreplay";
/// The archive's checkpoint: its presence is what makes a destination an archive.
pub const CHECKPOINT: &str = "_jsreplay/checkpoint.json";

/// True for a relative path that stays inside its destination (no root, no `..`, no `\\`).
pub fn contained(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.starts_with('/')
        && !rel.contains('\\')
        && rel
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
}

/// A stream name as part names carry it: made only of `[A-Za-z0-9_-]`, the characters that
/// every object store, URL, Delta log path and file system keeps as they are. NATS allows many
/// more in a stream name (`%`, `?`, `#`, `~`, `[`, `\`, non-ASCII, …, and on 2.9 even `/`):
/// written raw, `object_store` percent-encodes them in the key while a Delta `add` path is read
/// as a URI and decoded, so the log and the file disagree and every committed file looks absent.
/// A name of those characters that does not start with `_` is kept as it is (`SYSDIG_EVENTS`);
/// any other is written as `_` followed by its bytes, `[A-Za-z0-9-]` as they are and every other
/// byte as `_XX` (upper-case hex): `EV%41` is `_EV_2541`. The two forms cannot meet (only the
/// second starts with `_`), so [`stream_from_label`] gives back the name.
pub fn stream_label(stream: &str) -> String {
    if !stream.is_empty() && !stream.starts_with('_') && stream.bytes().all(label_byte) {
        return stream.to_string();
    }
    let mut out = String::with_capacity(stream.len() * 3 + 1);
    out.push('_');
    for b in stream.bytes() {
        if plain(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02X}"));
        }
    }
    out
}

/// A byte a label may hold: `[A-Za-z0-9_-]`.
fn label_byte(b: u8) -> bool {
    plain(b) || b == b'_'
}

/// A byte the encoded form keeps as it is: `[A-Za-z0-9-]` (`_` starts an escape there).
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// The stream name a part name's label stands for (see [`stream_label`]); `None` when the label
/// is neither form.
pub fn stream_from_label(label: &str) -> Option<String> {
    let Some(rest) = label.strip_prefix('_') else {
        return label.bytes().all(label_byte).then(|| label.to_string());
    };
    let mut bytes = Vec::with_capacity(rest.len());
    let mut it = rest.bytes();
    while let Some(b) = it.next() {
        match b {
            b'_' => {
                let hi = (it.next()? as char).to_digit(16)?;
                let lo = (it.next()? as char).to_digit(16)?;
                bytes.push((hi * 16 + lo) as u8);
            }
            b if plain(b) => bytes.push(b),
            _ => return None,
        }
    }
    String::from_utf8(bytes).ok()
}

/// The start of every part name of `stream`: `part-<label>-`.
pub fn part_prefix(stream: &str) -> String {
    format!("part-{}-", stream_label(stream))
}

/// An archive part's name: `<partition>/part-<stream label>-<first>-<last>.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct PartName {
    pub partition: String,
    pub stream: String,
    pub first: u64,
    pub last: u64,
}

/// The part a relative path names, if it is one: a contained path whose file name has the
/// archive's part shape (anything else is never deleted or merged on the strength of a record).
pub fn parse_part(rel: &str) -> Option<PartName> {
    if !contained(rel) {
        return None;
    }
    let (partition, file) = rel.rsplit_once('/')?;
    let stem = file.strip_prefix("part-")?.strip_suffix(".parquet")?;
    // A Delta archive's parts carry `.<run id>` (stream names cannot hold a dot).
    let stem = stem.split_once('.').map_or(stem, |(s, _)| s);
    let (rest, last) = stem.rsplit_once('-')?;
    let (label, first) = rest.rsplit_once('-')?;
    Some(PartName {
        partition: partition.to_string(),
        stream: stream_from_label(label)?,
        first: first.parse().ok()?,
        last: last.parse().ok()?,
    })
}

/// The path of the part of `stream` holding `first..=last` in `partition`.
pub fn part_path(partition: &str, stream: &str, first: u64, last: u64) -> String {
    format!(
        "{partition}/{}{first:020}-{last:020}.parquet",
        part_prefix(stream)
    )
}

/// The read request as the reading side described it: the window asked for, the subject filter
/// applied and the read path used. The manifest stores them as given and never interprets them,
/// which keeps this wing free of NATS types.
#[derive(Debug, Clone, Serialize)]
pub struct ReadDescription {
    pub request: serde_json::Value,
    pub filter: serde_json::Value,
    pub read_path: serde_json::Value,
}

/// The manifest as written to disk.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub format: &'static str,
    pub tool: Tool,
    pub stream: String,
    pub server: String,
    pub server_version: String,
    /// What was asked and how it was read (written as `request`, `filter`, `read_path`).
    #[serde(flatten)]
    pub read: ReadDescription,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_labels_are_safe_and_reversible() {
        for name in [
            "SYSDIG_EVENTS",
            "EV%41",
            "EVQ?X",
            "_LEADING",
            "a_b",
            "_2541",
            "x/y\\z",
            "ünï~[]{}^|\"<#",
            "-",
        ] {
            let label = stream_label(name);
            assert!(
                label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{label}"
            );
            assert_eq!(stream_from_label(&label).as_deref(), Some(name), "{label}");
            let path = part_path("dt=2026-12-04/hour=01", name, 1, 2);
            let back = parse_part(&path).expect("a part name");
            assert_eq!((back.stream.as_str(), back.first, back.last), (name, 1, 2));
        }
        assert_eq!(stream_label("SYSDIG_EVENTS"), "SYSDIG_EVENTS");
        assert_eq!(stream_label("EV%41"), "_EV_2541");
        // The two forms never meet.
        assert_ne!(stream_label("_EV_2541"), "_EV_2541");
        assert_eq!(stream_from_label("_EV_25").as_deref(), Some("EV%"));
        assert_eq!(stream_from_label("_EV_2"), None);
        assert_eq!(stream_from_label("EV%41"), None);
    }
}
