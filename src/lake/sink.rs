//! Writing record batches as Hive-partitioned Parquet parts, atomically.
//!
//! Parts are written into a hidden staging folder inside the output directory, under names ending
//! in `.tmp`, and only moved to `dt=YYYY-MM-DD/hour=HH/part-<first seq>-<last seq>.parquet` when
//! the whole export has succeeded; an interrupted or failed run removes the staging folder, so no
//! file that looks complete is ever left behind. An export's partitions follow the JetStream time
//! of each message, which rises with the sequence: a partition holds a contiguous sequence range
//! and parts stay in sequence order without a merge. An archive's follow the event time, which
//! collectors' clocks skew: a few parts stay open at once (the least recently written is closed
//! to open another) and each stays sorted by sequence. Each part's size and SHA-256 are computed
//! while it is written and end up in the manifest.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::metadata::{KeyValue, SortingColumn};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::lake::batch::{event_schema, event_time_suspect, BatchBuilder, ParseCounts};
use crate::lake::decode::decode;
use crate::message::RawMessage;

/// Staging folders start with this; one left by a killed run is never part of a dataset.
pub const STAGING_PREFIX: &str = ".jsreplay-staging-";

/// Rows per record batch handed to the Parquet writer.
const BATCH_ROWS: usize = 8192;
/// Payload and header bytes per record batch: keeps Binary offsets far from 2 GiB and a
/// writer's memory bounded whatever size a publisher gives its messages.
const BATCH_PAYLOAD_BYTES: usize = 32 << 20;
/// Bytes a row group buffers before it is written out (rows bound it too).
const ROW_GROUP_BYTES: usize = 64 << 20;
/// Rows per row group and per part file.
const ROW_GROUP_ROWS: usize = 64 * 1024;
const PART_ROWS: u64 = 1 << 20;
/// Bytes an export's part may reach (written, buffered and not yet encoded) before it is closed.
pub const EXPORT_PART_BYTES: u64 = 1 << 30;

/// One finished part, as the manifest lists it.
#[derive(Debug, Clone, Serialize)]
pub struct PartFile {
    /// Path relative to the output directory, with `/` separators.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    pub first_seq: u64,
    pub last_seq: u64,
}

/// A part that has just been closed, handed over while the sink goes on writing (archives
/// upload it at once, so local staging holds only the parts still open).
#[derive(Debug)]
pub struct ClosedPart {
    /// Where the finished file lies; whoever receives it removes it.
    pub local: PathBuf,
    pub file: PartFile,
}

/// Where a sink hands its closed parts; the sink waits while the receiver is busy.
pub type Handoff = tokio::sync::mpsc::Sender<ClosedPart>;

/// What the sink produced.
#[derive(Debug, Default, Clone)]
pub struct SinkOutput {
    pub files: Vec<PartFile>,
    pub rows: u64,
    pub counts: ParseCounts,
}

impl SinkOutput {
    /// Adds another slice's output; files stay sorted by sequence.
    pub fn merge(&mut self, other: SinkOutput) {
        self.files.extend(other.files);
        self.files.sort_by_key(|f| f.first_seq);
        self.rows += other.rows;
        self.counts.add(other.counts);
    }
}

/// A `Write` that hashes and counts what passes through it.
struct HashingFile {
    file: io::BufWriter<File>,
    hash: Sha256,
    bytes: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

struct OpenPart {
    partition: String,
    /// The UTC hour (since the epoch) the partition covers.
    hour: i64,
    tmp_path: PathBuf,
    writer: ArrowWriter<HashingFile>,
    /// Rows not yet handed to the writer.
    builder: BatchBuilder,
    rows: u64,
    /// The writer's bytes, written and buffered in the row group, as of the last batch handed
    /// to it (they change only then; computing them walks every column, too costly per row).
    writer_bytes: u64,
    first_seq: u64,
    last_seq: u64,
}

impl OpenPart {
    /// Rows in the part, buffered ones included.
    fn len(&self) -> u64 {
        self.rows + self.builder.len() as u64
    }

