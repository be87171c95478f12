//! Flag groups more than one command takes: the connection (NATS-CLI names), the window, a
//! `--stream` window for the hunting commands, their event-clock bounds, the rule options, and
//! the parsers of durations and windows.

use super::*;

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

pub(super) fn window(
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

/// How long a lease lasts without renewal (a killed run's lease on an object store is taken
/// over after this; on a local folder at once).
pub(super) fn lease_ttl(text: &str) -> std::result::Result<std::time::Duration, String> {
    crate::nats::window::parse_duration(text)
        .and_then(|d| d.to_std().ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} is not a duration like 30s, 10m or 1h"))
}

pub(super) fn retention(text: &str) -> std::result::Result<std::time::Duration, String> {
    crate::nats::window::parse_duration(text)
        .and_then(|d| d.to_std().ok())
        .ok_or_else(|| format!("{text:?} is not a duration like 30m, 24h or 7d"))
}

/// `--event-time-window`: nanoseconds, or `None` for `any`.
#[derive(Debug, Clone, Copy)]
pub struct EventTimeWindow(pub Option<i64>);

pub(super) fn event_time_window(text: &str) -> std::result::Result<EventTimeWindow, String> {
    if text == "any" {
        return Ok(EventTimeWindow(None));
    }
    crate::nats::window::parse_duration(text)
        .and_then(|d| d.num_nanoseconds())
        .filter(|ns| *ns > 0)
        .map(|ns| EventTimeWindow(Some(ns)))
        .ok_or_else(|| format!("{text:?} is not a duration like 6h or 2d, or `any`"))
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
