//! The archive as a Delta Lake table, through delta-rs (`deltalake`): the table's log says which
//! Parquet files are committed, so every engine that reads Delta sees whole chunks or nothing, and
//! a file a killed or losing writer left behind is never read.
//!
//! The table is opened on the destination's own object store (no cloud features of `deltalake`,
//! no DynamoDB: commits are create-only PUTs of `_delta_log/<version>.json`). A commit here is the
//! `add` (and for compaction `remove`) actions of whole files, each with its statistics (built
//! from the Parquet footer: `numRecords`, min/max, null counts, so engines skip files) and
//! jsreplay's tags (SHA-256, first and last sequence); an application transaction `txn` that the
//! caller names; and jsreplay's record in the commit's `commitInfo`, under [`RECORD_KEY`]. A
//! concurrent commit carrying the same application id makes the later one fail with a conflict,
//! which is what lets two writers race on one table without either committing a chunk twice.
//! A file whose columns the table lacks adds them to the table's schema in the same commit
//! (older files read as NULL there). Partition columns are `dt` and `hour`, both strings, as the
//! Hive layout names them; the files themselves do not hold them. Only signed integer types are
//! written (Spark reads `uint64` as `decimal(20,0)`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::arrow_reader::ArrowReaderMetadata;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::parquet::file::statistics::Statistics;
use deltalake::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Add, MetadataExt, Remove, StructField, StructType, Transaction};
use deltalake::logstore::{default_logstore, LogStoreRef, StorageConfig};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{ListResult, ObjectMeta, ObjectStore};
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::lake::sink::PartFile;
use crate::lake::store::{Dest, ReadGate, ReadOnly};

/// The folder of the table's log.
pub const LOG_DIR: &str = "_delta_log";
/// The partition columns, in path order.
pub const PARTITION_COLUMNS: [&str; 2] = ["dt", "hour"];
/// The key of jsreplay's record in a commit's `commitInfo`.
pub const RECORD_KEY: &str = "jsreplay";
/// Tags jsreplay sets on each file it adds.
pub const TAG_SHA256: &str = "jsreplay.sha256";
pub const TAG_FIRST_SEQ: &str = "jsreplay.firstSeq";
pub const TAG_LAST_SEQ: &str = "jsreplay.lastSeq";
/// Text columns whose min/max stay in the statistics only up to this length (longer ones are
/// left out rather than truncated: a truncated maximum would be below the real one).
const STATS_TEXT_BYTES: usize = 64;

/// How an archive lays out its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// Hive-partitioned Parquet with jsreplay's own checkpoint and chunk manifests.
    Hive,
    /// A Delta Lake table: the log says what is committed, the checkpoint is the table's `txn`.
    Delta,
}

fn delta_error(what: &str, e: DeltaTableError) -> Error {
    match e {
        DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(c),
        } => Error::Busy(format!("{what}: another writer committed first ({c})")),
        DeltaTableError::Transaction {
            source: TransactionError::VersionAlreadyExists(v),
        } => Error::Busy(format!(
            "{what}: another writer committed version {v} first"
        )),
        other => Error::Store(format!("{what}: {other}")),
    }
}

/// True when `dest` holds a Delta log.
pub async fn is_table(dest: &Dest) -> Result<bool> {
    Ok(!dest.list(Some(LOG_DIR)).await?.is_empty())
}

/// One file of a snapshot, as its `add` action describes it.
#[derive(Debug, Clone)]
pub struct TableFile {
    /// Relative to the table root, with `/` separators.
    pub path: String,
    pub bytes: u64,
    /// `numRecords` from the statistics.
    pub rows: Option<u64>,
    pub partition: HashMap<String, Option<String>>,
    pub tags: HashMap<String, String>,
}

impl TableFile {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    pub fn tag_u64(&self, key: &str) -> Option<u64> {
        self.tag(key).and_then(|v| v.parse().ok())
    }
}

