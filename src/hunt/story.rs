//! The attack story: hunt hits linked into incidents across hosts, on one corrected clock.
//!
//! Each hit event (a sequence a hunt's rows name) is placed by the dataset: host, process, time
//! and socket. Hits are then joined, never by name or by time alone:
//! - events a hunt's row names together (a join hunt's `seq` and `*_seq` columns);
//! - on one host, through process ancestry ([`Forest`]): two hits whose processes share an
//!   ancestor, other than init (pid 1) and the services it starts (parent pid 0 or 1), which
//!   every process on the host shares;
//! - on one host, hits that follow each other within [`NEAR_SECONDS`]: what ancestry cannot see
//!   (a web shell written by the web server, then run by it; a crontab written by a hijacked
//!   Redis, then run by cron) still happens in one burst;
//! - across hosts, through the socket matches of the lateral-movement hunts' hits: a `connect`
//!   on one host and the `accept` of the same 4-tuple on another are a hop; the hop joins the
//!   connecting process's hits with the hits on the destination host that begin after the
//!   accept, within [`HOP_WINDOW_SECONDS`] on that host's clock.
//!
//! A group with a hop or with hits of two hunts or more is a story; the rest stay listed apart.
//! Each story's clocks are aligned on its entry host (the first host it reaches that no hop of
//! the story comes into): a hop's accept time minus its connect time is the destination's clock
//! offset from the source, the median of the pair's hops, summed along the chain (so each hop's
//! one-way network latency, milliseconds, stays in the offset). Steps (a hunt's hits on one host, a hop) are ordered
//! on the corrected clock, each with its ATT&CK tactic (the hunt's folder in the pack) and the
//! sequences that prove it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Int32Type, Int64Type, TimestampMicrosecondType};
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::error::Result;
use crate::escape;
use crate::hunt::run::HuntResult;
use crate::hunt::tree::Forest;
use crate::sql::query;

/// Hits on one host this close in time (the gap between one and the next) join.
pub const NEAR_SECONDS: i64 = 120;
/// How long after a hop's accept (destination clock) the destination's hits still join it.
pub const HOP_WINDOW_SECONDS: i64 = 900;
/// Hits before the accept that still join (the accept is logged when the session is set up).
const HOP_LEAD_SECONDS: i64 = 5;
/// Hit events placed per hunt: a hunt with millions of hits is a flood, not a story; the story
/// says when it used only the first ones.
pub const MAX_EVENTS_PER_HUNT: usize = 5_000;
/// Sequences per `IN (…)` list when hit events are looked up.
const LOOKUP_CHUNK: usize = 10_000;

/// Where and when a hit event happened, as the dataset records it.
#[derive(Debug, Clone)]
pub struct Place {
    pub host: Option<String>,
    pub pid: Option<i64>,
    /// Event time (the collector's clock), or the JetStream time when the event has none; µs.
    pub t_us: i64,
    pub evt_type: Option<String>,
    /// (client ip, client port, server ip, server port) of a socket event.
    pub socket: Option<(String, i32, String, i32)>,
}

/// Looks up the events with sequences `seqs` (a bounded list) in the dataset in `ctx`.
pub async fn places(ctx: &SessionContext, seqs: &[i64]) -> Result<BTreeMap<i64, Place>> {
    let mut out = BTreeMap::new();
    for chunk in seqs.chunks(LOOKUP_CHUNK) {
        let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
        let sql = format!(
            "SELECT seq, collector_id, proc_pid, coalesce(event_time, nats_time), evt_type, \
             fd_cip, fd_cport, fd_sip, fd_sport FROM events WHERE seq IN ({})",
            list.join(",")
        );
        for b in query::collect_last(ctx, &sql).await? {
            let seq = b.column(0).as_primitive::<Int64Type>();
            let host = b.column(1).as_string::<i32>();
            let pid = b.column(2).as_primitive::<Int64Type>();
            let t = b.column(3).as_primitive::<TimestampMicrosecondType>();
            let evt = b.column(4).as_string::<i32>();
            let (cip, sip) = (
                b.column(5).as_string::<i32>(),
                b.column(7).as_string::<i32>(),
            );
            let cport = b.column(6).as_primitive::<Int32Type>();
            let sport = b.column(8).as_primitive::<Int32Type>();
            for i in 0..b.num_rows() {
                let text = |a: &datafusion::arrow::array::StringArray| {
                    (!a.is_null(i)).then(|| a.value(i).to_string())
                };
                let socket =
                    (!cip.is_null(i) && !sip.is_null(i) && !cport.is_null(i) && !sport.is_null(i))
                        .then(|| {
                            (
                                cip.value(i).to_string(),
                                cport.value(i),
                                sip.value(i).to_string(),
                                sport.value(i),
                            )
                        });
                out.insert(
                    seq.value(i),
                    Place {
                        host: text(host),
                        pid: (!pid.is_null(i)).then(|| pid.value(i)),
                        t_us: t.value(i),
                        evt_type: text(evt),
                        socket,
                    },
                );
            }
        }
    }
    Ok(out)
}

