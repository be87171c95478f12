//! The commands that answer questions over a dataset, an archive or a `--stream` window:
//! `query`, `sql`, `hunt`, `timeline`, `tree`: each one's flags and its handler, and opening
//! what they read.

use super::*;

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Dataset: an export or archive folder (or any Hive-partitioned Parquet folder), one Parquet
    /// file, or an archive in object storage (s3://…, gs://…, az://…).
    pub dataset: PathBuf,
    /// Read a Delta table as it was at this version of its log (what the archive held when a
    /// report was made); default: the latest.
    #[arg(long = "version", value_name = "N", value_parser = clap::value_parser!(i64).range(0..))]
    pub version: Option<i64>,
    /// SQL to run (or use -f).
    #[arg(conflicts_with = "file", required_unless_present = "file")]
    pub sql: Option<String>,
    /// File holding the SQL (one or more statements).
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the results to this file instead (.parquet, .csv, .json, .ndjson).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// No "N rows" line on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub window: EventWindow,
}

/// `--since` / `--until` on the events' own clock, for a dataset: `events` holds only the events
/// of that window, and the files and row groups outside it are not read.
#[derive(Debug, Args, Clone)]
pub struct EventWindow {
    /// Only events at or after this time (their `event_time`): RFC 3339, or a duration back from
    /// now (30m, 2h). With --stream, also the start of the window read (on the server's clock).
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before this time (exclusive), same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
}

impl EventWindow {
    pub fn bounds(&self) -> (Option<&str>, Option<&str>) {
        (self.since.as_deref(), self.until.as_deref())
    }
}