/// What a commit carries besides its files.
pub struct Commit {
    pub adds: Vec<Add>,
    pub removes: Vec<Remove>,
    /// The application transaction: `(app id, version)`.
    pub txn: Option<(String, i64)>,
    /// jsreplay's record, stored in `commitInfo` under [`RECORD_KEY`].
    pub record: Value,
    /// The columns of the files added (the table's schema grows to hold them).
    pub file_schema: SchemaRef,
    /// A compaction (`dataChange: false`), not new data.
    pub rearrange: bool,
}

/// An opened Delta table at one snapshot.
pub struct Table {
    table: DeltaTable,
    log_store: LogStoreRef,
    pub display: String,
}

fn log_store(dest: &Dest) -> LogStoreRef {
    let (prefixed, root) = dest.table_stores();
    default_logstore(prefixed, root, &dest.url, &StorageConfig::default())
}

impl Table {
    /// Opens the table in `dest` at its latest version (or `version`); `None` when `dest` holds
    /// no Delta log.
    pub async fn open(dest: &Dest, version: Option<i64>) -> Result<Option<Table>> {
        if !is_table(dest).await? {
            return Ok(None);
        }
        let log_store = log_store(dest);
        let mut table = DeltaTable::new(log_store.clone());
        let loaded = match version {
            Some(v) => table.load_version(v.max(0) as u64).await,
            None => table.load().await,
        };
        if let Err(e) = loaded {
            let latest = DeltaTable::new(log_store.clone())
                .get_latest_version()
                .await
                .ok();
            return Err(match (version, latest) {
                (Some(v), Some(latest)) if v.max(0) as u64 > latest => Error::Usage(format!(
                    "{} has no version {v}: its latest is {latest}",
                    dest.display
                )),
                _ => delta_error(&format!("opening the Delta table {}", dest.display), e),
            });
        }
        Ok(Some(Table {
            table,
            log_store,
            display: dest.display.clone(),
        }))
    }

    /// Creates an empty table with `schema`'s columns and the partition columns; when another
    /// writer created it meanwhile, opens that one.
    pub async fn create(dest: &Dest, schema: &Schema, name: &str) -> Result<Table> {
        let kernel = kernel_schema(schema)?;
        let created = deltalake::operations::create::CreateBuilder::new()
            .with_log_store(log_store(dest))
            .with_table_name(name)
            .with_columns(kernel.fields().cloned())
            .with_partition_columns(PARTITION_COLUMNS)
            .with_save_mode(SaveMode::ErrorIfExists)
            .await;
        match created {
            Ok(table) => Ok(Table {
                log_store: table.log_store(),
                table,
                display: dest.display.clone(),
            }),
            Err(e) => match Table::open(dest, None).await? {
                Some(t) => Ok(t),
                None => Err(delta_error(
                    &format!("creating the Delta table {}", dest.display),
                    e,
                )),
            },
        }
    }

    /// The snapshot's version.
    pub fn version(&self) -> i64 {
        self.table.version().map_or(-1, |v| v as i64)
    }

    fn state(&self) -> Result<&deltalake::table::state::DeltaTableState> {
        self.table
            .snapshot()
            .map_err(|e| delta_error(&format!("reading {}", self.display), e))
    }

    /// The version the application `app_id` last committed.
    pub async fn txn(&self, app_id: &str) -> Result<Option<i64>> {
        self.state()?
            .transaction_version(self.log_store.as_ref(), app_id)
            .await
            .map_err(|e| delta_error(&format!("reading {}'s transactions", self.display), e))
    }

