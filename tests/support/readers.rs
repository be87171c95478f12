//! Independent readers of what the binary wrote: Parquet read back with the parquet crate,
//! manifests checked file by file, the project venv's Python (pyarrow, DuckDB, delta-rs, Spark),
//! and Chromium for the HTML report.

use std::path::{Path, PathBuf};
use std::process::Command;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::util::*;

/// Every Parquet file under `dir` (sorted by path), hidden folders excluded.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).expect("read dir").flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if p.is_dir() {
                if !name.starts_with('.') {
                    walk(&p, out);
                }
            } else if name.ends_with(".parquet") {
                out.push(p);
            }
        }
    }
    walk(dir, &mut out);
    out.sort();
    out
}

/// One row of an export, as read back with the parquet crate.
#[derive(Debug, Clone)]
pub struct Row {
    pub seq: i64,
    pub subject: String,
    pub payload: Vec<u8>,
    pub parse_status: String,
    pub nats_time_us: i64,
}

/// Reads every row of a dataset in file order.
pub fn read_rows(dir: &Path) -> Vec<Row> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
    let mut rows = Vec::new();
    for f in parquet_files(dir) {
        let file = std::fs::File::open(&f).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let b = batch.unwrap();
            let seq = b
                .column_by_name("seq")
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone();
            let subject = b
                .column_by_name("subject")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let payload = b
                .column_by_name("payload")
                .unwrap()
                .as_binary::<i32>()
                .clone();
            let status = b
                .column_by_name("parse_status")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let t = b
                .column_by_name("nats_time")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>()
                .clone();
            for i in 0..b.num_rows() {
                assert!(!seq.is_null(i));
                rows.push(Row {
                    seq: seq.value(i),
                    subject: subject.value(i).to_string(),
                    payload: payload.value(i).to_vec(),
                    parse_status: status.value(i).to_string(),
                    nats_time_us: t.value(i),
                });
            }
        }
    }
    rows
}

pub fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest is JSON")
}

/// Checks the manifest's own arithmetic and every file's size and SHA-256.
pub fn check_manifest(dir: &Path) -> serde_json::Value {
    use sha2::{Digest, Sha256};
    let m = manifest(dir);
    let rows = m["rows"].as_u64().unwrap();
    let gap_messages: u64 = gap_list(&m).iter().map(|(a, b)| b - a + 1).sum();
    assert_eq!(gap_messages, m["gap_messages"].as_u64().unwrap());
    let filtered = m["filtered_out"].as_u64().unwrap();
    let span = match m["range"].as_object() {
        Some(r) => r["last"].as_u64().unwrap() - r["first"].as_u64().unwrap() + 1,
        None => 0,
    };
    assert_eq!(
        rows + gap_messages + filtered,
        span,
        "manifest does not add up: {m:#}"
    );
    let mut file_rows = 0;
    let mut listed = Vec::new();
    for f in m["files"].as_array().unwrap() {
        let path = dir.join(f["path"].as_str().unwrap());
        let bytes = std::fs::read(&path).expect("listed file exists");
        assert_eq!(bytes.len() as u64, f["bytes"].as_u64().unwrap());
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, f["sha256"].as_str().unwrap(), "{}", path.display());
        file_rows += f["rows"].as_u64().unwrap();
        listed.push(path);
    }
    listed.sort();
    assert_eq!(
        listed,
        parquet_files(dir),
        "files on disk and in the manifest differ"
    );
    assert_eq!(file_rows, rows);
    assert_eq!(read_rows(dir).len() as u64, rows);
    m
}

/// The manifest's gaps as (from, to) pairs.
pub fn gap_list(m: &serde_json::Value) -> Vec<(u64, u64)> {
    m["gaps"]
        .as_array()
        .expect("gaps is a list")
        .iter()
        .map(|g| (g[0].as_u64().unwrap(), g[1].as_u64().unwrap()))
        .collect()
}

/// Sequences of a dataset, in file order.
pub fn seqs(dir: &Path) -> Vec<i64> {
    read_rows(dir).iter().map(|r| r.seq).collect()
}

/// Python with pyarrow and duckdb (the project-local venv made by scripts/install-deps.sh --python).
pub fn python() -> PathBuf {
    let p = repo_root().join(".tools/venv/bin/python");
    assert!(
        p.is_file(),
        "{} missing: run scripts/install-deps.sh --python",
        p.display()
    );
    p
}

/// Runs a Python snippet with pyarrow/duckdb available; returns stdout.
pub fn run_python(code: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Debian's Chromium (scripts/install-deps.sh --browser), or `JSREPLAY_CHROMIUM`.
fn chromium() -> PathBuf {
    let p = std::env::var_os("JSREPLAY_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        p.is_file(),
        "{} missing: run scripts/install-deps.sh --browser",
        p.display()
    );
    p
}

/// Renders `html` in headless Chromium; returns the DOM after scripts ran and the console lines.
pub fn render_in_chromium(html: &Path, scratch: &Path) -> (String, Vec<String>) {
    let profile = scratch.join("chromium-profile");
    let o = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let console = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&o.stdout).into_owned(), console)
}