/// Narrows `events` to the window, if one was given, and says on stderr how many files of the
/// dataset it skipped (`quiet`: not that).
pub(super) async fn narrow(
    ctx: &datafusion::prelude::SessionContext,
    (since, until): (Option<&str>, Option<&str>),
    quiet: bool,
) -> Result<()> {
    if since.is_none() && until.is_none() {
        return Ok(());
    }
    let now = Utc::now();
    let micros = |t: Option<&str>| {
        t.map(|t| window::parse_time(t, now).map(|d| d.timestamp_micros()))
            .transpose()
    };
    let (since, until) = (micros(since)?, micros(until)?);
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err(Error::Usage("--since must come before --until".into()));
        }
    }
    let files = query::restrict_to_window(ctx, since, until).await?;
    if let (Some(f), false) = (files, quiet) {
        eprintln!(
            "jsreplay: the time window skips {} of {} files (their event times lie outside it)",
            f.skipped, f.files
        );
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// Datasets: export or archive folders, Parquet files, archives in object storage, Delta
    /// tables (a Delta table opens alone).
    #[arg(required_unless_present = "stream", value_name = "DATASET")]
    pub datasets: Vec<PathBuf>,
    /// Table name of each dataset in order (default: `events`, then `events_2`, `events_3`…).
    #[arg(long = "as", value_name = "NAME")]
    pub names: Vec<String>,
    /// Hunt files `.hunt` runs instead of the built-in pack (a folder of .sql files).
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
    /// Output format to start with (`.format` changes it).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Rows a table shows before it only counts the rest (`.maxrows` changes it).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rows: u64,
    /// History file (default: $XDG_STATE_HOME/jsreplay/sql_history or
    /// ~/.local/state/jsreplay/sql_history; mode 0600: hunts name what you look for).
    #[arg(long, value_name = "FILE", env = "JSREPLAY_HISTORY")]
    pub history: Option<PathBuf>,
    /// Keep no history.
    #[arg(long, conflicts_with = "history")]
    pub no_history: bool,
    /// Never page long tables (default: through $JSREPLAY_PAGER, $PAGER or `less -FSX` when
    /// longer than the screen).
    #[arg(long)]
    pub no_pager: bool,
    /// With --stream, the window is the first table (`events`), the datasets follow.
    #[command(flatten)]
    pub from: FromStreamArgs,
    #[command(flatten)]
    pub times: StreamTimes,
}

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// Dataset: an export or archive folder (or any Hive-partitioned Parquet folder), one Parquet
    /// file, or an archive in object storage (s3://…, gs://…, az://…).
    #[arg(required_unless_present_any = ["list", "coverage", "stream"], conflicts_with = "stream")]
    pub dataset: Option<PathBuf>,
    /// Read a Delta table as it was at this version of its log (what the archive held when a
    /// report was made); default: the latest.
    #[arg(long = "version", value_name = "N", value_parser = clap::value_parser!(i64).range(0..))]
    pub version: Option<i64>,
    /// Run only the hunts with this name, under this folder, or with this tag (repeatable).
    #[arg(short = 'n', long = "select", value_name = "NAME|FOLDER|TAG")]
    pub select: Vec<String>,
    /// Set a hunt parameter (repeatable); see each hunt's header for its parameters.
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Hunt files to run instead of the built-in pack (a folder of .sql files, searched recursively).
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
    /// table: a summary per hunt; json: every hunt with every hit (and its seq).
    #[arg(long, value_enum, default_value = "table")]
    pub format: HuntFormat,
    /// With the table format, print each hunt's rows under the summary.
    #[arg(long)]
    pub rows: bool,
    /// Also run these Sigma rules (a .yml file or a folder), compiled to SQL (selectable by tag `sigma`).
    #[arg(long, value_name = "PATH")]
    pub sigma: Option<PathBuf>,
    /// Also run these Falco rule files, loaded in the order given (repeatable; selectable by tag
    /// `falco`); the rule's output becomes each hit's `message`.
    #[arg(long, value_name = "PATH")]
    pub falco: Vec<PathBuf>,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Print each hunt's ATT&CK techniques, then the techniques no hunt covers and why, and exit.
    #[arg(long, conflicts_with = "list")]
    pub coverage: bool,
    /// Also write a self-contained report: .html (attack stories with a graph of hosts and
    /// hops, activity chart, rows, process trees) or .md.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Print the attack stories instead of the summary: hits linked by process ancestry on a
    /// host and by connect/accept hops between hosts, on one clock corrected by the hops (text;
    /// JSON with --format json).
    #[arg(long)]
    pub story: bool,
    /// List the hunts (name, severity, ATT&CK, title, parameters) and exit.
    #[arg(long)]
    pub list: bool,
    /// Let every hunt scan the dataset itself instead of sharing one pass over it (the same
    /// rows, slower; for comparison, or if the shared pass misbehaves).
    #[arg(long)]
    pub per_hunt: bool,
    #[command(flatten)]
    pub from: FromStreamArgs,
    #[command(flatten)]
    pub times: EventWindow,
}

/// Output of `hunt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HuntFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// Dataset: an export or archive folder (or any Hive-partitioned Parquet folder), one Parquet
    /// file, or an archive in object storage (s3://…, gs://…, az://…).
    #[arg(required_unless_present = "stream", conflicts_with = "stream")]
    pub dataset: Option<PathBuf>,
    /// Read a Delta table as it was at this version of its log (what the archive held when a
    /// report was made); default: the latest.
    #[arg(long = "version", value_name = "N", value_parser = clap::value_parser!(i64).range(0..))]
    pub version: Option<i64>,
    /// Collector id of the host (all hosts when absent).
    #[arg(long)]
    pub host: Option<String>,
    /// Start (inclusive) on the event's clock: RFC 3339, or a duration back from now (30m, 2h).
    /// With --stream, also the start of the window read (on the server's clock).
    #[arg(long)]
    pub since: Option<String>,
    /// End (exclusive), same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::hunt::timeline::TimelineFormat,
    /// Write to this file instead (.csv, .jsonl/.ndjson, .json, .parquet: the extension decides).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub from: FromStreamArgs,
}

