//! One handler per command: turn the validated flags into a request for a wing, run it, print the
//! outcome (data on stdout, summaries and warnings on stderr) and choose the exit code.
//!
//! This is the edge of the library: the wings return typed errors and plain summaries, and only
//! here do they meet the terminal.

use std::io::Write;
use std::time::Instant;

use crate::cli::{self, Cli, Command};
use crate::error::{exit, Error, Result};
use crate::escape;
use crate::hunt::{report, run as hunts, shell, story, timeline, tree};
use crate::jobs::{archive, compact, export, sample, scratch, table, verify};
use crate::nats::{api, connect, plan, publish, window};
use crate::rules::{falco, pack, sigma};
use crate::sql::{cluster, confine::Confinement, engine, query};

/// Files and folders this process creates are private unless `JSREPLAY_UMASK` says otherwise
/// (`JSREPLAY_UMASK=022` for an archive other users read): they hold command lines, and those
/// hold secrets.
pub fn private_by_default() -> Result<()> {
    let mask = match std::env::var("JSREPLAY_UMASK") {
        Ok(text) => u32::from_str_radix(text.trim(), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "JSREPLAY_UMASK={text:?} is not an octal mask like 077 or 022"
                ))
            })?,
        Err(_) => 0o077,
    };
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) };
    Ok(())
}

/// Runs one command; returns the exit code for a run that did not fail.
pub async fn run(cli: Cli) -> Result<u8> {
    engine::set_memory_limit(cli.memory_limit);
    if let Some(c) = cli.cluster {
        if !matches!(
            cli.command,
            Command::Query(_)
                | Command::Sql(_)
                | Command::Hunt(_)
                | Command::Timeline(_)
                | Command::Tree(_)
        ) {
            return Err(Error::Usage(
                "--cluster applies to query, sql, hunt, timeline and tree".into(),
            ));
        }
        engine::set_cluster(c);
    }
    match cli.command {
        Command::Export(a) => cmd_export(a).await,
        Command::Archive(a) => cmd_archive(a).await,
        Command::Compact(a) => cmd_compact(a).await,
        Command::Convert(a) => cmd_convert(a).await,
        Command::Vacuum(a) => cmd_vacuum(a).await,
        Command::Verify(a) => cmd_verify(a).await,
        Command::Plan(a) => cmd_plan(a).await,
        Command::Query(a) => cmd_query(a).await,
        Command::Sql(a) => cmd_sql(a).await,
        Command::Hunt(a) => cmd_hunt(a).await,
        Command::Timeline(a) => cmd_timeline(a).await,
        Command::Tree(a) => cmd_tree(a).await,
        Command::Sigma(a) => cmd_sigma(a),
        Command::Falco(a) => cmd_falco(a),
        Command::Publish(a) => cmd_publish(a).await,
        Command::Generate(a) => cmd_generate(a),
        Command::Scheduler(a) => cmd_scheduler(a).await,
        Command::Executor(a) => cmd_executor(a).await,
    }
}

/// Writes `value` as pretty JSON on stdout; a closed pipe or a full disk is an error, not a
/// panic (JSON keeps event text raw: a program reads it).
fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Input(format!("cannot write the result as JSON: {e}")))?;
    text.push(b'\n');
    print_bytes(&text)
}

/// Writes text on stdout; a closed pipe or a full disk is an error (a closed pipe exits 0).
fn print_text(text: &str) -> Result<()> {
    print_bytes(text.as_bytes())
}

fn print_bytes(bytes: &[u8]) -> Result<()> {
    std::io::stdout()
        .lock()
        .write_all(bytes)
        .map_err(|e| Error::io("stdout", e))
}

async fn cmd_export(a: cli::ExportArgs) -> Result<u8> {
    let window = a.window.window()?;
    let spec = a.conn.spec()?;
    let client = spec.connect().await?;
    let req = export::ExportRequest {
        stream: a.window.stream.clone(),
        out_dir: a.output.clone(),
        window,
        quiet: a.quiet,
        parallel: a.parallel.map(usize::from),
        server_display: connect::redact_url(&spec.server()),
    };
    let summary = export::export(&client, &spec, &req).await?;
    for w in &summary.warnings {
        eprintln!("jsreplay: warning: {}", escape::terminal(w));
    }
    eprintln!("{}", summary.line());
    if a.json {
        print_json(&summary)?;
    }
    Ok(if a.fail_on_gaps && summary.gap_messages > 0 {
        exit::GAPS
    } else {
        exit::OK
    })
}

