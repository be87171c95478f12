//! `jsreplay timeline`: a host's events in time order with their process context, as a table,
//! CSV or JSON lines, or in Timesketch's import format (`message`, `datetime`, `timestamp`,
//! `timestamp_desc`, then the context as extra fields).
//!
//! Time is the event's own clock (`event_time`); events whose payload carried no readable time
//! (invalid JSON, unknown shapes) fall back to the JetStream time, and the `time_source` column
//! says which was used. The host is the collector id. The timeline is plain SQL over `events`,
//! run through the same engine and writers as `query`.

use chrono::{DateTime, SecondsFormat, Utc};

/// Output formats of `timeline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TimelineFormat {
    Table,
    Csv,
    Jsonl,
    /// Timesketch CSV import (message, datetime, timestamp, timestamp_desc, ...).
    TimesketchCsv,
    /// Timesketch JSON lines import.
    TimesketchJsonl,
}

impl TimelineFormat {
    /// The `query` output format the rows are written in.
    pub fn writer(self) -> crate::sql::query::Format {
        use crate::sql::query::Format;
        match self {
            TimelineFormat::Table => Format::Table,
            TimelineFormat::Csv | TimelineFormat::TimesketchCsv => Format::Csv,
            TimelineFormat::Jsonl | TimelineFormat::TimesketchJsonl => Format::Ndjson,
        }
    }

    fn timesketch(self) -> bool {
        matches!(
            self,
            TimelineFormat::TimesketchCsv | TimelineFormat::TimesketchJsonl
        )
    }
}

/// Which events the timeline holds.
#[derive(Debug, Clone, Default)]
pub struct TimelineRequest {
    pub host: Option<String>,
    /// Inclusive start, exclusive end, on the event's time.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn ts(t: DateTime<Utc>) -> String {
    format!(
        "to_timestamp_micros({})",
        quote(&t.to_rfc3339_opts(SecondsFormat::Micros, true))
    )
}

/// The SQL of a timeline.
pub fn sql(req: &TimelineRequest, format: TimelineFormat) -> String {
    let mut filters = Vec::new();
    if let Some(h) = &req.host {
        filters.push(format!("collector_id = {}", quote(h)));
    }
    if let Some(t) = req.since {
        filters.push(format!("t >= {}", ts(t)));
    }
    if let Some(t) = req.until {
        filters.push(format!("t < {}", ts(t)));
    }
    let filter = if filters.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", filters.join(" AND "))
    };
    let base = "SELECT coalesce(event_time, nats_time) AS t, \
         CASE WHEN event_time IS NULL THEN 'jetstream' ELSE 'event' END AS time_source, \
         collector_id, evt_type, proc_pid, proc_name, proc_cmdline, proc_ppid, proc_pname, \
         proc_pcmdline, user_name, fd_name, evt_args, parse_status, seq FROM events";
    let context = "collector_id AS host, evt_type, proc_pid, proc_name, proc_cmdline, proc_ppid, \
         proc_pname, proc_pcmdline, user_name, fd_name, evt_args, parse_status, time_source, seq";
    if format.timesketch() {
        format!(
            "WITH e AS ({base}) SELECT \
             concat_ws(' ', collector_id, concat(coalesce(proc_name, '?'), '[', coalesce(CAST(proc_pid AS VARCHAR), '?'), ']'), \
               coalesce(evt_type, 'event'), fd_name, concat('(', proc_cmdline, ')'), \
               concat('parent ', proc_pname, '[', CAST(proc_ppid AS VARCHAR), ']')) AS message, \
             to_char(t, '%Y-%m-%dT%H:%M:%S%.6f+00:00') AS datetime, \
             CAST(t AS BIGINT) AS timestamp, \
             CASE WHEN time_source = 'event' THEN 'Event Time' ELSE 'JetStream Time' END AS timestamp_desc, \
             {context} \
             FROM e {filter} ORDER BY t, seq"
        )
    } else {
        format!("WITH e AS ({base}) SELECT t AS time, {context} FROM e {filter} ORDER BY t, seq")
    }
}
