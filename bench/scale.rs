//! `make bench-scale`: the hunt pack over 1 M, 10 M and 50 M events, DataFusion (`jsreplay hunt`
//! under its default operator memory limit) against DuckDB (default settings) on the same files in
//! one run, with each side's wall time and peak RSS.
//!
//! The datasets come from the sample generator: block k (1 M events) is the incident night with
//! seed k + 1, moved k days later (the payload's `evt.time` and the JetStream time alike, the
//! latter 150 ms after the former), written the way `jsreplay archive` writes: one sink per
//! 250,000-sequence chunk, partitioned by event hour, the archive's part names and Parquet
//! settings. Blocks are cached under `~/.cache/jsreplay-bench/blocks/<k>` (a marker written last)
//! and a dataset of N M events is a folder of hard links to blocks 0..N.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration as Days};
use jsreplay::lake::sink::{Layout, Sink};
use jsreplay::message::RawMessage;

const BLOCK: u64 = 1_000_000;
/// The archive's default `--chunk`.
const CHUNK: usize = 250_000;
/// Changes when the blocks' bytes would: a cached block with another key is built again.
const KEY: &str = concat!("jsreplay ", env!("CARGO_PKG_VERSION"), ", blocks v1");

fn cache() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/jsreplay-bench")
}

/// The payload with its `evt.time` date moved `days` later, and that time in nanoseconds
/// (`None` for shapes without a SysArmor `evt.time`, and for broken JSON).
fn shifted(payload: &[u8], days: i64) -> (bytes::Bytes, Option<i64>) {
    const FIELD: &str = "\"evt.time\":\"";
    let Ok(text) = std::str::from_utf8(payload) else {
        return (bytes::Bytes::copy_from_slice(payload), None);
    };
    let Some(at) = text.find(FIELD).map(|i| i + FIELD.len()) else {
        return (bytes::Bytes::copy_from_slice(payload), None);
    };
    let Some(end) = text[at..].find('"').map(|e| at + e) else {
        return (bytes::Bytes::copy_from_slice(payload), None);
    };
    let Ok(t) = DateTime::parse_from_str(&text[at..end], "%Y-%m-%dT%H:%M:%S%.f%z") else {
        return (bytes::Bytes::copy_from_slice(payload), None);
    };
    let t = t + Days::days(days);
    let stamp = t.format("%Y-%m-%dT%H:%M:%S%.9f%z").to_string();
    let out = format!("{}{stamp}{}", &text[..at], &text[end..]);
    (out.into_bytes().into(), t.timestamp_nanos_opt())
}

/// Block `k` as stored messages.
fn block(k: u64) -> Vec<RawMessage> {
    let mut last = 0;
    super::seeded_payloads(BLOCK, k + 1)
        .into_iter()
        .enumerate()
        .map(|(i, (subject, payload))| {
            let (payload, at) = shifted(&payload, k as i64);
            let time_ns = at.map_or(last, |t| t + 150_000_000);
            last = time_ns;
            RawMessage {
                stream_seq: k * BLOCK + i as u64 + 1,
                subject,
                time_ns,
                headers: None,
                payload,
            }
        })
        .collect()
}

/// Builds block `k` into `dir` unless it is cached there.
fn build_block(k: u64, dir: &Path) {
    let marker = dir.join("complete");
    if std::fs::read_to_string(&marker).is_ok_and(|t| t == KEY) {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let layout = Layout::archive("SYSDIG_EVENTS", Some(24 * 3_600_000_000_000));
    for (i, chunk) in block(k).chunks(CHUNK).enumerate() {
        let mut sink = Sink::new("SYSDIG_EVENTS", dir, i, layout.clone()).unwrap();
        for msg in chunk {
            sink.push(msg).unwrap();
        }
        sink.finish().unwrap();
        sink.commit().unwrap();
    }
    std::fs::write(marker, KEY).unwrap();
}

/// Hard-links every Parquet file under `from` into the same relative place under `to`.
fn link_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            link_tree(&src, &dst);
        } else if src.extension().is_some_and(|e| e == "parquet") && !dst.exists() {
            std::fs::hard_link(&src, &dst).unwrap();
        }
    }
}

/// A dataset of `millions` blocks, built (two blocks at a time) and linked as needed.
fn dataset(millions: u64) -> PathBuf {
    let blocks = cache().join("blocks");
    let next = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= millions {
                    break;
                }
                eprintln!("bench-scale: block {k} (1 M events)");
                build_block(k, &blocks.join(k.to_string()));
            });
        }
    });
    let ds = cache().join(format!("scale-{millions}m"));
    let _ = std::fs::remove_dir_all(&ds);
    std::fs::create_dir_all(&ds).unwrap();
    for k in 0..millions {
        link_tree(&blocks.join(k.to_string()), &ds);
    }
    ds
}

