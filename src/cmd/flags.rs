//! Command-line flags (clap) and their conversion into the library's validated requests.
//!
//! Flags follow the NATS CLI where they overlap (`-s`, `--creds`, `--nkey`, `--user`,
//! `--password`, `--token`, `--tlsca`, `--tlscert`, `--tlskey`, `--context`), so a responder's
//! muscle memory and existing contexts carry over. Nothing below this module sees clap types.

use std::path::PathBuf;

use chrono::Utc;
use clap::{Args, Parser, Subcommand};

use crate::error::Result;
use crate::nats::connect::ConnectSpec;
use crate::nats::window::Window;
use crate::sql::query::Format;

#[derive(Debug, Parser)]
#[command(
    name = "jsreplay",
    version,
    about = "Replay NATS JetStream windows of EDR/XDR events into Parquet, and hunt through them with SQL",
    after_help = crate::error::exit::help()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Memory for the SQL engine's sorts, joins and aggregates (query, sql, hunt, timeline, tree):
    /// beyond it they spill to the temporary folder ($TMPDIR). 512M, 2G, 1.5G … (at least 32M)
    #[arg(long, global = true, value_name = "SIZE", env = "JSREPLAY_MEMORY_LIMIT", default_value = "1G", value_parser = memory_size)]
    pub memory_limit: usize,
    /// Run query, sql, hunt, timeline and tree on a Ballista cluster: the scheduler's address,
    /// df://HOST:PORT (see `jsreplay scheduler`). The dataset must be a URL (s3://, gs://, az://)
    /// or a path that every executor reads the same.
    #[arg(long, global = true, value_name = "df://HOST:PORT", env = "JSREPLAY_CLUSTER", value_parser = crate::sql::engine::Cluster::parse)]
    pub cluster: Option<crate::sql::engine::Cluster>,
}

/// A size in bytes: a number with an optional K, M, G or T suffix (powers of 1024).
fn memory_size(text: &str) -> std::result::Result<usize, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let shift = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("{text:?} is not a size like 512M or 2G")),
    };
    let bytes = number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n > 0.0)
        .map(|n| n * (1u64 << shift) as f64)
        .filter(|b| *b >= (32 << 20) as f64 && *b < usize::MAX as f64)
        .ok_or_else(|| format!("{text:?} is not a size like 512M or 2G (at least 32M)"))?;
    Ok(bytes as usize)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export a window of a stream to a Hive-partitioned Parquet dataset with a manifest.
    #[command(after_help = "Examples:
  jsreplay export --stream SYSDIG_EVENTS --since 2025-07-10T02:10:00Z --until 2025-07-10T02:30:00Z -o incident/
  jsreplay export --stream SYSDIG_EVENTS --since 2h --subject 'events.sysdig.web-01' -o web01/
  jsreplay export --stream SYSDIG_EVENTS --start-seq 1000 --end-seq 1999 -o slice/ --json")]
    Export(ExportArgs),
    /// Archive everything the stream holds past the last checkpoint to a folder or object store, then exit.
    #[command(
        after_help = "Examples (cron, systemd timers: see README \"Scheduled archival\"):
  jsreplay archive --stream SYSDIG_EVENTS --to /srv/archive/sysdig
  AWS_REGION=eu-west-1 jsreplay archive --stream SYSDIG_EVENTS --to s3://soc-archive/sysdig --json
  jsreplay query s3://soc-archive/sysdig \"SELECT dt, count(*) FROM events GROUP BY dt\""
    )]
    Archive(ArchiveArgs),
    /// Merge an archive's small parts per partition into larger files, atomically, rows unchanged.
    #[command(after_help = "Example:
  jsreplay compact s3://soc-archive/sysdig")]
    Compact(CompactArgs),
    /// Turn a Hive archive into a Delta table in place (no data rewritten; the checkpoint becomes
    /// the table's transaction), so `archive --format delta` continues it.
    #[command(after_help = "Example:
  jsreplay convert s3://soc-archive/sysdig && jsreplay archive --stream SYSDIG_EVENTS --to s3://soc-archive/sysdig")]
    Convert(ConvertArgs),
    /// Delete a Delta archive's files that its latest version no longer lists (compacted away)
    /// or never listed (a killed or losing writer's), once older than the retention.
    #[command(after_help = "Examples:
  jsreplay vacuum s3://soc-archive/sysdig --dry-run
  jsreplay vacuum /srv/archive/sysdig --retention 24h")]
    Vacuum(VacuumArgs),
    /// Re-check a dataset or archive against its manifests: every file's SHA-256 and rows, no file
    /// missing or extra, the counts adding up (chain of custody). Exit 8 when anything differs.
    #[command(after_help = "Examples:
  jsreplay verify incident/
  jsreplay verify s3://soc-archive/sysdig --json")]
    Verify(VerifyArgs),
    /// Resolve a window to a sequence range and show what an export would read, without reading it.
    #[command(after_help = "Example:
  jsreplay plan --stream SYSDIG_EVENTS --since 30m")]
    Plan(PlanArgs),
    /// Run SQL over a dataset; the data is the table `events`.
    #[command(after_help = "Examples:
  jsreplay query incident/ \"SELECT collector_id, count(*) FROM events GROUP BY 1\"
  jsreplay query incident/ -f queries/timeline.sql --format csv -o timeline.csv")]
    Query(QueryArgs),
    /// An interactive SQL shell over one or more datasets (the first is the table `events`).
    #[command(after_help = "Examples:
  jsreplay sql incident/
  jsreplay sql incident/ baseline/ --as events --as baseline
  jsreplay sql incident/ < hunt.sql > hits.csv      (statements from a pipe: runs them, stops at the first error)

