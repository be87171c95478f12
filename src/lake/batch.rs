//! The dataset's Arrow schema and the builder that turns replayed messages into record batches.
//!
//! The schema is a contract with every reader of an export (DuckDB, pyarrow, Spark, the tool's own
//! hunts): signed integers, microsecond UTC timestamps, no unsigned or nanosecond types. Every
//! message becomes exactly one row whatever its payload: provenance from NATS, the detected shape
//! and parse status, the typed sysdig fields and the raw payload bytes.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryBuilder, BooleanBuilder, GenericByteBuilder, Int32Builder, Int64Builder,
    PrimitiveBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, ByteArrayType, DataType, Field, Schema, SchemaRef, TimeUnit,
};
use datafusion::arrow::record_batch::RecordBatch;

use crate::lake::decode::{decode, Decoded, Status};
use crate::message::RawMessage;

/// How far from its JetStream time an event's own time may lie and still be taken as the
/// event's, by default (a collector that was offline sends its backlog late; clocks drift).
pub const EVENT_TIME_WINDOW_NS: i64 = 24 * 3600 * 1_000_000_000;

/// True when an event's own time (`event_ns`) lies more than `window_ns` from the time the server
/// received it (`nats_ns`): a broken clock or a forged one. The `event_time_suspect` column
/// records it with the default window; an archive partitions such rows by the JetStream time.
pub fn event_time_suspect(event_ns: i64, nats_ns: i64, window_ns: i64) -> bool {
    event_ns.abs_diff(nats_ns) > window_ns.unsigned_abs()
}

/// Microsecond UTC timestamps: what Spark, DuckDB and pyarrow all read without conversion.
fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::{Binary, Boolean, Int32, Int64, Utf8};
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Arc::new(Schema::new(vec![
        f("stream", Utf8, false),
        f("subject", Utf8, false),
        f("seq", Int64, false),
        f("nats_time", ts(), false),
        f("headers", Utf8, true),
        f("payload", Binary, false),
        f("shape", Utf8, false),
        f("parse_status", Utf8, false),
        f("parse_error", Utf8, true),
        f("collector_id", Utf8, true),
        f("hostname", Utf8, true),
        f("event_time", ts(), true),
        f("event_time_ns", Int64, true),
        f("event_time_suspect", Boolean, true),
        f("evt_num", Int64, true),
        f("evt_type", Utf8, true),
        f("evt_dir", Utf8, true),
        f("evt_args", Utf8, true),
        f("fd_name", Utf8, true),
        f("fd_cip", Utf8, true),
        f("fd_cport", Int32, true),
        f("fd_sip", Utf8, true),
        f("fd_sport", Int32, true),
        f("proc_pid", Int64, true),
        f("proc_ppid", Int64, true),
        f("proc_name", Utf8, true),
        f("proc_exepath", Utf8, true),
        f("proc_cmdline", Utf8, true),
        f("proc_pname", Utf8, true),
        f("proc_pcmdline", Utf8, true),
        f("user_name", Utf8, true),
        f("user_uid", Int64, true),
        f("container_id", Utf8, true),
        f("rule", Utf8, true),
        f("priority", Utf8, true),
    ]))
});

/// The schema of every Parquet file an export writes (partition columns `dt` and `hour` excluded).
pub fn event_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// The collector id carried by the subject: token 3 of `events.<source>.<collector_id>[.…]`.
pub fn collector_from_subject(subject: &str) -> Option<&str> {
    let mut tokens = subject.split('.');
    (tokens.next() == Some("events"))
        .then(|| tokens.nth(1))
        .flatten()
        .filter(|t| !t.is_empty())
}

/// Counts of what the builder has seen, for the manifest and the summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ParseCounts {
    pub ok: u64,
    pub repaired: u64,
    pub unknown_shape: u64,
    pub invalid: u64,
}

impl ParseCounts {
    pub fn add(&mut self, other: ParseCounts) {
        self.ok += other.ok;
        self.repaired += other.repaired;
        self.unknown_shape += other.unknown_shape;
        self.invalid += other.invalid;
    }
}

