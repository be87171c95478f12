//! The server's word about a stored message, read so that a publisher cannot put words in its
//! mouth.
//!
//! A direct-get reply carries the message's own headers followed by the ones the server adds
//! (`Nats-Stream`, `Nats-Subject`, `Nats-Sequence`, `Nats-Time-Stamp`, and in batches
//! `Nats-Num-Pending`, `Nats-Last-Sequence`). A publisher (a collector on a host under
//! investigation, perhaps an intruder) may write headers with the same names; the server stores
//! them and appends its own after them, so the server's value is the **last** of each name and
//! every earlier value is the publisher's. [`ServerWord::from_direct_reply`] reads the last values
//! and [`publisher_headers`] keeps the publisher's, forged ones included, as data for the
//! `headers` column.
//!
//! [`StoredMessage`] is a message as `STREAM.MSG.GET` answers it: JSON with the header block and
//! payload in base64, so nothing in it can be taken for a protocol status line or break the
//! client's header parser. It is how a read takes a message a client library would swallow or
//! choke on (a stored `NATS/1.0 100 Idle Heartbeat` block on servers before 2.11.15, 2.12.6 and
//! 2.14.0; a header block that is not UTF-8). [`header_block_json`] turns such a block into the
//! `headers` column's JSON, keeping a status line under `:status` and unreadable lines under
//! `:unparsed`.

use async_nats::HeaderMap;
use base64::Engine;
use chrono::DateTime;
use serde::Deserialize;

use crate::message::RawMessage;
pub use crate::nats::header_block::header_block_json;

/// Headers the server appends to a direct-get reply, as it spells them.
pub const SERVER_HEADERS: [&str; 6] = [
    "Nats-Stream",
    "Nats-Subject",
    "Nats-Sequence",
    "Nats-Time-Stamp",
    "Nats-Num-Pending",
    "Nats-Last-Sequence",
];

/// Where and when the server stored a message, as the server says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerWord {
    pub stream: String,
    pub subject: String,
    pub seq: u64,
    /// Receive time, nanoseconds since the epoch.
    pub time_ns: i64,
}

impl ServerWord {
    /// Reads the last value of each of the server's headers; an error names what is missing or
    /// unreadable.
    pub fn from_direct_reply(h: &HeaderMap) -> Result<Self, String> {
        let last = |name: &str| h.get_last(name).map(|v| v.as_str());
        let need = |name: &str| last(name).ok_or_else(|| format!("reply without {name}"));
        let seq_text = need("Nats-Sequence")?;
        let seq = seq_text
            .parse()
            .map_err(|_| format!("unreadable Nats-Sequence {:?}", seq_text))?;
        let time_text = need("Nats-Time-Stamp")?;
        let time_ns = DateTime::parse_from_rfc3339(time_text)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .ok_or_else(|| format!("seq {seq}: unreadable Nats-Time-Stamp {:?}", time_text))?;
        Ok(Self {
            stream: need("Nats-Stream")?.to_string(),
            subject: need("Nats-Subject")?.to_string(),
            seq,
            time_ns,
        })
    }
}

/// What the server says about a message a consumer delivers, read from the `$JS.ACK.` reply
/// subject it comes with (ADR-15: seven tokens after the prefix, or nine and more with the domain
/// and account hash first). The subject is the server's (publishers cannot set it), and only the
/// four numbers a read needs are taken: async-nats's `Message::info` also builds a calendar date
/// from the time, which a row never uses (a few per cent of an export's CPU, profiled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub stream_seq: u64,
    pub consumer_seq: u64,
    /// Receive time, nanoseconds since the epoch.
    pub time_ns: i64,
    /// Messages left for the consumer after this one.
    pub pending: u64,
}

impl Delivery {
    /// Reads an ack reply subject; `None` when it is not one.
    pub fn from_ack_reply(reply: &str) -> Option<Self> {
        let rest = reply.strip_prefix("$JS.ACK.")?;
        let mut tokens = [""; 9];
        let mut n = 0;
        for token in rest.split('.') {
            if n == tokens.len() {
                break; // tokens after the ninth are for later versions of the format
            }
            tokens[n] = token;
            n += 1;
        }
        // stream, consumer, delivered, stream seq, consumer seq, time, pending
        let numbers = match n {
            7 => &tokens[2..7],
            9 => &tokens[4..9],
            _ => return None,
        };
        Some(Self {
            stream_seq: numbers[1].parse().ok()?,
            consumer_seq: numbers[2].parse().ok()?,
            time_ns: numbers[3].parse().ok()?,
            pending: numbers[4].parse().ok()?,
        })
    }
}

/// Headers as a JSON object of arrays in the order received (`{"name":["v1","v2"]}`), names
/// sorted; `None` when there are none.
pub fn headers_json(h: &HeaderMap) -> Option<String> {
    json_without_server_values(h, &[])
}

/// The publisher's headers of a direct-get reply: everything but the server's appended value
/// (the last) of each of [`SERVER_HEADERS`]. Forged `Nats-*` values stay, as data.
pub fn publisher_headers(h: &HeaderMap) -> Option<String> {
    json_without_server_values(h, &SERVER_HEADERS)
}

fn json_without_server_values(h: &HeaderMap, server: &[&str]) -> Option<String> {
    let mut map = serde_json::Map::new();
    for (name, values) in h.iter() {
        let name = name.to_string();
        let keep = if server.contains(&name.as_str()) {
            values.len().saturating_sub(1)
        } else {
            values.len()
        };
        if keep == 0 {
            continue;
        }
        let vals = values[..keep]
            .iter()
            .map(|v| serde_json::Value::String(v.to_string()))
            .collect();
        map.insert(name, serde_json::Value::Array(vals));
    }
    (!map.is_empty()).then(|| serde_json::Value::Object(map).to_string())
}

