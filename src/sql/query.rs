//! SQL over an exported dataset with DataFusion: the dataset is registered as table `events`
//! (Hive partition columns `dt` and `hour` included), statements are parsed with DataFusion's
//! parser, planned and streamed to one of the output formats, on stdout or into a file.
//!
//! A statement that does not parse, names an unknown column, or fails while running is an
//! [`Error::Query`] carrying DataFusion's message, which the binary maps to its own exit code.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::ValueEnum;
use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::escape;
use crate::lake::batch::event_schema;
use crate::lake::delta::{self, SnapshotStore, Table};
use crate::lake::manifest::{CHECKPOINT, MANIFEST};
use crate::lake::store::Dest;
use crate::sql::engine;

/// The table name every query sees.
pub const TABLE: &str = "events";

/// Output formats: both the `--format` value and the runtime switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Parquet as the event schema declares it: an inferred schema (a single file, a folder without
/// a manifest) reads text as `Utf8`, not `Utf8View`; trees, reports and UDFs read `Utf8`
/// arrays, and a view type there was a panic.
fn parquet_format() -> Arc<ParquetFormat> {
    Arc::new(ParquetFormat::default().with_force_view_types(false))
}

/// A Hive-partitioned folder of Parquet files (`dt=…/hour=…`).
fn folder_options() -> ListingOptions {
    ListingOptions::new(parquet_format())
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![
            ("dt".to_string(), DataType::Utf8),
            ("hour".to_string(), DataType::Utf8),
        ])
}

/// True for `s3://…`, `gs://…`, `az://…` and the like (not for local paths).
pub fn is_url(text: &str) -> bool {
    text.split_once("://")
        .is_some_and(|(scheme, _)| scheme.len() > 1 && scheme != "file")
}

async fn register(
    ctx: &SessionContext,
    name: &str,
    url: &str,
    options: ListingOptions,
    schema: Option<SchemaRef>,
    shown: &str,
) -> Result<()> {
    ctx.register_listing_table(name, url, options, schema, None)
        .await
        .map_err(|e| {
            Error::Input(format!(
                "cannot open dataset {shown}: {}",
                e.strip_backtrace()
            ))
        })
}

/// True for a folder whose files something accounts for: an export's manifest, an archive's
/// checkpoint or a Delta table's log.
fn accounted(dir: &Path) -> bool {
    dir.join(MANIFEST).is_file() || dir.join(CHECKPOINT).is_file() || is_delta_dir(dir)
}

fn is_delta_dir(dir: &Path) -> bool {
    dir.join(delta::LOG_DIR).is_dir()
}

/// A warning for a local folder of Parquet files that no manifest or checkpoint accounts for:
/// nothing says those files are all there or unchanged (`verify` has nothing to check against).
pub fn unaccounted(path: &Path) -> Option<String> {
    (path.is_dir() && !accounted(path)).then(|| {
        format!(
            "{} has no {MANIFEST} and no {CHECKPOINT}: nothing accounts for its files (they may \
             be incomplete or altered, and `jsreplay verify` cannot check them)",
            path.display()
        )
    })
}

/// A session with the dataset at `path` (a dataset folder, a single Parquet file, an archive
/// URL in object storage, or a Delta table in either) as `events`. A Delta table is read at its
/// latest snapshot or at `version`; only a Delta table has versions.
pub async fn open(path: &Path, version: Option<i64>) -> Result<SessionContext> {
    let ctx = engine::session()?;
    attach(&ctx, TABLE, path, version).await?;
    Ok(ctx)
}

