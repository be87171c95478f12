//! The window a user asks for, before it is resolved against a stream: times (RFC 3339 or relative
//! to now, like `2h` or `1h30m`), sequences, and subject filters, validated once so that the
//! later stages never see an impossible request.

use chrono::{DateTime, Duration as ChronoDuration, NaiveDateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::nats::subject;

/// A validated window request. `until` is exclusive; `start_seq` and `end_seq` are inclusive.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Window {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub start_seq: Option<u64>,
    pub end_seq: Option<u64>,
    pub subjects: Vec<String>,
    /// How to read: `auto`, `direct` or `consumer`.
    pub read_path: ReadPathChoice,
}

/// What the user asked for with `--read-path`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ReadPathChoice {
    /// Consumers for limits streams (deep pipelining hides round trips); direct gets where a
    /// consumer could change the stream (work-queue, interest retention).
    #[default]
    Auto,
    Direct,
    Consumer,
}

impl Window {
    /// Builds and checks a window from the raw flag values, with `now` fixing relative times.
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        start_seq: Option<u64>,
        end_seq: Option<u64>,
        subjects: &[String],
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let since = since.map(|s| parse_time(s, now)).transpose()?;
        let until = until.map(|s| parse_time(s, now)).transpose()?;
        if let (Some(a), Some(b)) = (since, until) {
            if b <= a {
                return Err(Error::Usage(format!(
                    "--until ({}) must be after --since ({})",
                    b.to_rfc3339(),
                    a.to_rfc3339()
                )));
            }
        }
        if start_seq == Some(0) {
            return Err(Error::Usage("--start-seq starts at 1".into()));
        }
        if let (Some(a), Some(b)) = (start_seq, end_seq) {
            if b < a {
                return Err(Error::Usage(format!(
                    "--end-seq ({b}) is before --start-seq ({a})"
                )));
            }
        }
        for f in subjects {
            if !subject::valid_filter(f) {
                return Err(Error::Usage(format!(
                    "--subject {f:?} is not a valid subject filter"
                )));
            }
        }
        let mut subjects = subjects.to_vec();
        subjects.sort();
        subjects.dedup();
        Ok(Self {
            since,
            until,
            start_seq,
            end_seq,
            subjects,
            read_path: Default::default(),
        })
    }
}

/// Parses an absolute time (RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` taken as UTC) or a duration
/// before `now` (`90s`, `30m`, `2h`, `1d`, `1h30m`, `now`).
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let s = text.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Some(d) = parse_duration(s) {
        return Ok(now - d);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc());
        }
    }
    Err(Error::Usage(format!(
        "cannot read time {text:?}: use RFC 3339 (2025-07-10T02:10:00Z) or a duration before now (30m, 2h, 1d)"
    )))
}

/// `1h30m`, `90s`, `500ms`, `2d`, `1w`.
pub fn parse_duration(s: &str) -> Option<ChronoDuration> {
    let mut total = ChronoDuration::zero();
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let d = match unit {
            "ms" => ChronoDuration::try_milliseconds(n)?,
            "s" => ChronoDuration::try_seconds(n)?,
            "m" => ChronoDuration::try_minutes(n)?,
            "h" => ChronoDuration::try_hours(n)?,
            "d" => ChronoDuration::try_days(n)?,
            "w" => ChronoDuration::try_weeks(n)?,
            _ => return None,
        };
        total = total.checked_add(&d)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let now = DateTime::parse_from_rfc3339("2025-07-10T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_time("1h30m", now).unwrap().to_rfc3339(),
            "2025-07-10T01:30:00+00:00"
        );
        assert_eq!(
            parse_time("2025-07-10T02:10:00+02:00", now)
                .unwrap()
                .to_rfc3339(),
            "2025-07-10T00:10:00+00:00"
        );
        assert_eq!(
            parse_time("2025-07-10 02:10", now).unwrap().to_rfc3339(),
            "2025-07-10T02:10:00+00:00"
        );
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("5x", now).is_err());
    }

    #[test]
    fn window_checks() {
        let now = Utc::now();
        assert!(Window::parse(Some("1h"), Some("2h"), None, None, &[], now).is_err());
        assert!(Window::parse(None, None, Some(5), Some(4), &[], now).is_err());
        assert!(Window::parse(None, None, Some(0), None, &[], now).is_err());
        assert!(Window::parse(None, None, None, None, &["a..b".into()], now).is_err());
        let w = Window::parse(
            Some("2h"),
            Some("1h"),
            None,
            None,
            &["b".into(), "a".into(), "b".into()],
            now,
        )
        .unwrap();
        assert_eq!(w.subjects, vec!["a", "b"]);
    }
}