    /// Bytes in the part: written, buffered in the row group, and not yet encoded.
    fn bytes(&self) -> u64 {
        self.writer_bytes + self.builder.payload_bytes() as u64
    }

    /// Whether another row fits.
    fn has_room(&self, max_bytes: u64) -> bool {
        self.len() < PART_ROWS && self.bytes() < max_bytes
    }
}

/// Which clock chooses a row's `dt=/hour=` partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    /// The JetStream time: it rises with the sequence, so one part is open at a time and a
    /// partition holds a contiguous sequence range (exports).
    NatsTime,
    /// The event's own time (the JetStream time when the payload has none, or when its time lies
    /// more than the window, in nanoseconds, from the JetStream time; `None`: any time is
    /// taken): what an archive is queried by.
    /// Collectors' clocks differ, so a few partitions can be open at once; after
    /// [`MAX_EVENT_TIME_PARTS`] parts in one sink (event times cycling over many hours) the rest
    /// goes by JetStream time, so an intruder's clock cannot multiply the parts.
    EventTime { window_ns: Option<i64> },
}

/// How a sink lays out its parts.
#[derive(Debug, Clone)]
pub struct Layout {
    pub partitioning: Partitioning,
    /// Part names are `<prefix><first seq>-<last seq><suffix>.parquet`.
    pub name_prefix: String,
    /// Empty, or `.<run id>` where two writers must never write the same name (Delta tables).
    pub name_suffix: String,
    /// A part holding this many bytes is closed and the next row opens another.
    pub part_bytes: u64,
}

impl Layout {
    /// An export's layout: `part-<first>-<last>.parquet` by JetStream hour.
    pub fn export() -> Self {
        Self {
            partitioning: Partitioning::NatsTime,
            name_prefix: "part-".into(),
            name_suffix: String::new(),
            part_bytes: EXPORT_PART_BYTES,
        }
    }

    /// An archive's layout for `stream`: parts by event hour (`window_ns` as
    /// [`Partitioning::EventTime`] says), named `part-<stream label>-<first>-<last>.parquet`,
    /// 128 MiB at most.
    pub fn archive(stream: &str, window_ns: Option<i64>) -> Self {
        Self {
            partitioning: Partitioning::EventTime { window_ns },
            name_prefix: crate::lake::manifest::part_prefix(stream),
            name_suffix: String::new(),
            part_bytes: 128 << 20,
        }
    }

    /// Parts open at once: the least recently written one is closed to open another.
    fn open_parts(&self) -> usize {
        match self.partitioning {
            Partitioning::NatsTime => 1,
            Partitioning::EventTime { .. } => 4,
        }
    }
}

/// Writes messages into partitioned Parquet parts inside a staging folder.
pub struct Sink {
    stream: String,
    out_dir: PathBuf,
    staging: PathBuf,
    layout: Layout,
    /// Open parts, least recently written first.
    open: Vec<OpenPart>,
    out: SinkOutput,
    /// Finished parts still in staging: (staging path, final relative path).
    staged: Vec<(PathBuf, String)>,
    /// Parts opened so far.
    parts_opened: usize,
    /// Where closed parts go instead of staying staged (dropped when the sink finishes, so the
    /// receiver learns that no more will come).
    handoff: Option<Handoff>,
}

/// Parts an event-time sink opens before it partitions the rest of its rows by JetStream time.
pub const MAX_EVENT_TIME_PARTS: usize = 64;

/// The UTC hour (since the epoch) of a time: rows of one hour share a partition.
fn hour_of(time_ns: i64) -> i64 {
    time_ns.div_euclid(3_600_000_000_000)
}

/// The Hive partition of a time: `dt=YYYY-MM-DD/hour=HH`.
pub fn partition_of(time_ns: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp_nanos(time_ns);
    t.format("dt=%Y-%m-%d/hour=%H").to_string()
}

