//! Saved hunts: SQL files with a readable header, run over a dataset and summarised per hunt.
//!
//! A hunt file starts with `-- key: value` lines (`title`, `description`, `attack`, `severity`,
//! `tags`, and one `param: name = default` per parameter; an indented `--   ...` line continues
//! the previous value), then the SQL. `{{name}}` in the SQL is replaced by the parameter's value:
//! the default is SQL text as written in the header; a value given with `--param name=value` is
//! a number if it parses as one and a quoted SQL string otherwise. A hunt's name is its path
//! under the pack without `.sql` (`execution/reverse_shell`); a selection matches a name, a
//! folder or a tag. Each result row is a hit; the hit's sequences are its `seq` column and any
//! `*_seq` column, its host the `collector_id` column, its time the `event_time` column.
//! Hunts of severity `info` are context (rare programs, collector silences): listed, never hits.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::arrow::json::ArrayWriter;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::escape;
use crate::hunt::query;
pub use crate::hunt::rule::{hunt_file, Hunt, ProcessEvents, Severity, Unsupported};

include!(concat!(env!("OUT_DIR"), "/hunt_pack.rs"));

/// Parses a hunt file; `name` is its path under the pack without `.sql`.
pub fn parse(name: &str, text: &str) -> Result<Hunt> {
    let bad = |why: String| Error::Usage(format!("hunt {name}: {why}"));
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut body = Vec::new();
    let mut in_header = true;
    for line in text.lines() {
        if in_header {
            if let Some(rest) = line.strip_prefix("--") {
                if let Some(more) = rest.strip_prefix("  ") {
                    // `--   continued` lines extend the previous value.
                    if let Some(last) = fields.last_mut() {
                        last.1.push(' ');
                        last.1.push_str(more.trim());
                        continue;
                    }
                }
                if let Some((k, v)) = rest.trim().split_once(':') {
                    fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    continue;
                }
                continue; // a plain comment
            }
            if line.trim().is_empty() && body.is_empty() {
                continue;
            }
            in_header = false;
        }
        body.push(line);
    }
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let list = |k: &str| -> Vec<String> {
        get(k)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let severity = match get("severity") {
        Some(s) => Severity::parse(&s).ok_or_else(|| bad(format!("unknown severity {s:?}")))?,
        None => Severity::Medium,
    };
    let mut params = Vec::new();
    for (_, p) in fields.iter().filter(|(k, _)| k == "param") {
        let (n, default) = p
            .split_once('=')
            .ok_or_else(|| bad(format!("parameter {p:?} has no `= default`")))?;
        params.push((n.trim().to_string(), default.trim().to_string()));
    }
    let sql = body.join("\n");
    if sql.trim().is_empty() {
        return Err(bad("no SQL after the header".into()));
    }
    Ok(Hunt {
        name: name.to_string(),
        title: get("title").unwrap_or_else(|| name.to_string()),
        description: get("description").unwrap_or_default(),
        attack: list("attack"),
        severity,
        tags: list("tags"),
        params,
        sql,
    })
}

/// The hunts of a folder (recursively), or the pack built into the binary when `dir` is `None`.
pub fn load(dir: Option<&Path>) -> Result<Vec<Hunt>> {
    let mut hunts = Vec::new();
    match dir {
        None => {
            for (name, text) in PACK {
                hunts.push(parse(name, text)?);
            }
        }
        Some(dir) => {
            let files = files_under(dir, &["sql"])?;
            if files.is_empty() {
                return Err(Error::Usage(format!(
                    "no .sql hunt files under {}",
                    dir.display()
                )));
            }
            for f in files {
                let name = f
                    .strip_prefix(dir)
                    .unwrap_or(&f)
                    .with_extension("")
                    .to_string_lossy()
                    .to_string();
                let text = std::fs::read_to_string(&f).map_err(|e| Error::io(&f, e))?;
                hunts.push(parse(&name, &text)?);
            }
        }
    }
    hunts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(hunts)
}

/// Rule files named on the command line, read in the order given (a folder: its files with one
/// of `exts`, recursively, sorted), as (path, text) pairs; `what` names them in the error when
/// there are none.
pub fn rule_files(paths: &[PathBuf], exts: &[&str], what: &str) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
        if meta.is_dir() {
            files.extend(files_under(p, exts)?);
        } else {
            files.push(p.clone());
        }
    }
    if files.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Usage(format!(
            "no {what} ({}) at {}",
            exts.iter()
                .map(|e| format!(".{e}"))
                .collect::<Vec<_>>()
                .join(", "),
            names.join(", ")
        )));
    }
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
            Ok((f.display().to_string(), text))
        })
        .collect()
}

