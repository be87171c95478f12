//! Resolving a [`Window`] against a live stream into a frozen sequence range, before any data is read.
//!
//! The stream's last sequence is read once at the start; the range never extends past it, so
//! what is published during the export is never half-exported. Times become sequences through an
//! ephemeral consumer created `by_start_time` (its `delivered.stream_seq + 1` is the first message
//! at or after the time), which works on every server version, costs two requests and no scan,
//! and is deleted at once. The plan also decides how subject filters are applied: by the server
//! (one `filter_subject`, or `filter_subjects` on 2.10+ when the filters do not overlap) or by the
//! tool on an unfiltered read (2.9 with several filters, or overlapping filters).

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::nats::api::{
    ephemeral_config, probe_consumer, stream_state, subject_counts, Deleted, StreamState,
};
use crate::nats::reply::ServerWord;
use crate::nats::subject;
use crate::nats::window::{ReadPathChoice, Window};

/// How subject filters reach the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", content = "filters", rename_all = "snake_case")]
pub enum FilterMode {
    /// No filter: every message of the range.
    None,
    /// The server applies the filters (`filter_subject`, or `filter_subjects` on 2.10+).
    Server(Vec<String>),
    /// The tool reads every message and keeps those whose subject matches.
    Client(Vec<String>),
}

impl FilterMode {
    /// True when a subject is kept by a client-side filter (always true otherwise).
    pub fn keeps(&self, subj: &str) -> bool {
        match self {
            FilterMode::Client(f) => f.iter().any(|f| subject::matches(f, subj)),
            _ => true,
        }
    }
}

/// How messages are read from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ReadPath {
    /// Batched direct gets (servers 2.11+, streams with `allow_direct`): nothing is created.
    Direct,
    /// Ephemeral no-ack pull consumers (memory, R1), deleted after use.
    Consumer,
}

/// True for a stream name that released servers (2.9 to 2.14) cannot serve pull requests for:
/// a `%` in it. 2.10 and later subscribe a consumer's next-message subject with the `%`
/// doubled (it was escaped for a format string it never goes through), so every pull request
/// finds no responders; 2.9 formats its ack reply subjects with it, so deliveries arrive with
/// broken reply subjects and the connection resets. Fixed upstream after 2.14 (nats-server
/// commit 32dda59, "Consumer v1 ack subscription mismatch with '%' in name"). Direct gets and
/// `STREAM.MSG.GET` are not affected.
pub fn pulls_broken(stream: &str) -> bool {
    stream.contains('%')
}

/// True when the server and stream answer batched direct gets.
fn direct_available(server_version: &str, state: &StreamState) -> bool {
    version_at_least(server_version, 2, 11) && state.allow_direct
}

/// Picks the read path and says why; refuses combinations that cannot be read safely.
pub fn choose_read_path(
    choice: ReadPathChoice,
    server_version: &str,
    state: &StreamState,
) -> Result<(ReadPath, String)> {
    let direct = direct_available(server_version, state);
    let why_not_direct = if !version_at_least(server_version, 2, 11) {
        format!("server {server_version} has no batched direct get (2.11+)")
    } else {
        format!(
            "stream {} does not allow direct gets (allow_direct is off)",
            state.name
        )
    };
    let limits = state.retention == "limits";
    match (choice, direct, limits) {
        (ReadPathChoice::Direct, true, _) => Ok((ReadPath::Direct, "asked for with --read-path direct".into())),
        (ReadPathChoice::Direct, false, _) => Err(Error::Usage(format!("--read-path direct: {why_not_direct}"))),
        (ReadPathChoice::Consumer, _, false) => Err(Error::Usage(format!(
            "--read-path consumer: stream {} uses {} retention, which a consumer could change; \
             use direct gets",
            state.name, state.retention
        ))),
        (_, true, false) => Ok((
            ReadPath::Direct,
            format!("{} retention: a consumer could change the stream, direct gets cannot", state.retention),
        )),
        (_, false, false) => Err(Error::Usage(format!(
            "stream {} uses {} retention, which only direct gets read without changing it, and {why_not_direct}",
            state.name, state.retention
        ))),
        (ReadPathChoice::Consumer, _, true) => Ok((ReadPath::Consumer, "asked for with --read-path consumer".into())),
        (ReadPathChoice::Auto, true, true) if pulls_broken(&state.name) => Ok((
            ReadPath::Direct,
            "the stream's name holds '%', on which released servers cannot serve pull \
             consumers; direct gets read it"
                .into(),
        )),
        (ReadPathChoice::Auto, _, true) => Ok((
            ReadPath::Consumer,
            "limits retention: ephemeral no-ack pull consumers keep pulls pipelined, which hides \
             round trips better than request-per-batch direct gets"
                .into(),
        )),
    }
}