/// Accumulates rows for one record batch.
pub struct BatchBuilder {
    stream: StringBuilder,
    subject: StringBuilder,
    seq: Int64Builder,
    nats_time: TimestampMicrosecondBuilder,
    headers: StringBuilder,
    payload: BinaryBuilder,
    shape: StringBuilder,
    parse_status: StringBuilder,
    parse_error: StringBuilder,
    collector_id: StringBuilder,
    hostname: StringBuilder,
    event_time: TimestampMicrosecondBuilder,
    event_time_ns: Int64Builder,
    event_time_suspect: BooleanBuilder,
    evt_num: Int64Builder,
    evt_type: StringBuilder,
    evt_dir: StringBuilder,
    evt_args: StringBuilder,
    fd_name: StringBuilder,
    fd_cip: StringBuilder,
    fd_cport: Int32Builder,
    fd_sip: StringBuilder,
    fd_sport: Int32Builder,
    proc_pid: Int64Builder,
    proc_ppid: Int64Builder,
    proc_name: StringBuilder,
    proc_exepath: StringBuilder,
    proc_cmdline: StringBuilder,
    proc_pname: StringBuilder,
    proc_pcmdline: StringBuilder,
    user_name: StringBuilder,
    user_uid: Int64Builder,
    container_id: StringBuilder,
    rule: StringBuilder,
    priority: StringBuilder,
    rows: usize,
    payload_bytes: usize,
    counts: ParseCounts,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    pub fn new() -> Self {
        let s = StringBuilder::new;
        let i = Int64Builder::new;
        let t = || TimestampMicrosecondBuilder::new().with_timezone("UTC");
        Self {
            stream: s(),
            subject: s(),
            seq: i(),
            nats_time: t(),
            headers: s(),
            payload: BinaryBuilder::new(),
            shape: s(),
            parse_status: s(),
            parse_error: s(),
            collector_id: s(),
            hostname: s(),
            event_time: t(),
            event_time_ns: i(),
            event_time_suspect: BooleanBuilder::new(),
            evt_num: i(),
            evt_type: s(),
            evt_dir: s(),
            evt_args: s(),
            fd_name: s(),
            fd_cip: s(),
            fd_cport: Int32Builder::new(),
            fd_sip: s(),
            fd_sport: Int32Builder::new(),
            proc_pid: i(),
            proc_ppid: i(),
            proc_name: s(),
            proc_exepath: s(),
            proc_cmdline: s(),
            proc_pname: s(),
            proc_pcmdline: s(),
            user_name: s(),
            user_uid: i(),
            container_id: s(),
            rule: s(),
            priority: s(),
            rows: 0,
            payload_bytes: 0,
            counts: ParseCounts::default(),
        }
    }

    /// Rows appended since the last `finish`.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Payload and header bytes appended since the last `finish` (batches are cut by size as
    /// well as rows, so that large messages cannot overflow a Binary array's 2 GiB offsets).
    pub fn payload_bytes(&self) -> usize {
        self.payload_bytes
    }

    /// Decodes one message and appends it as one row.
    pub fn append(&mut self, stream: &str, msg: &RawMessage) {
        self.append_decoded(stream, msg, &decode(&msg.payload));
    }

    /// Appends one message as one row, its payload already decoded (`d` is `decode(&msg.payload)`).
    pub fn append_decoded(&mut self, stream: &str, msg: &RawMessage, d: &Decoded<'_>) {
        let ev = &d.event;
        self.stream.append_value(stream);
        self.subject.append_value(&msg.subject);
        self.seq.append_value(msg.stream_seq as i64);
        self.nats_time.append_value(msg.time_ns.div_euclid(1000));
        self.headers.append_option(msg.headers.as_deref());
        self.payload.append_value(&msg.payload);
        self.shape.append_value(d.shape.as_str());
        self.parse_status.append_value(d.status.as_str());
        self.parse_error.append_option(d.error.as_deref());
        let collector = collector_from_subject(&msg.subject).or(ev.collector_id.as_deref());
        self.collector_id.append_option(collector);
        self.hostname.append_option(ev.hostname.as_deref());
        self.event_time
            .append_option(ev.event_time_ns.map(|ns| ns.div_euclid(1000)));
        self.event_time_ns.append_option(ev.event_time_ns);
        self.event_time_suspect.append_option(
            ev.event_time_ns
                .map(|t| event_time_suspect(t, msg.time_ns, EVENT_TIME_WINDOW_NS)),
        );
        self.evt_num.append_option(ev.evt_num);
        self.evt_type.append_option(ev.evt_type.as_deref());
        self.evt_dir.append_option(ev.evt_dir.as_deref());
        self.evt_args.append_option(ev.evt_args.as_deref());
        self.fd_name.append_option(ev.fd_name.as_deref());
        let sock = ev.socket();
        self.fd_cip
            .append_option(sock.as_ref().map(|s| s.client_ip));
        self.fd_cport
            .append_option(sock.as_ref().and_then(|s| s.client_port));
        self.fd_sip
            .append_option(sock.as_ref().map(|s| s.server_ip));
        self.fd_sport
            .append_option(sock.as_ref().and_then(|s| s.server_port));
        self.proc_pid.append_option(ev.proc_pid);
        self.proc_ppid.append_option(ev.proc_ppid);
        self.proc_name.append_option(ev.proc_name.as_deref());
        self.proc_exepath.append_option(ev.proc_exepath.as_deref());
        self.proc_cmdline.append_option(ev.proc_cmdline.as_deref());
        self.proc_pname.append_option(ev.proc_pname.as_deref());
        self.proc_pcmdline
            .append_option(ev.proc_pcmdline.as_deref());
        self.user_name.append_option(ev.user_name.as_deref());
        self.user_uid.append_option(ev.user_uid);
        self.container_id.append_option(ev.container_id.as_deref());
        self.rule.append_option(ev.rule.as_deref());
        self.priority.append_option(ev.priority.as_deref());
        match d.status {
            Status::Ok => self.counts.ok += 1,
            Status::Repaired => self.counts.repaired += 1,
            Status::UnknownShape => self.counts.unknown_shape += 1,
            Status::Invalid => self.counts.invalid += 1,
        }
        self.rows += 1;
        self.payload_bytes += msg.payload.len() + msg.headers.as_ref().map_or(0, String::len);
    }