#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Dataset: an export or archive folder (or any Hive-partitioned Parquet folder), one Parquet
    /// file, or an archive in object storage (s3://…, gs://…, az://…).
    #[arg(required_unless_present = "stream", conflicts_with = "stream")]
    pub dataset: Option<PathBuf>,
    /// Read a Delta table as it was at this version of its log (what the archive held when a
    /// report was made); default: the latest.
    #[arg(long = "version", value_name = "N", value_parser = clap::value_parser!(i64).range(0..))]
    pub version: Option<i64>,
    /// Collector id of the host.
    #[arg(long)]
    pub host: String,
    #[arg(long)]
    pub pid: i64,
    /// Which process had the pid at this time (PID reuse); the latest one when absent.
    #[arg(long)]
    pub at: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: HuntFormat,
    #[command(flatten)]
    pub from: FromStreamArgs,
    #[command(flatten)]
    pub times: StreamTimes,
}

/// The dataset a command answers over: the one named, or with `--stream` the window read for
/// it (kept alive by the returned [`scratch::Scratch`]: a temporary one goes when it drops).
/// `sigint`: what SIGINT does once the window is read.
pub(super) async fn dataset_or_window(
    dataset: Option<&std::path::Path>,
    from: &FromStreamArgs,
    since: Option<&str>,
    until: Option<&str>,
    sigint: scratch::Sigint,
) -> Result<(std::path::PathBuf, Option<scratch::Scratch>)> {
    let Some(stream) = &from.stream else {
        let path = dataset.expect("clap requires a dataset without --stream");
        return Ok((path.to_path_buf(), None));
    };
    let window = from.window(since, until)?;
    let spec = from.conn.spec()?;
    let client = spec.connect().await?;
    let req = export::ExportRequest {
        stream: stream.clone(),
        out_dir: std::path::PathBuf::new(),
        window,
        quiet: false,
        parallel: from.parallel.map(usize::from),
        server_display: connect::redact_url(&spec.server()),
    };
    let window = scratch::read_window(&client, &spec, req, from.keep.as_deref()).await?;
    window.end_on_signals(sigint)?;
    for w in &window.summary.warnings {
        eprintln!("jsreplay: warning: {}", escape::terminal(w));
    }
    eprintln!("{}", window.summary.line());
    if window.summary.gap_messages > 0 {
        // The answers below cover what was read; say plainly what was not.
        eprintln!(
            "jsreplay: warning: {} messages of the window could not be read (gaps {:?}): the \
             answers below do not cover them",
            window.summary.gap_messages, window.summary.gaps
        );
    }
    if let Some(dir) = &from.keep {
        eprintln!("the window's dataset is kept in {}", dir.display());
    }
    Ok((window.path.clone(), Some(window)))
}

/// [`dataset_or_window`], opened for SQL; the scratch window lives as long as the caller keeps it.
pub(super) async fn open_source(
    dataset: Option<&std::path::Path>,
    from: &FromStreamArgs,
    (since, until): (Option<&str>, Option<&str>),
    version: Option<i64>,
) -> Result<(
    datafusion::prelude::SessionContext,
    std::path::PathBuf,
    Option<scratch::Scratch>,
)> {
    let (path, window) =
        dataset_or_window(dataset, from, since, until, scratch::Sigint::Ends).await?;
    let ctx = open_dataset(&path, version).await?;
    Ok((ctx, path, window))
}

/// Opens a dataset for SQL, warning first when nothing accounts for its files.
pub(super) async fn open_dataset(
    path: &std::path::Path,
    version: Option<i64>,
) -> Result<datafusion::prelude::SessionContext> {
    if let Some(w) = query::unaccounted(path) {
        eprintln!("jsreplay: warning: {}", escape::terminal(&w));
    }
    if let Some(c) = engine::cluster() {
        engine::check_reachable(c).await?;
    }
    query::open(path, version).await
}

