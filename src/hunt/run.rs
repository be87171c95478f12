//! Running the hunt pack over a dataset: each hunt's SQL (parameters rendered) on the session,
//! its rows kept within bounds for tables and reports ([`KEEP_ROWS`], [`KEEP_SEQS`]), its hits
//! summarised per hunt ([`HuntResult`]: hosts, first and last event time, the sequences the rows
//! name), every row streamed to `--format json` as it comes ([`JsonOut`]), and the summary table
//! in reading order. A hunt that fails is reported, not fatal.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::arrow::json::ArrayWriter;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::escape;
use crate::hunt::shared;
use crate::rules::pack::{Hunt, Severity};
use crate::sql::query;

/// A hunt's outcome over one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct HuntResult {
    #[serde(flatten)]
    pub hunt: Hunt,
    /// Result rows (hits, unless the hunt is `info`).
    pub rows: usize,
    pub hosts: Vec<String>,
    /// First and last `event_time` among the rows (RFC 3339, UTC).
    pub first: Option<String>,
    pub last: Option<String>,
    /// Every sequence the rows name (`seq` and `*_seq` columns), sorted; the first
    /// [`KEEP_SEQS`] when `seqs_complete` is false.
    pub seqs: Vec<i64>,
    pub seqs_complete: bool,
    /// The first [`KEEP_ROWS`] rows, for tables and reports (JSON output streams every row).
    #[serde(skip)]
    pub batches: Vec<RecordBatch>,
    /// Why the hunt could not run, if it could not.
    pub error: Option<String>,
    pub seconds: f64,
}

impl HuntResult {
    /// The hits column of summaries: the count, `(n)` for context hunts, `error` when it failed.
    pub fn hits_label(&self) -> String {
        match (&self.error, self.hunt.severity) {
            (Some(_), _) => "error".to_string(),
            (None, Severity::Info) => format!("({})", self.rows),
            (None, _) => self.rows.to_string(),
        }
    }

    /// Rows that count as hits (none for `info` hunts).
    pub fn hits(&self) -> usize {
        if self.hunt.severity == Severity::Info {
            0
        } else {
            self.rows
        }
    }
}

/// Rows of a hunt kept in memory for tables and reports: a hunt matching millions of events
/// (a flood, or a broad hunt) costs bounded memory; `--format json` streams every row.
pub const KEEP_ROWS: usize = 10_000;
/// Sequences of a hunt kept for reports and the summary (8 bytes each).
pub const KEEP_SEQS: usize = 1_000_000;
/// Hosts of a hunt kept.
const KEEP_HOSTS: usize = 10_000;

/// How the pack reads the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The hunts that filter `events` share one scan of it ([`shared`]); the default.
    One,
    /// Every hunt scans the dataset itself (`--per-hunt`; always on a cluster, whose executors
    /// cannot read this process's shared sets).
    PerHunt,
}

/// Runs each hunt over the dataset in `ctx`; a hunt that fails is reported, not fatal. With
/// `json`, every row is written there as it comes (a failed write is fatal).
pub async fn run<W: Write>(
    ctx: &SessionContext,
    hunts: &[Hunt],
    overrides: &BTreeMap<String, String>,
    mut json: Option<&mut JsonOut<W>>,
    pass: Pass,
) -> Result<Vec<HuntResult>> {
    let sqls = hunts
        .iter()
        .map(|h| h.render(overrides))
        .collect::<Result<Vec<_>>>()?;
    let one = match pass {
        Pass::One if crate::sql::engine::cluster().is_none() => {
            match shared::prepare(ctx, &sqls).await {
                Ok(one) => one,
                // The same answers come from every hunt scanning alone: say so and go on.
                Err(e) => {
                    eprintln!(
                        "jsreplay: warning: the hunts' shared pass failed ({}); each hunt reads \
                         the dataset itself",
                        escape::terminal(&e.to_string())
                    );
                    None
                }
            }
        }
        _ => None,
    };
    if let (Some(out), Some(one)) = (json.as_deref_mut(), &one) {
        out.shared = Some(one.stats.clone());
    }
    let mut results = Vec::with_capacity(hunts.len());
    for (i, (hunt, sql)) in hunts.iter().zip(&sqls).enumerate() {
        let started = std::time::Instant::now();
        let plan = one.as_ref().and_then(|o| o.plan(i)).cloned();
        let mut r = HuntResult {
            hunt: hunt.clone(),
            rows: 0,
            hosts: Vec::new(),
            first: None,
            last: None,
            seqs: Vec::new(),
            seqs_complete: true,
            batches: Vec::new(),
            error: None,
            seconds: 0.0,
        };
        if let Some(out) = json.as_deref_mut() {
            out.begin_hunt()?;
        }
        let mut acc = Summary::default();
        let stream = match plan {
            Some(plan) => query::stream_plan(ctx, plan).await,
            None => query::stream_last(ctx, sql).await,
        };
        match stream {
            Ok(mut stream) => loop {
                match query::next_batch(&mut stream).await {
                    None => break,
                    Some(Err(e)) => {
                        r.error = Some(e.to_string());
                        break;
                    }
                    Some(Ok(b)) => {
                        if let Some(out) = json.as_deref_mut() {
                            out.rows(&b)?;
                        }
                        acc.add(&mut r, b);
                    }
                }
            },
            Err(e) => r.error = Some(e.to_string()),
        }
        acc.finish(&mut r);
        r.seconds = started.elapsed().as_secs_f64();
        if let Some(out) = json.as_deref_mut() {
            out.end_hunt(&r)?;
        }
        results.push(r);
    }
    Ok(results)
}