    /// Parse counts of the rows appended since the last `finish`.
    pub fn counts(&self) -> ParseCounts {
        self.counts
    }

    /// Takes the rows appended so far as one record batch and starts afresh, each column's
    /// builder sized like the batch just taken (batches of a run are alike: no growing by
    /// reallocation and copying, batch after batch).
    pub fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            self.stream.take(),
            self.subject.take(),
            self.seq.take(),
            self.nats_time.take(),
            self.headers.take(),
            self.payload.take(),
            self.shape.take(),
            self.parse_status.take(),
            self.parse_error.take(),
            self.collector_id.take(),
            self.hostname.take(),
            self.event_time.take(),
            self.event_time_ns.take(),
            self.event_time_suspect.take(),
            self.evt_num.take(),
            self.evt_type.take(),
            self.evt_dir.take(),
            self.evt_args.take(),
            self.fd_name.take(),
            self.fd_cip.take(),
            self.fd_cport.take(),
            self.fd_sip.take(),
            self.fd_sport.take(),
            self.proc_pid.take(),
            self.proc_ppid.take(),
            self.proc_name.take(),
            self.proc_exepath.take(),
            self.proc_cmdline.take(),
            self.proc_pname.take(),
            self.proc_pcmdline.take(),
            self.user_name.take(),
            self.user_uid.take(),
            self.container_id.take(),
            self.rule.take(),
            self.priority.take(),
        ];
        self.rows = 0;
        self.payload_bytes = 0;
        self.counts = ParseCounts::default();
        RecordBatch::try_new(event_schema(), columns)
            .expect("builder columns match the event schema by construction")
    }
}

/// A column builder that hands over what it holds and starts again with room for as much.
trait Refill {
    fn take(&mut self) -> ArrayRef;
}

impl<T: ByteArrayType> Refill for GenericByteBuilder<T> {
    fn take(&mut self) -> ArrayRef {
        let array = self.finish();
        *self = Self::with_capacity(array.len(), array.value_data().len());
        Arc::new(array)
    }
}

impl<T: ArrowPrimitiveType> Refill for PrimitiveBuilder<T> {
    fn take(&mut self) -> ArrayRef {
        let array = self.finish();
        *self = Self::with_capacity(array.len()).with_data_type(array.data_type().clone());
        Arc::new(array)
    }
}

impl Refill for BooleanBuilder {
    fn take(&mut self) -> ArrayRef {
        let array = self.finish();
        *self = Self::with_capacity(array.len());
        Arc::new(array)
    }
}

/// The decoder reads exactly the field catalogue's payload names: each one, alone in a flat
/// sysdig event, lands in its column (the decoder's own `match` is the hot path; this holds it
/// to `crate::fields`).
#[cfg(test)]
mod catalogue {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int64Type;

    use super::BatchBuilder;
    use crate::message::RawMessage;

    #[test]
    fn every_payload_name_lands_in_its_column() {
        for f in crate::fields::FIELDS {
            for name in f.sysdig {
                let (value, payload) = match (f.column, f.kind) {
                    ("evt_type", _) => ("openat".to_string(), format!(r#"{{"{name}":"openat"}}"#)),
                    (_, crate::fields::Kind::Int) => ("42".into(), format!(r#"{{"{name}":"42"}}"#)),
                    (_, crate::fields::Kind::Text) => {
                        ("v".into(), format!(r#"{{"{name}":"v","evt.type":"x"}}"#))
                    }
                };
                let mut b = BatchBuilder::new();
                b.append(
                    "S",
                    &RawMessage {
                        stream_seq: 1,
                        subject: "events.sysdig.h".into(),
                        time_ns: 0,
                        headers: None,
                        payload: payload.into_bytes().into(),
                    },
                );
                let batch = b.finish();
                let col = batch.column_by_name(f.column).expect("a column");
                let got = match f.kind {
                    crate::fields::Kind::Int => col
                        .as_primitive_opt::<Int64Type>()
                        .filter(|a| a.is_valid(0))
                        .map(|a| a.value(0).to_string()),
                    crate::fields::Kind::Text => col
                        .as_string_opt::<i32>()
                        .filter(|a| a.is_valid(0))
                        .map(|a| a.value(0).to_string()),
                };
                assert_eq!(
                    got.as_deref(),
                    Some(value.as_str()),
                    "{name} -> {}",
                    f.column
                );
            }
        }
    }
}