async fn cmd_archive(a: cli::ArchiveArgs) -> Result<u8> {
    let spec = a.conn.spec()?;
    let client = spec.connect().await?;
    let req = archive::ArchiveRequest {
        stream: a.stream.clone(),
        staging: a.staging.clone(),
        event_time_window: a.event_time_window.0,
        dest: a.to.clone(),
        quiet: a.quiet,
        parallel: a.parallel.map(usize::from),
        read_path: a.read_path,
        chunk: a.chunk,
        chunk_bytes: a.chunk_mib << 20,
        part_bytes: a.part_mib << 20,
        lease_ttl: a.lease_ttl,
        start_seq: a.start_seq,
        server_display: connect::redact_url(&spec.server()),
        format: a.format,
    };
    let summary = archive::archive(&client, &spec, &req).await?;
    for r in &summary.recovered {
        eprintln!("jsreplay: recovered: {}", escape::terminal(r));
    }
    for w in &summary.warnings {
        eprintln!("jsreplay: warning: {}", escape::terminal(w));
    }
    eprintln!("{}", summary.line());
    if summary.gap_messages > 0 {
        eprintln!(
            "jsreplay: error: {} messages were lost before they could be archived (gaps {:?}); \
             they are recorded in the checkpoint",
            summary.gap_messages, summary.gaps
        );
    }
    if a.json {
        print_json(&summary)?;
    }
    Ok(if summary.gap_messages > 0 {
        exit::GAPS
    } else {
        exit::OK
    })
}

async fn cmd_compact(a: cli::CompactArgs) -> Result<u8> {
    let staging = a.staging.clone().unwrap_or_else(std::env::temp_dir);
    let summary = compact::compact(&a.dest, a.small_mib << 20, a.lease_ttl, &staging).await?;
    for r in &summary.recovered {
        eprintln!("jsreplay: recovered: {}", escape::terminal(r));
    }
    eprintln!("{}", summary.line());
    if a.json {
        print_json(&summary)?;
    }
    Ok(exit::OK)
}

async fn cmd_convert(a: cli::ConvertArgs) -> Result<u8> {
    let s = table::convert(&a.dest, a.lease_ttl).await?;
    for r in &s.recovered {
        eprintln!("jsreplay: recovered: {}", escape::terminal(r));
    }
    eprintln!(
        "{}",
        escape::terminal(&format!(
            "converted {} to a Delta table: {} files, {} rows of stream {} committed as version {} \
             (transaction {} at seq {})",
            s.dest,
            s.files,
            s.rows,
            s.stream,
            s.version,
            archive::app_id(&s.stream),
            s.checkpoint
        ))
    );
    if a.json {
        print_json(&s)?;
    }
    Ok(exit::OK)
}

async fn cmd_vacuum(a: cli::VacuumArgs) -> Result<u8> {
    let s = table::vacuum(&a.dest, a.retention, a.dry_run).await?;
    for f in &s.files {
        eprintln!(
            "jsreplay: {} {}",
            if s.dry_run { "would delete" } else { "deleted" },
            escape::terminal(f)
        );
    }
    eprintln!(
        "{}",
        escape::terminal(&format!(
            "{} {} files of {} older than {} h that its latest version does not list",
            if s.dry_run { "would delete" } else { "deleted" },
            s.files.len(),
            s.dest,
            s.retention_hours
        ))
    );
    if a.json {
        print_json(&s)?;
    }
    Ok(exit::OK)
}

async fn cmd_verify(a: cli::VerifyArgs) -> Result<u8> {
    let report = verify::verify(&a.target, a.version).await?;
    for n in &report.notes {
        eprintln!("jsreplay: note: {}", escape::terminal(n));
    }
    for p in &report.problems {
        eprintln!("jsreplay: MISMATCH: {}", escape::terminal(p));
    }
    eprintln!("{}", escape::terminal(&report.line()));
    if a.json {
        print_json(&report)?;
    }
    Ok(if report.ok() {
        exit::OK
    } else {
        exit::MISMATCH
    })
}