In the shell: .help, .tables, .schema, .hunts, .hunt NAME [param=value ...], .format table|csv|json|ndjson,
.timer on|off, .maxrows N, .output [FILE], .read FILE. Ctrl-C cancels a running query.")]
    Sql(SqlArgs),
    /// Run the saved hunts (or a selection) over a dataset and summarise their hits.
    #[command(after_help = "Examples:
  jsreplay hunt incident/
  jsreplay hunt incident/ --select persistence --select ssh --rows
  jsreplay hunt incident/ --param skew_seconds=10 --format json > hits.json
  jsreplay hunt incident/ --report incident.html
  jsreplay hunt --list")]
    Hunt(HuntArgs),
    /// A host's events in time order with process context (table, CSV, JSON lines, Timesketch).
    #[command(after_help = "Examples:
  jsreplay timeline incident/ --host web-01 --since 2025-07-10T02:10:00Z --until 2025-07-10T02:15:00Z
  jsreplay timeline incident/ --host db-01 --format timesketch-jsonl -o db-01.jsonl")]
    Timeline(TimelineArgs),
    /// The ancestors and descendants of a process, safe against PID reuse.
    #[command(after_help = "Examples:
  jsreplay tree incident/ --host web-01 --pid 23030
  jsreplay tree incident/ --host web-01 --pid 23030 --at 2025-07-10T01:35:00Z --format json")]
    Tree(TreeArgs),
    /// Compile Sigma rules for Linux into SQL hunts (unsupported parts are reported per rule).
    #[command(after_help = "Examples:
  jsreplay sigma rules/linux/ -o queries/sigma/
  jsreplay hunt incident/ --sigma rules/linux/")]
    Sigma(SigmaArgs),
    /// Compile Falco rule files (lists, macros, overrides, exceptions) into SQL hunts over history.
    #[command(after_help = "Examples:
  jsreplay falco falco_rules.yaml falco-incubating_rules.yaml --json
  jsreplay falco falco_rules.yaml my_overrides.yaml --assume container.id=host -o queries/falco/
  jsreplay hunt incident/ --falco falco_rules.yaml --falco my_overrides.yaml")]
    Falco(FalcoArgs),
    /// Publish NDJSON lines ({\"subject\":…,\"payload\":…}) to a stream, with acknowledgements.
    #[command(after_help = "Example:
  jsreplay publish --stream SYSDIG_EVENTS --create sample-data/incident.ndjson")]
    Publish(PublishArgs),
    /// Write the deterministic sample incident (see sample-data/README.md) as NDJSON publish lines.
    #[command(after_help = "Example:
  jsreplay generate --noise 20000 -o sample-data/incident.ndjson")]
    Generate(GenerateArgs),
    /// Run a Ballista scheduler with jsreplay's functions, for `--cluster` (until SIGINT/SIGTERM).
    #[command(
        after_help = "Examples (two machines; the port carries no authentication: a private network only):
  hunt-01$ jsreplay scheduler --bind 0.0.0.0:50050 --external-host hunt-01
  hunt-01$ AWS_REGION=eu-west-1 jsreplay executor --scheduler df://hunt-01:50050 --bind 0.0.0.0 --external-host hunt-01
  hunt-02$ AWS_REGION=eu-west-1 jsreplay executor --scheduler df://hunt-01:50050 --bind 0.0.0.0 --external-host hunt-02
  laptop$  jsreplay hunt s3://soc-archive/sysdig --cluster df://hunt-01:50050"
    )]
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor with jsreplay's functions and object stores (until SIGINT/SIGTERM).
    #[command(after_help = "Example:
  AWS_REGION=eu-west-1 jsreplay executor --scheduler df://hunt-01:50050 --bind 0.0.0.0 --external-host hunt-02")]
    Executor(ExecutorArgs),
}