/// One step of a story, or one group of hits apart from every story.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `hit` or `hop`.
    pub kind: &'static str,
    /// On the story's corrected clock (the entry host's), RFC 3339.
    pub time: String,
    /// On the host's own clock.
    pub host_time: String,
    pub host: String,
    /// A hop's destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The hunt (for a hop, the lateral-movement hunt that matched it).
    pub hunt: String,
    pub title: String,
    /// ATT&CK tactic: the hunt's folder in the pack (`lateral_movement/ssh_hop`).
    pub tactic: String,
    pub attack: Vec<String>,
    pub severity: String,
    /// The events that prove the step (a hop: the connect, then the accept).
    pub seqs: Vec<i64>,
    #[serde(skip)]
    sort_us: i64,
}

/// One incident.
#[derive(Debug, Clone, Serialize)]
pub struct Story {
    /// `web-01 → app-01 → db-01`: hosts in the order the story reaches them.
    pub chain: String,
    pub hosts: Vec<String>,
    /// Seconds each host's clock is ahead of the entry host's (from the hops).
    pub clock_offsets: BTreeMap<String, f64>,
    pub first: String,
    pub last: String,
    pub steps: Vec<Step>,
}

/// The stories of a hunt run, and the hits that joined none.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Stories {
    pub stories: Vec<Story>,
    pub apart: Vec<Step>,
    /// Hunts whose hits were too many to place them all (only the first were used).
    pub truncated: Vec<String>,
}

/// A hop: a connect on one host matched to the accept of the same socket on another.
#[derive(Debug, Clone)]
struct Hop {
    connect: i64,
    accept: i64,
    from: String,
    to: String,
    t_connect: i64,
    t_accept: i64,
    hunt: usize,
}

struct Sets(Vec<usize>);

impl Sets {
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }
    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