/// Registers the dataset at `path` in `ctx` as table `name` (what [`open`] does for `events`;
/// the SQL shell attaches several).
pub async fn attach(
    ctx: &SessionContext,
    name: &str,
    path: &Path,
    version: Option<i64>,
) -> Result<()> {
    let text = path.to_string_lossy();
    if let Some(dest) = delta_table(path).await? {
        return attach_delta(ctx, name, &dest, version).await;
    }
    if version.is_some() {
        return Err(Error::Usage(format!(
            "{text} is not a Delta table: --version applies to Delta tables only"
        )));
    }
    if is_url(&text) {
        return attach_url(ctx, name, &text).await;
    }
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let abs = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        let complete = accounted(&abs);
        if !complete && !has_parquet(&abs) {
            return Err(Error::Usage(format!(
                "{} holds no Parquet files, no {MANIFEST} and no {CHECKPOINT}: not a dataset",
                path.display()
            )));
        }
        // An export's or archive's files all have the event schema; one with no rows has no
        // file to infer it from, so the schema is given rather than inferred.
        let schema = complete.then(event_schema);
        let url = format!("{}/", abs.display());
        register(
            ctx,
            name,
            &url,
            folder_options(),
            schema,
            &path.display().to_string(),
        )
        .await
    } else {
        let extension = abs
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let options = ListingOptions::new(parquet_format()).with_file_extension(extension);
        let url = abs.display().to_string();
        register(ctx, name, &url, options, None, &path.display().to_string()).await
    }
}

/// The Delta table at `path` (local or in object storage), if it is one.
pub async fn delta_table(path: &Path) -> Result<Option<Dest>> {
    let text = path.to_string_lossy();
    if !is_url(&text) && !is_delta_dir(path) {
        return Ok(None);
    }
    let dest = Dest::open(&text)?;
    Ok(delta::is_table(&dest).await?.then_some(dest))
}

/// A Delta table at one snapshot: exactly the files its log lists at that version are read
/// (never an orphan of a killed or losing writer), with the table's schema, so columns that
/// older files lack read as NULL.
async fn attach_delta(
    ctx: &SessionContext,
    name: &str,
    dest: &Dest,
    version: Option<i64>,
) -> Result<()> {
    if let Some(c) = engine::cluster() {
        // The snapshot's file list lives in this process (a filtered view of the store); the
        // executors would read every file under the table, orphans and compacted-away parts too.
        return Err(Error::Usage(format!(
            "{} is a Delta table: --cluster {c} reads Parquet datasets and Hive archives; run \
             this one locally (without --cluster)",
            dest.display
        )));
    }
    let Some(table) = Table::open(dest, version).await? else {
        return Err(Error::Usage(format!("{}: not a Delta table", dest.display)));
    };
    let files = table.files().await?;
    let schema = table.schema()?;
    let columns: Vec<Field> = schema
        .fields()
        .iter()
        .filter(|f| !delta::PARTITION_COLUMNS.contains(&f.name().as_str()))
        .map(|f| f.as_ref().clone())
        .collect();
    let (store, root) = SnapshotStore::registered(dest, &files);
    ctx.register_object_store(&root, store);
    register(
        ctx,
        name,
        dest.url.as_str(),
        folder_options(),
        Some(Arc::new(Schema::new(columns))),
        &dest.display,
    )
    .await
}

/// An archive (or any Hive-partitioned Parquet folder) in object storage.
async fn attach_url(ctx: &SessionContext, name: &str, text: &str) -> Result<()> {
    let dest = Dest::open(text)?;
    let (store, root) = dest.store();
    ctx.register_object_store(&root, store);
    let archive = dest.read(CHECKPOINT).await?.is_some();
    if !archive
        && !dest
            .list(None)
            .await?
            .iter()
            .any(|(p, _)| p.ends_with(".parquet"))
    {
        return Err(Error::Usage(format!(
            "{text} holds no Parquet files and no {CHECKPOINT}: not a dataset"
        )));
    }
    let schema = archive.then(event_schema);
    register(ctx, name, dest.url.as_str(), folder_options(), schema, text).await
}

fn has_parquet(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            !e.file_name().to_string_lossy().starts_with('.') && has_parquet(&p)
        } else {
            p.extension().is_some_and(|x| x == "parquet")
        }
    })
}