/// The files under `dir` (recursively) whose extension is one of `exts`, sorted by path.
pub(crate) fn files_under(dir: &Path, exts: &[&str]) -> Result<Vec<std::path::PathBuf>> {
    fn walk(dir: &Path, exts: &[&str], out: &mut Vec<std::path::PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let path = entry.map_err(|e| Error::io(dir, e))?.path();
            if path.is_dir() {
                walk(&path, exts, out)?;
            } else if path
                .extension()
                .is_some_and(|e| exts.iter().any(|x| e == *x))
            {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, exts, &mut out)?;
    out.sort();
    Ok(out)
}

/// Keeps the hunts matching any selector (a name, a folder, or a tag); all when none is given.
/// A selector that matches nothing is an error, so a typo never runs an empty selection.
pub fn select(hunts: Vec<Hunt>, selectors: &[String]) -> Result<Vec<Hunt>> {
    if selectors.is_empty() {
        return Ok(hunts);
    }
    let matches = |h: &Hunt, s: &str| {
        let s = s.trim_end_matches('/');
        h.name == s || h.name.starts_with(&format!("{s}/")) || h.tags.iter().any(|t| t == s)
    };
    for s in selectors {
        if !hunts.iter().any(|h| matches(h, s)) {
            return Err(Error::Usage(format!(
                "no hunt is named, filed under or tagged {s:?} (see `jsreplay hunt --list`)"
            )));
        }
    }
    Ok(hunts
        .into_iter()
        .filter(|h| selectors.iter().any(|s| matches(h, s)))
        .collect())
}

/// Parses `name=value` pairs given with `--param`.
pub fn parse_params(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| Error::Usage(format!("--param {p:?}: expected name=value")))
        })
        .collect()
}

/// A user-given value as SQL: a number as is, anything else as a quoted string.
fn sql_literal(v: &str) -> String {
    if v.parse::<f64>().is_ok() {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "''"))
    }
}

impl Hunt {
    /// The SQL with every `{{param}}` replaced (`overrides` win over the header's defaults).
    pub fn render(&self, overrides: &BTreeMap<String, String>) -> Result<String> {
        let mut sql = self.sql.clone();
        for (name, default) in &self.params {
            let value = overrides
                .get(name)
                .map_or_else(|| default.clone(), |v| sql_literal(v));
            sql = sql.replace(&format!("{{{{{name}}}}}"), &value);
        }
        if let Some(at) = sql.find("{{") {
            let rest = &sql[at..];
            let end = rest.find("}}").map_or(rest.len(), |e| e + 2);
            return Err(Error::Usage(format!(
                "hunt {}: {} is not a declared parameter",
                self.name,
                &rest[..end]
            )));
        }
        Ok(sql)
    }
}

/// Checks that every `--param` names a parameter of at least one selected hunt.
pub fn check_params(hunts: &[Hunt], overrides: &BTreeMap<String, String>) -> Result<()> {
    for name in overrides.keys() {
        if !hunts
            .iter()
            .any(|h| h.params.iter().any(|(p, _)| p == name))
        {
            return Err(Error::Usage(format!(
                "--param {name}: no selected hunt has this parameter"
            )));
        }
    }
    Ok(())
}

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