fn iso(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The tactic of a hunt: its folder in the pack (`lateral_movement` of
/// `lateral_movement/ssh_hop`).
fn tactic(hunt: &str) -> String {
    hunt.split_once('/')
        .map_or_else(|| "-".to_string(), |(t, _)| t.to_string())
}

/// Links the hits of `results` into stories, reading the dataset in `ctx`.
pub async fn build(ctx: &SessionContext, results: &[HuntResult]) -> Result<Stories> {
    let mut out = Stories::default();
    // Hit events, each with the hunts that name it.
    let mut hunts_of: BTreeMap<i64, BTreeSet<usize>> = BTreeMap::new();
    // Events a row names together.
    let mut rows: Vec<Vec<i64>> = Vec::new();
    for (h, r) in results.iter().enumerate() {
        if r.hits() == 0 || r.error.is_some() {
            continue;
        }
        if r.seqs.len() > MAX_EVENTS_PER_HUNT || !r.seqs_complete {
            out.truncated.push(r.hunt.name.clone());
        }
        for &s in r.seqs.iter().take(MAX_EVENTS_PER_HUNT) {
            hunts_of.entry(s).or_default().insert(h);
        }
        rows.extend(row_seqs(r).into_iter().filter(|v| v.len() > 1));
    }
    if hunts_of.is_empty() {
        return Ok(out);
    }
    let seqs: Vec<i64> = hunts_of.keys().copied().collect();
    let mut place = places(ctx, &seqs).await?;
    let hops = hops(ctx, results, &hunts_of, &place).await?;
    // Accepts that no hunt named still take part as the hop's end.
    let missing: Vec<i64> = hops
        .iter()
        .flat_map(|h| [h.connect, h.accept])
        .filter(|s| !place.contains_key(s))
        .collect();
    place.extend(places(ctx, &missing).await?);

    // Union-find over every placed event.
    let events: Vec<i64> = place.keys().copied().collect();
    let index: BTreeMap<i64, usize> = events.iter().enumerate().map(|(i, &s)| (s, i)).collect();
    let mut sets = Sets((0..events.len()).collect());
    for row in &rows {
        let ids: Vec<usize> = row.iter().filter_map(|s| index.get(s).copied()).collect();
        for w in ids.windows(2) {
            sets.join(w[0], w[1]);
        }
    }
    // Same host, shared ancestry.
    let mut by_host: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, s) in events.iter().enumerate() {
        if let Some(h) = &place[s].host {
            by_host.entry(h.clone()).or_default().push(i);
        }
    }
    for (host, ids) in &by_host {
        let forest = Forest::load(ctx, host).await?;
        let mut owner: BTreeMap<usize, usize> = BTreeMap::new();
        for &i in ids {
            let p = &place[&events[i]];
            let Some(pid) = p.pid else { continue };
            let Ok((proc_, _)) = forest.pick(pid, DateTime::from_timestamp_micros(p.t_us)) else {
                continue;
            };
            for a in forest.lineage(proc_) {
                let pr = forest.process(a);
                if pr.pid <= 1 || matches!(pr.ppid, Some(0 | 1)) {
                    continue; // init and the services it starts are everyone's ancestors
                }
                match owner.get(&a) {
                    Some(&j) => sets.join(i, j),
                    None => {
                        owner.insert(a, i);
                    }
                }
            }
        }
    }
    // Same host, one burst.
    for ids in by_host.values() {
        let mut timed: Vec<(i64, usize)> =
            ids.iter().map(|&i| (place[&events[i]].t_us, i)).collect();
        timed.sort_unstable();
        for w in timed.windows(2) {
            if w[1].0 - w[0].0 <= NEAR_SECONDS * 1_000_000 {
                sets.join(w[0].1, w[1].1);
            }
        }
    }
    // Hops: both ends, then the destination's hits after the accept.
    for hop in &hops {
        let (c, a) = (index[&hop.connect], index[&hop.accept]);
        sets.join(c, a);
    }
    let mut groups = group_firsts(&events, &place, &mut sets);
    for hop in &hops {
        let a = index[&hop.accept];
        let lo = hop.t_accept - HOP_LEAD_SECONDS * 1_000_000;
        let hi = hop.t_accept + HOP_WINDOW_SECONDS * 1_000_000;
        let joined: Vec<usize> = groups
            .iter()
            .filter(|(k, first)| k.0 == hop.to && (lo..=hi).contains(*first))
            .map(|(k, _)| k.1)
            .collect();
        for root in joined {
            sets.join(a, root);
        }
        groups = group_firsts(&events, &place, &mut sets);
    }

    // Components.
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..events.len() {
        members.entry(sets.find(i)).or_default().push(i);
    }
    let mut stories = Vec::new();
    for ids in members.values() {
        let seqset: BTreeSet<i64> = ids.iter().map(|&i| events[i]).collect();
        let story_hops: Vec<&Hop> = hops
            .iter()
            .filter(|h| seqset.contains(&h.connect))
            .collect();
        let hunts: BTreeSet<usize> = seqset
            .iter()
            .flat_map(|s| hunts_of.get(s).into_iter().flatten().copied())
            .collect();
        let offsets = offsets(&story_hops, ids, &events, &place);
        let steps = steps(results, &seqset, &hunts_of, &place, &offsets, &story_hops);
        if story_hops.is_empty() && hunts.len() < 2 {
            out.apart.extend(steps);
            continue;
        }
        stories.push(story(steps, offsets));
    }
    stories.sort_by(|a, b| a.first.cmp(&b.first));
    out.stories = stories;
    out.apart.sort_by_key(|s| s.sort_us);
    Ok(out)
}

/// Each group's (host, root) -> its earliest event time, for groups with a host.
fn group_firsts(
    events: &[i64],
    place: &BTreeMap<i64, Place>,
    sets: &mut Sets,
) -> BTreeMap<(String, usize), i64> {
    let mut firsts: BTreeMap<(String, usize), i64> = BTreeMap::new();
    for (i, s) in events.iter().enumerate() {
        let p = &place[s];
        let Some(host) = &p.host else { continue };
        let e = firsts.entry((host.clone(), sets.find(i))).or_insert(p.t_us);
        *e = (*e).min(p.t_us);
    }
    firsts
}

/// The sequences of each row a hunt kept (its `seq` and `*_seq` columns).
fn row_seqs(r: &HuntResult) -> Vec<Vec<i64>> {
    let mut out = Vec::new();
    for b in &r.batches {
        let cols: Vec<_> = b
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                (f.name() == "seq" || f.name().ends_with("_seq"))
                    && f.data_type() == &datafusion::arrow::datatypes::DataType::Int64
            })
            .map(|(i, _)| b.column(i).as_primitive::<Int64Type>().clone())
            .collect();
        for i in 0..b.num_rows() {
            out.push(
                cols.iter()
                    .filter(|c| !c.is_null(i))
                    .map(|c| c.value(i))
                    .collect(),
            );
        }
    }
    out
}