/// What a hunt's rows add up to, gathered batch by batch.
struct Summary {
    hosts: BTreeSet<String>,
    seqs: Vec<i64>,
    first: i64,
    last: i64,
}

impl Default for Summary {
    fn default() -> Self {
        Self {
            hosts: BTreeSet::new(),
            seqs: Vec::new(),
            first: i64::MAX,
            last: i64::MIN,
        }
    }
}

impl Summary {
    fn add(&mut self, r: &mut HuntResult, b: RecordBatch) {
        r.rows += b.num_rows();
        let schema = b.schema();
        for (i, field) in schema.fields().iter().enumerate() {
            let col = b.column(i);
            let name = field.name();
            if (name == "seq" || name.ends_with("_seq")) && field.data_type() == &DataType::Int64 {
                let a = col.as_primitive::<Int64Type>();
                for s in a.iter().flatten() {
                    if self.seqs.len() >= KEEP_SEQS * 2 {
                        self.compact(r);
                    }
                    self.seqs.push(s);
                }
            } else if name == "collector_id" && field.data_type() == &DataType::Utf8 {
                for h in col.as_string::<i32>().iter().flatten() {
                    if self.hosts.len() < KEEP_HOSTS && !self.hosts.contains(h) {
                        self.hosts.insert(h.to_string());
                    }
                }
            } else if name == "event_time"
                && matches!(
                    field.data_type(),
                    DataType::Timestamp(TimeUnit::Microsecond, _)
                )
            {
                for t in col
                    .as_primitive::<TimestampMicrosecondType>()
                    .iter()
                    .flatten()
                {
                    self.first = self.first.min(t);
                    self.last = self.last.max(t);
                }
            }
        }
        let kept: usize = r.batches.iter().map(RecordBatch::num_rows).sum();
        if kept < KEEP_ROWS {
            r.batches
                .push(b.slice(0, b.num_rows().min(KEEP_ROWS - kept)));
        }
    }

    /// Sorts, dedups and keeps the lowest [`KEEP_SEQS`] sequences.
    fn compact(&mut self, r: &mut HuntResult) {
        self.seqs.sort_unstable();
        self.seqs.dedup();
        if self.seqs.len() > KEEP_SEQS {
            self.seqs.truncate(KEEP_SEQS);
            r.seqs_complete = false;
        }
    }

    fn finish(mut self, r: &mut HuntResult) {
        self.compact(r);
        let fmt = |us: i64| {
            chrono::DateTime::from_timestamp_micros(us)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        };
        if self.first <= self.last {
            r.first = fmt(self.first);
            r.last = fmt(self.last);
        }
        r.hosts = self.hosts.into_iter().collect();
        r.seqs = self.seqs;
    }
}

/// Results in reading order: hunts with hits first, worst severity first, then by name.
pub fn by_importance(results: &[HuntResult]) -> Vec<&HuntResult> {
    let mut order: Vec<&HuntResult> = results.iter().collect();
    order.sort_by(|a, b| {
        (b.hits() > 0, b.hunt.severity, b.rows)
            .cmp(&(a.hits() > 0, a.hunt.severity, a.rows))
            .then(a.hunt.name.cmp(&b.hunt.name))
    });
    order
}