pub(super) async fn cmd_query(a: QueryArgs) -> Result<u8> {
    let sql = match (&a.sql, &a.file) {
        (Some(s), None) => s.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?,
        _ => {
            return Err(Error::Usage(
                "give the SQL as an argument or with -f FILE".into(),
            ))
        }
    };
    let started = Instant::now();
    let ctx = open_dataset(&a.dataset, a.version).await?;
    narrow(&ctx, a.window.bounds(), a.quiet).await?;
    let target = match &a.output {
        Some(p) => query::Target::File(p.clone()),
        None => query::Target::Stdout(a.format),
    };
    let streams = query::run_sql(&ctx, &sql).await?;
    let mut rows = 0;
    for stream in streams {
        rows += query::write_result(stream, &target).await?;
    }
    if !a.quiet {
        eprintln!(
            "{rows} rows in set ({:.3} s){}",
            started.elapsed().as_secs_f64(),
            a.output
                .as_ref()
                .map(|p| format!(", written to {}", p.display()))
                .unwrap_or_default()
        );
    }
    Ok(exit::OK)
}

pub(super) async fn cmd_sql(a: SqlArgs) -> Result<u8> {
    let (window, _scratch) = match a.from.stream {
        Some(_) => {
            let (since, until) = a.times.bounds();
            let sigint = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                scratch::Sigint::CancelsAQuery
            } else {
                scratch::Sigint::Ends
            };
            let (path, scratch) = dataset_or_window(None, &a.from, since, until, sigint).await?;
            (Some(path), scratch)
        }
        None => (None, None),
    };
    let datasets: Vec<std::path::PathBuf> = window.into_iter().chain(a.datasets).collect();
    let names = shell::table_names(datasets.len(), &a.names)?;
    if datasets.len() > 1 {
        for d in &datasets {
            if query::delta_table(d).await?.is_some() {
                // Its snapshot is a filtered view over its whole store, which the others share.
                return Err(Error::Usage(format!(
                    "{} is a Delta table: open it alone in `jsreplay sql`",
                    d.display()
                )));
            }
        }
    }
    if let Some(c) = engine::cluster() {
        engine::check_reachable(c).await?;
    }
    let ctx = engine::session()?;
    let mut tables = Vec::with_capacity(names.len());
    for (name, path) in names.into_iter().zip(&datasets) {
        if let Some(w) = query::unaccounted(path) {
            eprintln!("jsreplay: warning: {}", escape::terminal(&w));
        }
        query::attach(&ctx, &name, path, None).await?;
        tables.push((name, path.display().to_string()));
    }
    let options = shell::Options {
        tables,
        hunts: pack::load(a.queries.as_deref())?,
        format: a.format,
        history: if a.no_history {
            None
        } else {
            a.history.or_else(shell::default_history)
        },
        pager: !a.no_pager,
        max_rows: a.max_rows as usize,
    };
    shell::run(ctx, options).await
}