    /// The newest jsreplay record at or before the snapshot that has `field`, with the commit
    /// version it came from; walks back through the history a few commits at a time.
    pub async fn latest_record(&self, field: &str) -> Result<Option<Value>> {
        let mut limit = 16usize;
        loop {
            let infos: Vec<_> = self
                .table
                .history(Some(limit))
                .try_collect()
                .await
                .map_err(|e| delta_error(&format!("reading {}'s history", self.display), e))?;
            // Tools whose commit metadata is text (delta-rs's Python binding) store it as a
            // JSON string.
            let found = infos
                .iter()
                .filter_map(|i| match i.info.get(RECORD_KEY)? {
                    Value::String(text) => serde_json::from_str::<Value>(text).ok(),
                    other => Some(other.clone()),
                })
                .find(|r| r.get(field).is_some());
            if found.is_some() {
                return Ok(found);
            }
            if infos.len() < limit {
                return Ok(None);
            }
            limit *= 8;
        }
    }

    /// The table's columns (partition columns included), as Arrow reads them.
    pub fn schema(&self) -> Result<SchemaRef> {
        let kernel = self.state()?.schema();
        let arrow: Schema = kernel
            .as_ref()
            .try_into_arrow()
            .map_err(|e| Error::Store(format!("{}: schema: {e}", self.display)))?;
        Ok(Arc::new(arrow))
    }

    /// The snapshot's files, refused when any lies outside the table (an `add` path with `../`,
    /// an absolute path or a URL: the protocol allows them, jsreplay never writes them, and a
    /// reader that skipped them would answer from part of the data without saying so).
    pub async fn files(&self) -> Result<Vec<TableFile>> {
        let files = self.all_files().await?;
        let outside: Vec<&str> = files
            .iter()
            .filter(|f| !crate::lake::manifest::contained(&f.path))
            .map(|f| f.path.as_str())
            .collect();
        if let Some(first) = outside.first() {
            return Err(Error::Mismatch(format!(
                "{}: version {} lists {} file(s) outside the table (first: {:?}); refusing to \
                 read it (run `jsreplay verify`)",
                self.display,
                self.version(),
                outside.len(),
                first
            )));
        }
        Ok(files)
    }