/// Hops among the hits of the lateral-movement hunts: each socket event matched to its other
/// end (connect to accept, same 4-tuple, another host).
async fn hops(
    ctx: &SessionContext,
    results: &[HuntResult],
    hunts_of: &BTreeMap<i64, BTreeSet<usize>>,
    place: &BTreeMap<i64, Place>,
) -> Result<Vec<Hop>> {
    let lateral: BTreeMap<i64, usize> = hunts_of
        .iter()
        .filter_map(|(s, hs)| {
            hs.iter()
                .find(|&&h| tactic(&results[h].hunt.name) == "lateral_movement")
                .map(|&h| (*s, h))
        })
        .filter(|(s, _)| place.get(s).is_some_and(|p| p.socket.is_some()))
        .collect();
    if lateral.is_empty() {
        return Ok(Vec::new());
    }
    // The hits' sockets, as a small table the events are joined to: one scan of the dataset,
    // never a self-join of every connect with every accept. Text from the events is quoted.
    let quote = |t: &str| format!("'{}'", t.replace('\'', "''"));
    let tuples: BTreeSet<String> = lateral
        .keys()
        .filter_map(|s| place[s].socket.as_ref())
        .map(|(cip, cport, sip, sport)| {
            format!("({}, {cport}, {}, {sport})", quote(cip), quote(sip))
        })
        .collect();
    let sql = format!(
        "WITH t(cip, cport, sip, sport) AS (VALUES {}), \
         e AS (SELECT ev.seq, ev.collector_id AS host, coalesce(ev.event_time, ev.nats_time) AS at, \
                      ev.evt_type, ev.fd_cip, ev.fd_cport, ev.fd_sip, ev.fd_sport \
               FROM events ev JOIN t ON ev.fd_cip = t.cip AND ev.fd_cport = t.cport \
                AND ev.fd_sip = t.sip AND ev.fd_sport = t.sport \
               WHERE ev.evt_type IN ('connect', 'accept') AND ev.collector_id IS NOT NULL) \
         SELECT c.seq, a.seq, c.host, a.host, c.at, a.at FROM e c JOIN e a \
           ON a.fd_cip = c.fd_cip AND a.fd_cport = c.fd_cport AND a.fd_sip = c.fd_sip \
          AND a.fd_sport = c.fd_sport AND a.host <> c.host \
         WHERE c.evt_type = 'connect' AND a.evt_type = 'accept'",
        tuples.into_iter().collect::<Vec<_>>().join(", ")
    );
    // Per connect, the accept nearest in time (a socket reused later is another connection).
    let mut best: BTreeMap<i64, Hop> = BTreeMap::new();
    for b in query::collect_last(ctx, &sql).await? {
        let (cs, as_) = (
            b.column(0).as_primitive::<Int64Type>(),
            b.column(1).as_primitive::<Int64Type>(),
        );
        let (ch, ah) = (
            b.column(2).as_string::<i32>(),
            b.column(3).as_string::<i32>(),
        );
        let (ct, at) = (
            b.column(4).as_primitive::<TimestampMicrosecondType>(),
            b.column(5).as_primitive::<TimestampMicrosecondType>(),
        );
        for i in 0..b.num_rows() {
            let (c, a) = (cs.value(i), as_.value(i));
            let Some(hunt) = lateral.get(&c).or_else(|| lateral.get(&a)).copied() else {
                continue;
            };
            let hop = Hop {
                connect: c,
                accept: a,
                from: ch.value(i).to_string(),
                to: ah.value(i).to_string(),
                t_connect: ct.value(i),
                t_accept: at.value(i),
                hunt,
            };
            let gap = |h: &Hop| (h.t_accept - h.t_connect).abs();
            match best.get(&c) {
                Some(kept) if (gap(kept), kept.accept) <= (gap(&hop), hop.accept) => {}
                _ => {
                    best.insert(c, hop);
                }
            }
        }
    }
    Ok(best.into_values().collect())
}