/// A stored message as the stream leader's `STREAM.MSG.GET` answers it.
#[derive(Debug, Deserialize)]
pub struct StoredMessage {
    pub subject: String,
    pub seq: u64,
    #[serde(default)]
    pub hdrs: Option<String>,
    #[serde(default)]
    pub data: Option<String>,
    pub time: String,
}

impl StoredMessage {
    /// The message as a row's input; an error says what the server's answer lacked.
    pub fn into_raw(mut self) -> Result<RawMessage, String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let decode = |what: &str, text: Option<String>| match text {
            None => Ok(Vec::new()),
            Some(t) => b64
                .decode(t.as_bytes())
                .map_err(|e| format!("seq {}: {what} is not base64: {e}", self.seq)),
        };
        let headers = decode("hdrs", self.hdrs.take())?;
        let payload = decode("data", self.data.take())?;
        let time_ns = DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .ok_or_else(|| format!("seq {}: unreadable time {:?}", self.seq, self.time))?;
        Ok(RawMessage {
            stream_seq: self.seq,
            subject: self.subject,
            time_ns,
            headers: header_block_json(&headers),
            payload: payload.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(publisher: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in publisher {
            h.append(*k, *v);
        }
        for (k, v) in [
            ("Nats-Stream", "S"),
            ("Nats-Subject", "events.sysdig.a"),
            ("Nats-Sequence", "42"),
            ("Nats-Time-Stamp", "2026-11-30T01:02:03.000000004Z"),
            ("Nats-Num-Pending", "7"),
        ] {
            h.append(k, v);
        }
        h
    }

    #[test]
    fn forged_server_headers_are_data_not_provenance() {
        let h = reply(&[
            ("Nats-Sequence", "1"),
            ("Nats-Subject", "events.sysdig.other"),
            ("Nats-Time-Stamp", "2001-01-01T00:00:00Z"),
            ("Nats-Stream", "ELSEWHERE"),
            ("X-Trace", "t"),
        ]);
        let word = ServerWord::from_direct_reply(&h).unwrap();
        assert_eq!(word.seq, 42);
        assert_eq!(word.subject, "events.sysdig.a");
        assert_eq!(word.stream, "S");
        assert_eq!(word.time_ns, 1_796_000_523_000_000_004);
        let kept: serde_json::Value =
            serde_json::from_str(&publisher_headers(&h).unwrap()).unwrap();
        assert_eq!(kept["Nats-Sequence"], serde_json::json!(["1"]));
        assert_eq!(kept["Nats-Stream"], serde_json::json!(["ELSEWHERE"]));
        assert_eq!(kept["X-Trace"], serde_json::json!(["t"]));
        assert!(kept.get("Nats-Num-Pending").is_none());
    }

    #[test]
    fn plain_replies_leave_no_headers() {
        let h = reply(&[]);
        assert_eq!(publisher_headers(&h), None);
        assert!(headers_json(&h)
            .unwrap()
            .contains("\"Nats-Sequence\":[\"42\"]"));
    }

    #[test]
    fn ack_replies_of_both_formats() {
        let v1 = "$JS.ACK.SYSDIG_EVENTS.c1.1.42.7.1796000523000000004.99";
        let v2 = "$JS.ACK.hub.ACCHASH.SYSDIG_EVENTS.c1.2.42.7.1796000523000000004.99.rnd";
        let want = Delivery {
            stream_seq: 42,
            consumer_seq: 7,
            time_ns: 1_796_000_523_000_000_004,
            pending: 99,
        };
        assert_eq!(Delivery::from_ack_reply(v1), Some(want));
        assert_eq!(Delivery::from_ack_reply(v2), Some(want));
        for bad in [
            "",
            "$JS.ACK.",
            "_INBOX.x",
            "$JS.ACK.S.c.1.x.7.1.0",
            "$JS.ACK.S.c.1.42.7.1",
            "$JS.ACK.d.h.S.c.1.42.7.1",
            "$JS.ACK.S.c.1.42.7.1.0.extra",
        ] {
            assert_eq!(Delivery::from_ack_reply(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_blocks_as_stored() {
        let json = |b: &[u8]| -> serde_json::Value {
            serde_json::from_str(&header_block_json(b).unwrap()).unwrap()
        };
        assert_eq!(
            json(b"NATS/1.0 100 Idle Heartbeat\r\nX-A: 1\r\nX-A:2\r\n\r\n"),
            serde_json::json!({":status": ["100 Idle Heartbeat"], "X-A": ["1", "2"]})
        );
        assert_eq!(
            json(b"NATS/1.0\r\nno colon here\r\n\xff: v\r\n\r\n"),
            serde_json::json!({":unparsed": ["no colon here"], "\u{fffd}": ["v"]})
        );
        assert_eq!(
            json(b"HTTP/1.1 200"),
            serde_json::json!({":raw": ["HTTP/1.1 200"]})
        );
        assert_eq!(header_block_json(b""), None);
        assert_eq!(header_block_json(b"NATS/1.0\r\n\r\n"), None);
    }

    #[test]
    fn missing_or_unreadable_server_values_are_errors() {
        let mut h = HeaderMap::new();
        h.append("Nats-Sequence", "x");
        assert!(ServerWord::from_direct_reply(&h)
            .unwrap_err()
            .contains("Nats-Sequence"));
        assert!(ServerWord::from_direct_reply(&HeaderMap::new()).is_err());
    }
}
