//! The commands that move or check data: `export`, `archive`, `compact`, `convert`, `vacuum`,
//! `verify`, `plan`: each one's flags and its handler.

use super::*;

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub window: WindowArgs,
    /// Output directory (created; must be empty if it exists).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Slices of the range read concurrently, each on its own connection (default: one per
    /// 100 000 sequences, up to one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: Option<u16>,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// Exit with code 6 when part of the range is gone from the stream.
    #[arg(long)]
    pub fail_on_gaps: bool,
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Stream to archive.
    #[arg(long, default_value = "SYSDIG_EVENTS")]
    pub stream: String,
    /// Destination: a folder, or s3://bucket/prefix, gs://bucket/prefix, az://container/prefix.
    #[arg(long = "to", value_name = "DEST")]
    pub to: String,
    /// Slices read concurrently (default: one per 100 000 sequences of backlog, up to one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: Option<u16>,
    /// How to read: consumers, batched direct gets (2.11+), or chosen per server and stream.
    #[arg(long, value_enum, default_value = "auto")]
    pub read_path: crate::nats::window::ReadPathChoice,
    /// Sequences per committed chunk: a run killed mid-way resumes from the last whole chunk.
    #[arg(long, default_value_t = 250_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk: u64,
    /// Also bound a chunk by bytes: fewer sequences when the stream's messages are large on
    /// average, so a killed run redoes at most about this much (MiB).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk_mib: u64,
    /// Largest part file (MiB): parts are uploaded as they close, so local staging holds only
    /// the parts still being written (about this size each, a few per slice).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub part_mib: u64,
    /// Lease time to live on an object store (renewed while the run lasts).
    #[arg(long, default_value = "10m", value_parser = lease_ttl)]
    pub lease_ttl: std::time::Duration,
    /// First sequence of a new archive (default: the stream's first stored sequence).
    #[arg(long)]
    pub start_seq: Option<u64>,
    /// Partition a row by its event's own time only when that lies within this much of the time
    /// the server received it; otherwise (a broken or forged clock) by the JetStream time. `any`
    /// trusts every event time (for a stream loaded with old events, like the sample).
    #[arg(long, default_value = "24h", value_parser = event_time_window)]
    pub event_time_window: EventTimeWindow,
    /// Folder to stage chunks in (a private, unique folder is created inside it); default `$TMPDIR`.
    #[arg(long, value_name = "DIR")]
    pub staging: Option<PathBuf>,
    /// hive: Parquet files, a checkpoint and chunk manifests (any reader of Parquet); delta: a
    /// Delta Lake table (Spark, Databricks, Trino, DuckDB read committed chunks only). Default:
    /// what the destination already is, hive for a new one.
    #[arg(long, value_enum)]
    pub format: Option<crate::lake::delta::TableFormat>,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The archive: a folder, or s3://…, gs://…, az://….
    pub dest: String,
    /// Parts smaller than this many MiB are merged (per partition, two or more at a time).
    #[arg(long, default_value_t = 64)]
    pub small_mib: u64,
    /// Lease time to live on an object store (renewed while the run lasts).
    #[arg(long, default_value = "10m", value_parser = lease_ttl)]
    pub lease_ttl: std::time::Duration,
    /// Folder to stage in (a private, unique folder is created inside it); default `$TMPDIR`.
    #[arg(long, value_name = "DIR")]
    pub staging: Option<PathBuf>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The Hive archive: a folder, or s3://…, gs://…, az://….
    pub dest: String,
    /// Lease time to live on an object store (renewed while the run lasts).
    #[arg(long, default_value = "10m", value_parser = lease_ttl)]
    pub lease_ttl: std::time::Duration,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// The Delta archive: a folder, or s3://…, gs://…, az://….
    pub dest: String,
    /// Keep files younger than this (a writer may be about to commit them; older versions may
    /// still be read): 30m, 24h, 7d.
    #[arg(long, default_value = "168h", value_parser = retention)]
    pub retention: std::time::Duration,
    /// Only list what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A dataset folder (with `manifest.json`) or an archive: a folder, or s3://…, gs://…, az://….
    pub target: String,
    /// Read a Delta table as it was at this version of its log (what the archive held when a
    /// report was made); default: the latest.
    #[arg(long = "version", value_name = "N", value_parser = clap::value_parser!(i64).range(0..))]
    pub version: Option<i64>,
    /// Print the findings as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub window: WindowArgs,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(super) async fn cmd_export(a: ExportArgs) -> Result<u8> {
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

pub(super) async fn cmd_archive(a: ArchiveArgs) -> Result<u8> {
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

pub(super) async fn cmd_compact(a: CompactArgs) -> Result<u8> {
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

pub(super) async fn cmd_convert(a: ConvertArgs) -> Result<u8> {
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

pub(super) async fn cmd_vacuum(a: VacuumArgs) -> Result<u8> {
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

pub(super) async fn cmd_verify(a: VerifyArgs) -> Result<u8> {
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

pub(super) async fn cmd_plan(a: PlanArgs) -> Result<u8> {
    let window = a.window.window()?;
    let client = a.conn.spec()?.connect().await?;
    let p = plan::resolve(&client, &a.window.stream, &window, plan::Estimate::Count).await?;
    if a.json {
        print_json(&p)?;
        return Ok(exit::OK);
    }
    print_text(&escape::terminal_block(&p.text()))?;
    Ok(exit::OK)
}