/// Each host's clock offset from the story's entry host, in µs.
fn offsets(
    hops: &[&Hop],
    ids: &[usize],
    events: &[i64],
    place: &BTreeMap<i64, Place>,
) -> BTreeMap<String, i64> {
    // The host seen first among those no hop of the story comes into.
    let targets: BTreeSet<&str> = hops.iter().map(|h| h.to.as_str()).collect();
    let mut first_seen: BTreeMap<&str, i64> = BTreeMap::new();
    for &i in ids {
        let p = &place[&events[i]];
        if let Some(h) = &p.host {
            let e = first_seen.entry(h.as_str()).or_insert(p.t_us);
            *e = (*e).min(p.t_us);
        }
    }
    let entry = first_seen
        .iter()
        .filter(|(h, _)| !targets.contains(*h))
        .min_by_key(|(_, t)| **t)
        .or_else(|| first_seen.iter().min_by_key(|(_, t)| **t))
        .map(|(h, _)| h.to_string());
    let mut out = BTreeMap::new();
    let Some(entry) = entry else { return out };
    // Median accept - connect per (from, to) pair.
    let mut deltas: BTreeMap<(&str, &str), Vec<i64>> = BTreeMap::new();
    for h in hops {
        deltas
            .entry((h.from.as_str(), h.to.as_str()))
            .or_default()
            .push(h.t_accept - h.t_connect);
    }
    let median = |v: &Vec<i64>| {
        let mut v = v.clone();
        v.sort_unstable();
        v[v.len() / 2]
    };
    out.insert(entry.clone(), 0);
    let mut queue = VecDeque::from([entry]);
    while let Some(host) = queue.pop_front() {
        let base = out[&host];
        for ((from, to), d) in &deltas {
            let (next, delta) = if *from == host {
                (*to, median(d))
            } else if *to == host {
                (*from, -median(d))
            } else {
                continue;
            };
            if !out.contains_key(next) {
                out.insert(next.to_string(), base + delta);
                queue.push_back(next.to_string());
            }
        }
    }
    for h in first_seen.keys() {
        out.entry(h.to_string()).or_insert(0); // hosts no hop reaches keep their own clock
    }
    out
}

/// The steps of one group: each hunt's hits per host, and the hops.
fn steps(
    results: &[HuntResult],
    seqs: &BTreeSet<i64>,
    hunts_of: &BTreeMap<i64, BTreeSet<usize>>,
    place: &BTreeMap<i64, Place>,
    offsets: &BTreeMap<String, i64>,
    hops: &[&Hop],
) -> Vec<Step> {
    let corrected = |host: &str, t: i64| t - offsets.get(host).copied().unwrap_or(0);
    // A hop's two ends are its own step, not hits again.
    let ends: BTreeSet<i64> = hops.iter().flat_map(|h| [h.connect, h.accept]).collect();
    let mut hits: BTreeMap<(usize, String), Vec<i64>> = BTreeMap::new();
    for s in seqs.difference(&ends) {
        let Some(host) = &place[s].host else { continue };
        for &h in hunts_of.get(s).into_iter().flatten() {
            hits.entry((h, host.clone())).or_default().push(*s);
        }
    }
    let mut out = Vec::new();
    for ((h, host), seqs) in hits {
        let first = seqs.iter().map(|s| place[s].t_us).min().unwrap_or(0);
        let hunt = &results[h].hunt;
        out.push(Step {
            kind: "hit",
            time: iso(corrected(&host, first)),
            host_time: iso(first),
            to: None,
            tactic: tactic(&hunt.name),
            hunt: hunt.name.clone(),
            title: hunt.title.clone(),
            attack: hunt.attack.clone(),
            severity: hunt.severity.as_str().to_string(),
            seqs,
            sort_us: corrected(&host, first),
            host,
        });
    }
    for hop in hops {
        let hunt = &results[hop.hunt].hunt;
        let t = corrected(&hop.from, hop.t_connect);
        out.push(Step {
            kind: "hop",
            time: iso(t),
            host_time: iso(hop.t_connect),
            host: hop.from.clone(),
            to: Some(hop.to.clone()),
            tactic: tactic(&hunt.name),
            hunt: hunt.name.clone(),
            title: hunt.title.clone(),
            attack: hunt.attack.clone(),
            severity: hunt.severity.as_str().to_string(),
            seqs: vec![hop.connect, hop.accept],
            sort_us: t,
        });
    }
    // A hop sorts after the hits of the same instant on its source (they lead up to it).
    out.sort_by_key(|s| (s.sort_us, s.kind == "hop", s.host.clone(), s.hunt.clone()));
    out
}