    /// The snapshot's files as the log names them, inside the table or not (for `verify`,
    /// which reports those outside as findings).
    pub async fn all_files(&self) -> Result<Vec<TableFile>> {
        let views: Vec<_> = self
            .table
            .get_active_add_actions_by_partitions(&[])
            .try_collect()
            .await
            .map_err(|e| delta_error(&format!("listing {}'s files", self.display), e))?;
        let mut files: Vec<TableFile> = views
            .iter()
            .map(|v| {
                // The view has no accessor for tags (jsreplay's hashes and sequence ranges).
                #[allow(deprecated)]
                let add = v.add_action();
                TableFile {
                    path: add.path.clone(),
                    bytes: add.size.max(0) as u64,
                    rows: v.num_records().map(|n| n as u64),
                    partition: add.partition_values.clone(),
                    tags: add
                        .tags
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|(k, v)| Some((k, v?)))
                        .collect(),
                }
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// Commits `c` against this snapshot (a conflicting commit since then fails it) and moves
    /// to the version it made.
    pub async fn commit(&mut self, c: Commit) -> Result<i64> {
        let what = format!("committing to {}", self.display);
        let mut actions: Vec<Action> = Vec::with_capacity(c.adds.len() + c.removes.len() + 1);
        let state = self.state()?;
        let current = state.schema();
        let wider = widen(&current, &c.file_schema)?;
        if let Some(schema) = &wider {
            let metadata = state
                .metadata()
                .clone()
                .with_schema(schema)
                .map_err(|e| Error::Store(format!("{what}: {e}")))?;
            actions.push(Action::Metadata(metadata));
        }
        actions.extend(c.adds.into_iter().map(Action::Add));
        actions.extend(c.removes.into_iter().map(Action::Remove));
        let mut props = CommitProperties::default()
            .with_metadata([(RECORD_KEY.to_string(), c.record)])
            .with_max_retries(15);
        if let Some((app, version)) = c.txn {
            props = props.with_application_transaction(Transaction::new(app, version));
        }
        let operation = if c.rearrange {
            DeltaOperation::Optimize {
                predicate: None,
                target_size: 0,
            }
        } else {
            DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: Some(PARTITION_COLUMNS.map(String::from).to_vec()),
                predicate: None,
            }
        };
        let done = CommitBuilder::from(props)
            .with_actions(actions)
            .build(Some(state), self.log_store.clone(), operation)
            .await
            .map_err(|e| delta_error(&what, e))?;
        let version = done.version();
        self.table
            .update_incremental(Some(version))
            .await
            .map_err(|e| delta_error(&what, e))?;
        Ok(version as i64)
    }

    /// Moves to the table's latest version.
    pub async fn reload(&mut self) -> Result<()> {
        self.table
            .load()
            .await
            .map_err(|e| delta_error(&format!("reading {}", self.display), e))
    }

    /// True when the latest version of the table lists every one of `paths`: the question a
    /// writer asks after a commit that answered with an error, before it deletes anything. A
    /// commit is one PUT of its log entry; when that PUT lands and its answer is lost (a 5xx
    /// from a front, a reset), the retry finds the version taken by the run's own commit and
    /// delta-rs reports a conflict. File names carry the run's id, so no other writer's commit
    /// lists them.
    pub async fn lists_all(&mut self, paths: &[String]) -> Result<bool> {
        if paths.is_empty() {
            return Ok(false);
        }
        self.reload().await?;
        let listed: std::collections::HashSet<String> =
            self.files().await?.into_iter().map(|f| f.path).collect();
        Ok(paths.iter().all(|p| listed.contains(p)))
    }

    /// Removes files the log no longer lists (and, with `orphans`, files it never listed: a
    /// killed or losing writer's) that are older than `retention`; with `dry_run`, only says
    /// which. Returns the paths.
    pub async fn vacuum(
        self,
        retention: std::time::Duration,
        dry_run: bool,
    ) -> Result<Vec<String>> {
        let what = format!("vacuuming {}", self.display);
        let retention = chrono::Duration::from_std(retention)
            .map_err(|e| Error::Usage(format!("retention: {e}")))?;
        let (_, metrics) = self
            .table
            .vacuum()
            .with_mode(deltalake::operations::vacuum::VacuumMode::Full)
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_dry_run(dry_run)
            .await
            .map_err(|e| delta_error(&what, e))?;
        let mut files = metrics.files_deleted;
        files.sort();
        Ok(files)
    }
}

/// The Delta schema of `schema` plus the partition columns.
fn kernel_schema(schema: &Schema) -> Result<StructType> {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for p in PARTITION_COLUMNS {
        if schema.field_with_name(p).is_err() {
            fields.push(Field::new(p, DataType::Utf8, true));
        }
    }
    (&Schema::new(fields))
        .try_into_kernel()
        .map_err(|e| Error::Store(format!("the event schema has no Delta form: {e}")))
}

/// The table schema widened by the columns of `files` it lacks (`None` when it has them all);
/// a column both have with different types is refused.
fn widen(table: &StructType, files: &Schema) -> Result<Option<StructType>> {
    let wanted = kernel_schema(files)?;
    let mut fields: Vec<_> = table.fields().cloned().collect();
    let mut grew = false;
    for f in wanted.fields() {
        match table.field(f.name()) {
            Some(have) if have.data_type() != f.data_type() => {
                return Err(Error::Store(format!(
                    "the table's column {} is {:?}, the files written now have {:?}: refusing to \
                     mix them",
                    f.name(),
                    have.data_type(),
                    f.data_type()
                )))
            }
            Some(_) => {}
            None => {
                // Older files lack it: it can only be nullable.
                fields.push(StructField::nullable(f.name(), f.data_type().clone()));
                grew = true;
            }
        }
    }
    if !grew {
        return Ok(None);
    }
    StructType::try_new(fields)
        .map(Some)
        .map_err(|e| Error::Store(format!("widening the table schema: {e}")))
}

/// The partition values of a part's path (`dt=…/hour=…/part-….parquet`).
pub fn partition_values(rel: &str) -> HashMap<String, Option<String>> {
    rel.split('/')
        .filter_map(|seg| seg.split_once('='))
        .filter(|(k, _)| PARTITION_COLUMNS.contains(k))
        .map(|(k, v)| (k.to_string(), Some(v.to_string())))
        .collect()
}

/// The `add` action of a written part, with its statistics and jsreplay's tags.
pub fn add_action(file: &PartFile, meta: &ParquetMetaData, data_change: bool) -> Add {
    let tags = HashMap::from([
        (TAG_SHA256.to_string(), Some(file.sha256.clone())),
        (TAG_FIRST_SEQ.to_string(), Some(file.first_seq.to_string())),
        (TAG_LAST_SEQ.to_string(), Some(file.last_seq.to_string())),
    ]);
    Add {
        path: file.path.clone(),
        partition_values: partition_values(&file.path),
        size: file.bytes as i64,
        modification_time: Utc::now().timestamp_millis(),
        data_change,
        stats: Some(stats_json(meta).to_string()),
        tags: Some(tags),
        ..Default::default()
    }
}

/// The `remove` action of a file the snapshot lists.
pub fn remove_action(file: &TableFile) -> Remove {
    Remove {
        path: file.path.clone(),
        data_change: false,
        deletion_timestamp: Some(Utc::now().timestamp_millis()),
        extended_file_metadata: Some(true),
        partition_values: Some(file.partition.clone()),
        size: Some(file.bytes as i64),
        tags: Some(
            file.tags
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
        ),
        ..Default::default()
    }
}

/// Reads a local Parquet file's footer.
pub fn footer(path: &std::path::Path) -> Result<Arc<ParquetMetaData>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = ArrowReaderMetadata::load(&f, Default::default())?;
    Ok(meta.metadata().clone())
}

