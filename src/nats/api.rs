//! The JetStream API as jsreplay speaks it, below any planning: requests with a deadline and
//! typed errors ([`js_request`]: "no responders" means JetStream is off, API errors keep their
//! codes), the stream's configuration and state ([`stream_state`]) and its per-subject counts,
//! and the one ephemeral consumer configuration every read and every time seek uses
//! ([`ephemeral_config`], [`probe_consumer`]).

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nats::plan::FilterMode;

/// What the tool knows of the stream when it freezes the range.
#[derive(Debug, Clone, Serialize)]
pub struct StreamState {
    pub name: String,
    pub subjects: Vec<String>,
    pub retention: String,
    pub storage: String,
    pub replicas: usize,
    pub allow_direct: bool,
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub num_deleted: u64,
    pub consumer_count: u64,
    /// When the server created the stream: a stream deleted and made again under the same name
    /// has another.
    pub created: Option<String>,
}

#[derive(Deserialize)]
struct ApiError {
    code: u16,
    #[serde(default)]
    err_code: u32,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
struct RawStreamInfo {
    error: Option<ApiError>,
    config: Option<RawConfig>,
    state: Option<RawState>,
    #[serde(default)]
    created: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawConfig {
    name: String,
    subjects: Vec<String>,
    retention: String,
    storage: String,
    num_replicas: usize,
    allow_direct: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawState {
    messages: u64,
    bytes: u64,
    first_seq: u64,
    last_seq: u64,
    first_ts: Option<String>,
    last_ts: Option<String>,
    num_deleted: u64,
    deleted: Option<Vec<u64>>,
    consumer_count: u64,
    subjects: Option<std::collections::BTreeMap<String, u64>>,
}

/// Sends a JetStream API request and decodes the JSON answer, mapping "no responders" to
/// "JetStream not enabled" and API errors to typed errors.
pub async fn js_request<T: for<'de> Deserialize<'de>>(
    client: &async_nats::Client,
    subject: String,
    body: serde_json::Value,
) -> Result<T> {
    let payload = serde_json::to_vec(&body).expect("JSON values serialize");
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(subject.clone(), payload.into()),
    )
    .await
    .map_err(|_| Error::JetStream(format!("{subject}: no answer within 10 s")))?
    .map_err(|e| match e.kind() {
        async_nats::RequestErrorKind::NoResponders => Error::JetStreamUnavailable(
            "no JetStream API answered (is JetStream enabled on the server and for this account?)"
                .into(),
        ),
        _ => Error::JetStream(format!("{subject}: {e}")),
    })?;
    serde_json::from_slice(&reply.payload)
        .map_err(|e| Error::JetStream(format!("{subject}: unexpected answer: {e}")))
}

/// Whether stream info lists the interior deleted sequences (a long list on a stream with many).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    List,
    Omit,
}

/// Reads the stream's configuration and state, and the interior deleted sequences when asked.
pub async fn stream_state(
    client: &async_nats::Client,
    stream: &str,
    deleted: Deleted,
) -> Result<(StreamState, Vec<u64>)> {
    let info: RawStreamInfo = js_request(
        client,
        format!("$JS.API.STREAM.INFO.{stream}"),
        serde_json::json!({ "deleted_details": deleted == Deleted::List }),
    )
    .await?;
    if let Some(e) = info.error {
        return Err(if e.code == 404 || e.err_code == 10059 {
            Error::StreamNotFound(stream.to_string())
        } else if e.err_code == 10039 {
            Error::JetStreamUnavailable(e.description)
        } else {
            Error::JetStream(format!("stream info: {} ({})", e.description, e.code))
        });
    }
    let (config, state) = match (info.config, info.state) {
        (Some(c), Some(s)) => (c, s),
        _ => {
            return Err(Error::JetStream(
                "stream info without config or state".into(),
            ))
        }
    };
    let deleted = state.deleted.clone().unwrap_or_default();
    Ok((
        StreamState {
            name: config.name,
            subjects: config.subjects,
            retention: config.retention,
            storage: config.storage,
            replicas: config.num_replicas,
            allow_direct: config.allow_direct,
            messages: state.messages,
            bytes: state.bytes,
            first_seq: state.first_seq,
            last_seq: state.last_seq,
            first_ts: state.first_ts,
            last_ts: state.last_ts,
            num_deleted: state.num_deleted,
            consumer_count: state.consumer_count,
            created: info.created,
        },
        deleted,
    ))
}

/// Whole-stream message counts of the subjects matching `filter` (one page of up to 100 000).
pub async fn subject_counts(
    client: &async_nats::Client,
    stream: &str,
    filter: &str,
) -> Result<Vec<(String, u64)>> {
    let info: RawStreamInfo = js_request(
        client,
        format!("$JS.API.STREAM.INFO.{stream}"),
        serde_json::json!({ "subjects_filter": filter }),
    )
    .await?;
    Ok(info
        .state
        .and_then(|s| s.subjects)
        .map(|m| m.into_iter().collect())
        .unwrap_or_default())
}

/// The ephemeral consumer configuration every read uses: no acks, memory storage, one replica,
/// a short inactivity threshold so the server removes it by itself if the tool dies.
pub fn ephemeral_config(
    deliver: consumer::DeliverPolicy,
    filter: &FilterMode,
) -> consumer::pull::Config {
    let mut cfg = consumer::pull::Config {
        deliver_policy: deliver,
        ack_policy: consumer::AckPolicy::None,
        replay_policy: consumer::ReplayPolicy::Instant,
        memory_storage: true,
        num_replicas: 1,
        inactive_threshold: Duration::from_secs(30),
        description: Some("jsreplay (ephemeral, read-only)".into()),
        ..Default::default()
    };
    if let FilterMode::Server(f) = filter {
        if f.len() == 1 {
            cfg.filter_subject = f[0].clone();
        } else {
            cfg.filter_subjects = f.clone();
        }
    }
    cfg
}

/// Creates an ephemeral consumer and returns the info its creation answered with (delivered
/// position and pending count are computed by the server at creation), deleting it at once:
/// two requests in all.
pub async fn probe_consumer(
    stream: &jetstream::stream::Stream<()>,
    cfg: consumer::pull::Config,
) -> Result<consumer::Info> {
    let c = stream
        .create_consumer(cfg)
        .await
        .map_err(|e| Error::JetStream(format!("creating an ephemeral consumer: {e}")))?;
    let info = c.cached_info().clone();
    // Deleting is best effort: the inactivity threshold removes it anyway.
    let _ = stream.delete_consumer(&info.name).await;
    Ok(info)
}