fn story(steps: Vec<Step>, offsets: BTreeMap<String, i64>) -> Story {
    let mut hosts: Vec<String> = Vec::new();
    for s in &steps {
        for h in std::iter::once(&s.host).chain(s.to.as_ref()) {
            if !hosts.contains(h) {
                hosts.push(h.clone());
            }
        }
    }
    Story {
        chain: hosts.join(" → "),
        clock_offsets: offsets
            .into_iter()
            .map(|(h, us)| (h, us as f64 / 1e6))
            .collect(),
        first: steps.first().map(|s| s.time.clone()).unwrap_or_default(),
        last: steps.last().map(|s| s.time.clone()).unwrap_or_default(),
        hosts,
        steps,
    }
}

impl Stories {
    /// The stories as text for a terminal (event text escaped).
    pub fn text(&self) -> String {
        let mut out = String::new();
        if self.stories.is_empty() {
            out.push_str("No story: no hits join each other.\n");
        }
        for (n, s) in self.stories.iter().enumerate() {
            let _ = writeln!(
                out,
                "Story {}: {}\n  {} host{}, {} step{}, {} .. {} (on {}'s clock)",
                n + 1,
                escape::terminal(&s.chain),
                s.hosts.len(),
                if s.hosts.len() == 1 { "" } else { "s" },
                s.steps.len(),
                if s.steps.len() == 1 { "" } else { "s" },
                s.first,
                s.last,
                escape::terminal(s.hosts.first().map_or("", String::as_str)),
            );
            let skewed: Vec<String> = s
                .clock_offsets
                .iter()
                .filter(|(h, _)| Some(*h) != s.hosts.first())
                .map(|(h, o)| format!("{} {o:+.3} s", escape::terminal(h)))
                .collect();
            if !skewed.is_empty() {
                let _ = writeln!(out, "  clock offsets from the hops: {}", skewed.join(", "));
            }
            for st in &s.steps {
                out.push_str(&step_line(st));
            }
            out.push('\n');
        }
        if !self.apart.is_empty() {
            let _ = writeln!(out, "Hits that join no story ({}):", self.apart.len());
            for st in &self.apart {
                out.push_str(&step_line(st));
            }
        }
        for t in &self.truncated {
            let _ = writeln!(
                out,
                "note: {} has more hits than a story places; the first {MAX_EVENTS_PER_HUNT} were used",
                escape::terminal(t)
            );
        }
        out
    }
}

/// One step as a line: corrected time, host (or hop), tactic, hunt, the proving sequences.
fn step_line(st: &Step) -> String {
    let place = match &st.to {
        Some(to) => format!("{} → {}", st.host, to),
        None => st.host.clone(),
    };
    let shown: Vec<String> = st.seqs.iter().take(8).map(i64::to_string).collect();
    let more = if st.seqs.len() > 8 {
        format!(" (+{} more)", st.seqs.len() - 8)
    } else {
        String::new()
    };
    format!(
        "  {}  {:<24} {:<20} {}  [{}]  seq {}{more}\n",
        st.time.get(11..23).unwrap_or(&st.time),
        escape::terminal(&place),
        st.tactic,
        escape::terminal(&st.title),
        escape::terminal(&st.hunt),
        shown.join(", ")
    )
}
