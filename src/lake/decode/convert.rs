//! Conversions of the values producers write: event times (RFC 3339 and its variants, epoch
//! numbers in s, ms, µs or ns, only within what a nanosecond timestamp holds) and socket tuples.

use super::*;

/// Parses event times as producers write them: RFC 3339, `+0000` offsets without a colon,
/// a space instead of `T`, no offset (taken as UTC), or an epoch number in s, ms, µs or ns.
pub fn parse_time_ns(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(i) = s.parse::<i64>() {
        return epoch_int_to_ns(i);
    }
    if let Ok(f) = s.parse::<f64>() {
        return epoch_to_ns(f);
    }
    if let Some(ns) = parse_iso_fast(s.as_bytes()) {
        return Some(ns);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt();
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return t.timestamp_nanos_opt();
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return t.and_utc().timestamp_nanos_opt();
        }
    }
    // osquery calendarTime: "Thu Jul 10 02:16:41 2025 UTC"
    let trimmed = s.strip_suffix(" UTC").unwrap_or(s);
    NaiveDateTime::parse_from_str(trimmed, "%a %b %e %H:%M:%S %Y")
        .ok()
        .and_then(|t| t.and_utc().timestamp_nanos_opt())
}

/// The layout every collector template uses, parsed by hand (chrono's format-string parser was
/// ~7 % of an export's CPU): `YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}][Z|±HH[:]MM|±HH]`; no offset is UTC.
/// Anything else (or an invalid date) returns `None` and goes through the general parsers.
pub(super) fn parse_iso_fast(b: &[u8]) -> Option<i64> {
    fn num(b: &[u8]) -> Option<i64> {
        b.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    }
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let (h, mi, sec) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d < 1
        || d > month_days[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0i64;
    if let [b'.', tail @ ..] = rest {
        let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = num(&tail[..digits])? * 10i64.pow(9 - digits as u32);
        rest = &tail[digits..];
    }
    let offset_s = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), tz @ ..] => {
            let (oh, om) = match tz {
                [a, b] => (num(&[*a, *b])?, 0),
                [a, b, c, d] => (num(&[*a, *b])?, num(&[*c, *d])?),
                [a, b, b':', c, d] => (num(&[*a, *b])?, num(&[*c, *d])?),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// An integer epoch whose unit is read from its size: s, ms, µs or ns (exact, no float rounding).
pub(super) fn epoch_int_to_ns(v: i64) -> Option<i64> {
    let a = v.unsigned_abs();
    let factor = if a >= 100_000_000_000_000_000 {
        1
    } else if a >= 100_000_000_000_000 {
        1_000
    } else if a >= 100_000_000_000 {
        1_000_000
    } else {
        1_000_000_000
    };
    v.checked_mul(factor)
}

/// A fractional epoch whose unit is read from its size: s, ms, µs or ns; `None` when it is
/// not finite or falls outside what nanoseconds in an `i64` hold (a cast would clamp it).
pub(super) fn epoch_to_ns(v: f64) -> Option<i64> {
    let a = v.abs();
    let ns = if a >= 1e17 {
        v
    } else if a >= 1e14 {
        v * 1e3
    } else if a >= 1e11 {
        v * 1e6
    } else {
        v * 1e9
    };
    // 2^63 (as an f64, exactly) and beyond does not fit; NaN is in no range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (-LIMIT..LIMIT).contains(&ns).then_some(ns as i64)
}

/// Splits `10.0.1.10:40522->203.0.113.66:4444` (IPv6 too: the port follows the last colon).
pub fn parse_socket_tuple(s: &str) -> Option<SocketTuple<'_>> {
    let (client, server) = s.split_once("->")?;
    fn split(side: &str) -> Option<(&str, Option<i32>)> {
        let (ip, port) = side.rsplit_once(':')?;
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        (!ip.is_empty()).then_some((ip, port.parse().ok()))
    }
    let (client_ip, client_port) = split(client)?;
    let (server_ip, server_port) = split(server)?;
    Some(SocketTuple {
        client_ip,
        client_port,
        server_ip,
        server_port,
    })
}