/// Splits a SQL text into statements and plans each; returns the streams of their results.
pub async fn run_sql(ctx: &SessionContext, sql: &str) -> Result<Vec<SendableRecordBatchStream>> {
    run_sql_with(ctx, sql, &SQLOptions::new()).await
}

async fn run_sql_with(
    ctx: &SessionContext,
    sql: &str,
    options: &SQLOptions,
) -> Result<Vec<SendableRecordBatchStream>> {
    let statements = statements(sql)?;
    if statements.is_empty() {
        return Err(Error::Query("no SQL statement given".into()));
    }
    let mut streams = Vec::with_capacity(statements.len());
    for stmt in statements {
        streams.push(start(ctx, stmt, options).await?);
    }
    Ok(streams)
}

/// A SQL text split into its statements by DataFusion's parser.
pub fn statements(sql: &str) -> Result<Vec<Statement>> {
    Ok(DFParser::parse_sql(sql)
        .map_err(|e| Error::Query(e.to_string()))?
        .into())
}

/// Plans one statement (a DDL statement such as `CREATE VIEW` takes effect here) and starts it.
pub async fn start(
    ctx: &SessionContext,
    stmt: Statement,
    options: &SQLOptions,
) -> Result<SendableRecordBatchStream> {
    let plan = ctx
        .state()
        .statement_to_plan(stmt)
        .await
        .map_err(engine::query_error)?;
    options.verify_plan(&plan).map_err(engine::query_error)?;
    let df = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(engine::query_error)?;
    df.execute_stream().await.map_err(engine::query_error)
}

/// What a hunt may run: queries only (no DDL, no DML such as `COPY … TO`, no `SET`).
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Runs a SQL text read-only (no DDL, no DML such as `COPY … TO`, no `SET`) and returns the
/// stream of its last statement's rows: what hunts, Sigma rules compiled to hunts, reports and
/// trees run, so a hunt file from elsewhere can read the dataset and nothing more.
pub async fn stream_last(ctx: &SessionContext, sql: &str) -> Result<SendableRecordBatchStream> {
    run_sql_with(ctx, sql, &read_only())
        .await?
        .pop()
        .ok_or_else(|| Error::Query("no SQL statement given".into()))
}

/// Where the rows of `events` really live when `events` is a view over them (a time window).
pub const ALL_EVENTS: &str = "__jsreplay_all_events";

/// Files of a dataset a time window skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowFiles {
    pub files: usize,
    /// Files whose time statistics (both clocks) lie wholly outside the window: only their
    /// footers are read.
    pub skipped: usize,
}