/// Connection flags, as the NATS CLI spells them.
#[derive(Debug, Args, Clone)]
pub struct ConnArgs {
    /// NATS server URL(s), comma separated.
    #[arg(short = 's', long = "server", env = "NATS_URL")]
    pub server: Option<String>,
    /// NATS CLI context to read connection settings from (name or path to its JSON file).
    #[arg(long, env = "NATS_CONTEXT")]
    pub context: Option<String>,
    /// User credentials file (JWT + nkey seed).
    #[arg(long)]
    pub creds: Option<PathBuf>,
    /// User nkey seed file.
    #[arg(long)]
    pub nkey: Option<PathBuf>,
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate to verify the server with (enables TLS).
    #[arg(long)]
    pub tlsca: Option<PathBuf>,
    /// Client certificate for mutual TLS.
    #[arg(long)]
    pub tlscert: Option<PathBuf>,
    /// Client key for mutual TLS.
    #[arg(long)]
    pub tlskey: Option<PathBuf>,
    /// Connect with TLS before the INFO exchange (servers with handshake_first).
    #[arg(long)]
    pub tlsfirst: bool,
}

impl ConnArgs {
    /// The connection settings, with the context's values under the flags.
    pub fn spec(&self) -> Result<ConnectSpec> {
        ConnectSpec {
            server: self.server.clone(),
            creds: self.creds.clone(),
            nkey: self.nkey.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            tls_ca: self.tlsca.clone(),
            tls_cert: self.tlscert.clone(),
            tls_key: self.tlskey.clone(),
            tls_first: self.tlsfirst,
            context: self.context.clone(),
            connect_timeout: None,
        }
        .resolve_context()
    }
}

/// The window flags shared by `export` and `plan`.
#[derive(Debug, Args, Clone)]
pub struct WindowArgs {
    /// Stream to read.
    #[arg(long, default_value = "SYSDIG_EVENTS")]
    pub stream: String,
    /// Start time, inclusive: RFC 3339 or a duration before now (30m, 2h, 1d).
    #[arg(long)]
    pub since: Option<String>,
    /// End time, exclusive: RFC 3339 or a duration before now.
    #[arg(long)]
    pub until: Option<String>,
    /// First stream sequence, inclusive.
    #[arg(long)]
    pub start_seq: Option<u64>,
    /// Last stream sequence, inclusive.
    #[arg(long)]
    pub end_seq: Option<u64>,
    /// Subject filter (repeatable; wildcards `*` and `>`).
    #[arg(long = "subject")]
    pub subjects: Vec<String>,
    /// How to read: consumers, batched direct gets (2.11+), or chosen per server and stream.
    #[arg(long, value_enum, default_value = "auto")]
    pub read_path: crate::nats::window::ReadPathChoice,
}

impl WindowArgs {
    pub fn window(&self) -> Result<Window> {
        window(
            self.since.as_deref(),
            self.until.as_deref(),
            self.start_seq,
            self.end_seq,
            &self.subjects,
            self.read_path,
        )
    }
}

fn window(
    since: Option<&str>,
    until: Option<&str>,
    start_seq: Option<u64>,
    end_seq: Option<u64>,
    subjects: &[String],
    read_path: crate::nats::window::ReadPathChoice,
) -> Result<Window> {
    Window::parse(since, until, start_seq, end_seq, subjects, Utc::now())
        .map(|w| Window { read_path, ..w })
}

