//! The command line: the flags of every command (clap) next to its handler, one file per
//! command family ([`data`]: export, archive, compact, convert, vacuum, verify, plan; [`ask`]:
//! query, sql, hunt, timeline, tree; [`compile`]: sigma, falco; [`load`]: publish, generate;
//! [`serve`]: scheduler, executor), the flag groups
//! several share ([`flags`]) and where output goes ([`output`]). A handler turns validated
//! flags into a request for a wing, runs it, prints the outcome (data on stdout, summaries and
//! warnings on stderr) and chooses the exit code.
//!
//! Flags follow the NATS CLI where they overlap (`-s`, `--creds`, `--nkey`, `--user`,
//! `--password`, `--token`, `--tlsca`, `--tlscert`, `--tlskey`, `--context`), so a responder's
//! muscle memory and existing contexts carry over. This is the edge of the library: the wings
//! return typed errors and plain summaries, never see clap types, and only here meet the
//! terminal.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use clap::{Args, Parser, Subcommand};

use crate::error::{exit, Error, Result};
use crate::escape;
use crate::hunt::{report, run as hunts, shell, story, timeline, tree};
use crate::jobs::{archive, compact, export, sample, scratch, table, verify};
use crate::nats::connect::ConnectSpec;
use crate::nats::window::Window;
use crate::nats::{api, connect, plan, publish, window};
use crate::rules::{falco, pack, sigma};
use crate::sql::query::Format;
use crate::sql::{cluster, confine::Confinement, engine, query};

mod ask;
mod compile;
mod data;
mod flags;
mod load;
mod output;
mod serve;

pub use ask::*;
pub use compile::*;
pub use data::*;
pub use flags::*;
pub use load::*;
use output::*;
pub use serve::*;

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