/// The Parquet settings of every part jsreplay writes (exports, archives, compacted archives).
pub fn writer_properties(stream: &str) -> WriterProperties {
    let payload = ColumnPath::from("payload");
    let mut builder = WriterProperties::builder();
    // Unique per row: a dictionary would intern every value and then be dropped for plain
    // encoding anyway (interning was ~4 % of an export's CPU). Rising integers are delta-encoded.
    for col in ["seq", "nats_time", "event_time", "event_time_ns", "evt_num"] {
        builder = builder
            .set_column_dictionary_enabled(ColumnPath::from(col), false)
            .set_column_encoding(ColumnPath::from(col), Encoding::DELTA_BINARY_PACKED);
    }
    for col in ["evt_args", "headers"] {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(col), false);
    }
    builder
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("level 1 is valid"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_statistics_truncate_length(Some(128))
        .set_column_index_truncate_length(Some(128))
        // Raw payloads are never filtered on by value; their statistics would be pure weight.
        .set_column_statistics_enabled(payload.clone(), EnabledStatistics::None)
        .set_column_dictionary_enabled(payload, false)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: 2, // seq
            descending: false,
            nulls_first: false,
        }]))
        .set_created_by(concat!("jsreplay ", env!("CARGO_PKG_VERSION")).to_string())
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "jsreplay.stream".to_string(),
            stream.to_string(),
        )]))
        .build()
}

impl Sink {
    /// Prepares a sink writing into `out_dir` through a fresh staging folder of its own
    /// (`slice` tells the sinks of one export apart).
    pub fn new(stream: &str, out_dir: &Path, slice: usize, layout: Layout) -> Result<Self> {
        // An unpredictable name, made exclusively: a link planted under a name guessed from
        // the pid is never followed.
        let staging = out_dir.join(format!(
            "{STAGING_PREFIX}{}-{slice}-{:016x}",
            std::process::id(),
            crate::lake::staging::random()
        ));
        crate::lake::staging::create_private(&staging)?;
        Ok(Self {
            stream: stream.to_string(),
            out_dir: out_dir.to_path_buf(),
            staging,
            layout,
            open: Vec::new(),
            out: SinkOutput::default(),
            staged: Vec::new(),
            parts_opened: 0,
            handoff: None,
        })
    }

    /// Hands every part to `to` as soon as it is closed instead of keeping it for
    /// [`Sink::commit`]; must be called from a blocking thread (the sink waits for room).
    pub fn hand_off(mut self, to: Handoff) -> Self {
        self.handoff = Some(to);
        self
    }