/// Reads the footer of a Parquet object in `dest` (two ranged reads; the data stays where it
/// is).
pub async fn remote_footer(dest: &Dest, rel: &str, size: u64) -> Result<Arc<ParquetMetaData>> {
    let bad = |why: &str| Error::Store(format!("{rel}: not a readable Parquet file ({why})"));
    if size < 12 {
        return Err(bad("too short"));
    }
    let tail = dest.read_range(rel, size - 8..size).await?;
    if tail.len() != 8 || &tail[4..8] != b"PAR1" {
        return Err(bad("no PAR1 footer"));
    }
    let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len + 12 > size {
        return Err(bad("footer length past the start"));
    }
    let bytes = dest.read_range(rel, size - 8 - len..size - 8).await?;
    let meta = datafusion::parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&bytes)
        .map_err(|e| bad(&e.to_string()))?;
    Ok(Arc::new(meta))
}

/// A column's statistics folded over the row groups.
#[derive(Default)]
struct Fold {
    min: Option<Value>,
    max: Option<Value>,
    /// False once a row group lacks exact bounds for a column with values.
    bounded: bool,
    nulls: Option<u64>,
}

/// Delta's file statistics (`numRecords`, `minValues`, `maxValues`, `nullCount`) from a Parquet
/// footer. Bounds are exact or left out: timestamps widen to whole milliseconds outwards, text
/// longer than [`STATS_TEXT_BYTES`] and binary columns have none.
pub fn stats_json(meta: &ParquetMetaData) -> Value {
    let rows = meta.file_metadata().num_rows();
    let arrow = datafusion::parquet::arrow::parquet_to_arrow_schema(
        meta.file_metadata().schema_descr(),
        meta.file_metadata().key_value_metadata(),
    )
    .ok();
    let descr = meta.file_metadata().schema_descr();
    let mut folds: Vec<Fold> = (0..descr.num_columns())
        .map(|_| Fold {
            bounded: true,
            nulls: Some(0),
            ..Default::default()
        })
        .collect();
    for rg in meta.row_groups() {
        for (i, col) in rg.columns().iter().enumerate() {
            let fold = &mut folds[i];
            let name = descr.column(i).name().to_string();
            let dt = arrow
                .as_ref()
                .and_then(|s| s.field_with_name(&name).ok())
                .map(|f| f.data_type().clone());
            let Some(stats) = col.statistics() else {
                fold.nulls = None;
                fold.bounded = false;
                continue;
            };
            fold.nulls = match (fold.nulls, stats.null_count_opt()) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            let all_null = stats.null_count_opt() == Some(rg.num_rows() as u64);
            if all_null {
                continue;
            }
            match bounds(stats, dt.as_ref()) {
                Some((lo, hi)) => {
                    fold.min = Some(match fold.min.take() {
                        Some(m) if less(&m, &lo) => m,
                        _ => lo,
                    });
                    fold.max = Some(match fold.max.take() {
                        Some(m) if less(&hi, &m) => m,
                        _ => hi,
                    });
                }
                None => fold.bounded = false,
            }
        }
    }
    let (mut mins, mut maxs, mut nulls) = (Map::new(), Map::new(), Map::new());
    for (i, fold) in folds.into_iter().enumerate() {
        let name = descr.column(i).name().to_string();
        if let Some(n) = fold.nulls {
            nulls.insert(name.clone(), json!(n));
        }
        if fold.bounded {
            if let (Some(lo), Some(hi)) = (fold.min, fold.max) {
                mins.insert(name.clone(), lo);
                maxs.insert(name, hi);
            }
        }
    }
    json!({"numRecords": rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls})
}