/// The frozen range and everything decided about reading it.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub server_version: String,
    pub stream: StreamState,
    pub window: Window,
    /// Inclusive sequence range, `None` when the window holds no sequence at all.
    pub range: Option<(u64, u64)>,
    pub filter: FilterMode,
    pub read_path: ReadPath,
    pub read_path_reason: String,
    /// Messages in the range that match the filters (exact for a quiet stream).
    pub estimated_messages: u64,
    pub estimated_bytes: u64,
    /// Subjects of the stream that match the filters, with their whole-stream message counts.
    pub subject_counts: Vec<(String, u64)>,
    /// Requests the window's resolution to sequences cost (stream info and one direct get, or
    /// a consumer create and delete, per time bound), the estimates of `plan` not included.
    pub seek_requests: u32,
    /// Things the user should know before trusting the export (for example: part of the
    /// window is older than the stream's first message, so retention has removed it).
    pub warnings: Vec<String>,
}

impl Plan {
    /// The plan as `jsreplay plan` prints it, a line per fact (raw: the caller escapes it for
    /// its terminal).
    pub fn text(&self) -> String {
        let mut out = String::new();
        let (p, s) = (self, &self.stream);
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
            FilterMode::None => "none".to_string(),
            FilterMode::Server(f) => format!("{} (applied by the server)", f.join(" ")),
            FilterMode::Client(f) => format!(
                "{} (applied by jsreplay: this server cannot apply several or overlapping filters)",
                f.join(" ")
            ),
        };
        out += &format!("filter       {filter}\n");
        let path = match p.read_path {
            ReadPath::Direct => "direct (batched direct gets)",
            ReadPath::Consumer => "consumer (ephemeral no-ack pull consumers)",
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
        out
    }

    /// Number of sequences in the range (messages, gaps and filtered-out messages together).
    pub fn span(&self) -> u64 {
        self.range.map_or(0, |(s, e)| e - s + 1)
    }
}

/// Parses `major.minor` out of a server version string (`2.9.10`, `2.14.0-beta.1`).
pub fn version_at_least(version: &str, major: u32, minor: u32) -> bool {
    let mut it = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

/// True for servers that store a publisher's header block verbatim even when it is a status
/// line such as `NATS/1.0 100 Idle Heartbeat` (fixed in 2.11.15, 2.12.6 and 2.14.0). Both read
/// paths survive such a message (the read takes it from the stream leader with
/// `STREAM.MSG.GET` after the attempt that could not deliver it), at the cost of one retry each.
pub fn stores_status_lines(version: &str) -> bool {
    let mut it = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let v = (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    );
    !(v >= (2, 14, 0)
        || (v.0 == 2 && v.1 == 12 && v.2 >= 6)
        || (v.0 == 2 && v.1 == 11 && v.2 >= 15))
}

/// First sequence whose JetStream time is at or after `t` (`last_seq + 1` when none is).
pub async fn seq_at_time(stream: &jetstream::stream::Stream<()>, t: DateTime<Utc>) -> Result<u64> {
    let start_time = time::OffsetDateTime::from_unix_timestamp_nanos(
        t.timestamp_nanos_opt()
            .ok_or_else(|| Error::Usage(format!("time {t} is out of range")))? as i128,
    )
    .map_err(|e| Error::Usage(format!("time {t}: {e}")))?;
    let info = probe_consumer(
        stream,
        ephemeral_config(
            consumer::DeliverPolicy::ByStartTime { start_time },
            &FilterMode::None,
        ),
    )
    .await?;
    Ok(info.delivered.stream_sequence + 1)
}

/// First sequence whose JetStream time is at or after `t`, with one direct get (2.11+) that
/// leaves nothing on the server; `last + 1` when none is.
pub async fn seq_at_time_direct(
    client: &async_nats::Client,
    stream: &str,
    t: DateTime<Utc>,
    last: u64,
) -> Result<u64> {
    let body = serde_json::json!({
        "start_time": t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "next_by_subj": ">",
    });
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(
            format!("$JS.API.DIRECT.GET.{stream}"),
            body.to_string().into(),
        ),
    )
    .await
    .map_err(|_| Error::JetStream("direct get by time: no answer within 10 s".into()))?
    .map_err(|e| Error::JetStream(format!("direct get by time: {e}")))?;
    match reply.status.map(|s| s.as_u16()) {
        Some(404) => Ok(last + 1),
        // The server's Nats-Sequence is the last one: a publisher may have written its own.
        Some(200) | None => reply
            .headers
            .as_ref()
            .ok_or_else(|| "no headers".to_string())
            .and_then(ServerWord::from_direct_reply)
            .map(|word| word.seq)
            .map_err(|e| Error::JetStream(format!("direct get by time: {e}"))),
        Some(code) => Err(Error::JetStream(format!(
            "direct get by time answered {code}: {}",
            reply.description.unwrap_or_default()
        ))),
    }
}