    /// The staging folder, removed by [`Sink::abort`] and by [`Sink::commit`].
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }

    /// Appends one message as one row.
    pub fn push(&mut self, msg: &RawMessage) -> Result<()> {
        let decoded = decode(&msg.payload);
        let time_ns = match self.layout.partitioning {
            Partitioning::NatsTime => msg.time_ns,
            Partitioning::EventTime { .. } if self.parts_opened >= MAX_EVENT_TIME_PARTS => {
                msg.time_ns
            }
            Partitioning::EventTime { window_ns } => decoded
                .event
                .event_time_ns
                .filter(|&t| window_ns.is_none_or(|w| !event_time_suspect(t, msg.time_ns, w)))
                .unwrap_or(msg.time_ns),
        };
        // Compared by hour: the partition's name is only formatted when a part opens.
        let hour = hour_of(time_ns);
        let found = self.open.iter().position(|p| p.hour == hour);
        let idx = match found {
            Some(i) if self.open[i].has_room(self.layout.part_bytes) => i,
            full => {
                if let Some(i) = full {
                    self.close_part(i)?;
                } else if self.open.len() >= self.layout.open_parts() {
                    self.close_part(0)?;
                }
                self.open_part(time_ns, msg.stream_seq)?;
                self.open.len() - 1
            }
        };
        // Keep the most recently written part last.
        let last = self.open.len() - 1;
        if idx != last {
            let part = self.open.remove(idx);
            self.open.push(part);
        }
        let part = self
            .open
            .last_mut()
            .expect("a part was just opened or found");
        part.builder.append_decoded(&self.stream, msg, &decoded);
        part.last_seq = msg.stream_seq;
        if part.builder.len() >= BATCH_ROWS || part.builder.payload_bytes() >= BATCH_PAYLOAD_BYTES {
            Self::flush_batch(part, &mut self.out)?;
        }
        Ok(())
    }

    fn open_part(&mut self, time_ns: i64, first_seq: u64) -> Result<()> {
        self.parts_opened += 1;
        let partition = partition_of(time_ns);
        let dir = self.staging.join(&partition);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let tmp_path = dir.join(format!("part-{first_seq:020}.parquet.tmp"));
        let file = File::create(&tmp_path).map_err(|e| Error::io(&tmp_path, e))?;
        let sink = HashingFile {
            file: io::BufWriter::with_capacity(1 << 20, file),
            hash: Sha256::new(),
            bytes: 0,
        };
        let writer =
            ArrowWriter::try_new(sink, event_schema(), Some(writer_properties(&self.stream)))?;
        self.open.push(OpenPart {
            partition,
            hour: hour_of(time_ns),
            tmp_path,
            writer,
            builder: BatchBuilder::new(),
            rows: 0,
            writer_bytes: 0,
            first_seq,
            last_seq: first_seq,
        });
        Ok(())
    }

    fn flush_batch(part: &mut OpenPart, out: &mut SinkOutput) -> Result<()> {
        if part.builder.is_empty() {
            return Ok(());
        }
        let counts = part.builder.counts();
        let batch = part.builder.finish();
        part.writer.write(&batch)?;
        part.writer_bytes = (part.writer.bytes_written() + part.writer.in_progress_size()) as u64;
        part.rows += batch.num_rows() as u64;
        out.rows += batch.num_rows() as u64;
        out.counts.add(counts);
        Ok(())
    }

    fn close_part(&mut self, idx: usize) -> Result<()> {
        let mut part = self.open.remove(idx);
        Self::flush_batch(&mut part, &mut self.out)?;
        let mut sink = part.writer.into_inner()?;
        sink.file
            .flush()
            .map_err(|e| Error::io(&part.tmp_path, e))?;
        let file = sink
            .file
            .into_inner()
            .map_err(|e| Error::io(&part.tmp_path, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&part.tmp_path, e))?;
        let rel = format!(
            "{}/{}{:020}-{:020}{}.parquet",
            part.partition,
            self.layout.name_prefix,
            part.first_seq,
            part.last_seq,
            self.layout.name_suffix
        );
        let file = PartFile {
            path: rel.clone(),
            rows: part.rows,
            bytes: sink.bytes,
            sha256: hex(&sink.hash.finalize()),
            first_seq: part.first_seq,
            last_seq: part.last_seq,
        };
        self.out.files.push(file.clone());
        match &self.handoff {
            Some(to) => to
                .blocking_send(ClosedPart {
                    local: part.tmp_path,
                    file,
                })
                .map_err(|_| Error::Replay("the part uploader stopped".into())),
            None => {
                self.staged.push((part.tmp_path, rel));
                Ok(())
            }
        }
    }

    /// Flushes and closes the open parts; the parts stay in staging until [`Sink::commit`]
    /// (or have been handed off).
    pub fn finish(&mut self) -> Result<SinkOutput> {
        while !self.open.is_empty() {
            self.close_part(0)?;
        }
        self.handoff = None;
        Ok(self.out.clone())
    }

    /// Moves every finished part to its final name and removes the staging folder.
    pub fn commit(self) -> Result<()> {
        for (tmp, rel) in &self.staged {
            let dest = self.out_dir.join(rel);
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            fs::rename(tmp, &dest).map_err(|e| Error::io(&dest, e))?;
        }
        fs::remove_dir_all(&self.staging).map_err(|e| Error::io(&self.staging, e))
    }

    /// Drops everything written so far.
    pub fn abort(self) {
        let _ = fs::remove_dir_all(&self.staging);
    }
}

/// The SHA-256 of a file, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex(&hash.finalize()))
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `contents` to `path` through a temporary file and a rename, so readers see all or nothing.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(contents).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