pub(super) async fn cmd_hunt(a: HuntArgs) -> Result<u8> {
    let mut pack = pack::load(a.queries.as_deref())?;
    if let Some(rules) = &a.sigma {
        let files = pack::rule_files(std::slice::from_ref(rules), &RULE_EXTS, "Sigma rules")?;
        let (compiled, skipped) = sigma::compile_texts(&files, a.rules.events.process_events);
        report_unsupported("sigma", &skipped);
        pack.extend(compiled);
    }
    if !a.falco.is_empty() {
        let files = pack::rule_files(&a.falco, &RULE_EXTS, "Falco rule files")?;
        let c = falco::compile_texts(&files, &falco_options(&a.rules)?);
        report_unsupported("falco", &c.unsupported);
        pack.extend(c.hunts);
    }
    if a.coverage {
        print_text(&crate::rules::coverage::text(&pack))?;
        return Ok(exit::OK);
    }
    let hunts = pack::select(pack, &a.select)?;
    let overrides = pack::parse_params(&a.params)?;
    pack::check_params(&hunts, &overrides)?;
    if a.list {
        print_text(&pack::list_text(&hunts))?;
        return Ok(exit::OK);
    }
    let (ctx, dataset, window) =
        open_source(a.dataset.as_deref(), &a.from, a.times.bounds(), a.version).await?;
    narrow(&ctx, a.times.bounds(), false).await?;
    // Outputs name what they answer over: a folder, or the window of a stream.
    let dataset = window
        .as_ref()
        .map_or_else(|| dataset.display().to_string(), scratch::Scratch::label);
    let dataset = dataset.as_str();
    let pass = if a.per_hunt {
        hunts::Pass::PerHunt
    } else {
        hunts::Pass::One
    };
    let results = match a.format {
        _ if a.story => {
            let results = hunts::run::<std::io::Sink>(&ctx, &hunts, &overrides, None, pass).await?;
            let stories = story::build(&ctx, &results).await?;
            match a.format {
                HuntFormat::Json => print_json(&stories)?,
                HuntFormat::Table => print_text(&stories.text())?,
            }
            results
        }
        HuntFormat::Json => {
            let mut out =
                hunts::JsonOut::begin(std::io::BufWriter::new(std::io::stdout()), dataset)?;
            let results = hunts::run(&ctx, &hunts, &overrides, Some(&mut out), pass).await?;
            out.end()?;
            results
        }
        HuntFormat::Table => {
            let results = hunts::run::<std::io::Sink>(&ctx, &hunts, &overrides, None, pass).await?;
            print_text(&hunts::summary_text(&results, a.rows)?)?;
            results
        }
    };
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.hunt.name)))
        .collect();
    if let Some(path) = &a.report {
        report::Report::build(&ctx, dataset, results)
            .await?
            .write(path)?;
        eprintln!("report written to {}", path.display());
    }
    if !failed.is_empty() {
        return Err(Error::Query(format!(
            "{} hunt(s) failed: {}",
            failed.len(),
            failed.join("; ")
        )));
    }
    Ok(exit::OK)
}

pub(super) async fn cmd_timeline(a: TimelineArgs) -> Result<u8> {
    let now = chrono::Utc::now();
    let time = |t: &Option<String>| t.as_deref().map(|t| window::parse_time(t, now)).transpose();
    let req = timeline::TimelineRequest {
        host: a.host.clone(),
        since: time(&a.since)?,
        until: time(&a.until)?,
    };
    let bounds = (a.since.as_deref(), a.until.as_deref());
    let (ctx, _, _window) = open_source(a.dataset.as_deref(), &a.from, bounds, a.version).await?;
    narrow(&ctx, bounds, false).await?;
    let target = match &a.output {
        Some(p) => query::Target::File(p.clone()),
        None => query::Target::Stdout(a.format.writer()),
    };
    let mut streams = query::run_sql(&ctx, &timeline::sql(&req, a.format)).await?;
    let stream = streams.pop().expect("one statement");
    let rows = query::write_result(stream, &target).await?;
    if rows == 0 {
        eprintln!("no events match (check --host against: jsreplay query DATASET \"SELECT DISTINCT collector_id FROM events\")");
    }
    Ok(exit::OK)
}

pub(super) async fn cmd_tree(a: TreeArgs) -> Result<u8> {
    let at =
        a.at.as_deref()
            .map(|t| window::parse_time(t, chrono::Utc::now()))
            .transpose()?;
    let (ctx, _, _window) =
        open_source(a.dataset.as_deref(), &a.from, a.times.bounds(), a.version).await?;
    let forest = tree::Forest::load(&ctx, &a.host).await?;
    let (target, same_pid) = forest.pick(a.pid, at)?;
    match a.format {
        HuntFormat::Json => print_json(&forest.to_json(target))?,
        HuntFormat::Table => {
            if same_pid > 1 {
                eprintln!(
                    "pid {} was {same_pid} different processes on {}; showing the one {} (choose with --at)",
                    a.pid,
                    a.host,
                    if at.is_some() { "alive at --at" } else { "seen last" }
                );
            }
            print_text(&forest.render(target))?;
        }
    }
    Ok(exit::OK)
}