/// Messages matching `filter` at or after `seq`, as the server counts them for a new consumer.
async fn pending_from(
    stream: &jetstream::stream::Stream<()>,
    seq: u64,
    filter: &FilterMode,
) -> Result<u64> {
    let info = probe_consumer(
        stream,
        ephemeral_config(
            consumer::DeliverPolicy::ByStartSequence {
                start_sequence: seq,
            },
            filter,
        ),
    )
    .await?;
    Ok(info.num_pending)
}

/// Chooses how filters are applied on this server.
fn filter_mode(subjects: &[String], server_version: &str) -> FilterMode {
    match subjects {
        [] => FilterMode::None,
        [one] if one == ">" => FilterMode::None,
        [_] => FilterMode::Server(subjects.to_vec()),
        _ if version_at_least(server_version, 2, 10) && subject::disjoint(subjects) => {
            FilterMode::Server(subjects.to_vec())
        }
        _ => FilterMode::Client(subjects.to_vec()),
    }
}

/// Whether a plan also estimates the messages and bytes of its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Estimate {
    /// A few more consumer probes, for `plan` to show.
    Count,
    /// What an export or archive does: it counts exactly while reading.
    Skip,
}

/// Resolves the window to a frozen range, estimating its size when `estimate` says so.
pub async fn resolve(
    client: &async_nats::Client,
    stream_name: &str,
    window: &Window,
    estimate: Estimate,
) -> Result<Plan> {
    let count = estimate == Estimate::Count;
    let server_version = client.server_info().version.clone();
    let (state, _) = stream_state(client, stream_name, Deleted::Omit).await?;
    let (read_path, read_path_reason) =
        choose_read_path(window.read_path, &server_version, &state)?;
    let seek_direct = direct_available(&server_version, &state);
    let mut warnings = Vec::new();
    if read_path == ReadPath::Consumer && pulls_broken(&state.name) {
        warnings.push(format!(
            "stream {:?} has a '%' in its name, on which server {server_version} cannot serve \
             pull consumers: each message is read with its own STREAM.MSG.GET request (slower; \
             a 2.11+ server reads it with direct gets)",
            state.name
        ));
    }
    let first_ts = state
        .first_ts
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    if let (Some(since), Some(first)) = (window.since, first_ts) {
        if since < first && state.first_seq > 1 {
            warnings.push(format!(
                "the window starts at {} but the stream's oldest message is from {}: messages \
                 before that are gone (retention or purge) and cannot be exported",
                since.to_rfc3339(),
                first.to_rfc3339()
            ));
        }
    }
    if stores_status_lines(&server_version) {
        warnings.push(format!(
            "server {server_version} stores a publisher's status-line header verbatim (fixed in \
             2.11.15, 2.12.6, 2.14.0): a collector can publish messages the read paths cannot \
             deliver; each is read from the stream leader after a retry, so none is lost, but \
             many of them slow the export down"
        ));
    }
    if let Some(s) = window.start_seq.filter(|s| *s < state.first_seq) {
        warnings.push(format!(
            "sequences {s}..{} are below the stream's first sequence {} and are reported as gaps",
            state.first_seq - 1,
            state.first_seq
        ));
    }
    let js = jetstream::new(client.clone());
    let stream = js
        .get_stream_no_info(stream_name)
        .await
        .map_err(|e| Error::JetStream(format!("opening stream {stream_name}: {e}")))?;

    // Freeze: nothing past the last sequence seen now is ever read.
    let last = state.last_seq;
    // An explicit start below the stream's first sequence keeps the missing part in the range,
    // where the read reports it as a gap; an open start begins at what the stream holds.
    let mut start = window.start_seq.unwrap_or(state.first_seq).max(1);
    let mut end = window.end_seq.unwrap_or(last).min(last);
    let mut seek_requests = 1; // the stream info above
    for (t, is_since) in [(window.since, true), (window.until, false)] {
        let Some(t) = t else { continue };
        let seq = if seek_direct {
            seek_requests += 1;
            seq_at_time_direct(client, stream_name, t, last).await?
        } else {
            seek_requests += 2;
            seq_at_time(&stream, t).await?
        };
        if is_since {
            start = start.max(seq);
        } else {
            end = end.min(seq.saturating_sub(1));
        }
    }
    let range = (state.messages > 0 && start <= end).then_some((start, end));

    let mut filter = filter_mode(&window.subjects, &server_version);
    if let (ReadPath::Direct, FilterMode::Server(f)) = (read_path, &filter) {
        if f.len() > 1 {
            // A direct get takes one subject filter: several are applied by the tool.
            filter = FilterMode::Client(f.clone());
        }
    }
    let (estimated_messages, subject_list) = match (range, count) {
        // Consumer probes would touch work-queue and interest streams: count the span instead.
        (Some((s, e)), true) if state.retention != "limits" => (e - s + 1, Vec::new()),
        (Some((s, e)), true) => {
            let server_filter = match &filter {
                FilterMode::Client(_) => FilterMode::None,
                f => f.clone(),
            };
            let after = pending_from(&stream, e + 1, &server_filter).await?;
            let from = pending_from(&stream, s, &server_filter).await?;
            let subject_filter = match window.subjects.as_slice() {
                [one] => one.clone(),
                _ => ">".to_string(),
            };
            let mut subjects = subject_counts(client, stream_name, &subject_filter).await?;
            subjects.retain(|(subj, _)| filter.keeps(subj) || window.subjects.is_empty());
            (from.saturating_sub(after), subjects)
        }
        _ => (0, Vec::new()),
    };
    let avg = state.bytes.checked_div(state.messages).unwrap_or(0);
    Ok(Plan {
        server_version,
        window: window.clone(),
        range,
        filter,
        read_path,
        read_path_reason,
        estimated_messages,
        estimated_bytes: estimated_messages * avg,
        subject_counts: subject_list,
        seek_requests,
        warnings,
        stream: state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_versions() {
        for old in ["2.9.10", "2.10.29", "2.11.14", "2.12.5", "2.13.1"] {
            assert!(stores_status_lines(old), "{old}");
        }
        for fixed in ["2.11.15", "2.12.6", "2.14.0", "2.14.0-beta.1", "3.0.0"] {
            assert!(!stores_status_lines(fixed), "{fixed}");
        }
    }

    #[test]
    fn versions() {
        assert!(version_at_least("2.14.0", 2, 10));
        assert!(!version_at_least("2.9.10", 2, 10));
        assert!(version_at_least("2.10.0-beta.3", 2, 10));
    }

    #[test]
    fn filters() {
        assert_eq!(filter_mode(&[], "2.9.10"), FilterMode::None);
        assert_eq!(
            filter_mode(&["a.b".into()], "2.9.10"),
            FilterMode::Server(vec!["a.b".into()])
        );
        let two = vec!["a.b".to_string(), "a.c".to_string()];
        assert_eq!(filter_mode(&two, "2.9.10"), FilterMode::Client(two.clone()));
        assert_eq!(filter_mode(&two, "2.10.1"), FilterMode::Server(two.clone()));
        let overlapping = vec!["a.*".to_string(), "a.c".to_string()];
        assert_eq!(
            filter_mode(&overlapping, "2.14.0"),
            FilterMode::Client(overlapping.clone())
        );
    }
}