/// Narrows `events` to the events whose `event_time` or JetStream time (`nats_time`) lies in
/// `[since, until)` (microseconds): the publisher's clock can add an event to a window, never
/// hide one the server received in it; an event without a readable time is placed by the server's.
/// `events` becomes a view over the dataset filtered by that window, so every statement, hunt
/// and timeline sees only the window, and the filter reaches the Parquet scan, which skips the
/// files and row groups whose time statistics lie outside it. Returns how many of the dataset's files the window skips, when the
/// dataset is a listing of Parquet files.
pub async fn restrict_to_window(
    ctx: &SessionContext,
    since: Option<i64>,
    until: Option<i64>,
) -> Result<Option<WindowFiles>> {
    use datafusion::logical_expr::{col, lit};
    use datafusion::scalar::ScalarValue;
    let at = |us: i64| {
        lit(ScalarValue::TimestampMicrosecond(
            Some(us),
            Some("UTC".into()),
        ))
    };
    let provider = ctx
        .deregister_table(TABLE)
        .map_err(engine::query_error)?
        .ok_or_else(|| Error::Query("no events table to narrow".into()))?;
    ctx.register_table(ALL_EVENTS, provider.clone())
        .map_err(engine::query_error)?;
    let within = |column: &str| {
        let mut e = col(column).is_not_null();
        if let Some(us) = since {
            e = e.and(col(column).gt_eq(at(us)));
        }
        if let Some(us) = until {
            e = e.and(col(column).lt(at(us)));
        }
        e
    };
    // Either clock: a collector's clock can add an event to a window, never hide one the
    // server received in it.
    let window = within("event_time").or(within("nats_time"));
    let df = ctx
        .table(ALL_EVENTS)
        .await
        .and_then(|t| t.filter(window))
        .map_err(engine::query_error)?;
    let view = datafusion::datasource::ViewTable::new(df.into_unoptimized_plan(), None);
    ctx.register_table(TABLE, Arc::new(view))
        .map_err(engine::query_error)?;
    let Some(listing) = provider.downcast_ref::<datafusion::datasource::listing::ListingTable>()
    else {
        return Ok(None);
    };
    let schema = provider.schema();
    let (Ok(event), Ok(nats)) = (schema.index_of("event_time"), schema.index_of("nats_time"))
    else {
        return Ok(None);
    };
    let state = ctx.state();
    let listed = listing
        .list_files_for_scan(&state, &[], None)
        .await
        .map_err(engine::query_error)?;
    let mut out = WindowFiles {
        files: 0,
        skipped: 0,
    };
    for file in listed.file_groups.iter().flat_map(|g| g.files()) {
        out.files += 1;
        let Some(stats) = &file.statistics else {
            continue;
        };
        let outside = |c: usize| {
            stats
                .column_statistics
                .get(c)
                .is_some_and(|c| stats_outside(c, stats.num_rows.get_value(), since, until))
        };
        // Both clocks' statistics outside the window.
        if outside(event) && outside(nats) {
            out.skipped += 1;
        }
    }
    Ok(Some(out))
}

/// Whether a column's statistics put every non-null value outside `[since, until)` (a column of
/// nulls only counts as outside: no value of it lies in the window).
fn stats_outside(
    c: &datafusion::common::ColumnStatistics,
    rows: Option<&usize>,
    since: Option<i64>,
    until: Option<i64>,
) -> bool {
    use datafusion::scalar::ScalarValue;
    let micros = |p: &datafusion::common::stats::Precision<ScalarValue>| match p.get_value() {
        Some(ScalarValue::TimestampMicrosecond(Some(v), _)) => Some(*v),
        _ => None,
    };
    let all_null = rows.is_some() && c.null_count.get_value() == rows;
    let before = matches!((micros(&c.max_value), since), (Some(max), Some(s)) if max < s);
    let after = matches!((micros(&c.min_value), until), (Some(min), Some(u)) if min >= u);
    all_null || before || after
}

/// Runs a plan made from a read-only statement (a hunt's, rewritten to read shared sets).
pub async fn stream_plan(
    ctx: &SessionContext,
    plan: datafusion::logical_expr::LogicalPlan,
) -> Result<SendableRecordBatchStream> {
    read_only()
        .verify_plan(&plan)
        .map_err(engine::query_error)?;
    let df = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(engine::query_error)?;
    df.execute_stream().await.map_err(engine::query_error)
}

/// [`stream_last`], collected.
pub async fn collect_last(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(collect(stream_last(ctx, sql).await?).await?.1)
}

/// The next batch of a result stream (`None` at its end).
pub async fn next_batch(stream: &mut SendableRecordBatchStream) -> Option<Result<RecordBatch>> {
    stream.next().await.map(|b| b.map_err(engine::query_error))
}

/// Collects one result stream.
pub async fn collect(
    mut stream: SendableRecordBatchStream,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let schema = stream.schema();
    let mut batches = Vec::new();
    while let Some(b) = stream.next().await {
        batches.push(b.map_err(engine::query_error)?);
    }
    Ok((schema, batches))
}

