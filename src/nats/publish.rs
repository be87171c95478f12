//! Loading NDJSON files into a stream with JetStream acknowledgements, for the demo, the tests
//! and the benchmarks, and optionally creating the stream with the SysArmor guide's settings.
//!
//! Each line is `{"subject": "...", "payload": "<text>"}` (or `"payload_b64"` for bytes that are
//! not UTF-8), with optional `"headers": {"Name": "value" | ["v1", "v2"]}`. The payload is
//! published byte for byte, so invalid JSON payloads survive the trip. Publishes are pipelined
//! with a bounded window of outstanding acknowledgements; every acknowledgement is checked.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use base64::Engine;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Outstanding acknowledgements at most.
const WINDOW: usize = 4096;

/// One input line.
#[derive(Debug, Serialize, Deserialize)]
pub struct Line {
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_b64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The stream to create when asked.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub name: String,
    pub subjects: Vec<String>,
    pub replicas: usize,
}

/// The SysArmor guide's stream: limits retention, 24 h, 1 M messages, 10 GB, file storage,
/// discard old, 2 min duplicate window.
pub fn guide_config(spec: &StreamSpec) -> stream::Config {
    stream::Config {
        name: spec.name.clone(),
        subjects: spec.subjects.clone(),
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(24 * 3600),
        max_messages: 1_000_000,
        max_bytes: 10 * 1000 * 1000 * 1000,
        storage: stream::StorageType::File,
        num_replicas: spec.replicas,
        discard: stream::DiscardPolicy::Old,
        duplicate_window: Duration::from_secs(120),
        allow_direct: true,
        ..Default::default()
    }
}

/// What a load did.
#[derive(Debug, Default, Serialize)]
pub struct PublishSummary {
    pub published: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
}

/// Creates the stream with the guide's settings unless it exists already.
pub async fn ensure_stream(js: &jetstream::Context, spec: &StreamSpec) -> Result<()> {
    js.get_or_create_stream(guide_config(spec))
        .await
        .map(|_| ())
        .map_err(|e| Error::JetStream(format!("creating stream {}: {e}", spec.name)))
}

/// Opens an NDJSON input: a file, a zstd-compressed file (`.zst`), or stdin (`-`).
fn open_lines(path: &Path) -> Result<Box<dyn BufRead>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::BufReader::new(std::io::stdin())));
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    if path.extension().is_some_and(|e| e == "zst") {
        let decoder = zstd::Decoder::new(file).map_err(|e| Error::io(path, e))?;
        Ok(Box::new(std::io::BufReader::new(decoder)))
    } else {
        Ok(Box::new(std::io::BufReader::new(file)))
    }
}

fn parse_line(text: &str, file: &str, n: usize) -> Result<(Line, Vec<u8>)> {
    let line: Line = serde_json::from_str(text)
        .map_err(|e| Error::Input(format!("{file}:{n}: not a publish line: {e}")))?;
    let payload = match (&line.payload, &line.payload_b64) {
        (Some(p), None) => p.as_bytes().to_vec(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| Error::Input(format!("{file}:{n}: payload_b64: {e}")))?,
        _ => {
            return Err(Error::Input(format!(
                "{file}:{n}: give exactly one of payload or payload_b64"
            )))
        }
    };
    Ok((line, payload))
}

fn headers(map: &serde_json::Map<String, serde_json::Value>) -> async_nats::HeaderMap {
    let mut h = async_nats::HeaderMap::new();
    for (k, v) in map {
        match v {
            serde_json::Value::Array(vals) => {
                for x in vals {
                    h.append(k.as_str(), x.as_str().unwrap_or_default());
                }
            }
            serde_json::Value::String(s) => h.append(k.as_str(), s.as_str()),
            other => h.append(k.as_str(), other.to_string().as_str()),
        }
    }
    h
}

/// Publishes every line of `files` (`-` is stdin) and waits for every acknowledgement.
pub async fn publish_files(js: &jetstream::Context, files: &[PathBuf]) -> Result<PublishSummary> {
    let started = Instant::now();
    let mut summary = PublishSummary::default();
    let mut acks = FuturesUnordered::new();
    for path in files {
        let name = path.display().to_string();
        let reader = open_lines(path)?;
        for (i, text) in reader.lines().enumerate() {
            let text = text.map_err(|e| Error::io(path, e))?;
            if text.trim().is_empty() {
                continue;
            }
            let (line, payload) = parse_line(&text, &name, i + 1)?;
            summary.bytes += payload.len() as u64;
            let fut = match &line.headers {
                Some(h) => {
                    js.publish_with_headers(line.subject.clone(), headers(h), payload.into())
                        .await
                }
                None => js.publish(line.subject.clone(), payload.into()).await,
            }
            .map_err(|e| Error::JetStream(format!("{name}:{}: publish: {e}", i + 1)))?;
            acks.push(std::future::IntoFuture::into_future(fut));
            while acks.len() >= WINDOW {
                record_ack(acks.next().await, &mut summary)?;
            }
        }
    }
    while !acks.is_empty() {
        record_ack(acks.next().await, &mut summary)?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn record_ack(
    ack: Option<Result<jetstream::publish::PublishAck, jetstream::context::PublishError>>,
    summary: &mut PublishSummary,
) -> Result<()> {
    let ack = ack
        .expect("called only while acknowledgements are outstanding")
        .map_err(|e| Error::JetStream(format!("publish not acknowledged: {e}")))?;
    summary.published += 1;
    summary.first_seq = Some(
        summary
            .first_seq
            .map_or(ack.sequence, |f| f.min(ack.sequence)),
    );
    summary.last_seq = Some(
        summary
            .last_seq
            .map_or(ack.sequence, |l| l.max(ack.sequence)),
    );
    Ok(())
}