/// True when `a < b` (numbers or strings of one column).
fn less(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_i64() < y.as_i64(),
        (Value::String(x), Value::String(y)) => x < y,
        _ => false,
    }
}

/// A row group's exact bounds of one column as Delta writes them.
fn bounds(stats: &Statistics, dt: Option<&DataType>) -> Option<(Value, Value)> {
    if !stats.min_is_exact() || !stats.max_is_exact() {
        return None;
    }
    match (stats, dt) {
        (Statistics::Int64(s), Some(DataType::Timestamp(unit, _))) => {
            let (lo, hi) = (*s.min_opt()?, *s.max_opt()?);
            Some((
                json!(millis_text(lo, *unit, false)?),
                json!(millis_text(hi, *unit, true)?),
            ))
        }
        (Statistics::Int64(s), _) => Some((json!(s.min_opt()?), json!(s.max_opt()?))),
        (Statistics::Int32(s), _) => Some((json!(s.min_opt()?), json!(s.max_opt()?))),
        (Statistics::ByteArray(s), Some(DataType::Utf8 | DataType::LargeUtf8)) => {
            let lo = std::str::from_utf8(s.min_opt()?.data()).ok()?;
            let hi = std::str::from_utf8(s.max_opt()?.data()).ok()?;
            (lo.len() <= STATS_TEXT_BYTES && hi.len() <= STATS_TEXT_BYTES)
                .then(|| (json!(lo), json!(hi)))
        }
        _ => None,
    }
}

/// A timestamp as Delta's statistics write it (UTC, milliseconds), rounded down for a minimum
/// and up for a maximum so the bounds still hold.
fn millis_text(v: i64, unit: TimeUnit, up: bool) -> Option<String> {
    let per_ms: i64 = match unit {
        TimeUnit::Second => return millis_text(v.checked_mul(1000)?, TimeUnit::Millisecond, up),
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1_000_000,
    };
    let ms = if up {
        v.div_euclid(per_ms) + i64::from(v.rem_euclid(per_ms) != 0)
    } else {
        v.div_euclid(per_ms)
    };
    let t: DateTime<Utc> = Utc.timestamp_millis_opt(ms).single()?;
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The files of one snapshot, as a [`ReadGate`]: the view lists exactly what the table at that
/// version holds, no orphan of a killed or losing writer, no file removed since. Reads of those
/// files go to the store underneath; everything else is refused.
#[derive(Debug)]
pub struct Snapshot {
    /// Keys in the store underneath, sorted.
    files: Vec<ObjectMeta>,
}

/// A read-only store that shows one snapshot's files.
pub type SnapshotStore = ReadOnly<Snapshot>;

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SnapshotStore({} files)", self.files.len())
    }
}