/// Every text column of `batch` passed through `f` (other columns unchanged); text columns come
/// out as `Utf8`. With `bytes`, binary columns (raw payloads) are text too, as
/// [`escape::bytes_text`] shows them, instead of hexadecimal.
fn map_text(batch: &RecordBatch, bytes: bool, f: impl Fn(&str) -> String) -> Result<RecordBatch> {
    let is_text = |t: &DataType| {
        matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            || (bytes
                && matches!(
                    t,
                    DataType::Binary | DataType::LargeBinary | DataType::BinaryView
                ))
    };
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|fd| is_text(fd.data_type()))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        if !is_text(field.data_type()) {
            fields.push(field.as_ref().clone());
            columns.push(col.clone());
            continue;
        }
        let mapped: StringArray = if matches!(
            field.data_type(),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView
        ) {
            let raw = cast(col, &DataType::LargeBinary)?;
            raw.as_binary::<i64>()
                .iter()
                .map(|v| v.map(|b| f(&escape::bytes_text(b))))
                .collect()
        } else {
            let text = cast(col, &DataType::Utf8)?;
            text.as_string::<i32>().iter().map(|v| v.map(&f)).collect()
        };
        fields.push(Field::new(
            field.name(),
            DataType::Utf8,
            field.is_nullable(),
        ));
        columns.push(Arc::new(mapped));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Batches as an aligned text table for a terminal: event text escaped
/// ([`escape::terminal`]), so a command line cannot move the cursor, recolour the screen or
/// forge a row.
pub fn terminal_table(batches: &[RecordBatch]) -> Result<String> {
    let safe = batches
        .iter()
        .map(|b| map_text(b, true, |s| escape::terminal(s).into_owned()))
        .collect::<Result<Vec<_>>>()?;
    let text = pretty_format_batches(&safe)?.to_string();
    // Nested values (lists, structs) are formatted by Arrow: escape what they carry too.
    Ok(escape::terminal_block(&text).into_owned())
}

/// A batch for a CSV that a spreadsheet may open: text cells that would start a formula get a
/// leading `'` ([`escape::csv_cell`]).
fn csv_safe(batch: &RecordBatch) -> Result<RecordBatch> {
    map_text(batch, false, |s| escape::csv_cell(s).into_owned())
}

/// Where results go.
#[derive(Debug, Clone)]
pub enum Target {
    Stdout(Format),
    /// A file; its format comes from its extension (`.parquet`, `.csv`, `.json`, `.ndjson`/`.jsonl`).
    File(PathBuf),
}

enum Writer {
    Table(Vec<RecordBatch>, Box<dyn Write>),
    /// A program's format written to a terminal: text cells escaped first ([`escape::terminal`]),
    /// as a table would be; to a file or a pipe the same format keeps every value raw.
    ToTerminal(Box<Writer>),
    Csv(datafusion::arrow::csv::Writer<Box<dyn Write>>),
    Json(datafusion::arrow::json::ArrayWriter<Box<dyn Write>>),
    Ndjson(datafusion::arrow::json::LineDelimitedWriter<Box<dyn Write>>),
    Parquet(ArrowWriter<File>),
}