/// Reads every file of `ds` once, so both engines start from the page cache.
fn warm(ds: &Path) -> u64 {
    let mut bytes = 0;
    for entry in std::fs::read_dir(ds).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            bytes += warm(&path);
        } else {
            bytes += std::fs::read(&path).unwrap().len() as u64;
        }
    }
    bytes
}

/// Runs the pack at each size; returns the markdown and JSON of the whole run.
pub fn run(root: &Path, jsreplay: &Path, sizes: &[u64]) -> (String, serde_json::Value) {
    // The hunt files as checked out (what the next build embeds), for both engines.
    let queries = root.join("queries/hunts");
    let rendered = super::rendered_pack(Some(&queries));
    let mut md = format!(
        "# jsreplay bench: hunts at scale\n\n{} hunts of the built-in pack, `jsreplay hunt` (DataFusion, \
         default operator memory limit {} MiB) against DuckDB (default settings) on the same files, \
         one run each after the files were read once (page cache). Blocks of 1 M generated events, \
         one night each, written as `jsreplay archive` writes.\n\n\
         | events | files | GB | jsreplay s | jsreplay --per-hunt s | DuckDB s | jsreplay / DuckDB | jsreplay peak RSS MB | --per-hunt peak RSS MB | DuckDB peak RSS MB | s per M events (jsreplay) | rows equal |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        rendered.len(),
        jsreplay::sql::engine::DEFAULT_MEMORY_LIMIT >> 20,
    );
    let mut details = String::new();
    let mut json = Vec::new();
    let mut first: Option<(u64, f64)> = None;
    let mut targets = String::new();
    for &m in sizes {
        let ds = dataset(m);
        let files = count_files(&ds);
        let bytes = warm(&ds);
        eprintln!("bench-scale: {m} M events: DuckDB");
        let theirs = super::duck_pack(root, &ds, &rendered);
        eprintln!("bench-scale: {m} M events: jsreplay");
        let ours = super::our_pack(jsreplay, &ds, &["--queries", queries.to_str().unwrap()]);
        eprintln!("bench-scale: {m} M events: jsreplay --per-hunt");
        let alone = super::our_pack(
            jsreplay,
            &ds,
            &["--queries", queries.to_str().unwrap(), "--per-hunt"],
        );
        let (table, df_total, duck_total, same) = super::pack_table(&ours, &theirs);
        let same = same && super::pack_table(&alone, &theirs).3;
        md += &format!(
            "| {m} M | {files} | {:.2} | {:.1} | {:.1} | {:.1} | {:.2} | {:.0} | {:.0} | {:.0} | {:.2} | {} |\n",
            bytes as f64 / 1e9,
            ours.wall,
            alone.wall,
            theirs.wall,
            ours.wall / theirs.wall,
            ours.rss_mb,
            alone.rss_mb,
            theirs.rss_mb,
            ours.wall / m as f64,
            super::yes(same),
        );
        // Each size as it is done: a later one may take long or fail.
        eprintln!("bench-scale: {}", md.lines().last().unwrap_or_default());
        details += &format!("\n## {m} M events\n\n{table}");
        let base = *first.get_or_insert((m, ours.wall));
        targets += &format!(
            "| pack <= 0.2 x DuckDB's time at {m} M | {:.1} s vs {:.1} s (x{:.2}) | {} |\n",
            ours.wall,
            theirs.wall,
            ours.wall / theirs.wall,
            super::yes(ours.wall <= 0.2 * theirs.wall)
        );
        if m == *sizes.last().unwrap() {
            targets += &format!(
                "| jsreplay peak RSS <= 2 GB at {m} M | {:.0} MB | {} |\n",
                ours.rss_mb,
                super::yes(ours.rss_mb <= 2000.0)
            );
            if m > base.0 {
                let (per_first, per_last) = (base.1 / base.0 as f64, ours.wall / m as f64);
                targets += &format!(
                    "| time per M events flat (+-15 %), {} M to {m} M | {per_first:.2} s to {per_last:.2} s | {} |\n",
                    base.0,
                    super::yes((per_last / per_first - 1.0).abs() <= 0.15)
                );
            }
        }
        json.push(serde_json::json!({
            "millions": m, "files": files, "bytes": bytes,
            "jsreplay_wall_seconds": ours.wall, "duckdb_wall_seconds": theirs.wall,
            "jsreplay_peak_rss_mb": ours.rss_mb, "duckdb_peak_rss_mb": theirs.rss_mb,
            "jsreplay_total_ms": df_total, "duckdb_total_ms": duck_total, "rows_equal": same,
            "jsreplay": ours.hunts, "duckdb": theirs.hunts,
        }));
    }
    md += &format!("\n| target | measured | met |\n|---|---|---|\n{targets}{details}");
    (md, serde_json::json!({ "scale": json }))
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { count_files(&p) } else { 1 })
        .sum()
}