impl ReadOnly<Snapshot> {
    /// The view of `files` (a snapshot's) in `dest`, with the store it is to be registered as
    /// and that store's root URL.
    pub fn registered(dest: &Dest, files: &[TableFile]) -> (Arc<dyn ObjectStore>, url::Url) {
        let (inner, root) = dest.store_root();
        let mut metas: Vec<ObjectMeta> = files
            .iter()
            .map(|f| ObjectMeta {
                location: dest.root_key(&f.path),
                last_modified: Utc::now(),
                size: f.bytes,
                e_tag: None,
                version: None,
            })
            .collect();
        metas.sort_by(|a, b| a.location.cmp(&b.location));
        (
            Arc::new(ReadOnly::new(inner, Snapshot { files: metas })),
            root,
        )
    }
}

impl Snapshot {
    fn under<'a>(&'a self, prefix: Option<&'a ObjPath>) -> impl Iterator<Item = &'a ObjectMeta> {
        self.files
            .iter()
            .filter(move |m| prefix.is_none_or(|p| m.location.prefix_matches(p)))
    }
}

#[async_trait::async_trait]
impl ReadGate for Snapshot {
    fn readable(&self, location: &ObjPath) -> object_store::Result<()> {
        match self.files.binary_search_by(|m| m.location.cmp(location)) {
            Ok(_) => Ok(()),
            Err(_) => Err(object_store::Error::NotFound {
                path: location.to_string(),
                source: "not in the Delta snapshot".into(),
            }),
        }
    }

    fn list(
        &self,
        _: &Arc<dyn ObjectStore>,
        prefix: Option<&ObjPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let found: Vec<_> = self.under(prefix).cloned().map(Ok).collect();
        futures::stream::iter(found).boxed()
    }

    async fn list_with_delimiter(
        &self,
        _: &Arc<dyn ObjectStore>,
        prefix: Option<&ObjPath>,
    ) -> object_store::Result<ListResult> {
        let depth = prefix.map_or(0, |p| p.parts().count());
        let mut dirs = std::collections::BTreeSet::new();
        let mut objects = Vec::new();
        for m in self.under(prefix) {
            let parts: Vec<_> = m.location.parts().collect();
            if parts.len() == depth + 1 {
                objects.push(m.clone());
            } else if parts.len() > depth + 1 {
                dirs.insert(ObjPath::from_iter(parts[..=depth].iter().cloned()));
            }
        }
        Ok(ListResult {
            common_prefixes: dirs.into_iter().collect(),
            objects,
        })
    }

    fn why_read_only(&self) -> &'static str {
        "a Delta snapshot is read-only"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_outwards() {
        let us = TimeUnit::Microsecond;
        assert_eq!(
            millis_text(1_500, us, false).unwrap(),
            "1970-01-01T00:00:00.001Z"
        );
        assert_eq!(
            millis_text(1_500, us, true).unwrap(),
            "1970-01-01T00:00:00.002Z"
        );
        assert_eq!(
            millis_text(2_000, us, true).unwrap(),
            "1970-01-01T00:00:00.002Z"
        );
        assert_eq!(
            millis_text(-1, us, false).unwrap(),
            "1969-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn partitions_from_paths() {
        let p = partition_values("dt=2026-11-30/hour=07/part-S-1-2.abc.parquet");
        assert_eq!(p["dt"].as_deref(), Some("2026-11-30"));
        assert_eq!(p["hour"].as_deref(), Some("07"));
        assert_eq!(p.len(), 2);
    }
}