impl Writer {
    fn new(target: &Target, schema: &SchemaRef) -> Result<(Self, Option<PathBuf>)> {
        match target {
            Target::Stdout(f) => Ok((
                Self::with_format(
                    *f,
                    Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
                    std::io::stdout().is_terminal(),
                ),
                None,
            )),
            Target::File(p) => {
                let ext = p
                    .extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase())
                    .unwrap_or_default();
                let tmp = p.with_extension(format!("{ext}.tmp"));
                let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
                let w = match ext.as_str() {
                    "parquet" => Writer::Parquet(ArrowWriter::try_new(file, schema.clone(), None)?),
                    "csv" => Writer::Csv(datafusion::arrow::csv::Writer::new(Box::new(file))),
                    "json" => {
                        Writer::Json(datafusion::arrow::json::ArrayWriter::new(Box::new(file)))
                    }
                    "ndjson" | "jsonl" => Writer::Ndjson(
                        datafusion::arrow::json::LineDelimitedWriter::new(Box::new(file)),
                    ),
                    _ => {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(Error::Usage(format!(
                            "-o {}: use a .parquet, .csv, .json or .ndjson file name",
                            p.display()
                        )));
                    }
                };
                Ok((w, Some(tmp)))
            }
        }
    }

    /// A writer of `format` into `out`; `terminal` when `out` is one.
    fn with_format(format: Format, out: Box<dyn Write>, terminal: bool) -> Self {
        let writer = Self::raw(format, out);
        match writer {
            Writer::Table(..) => writer,
            _ if terminal => Writer::ToTerminal(Box::new(writer)),
            _ => writer,
        }
    }

    fn raw(format: Format, out: Box<dyn Write>) -> Self {
        match format {
            Format::Table => Writer::Table(Vec::new(), out),
            Format::Csv => Writer::Csv(datafusion::arrow::csv::Writer::new(out)),
            Format::Json => Writer::Json(datafusion::arrow::json::ArrayWriter::new(out)),
            Format::Ndjson => {
                Writer::Ndjson(datafusion::arrow::json::LineDelimitedWriter::new(out))
            }
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Writer::Table(v, _) => v.push(batch.clone()),
            Writer::ToTerminal(w) => w.write(&map_text(batch, false, |s| {
                escape::terminal(s).into_owned()
            })?)?,
            Writer::Csv(w) => w.write(&csv_safe(batch)?)?,
            Writer::Json(w) => w.write(batch)?,
            Writer::Ndjson(w) => w.write(batch)?,
            Writer::Parquet(w) => w.write(batch)?,
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self {
            Writer::Table(batches, mut out) => {
                let text = terminal_table(&batches)?;
                writeln!(out, "{text}").map_err(|e| Error::io("output", e))?;
                out.flush().map_err(|e| Error::io("output", e))?;
            }
            Writer::ToTerminal(w) => w.finish()?,
            Writer::Csv(w) => {
                let mut inner = w.into_inner();
                inner.flush().map_err(|e| Error::io("output", e))?;
            }
            Writer::Json(mut w) => {
                w.finish()?;
                let mut inner = w.into_inner();
                inner.flush().map_err(|e| Error::io("output", e))?;
            }
            Writer::Ndjson(mut w) => {
                w.finish()?;
                let mut inner = w.into_inner();
                inner.flush().map_err(|e| Error::io("output", e))?;
            }
            Writer::Parquet(w) => {
                w.close()?;
            }
        }
        Ok(())
    }
}

/// Streams one result into `out` in `format` (a table is laid out once the rows are all in;
/// `terminal` when `out` is one); returns the number of rows.
pub async fn write_to(
    mut stream: SendableRecordBatchStream,
    format: Format,
    out: Box<dyn Write>,
    terminal: bool,
) -> Result<u64> {
    let mut writer = Writer::with_format(format, out, terminal);
    let rows = drive(&mut stream, &mut writer).await?;
    writer.finish()?;
    Ok(rows)
}

async fn drive(stream: &mut SendableRecordBatchStream, writer: &mut Writer) -> Result<u64> {
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(engine::query_error)?;
        rows += batch.num_rows() as u64;
        writer.write(&batch)?;
    }
    Ok(rows)
}

/// Streams one result into `target`; returns the number of rows.
pub async fn write_result(mut stream: SendableRecordBatchStream, target: &Target) -> Result<u64> {
    let schema = stream.schema();
    let (mut writer, tmp) = Writer::new(target, &schema)?;
    let result = drive(&mut stream, &mut writer).await;
    match (result, tmp, target) {
        (Ok(rows), tmp, target) => {
            writer.finish()?;
            if let (Some(tmp), Target::File(dest)) = (tmp, target) {
                std::fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e))?;
            }
            Ok(rows)
        }
        (Err(e), tmp, _) => {
            drop(writer);
            if let Some(tmp) = tmp {
                let _ = std::fs::remove_file(tmp);
            }
            Err(e)
        }
    }
}