/// `--stream` for the commands that answer over a dataset (`hunt`, `timeline`, `tree`, `sql`):
/// the window is read (exported) first, into a temporary folder or `--keep DIR`. The window's
/// times are each command's `--since` / `--until`.
#[derive(Debug, Args, Clone)]
pub struct FromStreamArgs {
    /// Read a window of this stream instead of a dataset (the export's window flags; a
    /// temporary dataset, removed at the end unless --keep).
    #[arg(long = "stream", value_name = "STREAM", help_heading = "From a stream")]
    pub stream: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
    /// First stream sequence of the window, inclusive.
    #[arg(long, requires = "stream", help_heading = "From a stream")]
    pub start_seq: Option<u64>,
    /// Last stream sequence of the window, inclusive.
    #[arg(long, requires = "stream", help_heading = "From a stream")]
    pub end_seq: Option<u64>,
    /// Subject filter of the window (repeatable; wildcards `*` and `>`).
    #[arg(long = "subject", requires = "stream", help_heading = "From a stream")]
    pub subjects: Vec<String>,
    /// How to read the window: consumers, batched direct gets, or chosen per server and stream.
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        help_heading = "From a stream"
    )]
    pub read_path: crate::nats::window::ReadPathChoice,
    /// Slices of the window read concurrently (default: one per core, as `export`).
    #[arg(long, requires = "stream", value_parser = clap::value_parser!(u16).range(1..=64), help_heading = "From a stream")]
    pub parallel: Option<u16>,
    /// Keep the window's dataset in DIR (created; must be empty) instead of removing it.
    #[arg(
        long,
        value_name = "DIR",
        requires = "stream",
        help_heading = "From a stream"
    )]
    pub keep: Option<PathBuf>,
}

impl FromStreamArgs {
    /// The window to read, with the command's own `--since` / `--until`.
    pub fn window(&self, since: Option<&str>, until: Option<&str>) -> Result<Window> {
        window(
            since,
            until,
            self.start_seq,
            self.end_seq,
            &self.subjects,
            self.read_path,
        )
    }
}

/// `--since` / `--until` of a window read with `--stream` (commands without times of their own).
#[derive(Debug, Args, Clone)]
pub struct StreamTimes {
    /// Start of the window, inclusive: RFC 3339 or a duration before now (30m, 2h, 1d).
    #[arg(long, requires = "stream", help_heading = "From a stream")]
    pub since: Option<String>,
    /// End of the window, exclusive: RFC 3339 or a duration before now.
    #[arg(long, requires = "stream", help_heading = "From a stream")]
    pub until: Option<String>,
}

impl StreamTimes {
    pub fn bounds(&self) -> (Option<&str>, Option<&str>) {
        (self.since.as_deref(), self.until.as_deref())
    }
}

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

/// How long a lease lasts without renewal (a killed run's lease on an object store is taken
/// over after this; on a local folder at once).
fn lease_ttl(text: &str) -> std::result::Result<std::time::Duration, String> {
    crate::nats::window::parse_duration(text)
        .and_then(|d| d.to_std().ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} is not a duration like 30s, 10m or 1h"))
}

fn retention(text: &str) -> std::result::Result<std::time::Duration, String> {
    crate::nats::window::parse_duration(text)
        .and_then(|d| d.to_std().ok())
        .ok_or_else(|| format!("{text:?} is not a duration like 30m, 24h or 7d"))
}

/// `--event-time-window`: nanoseconds, or `None` for `any`.
#[derive(Debug, Clone, Copy)]
pub struct EventTimeWindow(pub Option<i64>);