/// Runs each hunt over the dataset in `ctx`; a hunt that fails is reported, not fatal. With
/// `json`, every row is written there as it comes (a failed write is fatal).
pub async fn run<W: Write>(
    ctx: &SessionContext,
    hunts: &[Hunt],
    overrides: &BTreeMap<String, String>,
    mut json: Option<&mut JsonOut<W>>,
) -> Result<Vec<HuntResult>> {
    let mut results = Vec::with_capacity(hunts.len());
    for hunt in hunts {
        let started = std::time::Instant::now();
        let sql = hunt.render(overrides)?;
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
        match query::stream_last(ctx, &sql).await {
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

/// `--list`: one line per hunt, then its parameters.
pub fn list_text(hunts: &[Hunt]) -> String {
    let width = hunts.iter().map(|h| h.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for h in hunts {
        out += &format!(
            "{:<width$}  {:<8}  {:<22}  {}\n",
            h.name,
            h.severity.as_str().to_string(),
            h.attack.join(","),
            h.title
        );
        for (p, default) in &h.params {
            out += &format!("{:<width$}    param {p} = {default}\n", "");
        }
    }
    out
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
            out += &format!("{}\n", crate::hunt::query::terminal_table(&r.batches)?);
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

/// `--format json`, written while the hunts run: `{"dataset", "hunts": [...], "total_hits"}`,
/// each hunt an object whose `results` (every row) come first and its summary after, so no row
/// is held in memory for it.
pub struct JsonOut<W: Write> {
    out: W,
    hunts: usize,
    total_hits: usize,
    rows: Option<ArrayWriter<Vec<u8>>>,
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
        write!(self.out, "\n],\n\"total_hits\": {}}}\n", self.total_hits).map_err(write_error)?;
        self.out.flush().map_err(write_error)
    }
}

fn write_error(e: std::io::Error) -> Error {
    Error::io("stdout", e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "-- title: Test hunt\n-- description: first line\n--   second line\n\
        -- attack: T1, T2\n-- severity: high\n-- tags: a, b\n-- param: n = 3\n-- param: s = 'x'\n\
        SELECT {{n}} AS n, {{s}} AS s;\n";

    #[test]
    fn header_and_params() {
        let h = parse("dir/test", FILE).unwrap();
        assert_eq!(h.title, "Test hunt");
        assert_eq!(h.description, "first line second line");
        assert_eq!(h.attack, vec!["T1", "T2"]);
        assert_eq!(h.severity, Severity::High);
        assert_eq!(h.tags, vec!["a", "b"]);
        let none = BTreeMap::new();
        assert_eq!(h.render(&none).unwrap().trim(), "SELECT 3 AS n, 'x' AS s;");
        let given = parse_params(&["n=7".into(), "s=it's".into()]).unwrap();
        assert_eq!(
            h.render(&given).unwrap().trim(),
            "SELECT 7 AS n, 'it''s' AS s;"
        );
        assert!(check_params(
            std::slice::from_ref(&h),
            &parse_params(&["zz=1".into()]).unwrap()
        )
        .is_err());
        assert!(parse("x", "-- severity: dire\nSELECT 1").is_err());
        assert!(parse("x", "-- title: only a header\n").is_err());
        let undeclared = parse("x", "SELECT {{nope}}").unwrap();
        assert!(undeclared.render(&none).is_err());
    }

    #[test]
    fn selection() {
        let pack = load(None).unwrap();
        assert!(pack.len() >= 10);
        let by_folder = select(pack.clone(), &["persistence".into()]).unwrap();
        assert!(by_folder.iter().any(|h| h.name.starts_with("persistence/")));
        assert!(by_folder
            .iter()
            .all(|h| h.name.starts_with("persistence/") || h.tags.contains(&"persistence".into())));
        let by_tag = select(pack.clone(), &["ssh".into()]).unwrap();
        assert!(by_tag.iter().all(|h| h.tags.contains(&"ssh".to_string())));
        assert!(select(pack, &["no-such-hunt".into()]).is_err());
    }
}