/// The table printed by `hunt`: one line per hunt, hits first; with `rows`, each hunt's rows.
pub fn summary_text(results: &[HuntResult], rows: bool) -> Result<String> {
    let order = by_importance(results);
    let width = results
        .iter()
        .map(|r| r.hunt.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:<width$}  {:<8}  {:>6}  {:<24}  {:<24}  {:<24}\n",
        "hunt", "severity", "hits", "hosts", "first", "last"
    );
    for r in &order {
        out += &format!(
            "{:<width$}  {:<8}  {:>6}  {:<24}  {:<24}  {:<24}\n",
            r.hunt.name,
            r.hunt.severity.as_str().to_string(),
            r.hits_label(),
            escape::terminal(&r.hosts.join(",")),
            r.first.as_deref().unwrap_or("-"),
            r.last.as_deref().unwrap_or("-"),
        );
    }
    let total: usize = results.iter().map(HuntResult::hits).sum();
    let with_hits = results.iter().filter(|r| r.hits() > 0).count();
    out += &format!(
        "\n{total} hits from {with_hits} of {} hunts (info hunts in parentheses: context, not hits)\n",
        results.len()
    );
    for r in results.iter().filter(|r| r.error.is_some()) {
        out += &format!(
            "error in {}: {}\n",
            r.hunt.name,
            escape::terminal(r.error.as_deref().unwrap_or(""))
        );
    }
    if rows {
        for r in order.iter().filter(|r| r.rows > 0) {
            out += &format!("\n== {} ({}): {}\n", r.hunt.name, r.rows, r.hunt.title);
            out += &format!("{}\n", crate::sql::query::terminal_table(&r.batches)?);
            let shown: usize = r.batches.iter().map(RecordBatch::num_rows).sum();
            if shown < r.rows {
                out += &format!(
                    "({} more rows not shown: use --format json for every row)\n",
                    r.rows - shown
                );
            }
        }
    }
    Ok(out)
}

/// `--format json`, written while the hunts run: `{"dataset", "hunts": [...], "total_hits",
/// "shared_pass"}` (the last one `null` when every hunt read the dataset itself),
/// each hunt an object whose `results` (every row) come first and its summary after, so no row
/// is held in memory for it.
pub struct JsonOut<W: Write> {
    out: W,
    hunts: usize,
    total_hits: usize,
    rows: Option<ArrayWriter<Vec<u8>>>,
    /// What the shared pass did, written at the end.
    shared: Option<shared::PassStats>,
}

impl<W: Write> JsonOut<W> {
    pub fn begin(mut out: W, dataset: &str) -> Result<Self> {
        let dataset = serde_json::to_string(dataset).expect("a string");
        write!(out, "{{\"dataset\": {dataset},\n\"hunts\": [").map_err(write_error)?;
        Ok(Self {
            out,
            hunts: 0,
            total_hits: 0,
            rows: None,
            shared: None,
        })
    }

    fn begin_hunt(&mut self) -> Result<()> {
        let sep = if self.hunts == 0 { "" } else { "," };
        write!(self.out, "{sep}\n{{\"results\": ").map_err(write_error)?;
        self.rows = Some(ArrayWriter::new(Vec::new()));
        self.hunts += 1;
        Ok(())
    }

    fn rows(&mut self, batch: &RecordBatch) -> Result<()> {
        let w = self.rows.as_mut().expect("a hunt was begun");
        w.write(batch)?;
        self.out.write_all(w.get_ref()).map_err(write_error)?;
        w.get_mut().clear();
        Ok(())
    }

    fn end_hunt(&mut self, r: &HuntResult) -> Result<()> {
        let mut w = self.rows.take().expect("a hunt was begun");
        w.finish()?;
        self.out.write_all(w.get_ref()).map_err(write_error)?;
        let mut summary = serde_json::to_value(r).expect("results serialize");
        summary["hits"] = r.hits().into();
        let serde_json::Value::Object(fields) = summary else {
            unreachable!("a struct serializes to an object")
        };
        for (k, v) in fields {
            let k = serde_json::to_string(&k).expect("a string");
            write!(self.out, ",\n {k}: {v}").map_err(write_error)?;
        }
        self.out.write_all(b"}").map_err(write_error)?;
        self.total_hits += r.hits();
        Ok(())
    }

    /// Closes the document and flushes it.
    pub fn end(mut self) -> Result<()> {
        let shared = serde_json::to_string(&self.shared).expect("stats serialize");
        write!(
            self.out,
            "\n],\n\"total_hits\": {},\n\"shared_pass\": {shared}}}\n",
            self.total_hits
        )
        .map_err(write_error)?;
        self.out.flush().map_err(write_error)
    }
}

fn write_error(e: std::io::Error) -> Error {
    Error::io("stdout", e)
}