fn event_time_window(text: &str) -> std::result::Result<EventTimeWindow, String> {
    if text == "any" {
        return Ok(EventTimeWindow(None));
    }
    crate::nats::window::parse_duration(text)
        .and_then(|d| d.num_nanoseconds())
        .filter(|ns| *ns > 0)
        .map(|ns| EventTimeWindow(Some(ns)))
        .ok_or_else(|| format!("{text:?} is not a duration like 6h or 2d, or `any`"))
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
    #[command(flatten)]
    pub from: FromStreamArgs,
    #[command(flatten)]
    pub times: StreamTimes,
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

/// Which events stand for a process start in rule sets.
#[derive(Debug, Args)]
pub struct ProcessEventsArg {
    /// Which events a process-creation rule (Sigma process_creation, Falco spawned_process)
    /// matches: any event of the process (default: the SysArmor template has no execve events),
    /// or execve/execveat events only.
    #[arg(long, value_enum, default_value = "any")]
    pub process_events: crate::rules::pack::ProcessEvents,
}

/// How rule sets (Sigma, Falco) are compiled.
#[derive(Debug, Args)]
pub struct RuleArgs {
    #[command(flatten)]
    pub events: ProcessEventsArg,
    /// Falco: state a field your events lack for your fleet (repeatable), e.g.
    /// `container.id=host` for hosts without containers; each hunt using it says so.
    #[arg(long, value_name = "FIELD=VALUE")]
    pub assume: Vec<String>,
}

#[derive(Debug, Args)]
pub struct FalcoArgs {
    /// Falco rule files (or folders of .yaml files), loaded in this order as Falco loads them.
    #[arg(required = true)]
    pub rules: Vec<PathBuf>,
    /// Write each compiled rule as a hunt file (RULE-NAME.sql) into this folder.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Print a JSON summary (per-file counts, compiled hunts with their SQL, unsupported rules
    /// with reasons).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub rules_args: RuleArgs,
}

#[derive(Debug, Args)]
pub struct SigmaArgs {
    /// A Sigma rule (.yml) or a folder of rules (searched recursively).
    pub rules: PathBuf,
    #[command(flatten)]
    pub events: ProcessEventsArg,
    /// Write each compiled rule as a hunt file (RULE-NAME.sql) into this folder.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Print a JSON summary (compiled hunts with their SQL, unsupported rules with reasons).
    #[arg(long)]
    pub json: bool,
}

/// Output of `hunt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HuntFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Stream the subjects belong to (created with --create).
    #[arg(long, default_value = "SYSDIG_EVENTS")]
    pub stream: String,
    /// Create the stream with the SysArmor guide's settings if it does not exist.
    #[arg(long)]
    pub create: bool,
    /// Subjects of the created stream.
    #[arg(long = "stream-subject", default_value = "events.sysdig.*")]
    pub stream_subjects: Vec<String>,
    /// Replicas of the created stream (the guide uses 3 on a cluster).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// NDJSON files to publish (`-` for stdin).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Which night: the first incident, or the second fleet's incident amid a night of
    /// administration (sample-data/fleet-night.ndjson.zst).
    #[arg(long, value_enum, default_value = "incident")]
    pub scenario: crate::jobs::sample::Scenario,
    /// Background events around the incident.
    #[arg(long, default_value_t = 60_000)]
    pub noise: u64,
    /// Random seed (the committed sample uses the default).
    #[arg(long, default_value_t = 20250710)]
    pub seed: u64,
    /// Output file (stdout if absent).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on (gRPC for clients and executors). 0.0.0.0:50050 for other machines.
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: std::net::SocketAddr,
    /// The name executors and clients reach this machine by (default: the bind address).
    #[arg(long)]
    pub external_host: Option<String>,
    /// A local folder plans may read (repeat for more); none by default: without it the
    /// scheduler lists and reads only object stores. Nothing is ever written.
    #[arg(long, value_name = "DIR")]
    pub read_root: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler to serve, df://HOST:PORT.
    #[arg(long, value_name = "df://HOST:PORT", value_parser = crate::sql::engine::Cluster::parse)]
    pub scheduler: crate::sql::engine::Cluster,
    /// Host or address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// The name the scheduler, the other executors and clients reach this machine by.
    #[arg(long)]
    pub external_host: Option<String>,
    /// Arrow Flight port (results and shuffle data).
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// gRPC port (tasks from the scheduler).
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// Tasks run at once (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrent_tasks: Option<u16>,
    /// Folder for shuffle files (default: a new temporary folder).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// A local folder tasks may read (repeat for more; the scheduler needs the same); none by
    /// default: without it tasks read only object stores. Nothing is ever written.
    #[arg(long, value_name = "DIR")]
    pub read_root: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_sizes() {
        assert_eq!(super::memory_size("1G"), Ok(1 << 30));
        assert_eq!(super::memory_size("512M"), Ok(512 << 20));
        assert_eq!(super::memory_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(super::memory_size("2048MB"), Ok(2 << 30));
        assert_eq!(super::memory_size("33554432"), Ok(32 << 20));
        for bad in ["", "G", "-1G", "1X", "10K", "16M", "nanG", "1e400"] {
            assert!(super::memory_size(bad).is_err(), "{bad}");
        }
    }
}