async fn cmd_plan(a: cli::PlanArgs) -> Result<u8> {
    let window = a.window.window()?;
    let client = a.conn.spec()?.connect().await?;
    let p = plan::resolve(&client, &a.window.stream, &window, plan::Estimate::Count).await?;
    if a.json {
        print_json(&p)?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    let s = &p.stream;
    out += &format!(
        "stream       {} (server {}, {} retention, {} storage, R{}, subjects {})\n",
        s.name,
        p.server_version,
        s.retention,
        s.storage,
        s.replicas,
        s.subjects.join(" ")
    );
    out += &format!(
        "stream state seq {}..={}, {} messages, {} bytes, {} deleted, first {} last {}\n",
        s.first_seq,
        s.last_seq,
        s.messages,
        s.bytes,
        s.num_deleted,
        s.first_ts.as_deref().unwrap_or("-"),
        s.last_ts.as_deref().unwrap_or("-")
    );
    match p.range {
        Some((first, last)) => {
            out += &format!(
                "range        seq {first}..={last} ({} sequences, frozen at the stream's last sequence)\n",
                last - first + 1
            )
        }
        None => out += "range        empty: no message of the stream falls in the window\n",
    }
    out += &format!(
        "seek         {} requests to the server (no scan, whatever the stream's size)\n",
        p.seek_requests
    );
    out += &format!(
        "messages     {} matching (estimate ~{:.1} MiB)\n",
        p.estimated_messages,
        p.estimated_bytes as f64 / (1024.0 * 1024.0)
    );
    let filter = match &p.filter {
        plan::FilterMode::None => "none".to_string(),
        plan::FilterMode::Server(f) => format!("{} (applied by the server)", f.join(" ")),
        plan::FilterMode::Client(f) => format!(
            "{} (applied by jsreplay: this server cannot apply several or overlapping filters)",
            f.join(" ")
        ),
    };
    out += &format!("filter       {filter}\n");
    let path = match p.read_path {
        plan::ReadPath::Direct => "direct (batched direct gets)",
        plan::ReadPath::Consumer => "consumer (ephemeral no-ack pull consumers)",
    };
    out += &format!("read path    {path}: {}\n", p.read_path_reason);
    for w in &p.warnings {
        out += &format!("warning      {w}\n");
    }
    if !p.subject_counts.is_empty() {
        out += "subjects     (whole-stream counts)\n";
        for (subj, n) in p.subject_counts.iter().take(50) {
            out += &format!("  {n:>10}  {subj}\n");
        }
        if p.subject_counts.len() > 50 {
            out += &format!("  … and {} more\n", p.subject_counts.len() - 50);
        }
    }
    print_text(&escape::terminal_block(&out))?;
    Ok(exit::OK)
}

/// The dataset a command answers over: the one named, or with `--stream` the window read for
/// it (kept alive by the returned [`scratch::Scratch`]: a temporary one goes when it drops).
/// `sigint`: whether SIGINT ends the command after the window is read (not in the interactive
/// shell, where it cancels the running query).
async fn dataset_or_window(
    dataset: Option<&std::path::Path>,
    from: &cli::FromStreamArgs,
    since: Option<&str>,
    until: Option<&str>,
    sigint: bool,
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
async fn open_source(
    dataset: Option<&std::path::Path>,
    from: &cli::FromStreamArgs,
    (since, until): (Option<&str>, Option<&str>),
    version: Option<i64>,
) -> Result<(
    datafusion::prelude::SessionContext,
    std::path::PathBuf,
    Option<scratch::Scratch>,
)> {
    let (path, window) = dataset_or_window(dataset, from, since, until, true).await?;
    let ctx = open_dataset(&path, version).await?;
    Ok((ctx, path, window))
}

/// Opens a dataset for SQL, warning first when nothing accounts for its files.
async fn open_dataset(
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

async fn cmd_query(a: cli::QueryArgs) -> Result<u8> {
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

async fn cmd_sql(a: cli::SqlArgs) -> Result<u8> {
    let (window, _scratch) = match a.from.stream {
        Some(_) => {
            let (since, until) = a.times.bounds();
            let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
            let (path, scratch) =
                dataset_or_window(None, &a.from, since, until, !interactive).await?;
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

async fn cmd_hunt(a: cli::HuntArgs) -> Result<u8> {
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
    // Outputs name what they answer over: a folder, or the window of a stream.
    let dataset = window
        .as_ref()
        .map_or_else(|| dataset.display().to_string(), scratch::Scratch::label);
    let dataset = dataset.as_str();
    let results = match a.format {
        _ if a.story => {
            let results = hunts::run::<std::io::Sink>(&ctx, &hunts, &overrides, None).await?;
            let stories = story::build(&ctx, &results).await?;
            match a.format {
                cli::HuntFormat::Json => print_json(&stories)?,
                cli::HuntFormat::Table => print_text(&stories.text())?,
            }
            results
        }
        cli::HuntFormat::Json => {
            let mut out =
                hunts::JsonOut::begin(std::io::BufWriter::new(std::io::stdout()), dataset)?;
            let results = hunts::run(&ctx, &hunts, &overrides, Some(&mut out)).await?;
            out.end()?;
            results
        }
        cli::HuntFormat::Table => {
            let results = hunts::run::<std::io::Sink>(&ctx, &hunts, &overrides, None).await?;
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

async fn cmd_timeline(a: cli::TimelineArgs) -> Result<u8> {
    let now = chrono::Utc::now();
    let time = |t: &Option<String>| t.as_deref().map(|t| window::parse_time(t, now)).transpose();
    let req = timeline::TimelineRequest {
        host: a.host.clone(),
        since: time(&a.since)?,
        until: time(&a.until)?,
    };
    let bounds = (a.since.as_deref(), a.until.as_deref());
    let (ctx, _, _window) = open_source(a.dataset.as_deref(), &a.from, bounds, a.version).await?;
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

async fn cmd_tree(a: cli::TreeArgs) -> Result<u8> {
    let at =
        a.at.as_deref()
            .map(|t| window::parse_time(t, chrono::Utc::now()))
            .transpose()?;
    let (ctx, _, _window) =
        open_source(a.dataset.as_deref(), &a.from, a.times.bounds(), a.version).await?;
    let forest = tree::Forest::load(&ctx, &a.host).await?;
    let (target, same_pid) = forest.pick(a.pid, at)?;
    match a.format {
        cli::HuntFormat::Json => print_json(&forest.to_json(target))?,
        cli::HuntFormat::Table => {
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

/// Rule files in a folder (Sigma and Falco both write YAML).
const RULE_EXTS: [&str; 2] = ["yml", "yaml"];

fn report_unsupported(kind: &str, skipped: &[pack::Unsupported]) {
    for u in skipped {
        eprintln!(
            "{kind}: skipped {} ({}): {}",
            escape::terminal(&u.file),
            escape::terminal(&u.title),
            escape::terminal(&u.reasons.join("; "))
        );
    }
}

fn falco_options(a: &cli::RuleArgs) -> Result<falco::Options> {
    let mut assume = std::collections::BTreeMap::new();
    for pair in &a.assume {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--assume {pair:?}: expected FIELD=VALUE")))?;
        assume.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(falco::Options {
        process_events: a.events.process_events,
        assume,
    })
}

/// Writes compiled rules as hunt files, prints them (SQL or a JSON summary) and the counts.
fn emit_compiled(
    kind: &str,
    compiled: &[pack::Hunt],
    skipped: &[pack::Unsupported],
    output: Option<&std::path::Path>,
    json: Option<serde_json::Value>,
) -> Result<u8> {
    report_unsupported(kind, skipped);
    if let Some(dir) = output {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for h in compiled {
            let name = h.name.trim_start_matches(&format!("{kind}/"));
            let path = dir.join(format!("{name}.sql"));
            std::fs::write(&path, pack::hunt_file(h)).map_err(|e| Error::io(&path, e))?;
        }
    }
    if let Some(mut doc) = json {
        doc["compiled"] = compiled
            .iter()
            .map(|h| {
                serde_json::json!({
                    "name": h.name, "title": h.title, "severity": h.severity, "attack": h.attack,
                    "sql": h.sql,
                })
            })
            .collect();
        doc["unsupported"] = serde_json::to_value(skipped).expect("serializable");
        print_json(&doc)?;
    } else if output.is_none() {
        for h in compiled {
            print_text(&format!("-- {}\n{}\n", h.name, pack::hunt_file(h)))?;
        }
    }
    eprintln!(
        "{kind}: {} rules compiled, {} unsupported",
        compiled.len(),
        skipped.len()
    );
    if compiled.is_empty() {
        return Err(Error::Usage("no rule could be compiled".into()));
    }
    Ok(exit::OK)
}

fn cmd_sigma(a: cli::SigmaArgs) -> Result<u8> {
    let files = pack::rule_files(std::slice::from_ref(&a.rules), &RULE_EXTS, "Sigma rules")?;
    let (compiled, skipped) = sigma::compile_texts(&files, a.events.process_events);
    let json = a.json.then(|| serde_json::json!({}));
    emit_compiled("sigma", &compiled, &skipped, a.output.as_deref(), json)
}

fn cmd_falco(a: cli::FalcoArgs) -> Result<u8> {
    let files = pack::rule_files(&a.rules, &RULE_EXTS, "Falco rule files")?;
    let c = falco::compile_texts(&files, &falco_options(&a.rules_args)?);
    for f in &c.files {
        eprintln!(
            "falco: {}: {} rules, {} compiled, {} unsupported, {} disabled",
            escape::terminal(&f.file),
            f.rules,
            f.compiled,
            f.unsupported,
            f.disabled
        );
    }
    let json = a.json.then(|| serde_json::json!({ "files": c.files }));
    emit_compiled("falco", &c.hunts, &c.unsupported, a.output.as_deref(), json)
}

async fn cmd_publish(a: cli::PublishArgs) -> Result<u8> {
    let client = a.conn.spec()?.connect().await?;
    let js = async_nats::jetstream::new(client.clone());
    if a.create {
        publish::ensure_stream(
            &js,
            &publish::StreamSpec {
                name: a.stream.clone(),
                subjects: a.stream_subjects.clone(),
                replicas: a.replicas,
            },
        )
        .await?;
    } else {
        api::stream_state(&client, &a.stream, api::Deleted::Omit).await?;
    }
    let summary = publish::publish_files(&js, &a.files).await?;
    eprintln!(
        "published {} messages ({:.1} MiB) to {} in {:.1} s ({:.0} msg/s), seq {}..={}",
        summary.published,
        summary.bytes as f64 / (1024.0 * 1024.0),
        a.stream,
        summary.seconds,
        summary.published as f64 / summary.seconds.max(1e-9),
        summary.first_seq.unwrap_or(0),
        summary.last_seq.unwrap_or(0)
    );
    if a.json {
        print_json(&summary)?;
    }
    client.flush().await.ok();
    Ok(exit::OK)
}

fn cmd_generate(a: cli::GenerateArgs) -> Result<u8> {
    let cfg = sample::Config {
        noise: a.noise,
        seed: a.seed,
        scenario: a.scenario,
    };
    match &a.output {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
            let io = |e| Error::io(path, e);
            let n = if path.extension().is_some_and(|e| e == "zst") {
                let mut z = zstd::Encoder::new(file, 19).map_err(io)?;
                let n = sample::write_ndjson(&cfg, &mut z).map_err(io)?;
                z.finish().map_err(io)?.sync_all().map_err(io)?;
                n
            } else {
                let mut w = std::io::BufWriter::new(file);
                let n = sample::write_ndjson(&cfg, &mut w).map_err(io)?;
                w.flush().map_err(io)?;
                n
            };
            eprintln!("wrote {n} publish lines to {}", path.display());
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            sample::write_ndjson(&cfg, &mut out).map_err(|e| Error::io("stdout", e))?;
            out.flush().map_err(|e| Error::io("stdout", e))?;
        }
    }
    Ok(exit::OK)
}

async fn cmd_scheduler(a: cli::SchedulerArgs) -> Result<u8> {
    cluster::run_scheduler(cluster::SchedulerOptions {
        bind: a.bind,
        external_host: a.external_host,
        confinement: Confinement::new(&a.read_root)?,
    })
    .await?;
    Ok(exit::OK)
}

async fn cmd_executor(a: cli::ExecutorArgs) -> Result<u8> {
    cluster::run_executor(cluster::ExecutorOptions {
        scheduler: a.scheduler,
        bind_host: a.bind,
        external_host: a.external_host,
        port: a.port,
        grpc_port: a.grpc_port,
        concurrent_tasks: a.concurrent_tasks.map(usize::from),
        work_dir: a.work_dir.map(|p| p.display().to_string()),
        confinement: Confinement::new(&a.read_root)?,
    })
    .await?;
    Ok(exit::OK)
}
