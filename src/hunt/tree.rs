//! `jsreplay tree`: the ancestors and descendants of a process on one host, rebuilt from the
//! `proc_*` fields of every event (the SysArmor shape has no fork/execve events: a process is
//! known by what it touched, and its parent by the `proc_ppid`/`proc_pname` it carried).
//!
//! A process is keyed by (host, pid, first seen), never by pid alone: the same pid seen with a
//! different parent pid, or with a different program after a silence longer than the reuse gap,
//! is a new process (PID reuse). A child's parent is the process of its parent pid that was alive
//! when the child was first seen, preferring one with the parent name the child reported;
//! parents never seen acting on their own are known from their children's fields alone.
//! Reparenting (the parent pid changing while the program stays) keeps the process and records
//! the first parent. Cycles (a pid reported as its own parent after an exec) are cut.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::escape;
use crate::sql::query;

/// A silence after which the same pid running another program is taken for a new process.
pub const REUSE_GAP_SECONDS: i64 = 600;

/// One process as the events show it.
#[derive(Debug, Clone, Serialize)]
pub struct Process {
    pub pid: i64,
    pub ppid: Option<i64>,
    pub name: String,
    pub cmdline: String,
    /// First and last event time, microseconds since the epoch.
    #[serde(skip)]
    first_us: i64,
    #[serde(skip)]
    last_us: i64,
    pub first_seen: String,
    pub last_seen: String,
    /// Events the process itself caused (0: known only as a parent).
    pub events: u64,
    pub first_seq: Option<i64>,
    #[serde(skip)]
    parent: Option<usize>,
    /// The parent name the process reported, for matching.
    #[serde(skip)]
    pname: String,
}

/// Every process of one host, with parent links.
#[derive(Debug, Default)]
pub struct Forest {
    procs: Vec<Process>,
}

/// An event's process fields.
struct Obs {
    pid: i64,
    ppid: Option<i64>,
    name: String,
    cmdline: String,
    pname: String,
    pcmdline: String,
    t: i64,
    seq: i64,
}

/// Levels of indentation a text tree shows before it writes the depth as a number.
const MAX_INDENT: usize = 32;
/// Levels of nesting the JSON tree has before deeper descendants are listed flat.
const MAX_JSON_DEPTH: usize = 100;

fn iso(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
        .unwrap_or_default()
}

impl Forest {
    /// Loads the processes of `host` from the dataset in `ctx`.
    pub async fn load(ctx: &SessionContext, host: &str) -> Result<Forest> {
        let sql = format!(
            "SELECT proc_pid, proc_ppid, proc_name, proc_cmdline, proc_pname, proc_pcmdline, \
             coalesce(event_time, nats_time) AS t, seq FROM events \
             WHERE collector_id = '{}' AND proc_pid IS NOT NULL ORDER BY t, seq",
            host.replace('\'', "''")
        );
        let batches = query::collect_last(ctx, &sql).await?;
        let mut obs = Vec::new();
        for b in &batches {
            let int = |i: usize| b.column(i).as_primitive::<Int64Type>().clone();
            let text = |i: usize| b.column(i).as_string::<i32>().clone();
            let (pid, ppid, seq) = (int(0), int(1), int(7));
            let (name, cmd, pname, pcmd) = (text(2), text(3), text(4), text(5));
            let t = b
                .column(6)
                .as_primitive::<TimestampMicrosecondType>()
                .clone();
            for i in 0..b.num_rows() {
                let s = |a: &datafusion::arrow::array::StringArray| {
                    if a.is_null(i) {
                        String::new()
                    } else {
                        a.value(i).to_string()
                    }
                };
                obs.push(Obs {
                    pid: pid.value(i),
                    ppid: (!ppid.is_null(i)).then(|| ppid.value(i)),
                    name: s(&name),
                    cmdline: s(&cmd),
                    pname: s(&pname),
                    pcmdline: s(&pcmd),
                    t: t.value(i),
                    seq: seq.value(i),
                });
            }
        }
        if obs.is_empty() {
            return Err(Error::Usage(format!(
                "no process events for host {host:?} in this dataset"
            )));
        }
        Ok(Self::build(obs))
    }

    fn build(obs: Vec<Obs>) -> Forest {
        let mut f = Forest::default();
        let mut by_pid: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        // Processes from their own events.
        for o in &obs {
            let current = by_pid.get(&o.pid).and_then(|v| v.last().copied());
            let same = current.is_some_and(|i| {
                let p = &f.procs[i];
                let reused =
                    p.ppid.is_some() && o.ppid.is_some() && p.ppid != o.ppid && p.name != o.name
                        || (p.name != o.name && o.t - p.last_us > REUSE_GAP_SECONDS * 1_000_000);
                !reused
            });
            match (same, current) {
                (true, Some(i)) => {
                    let p = &mut f.procs[i];
                    p.last_us = o.t;
                    p.events += 1;
                    // Shapes without lineage (Falco alerts) leave the parent to later events.
                    if p.ppid.is_none() && o.ppid.is_some() {
                        p.ppid = o.ppid;
                        p.pname.clone_from(&o.pname);
                    }
                    // After an exec the newest program names the process.
                    p.name.clone_from(&o.name);
                    p.cmdline.clone_from(&o.cmdline);
                }
                _ => {
                    by_pid.entry(o.pid).or_default().push(f.procs.len());
                    f.procs.push(Process {
                        pid: o.pid,
                        ppid: o.ppid,
                        name: o.name.clone(),
                        cmdline: o.cmdline.clone(),
                        first_us: o.t,
                        last_us: o.t,
                        first_seen: String::new(),
                        last_seen: String::new(),
                        events: 1,
                        first_seq: Some(o.seq),
                        parent: None,
                        pname: o.pname.clone(),
                    });
                }
            }
        }
        // Parents known only from their children's fields.
        for o in &obs {
            let Some(ppid) = o.ppid else { continue };
            if ppid == o.pid || f.alive(&by_pid, ppid, o.t, &o.pname).is_some() {
                continue;
            }
            let known = by_pid.get(&ppid).and_then(|v| {
                v.iter()
                    .copied()
                    .find(|&i| f.procs[i].events == 0 && f.procs[i].name == o.pname)
            });
            match known {
                Some(i) => {
                    let p = &mut f.procs[i];
                    p.first_us = p.first_us.min(o.t);
                    p.last_us = p.last_us.max(o.t);
                }
                None => {
                    by_pid.entry(ppid).or_default().push(f.procs.len());
                    f.procs.push(Process {
                        pid: ppid,
                        ppid: None,
                        name: o.pname.clone(),
                        cmdline: o.pcmdline.clone(),
                        first_us: o.t,
                        last_us: o.t,
                        first_seen: String::new(),
                        last_seen: String::new(),
                        events: 0,
                        first_seq: None,
                        parent: None,
                        pname: String::new(),
                    });
                }
            }
        }
        // Links: the parent alive when the child was first seen.
        for i in 0..f.procs.len() {
            let p = &f.procs[i];
            let parent = match p.ppid {
                Some(ppid) if ppid != p.pid => f.alive(&by_pid, ppid, p.first_us, &p.pname),
                _ => None,
            };
            f.procs[i].parent = parent.filter(|&j| j != i);
        }
        for p in &mut f.procs {
            p.first_seen = iso(p.first_us);
            p.last_seen = iso(p.last_us);
        }
        f.cut_cycles();
        f
    }

    /// The process of `pid` alive at `t` (seen around it), preferring the reported name.
    fn alive(
        &self,
        by_pid: &BTreeMap<i64, Vec<usize>>,
        pid: i64,
        t: i64,
        name: &str,
    ) -> Option<usize> {
        let candidates = by_pid.get(&pid)?;
        let started_before = |&&i: &&usize| self.procs[i].first_us <= t;
        let named = |&&i: &&usize| name.is_empty() || self.procs[i].name == name;
        candidates
            .iter()
            .filter(started_before)
            .filter(named)
            .max_by_key(|&&i| self.procs[i].first_us)
            .or_else(|| {
                candidates
                    .iter()
                    .filter(named)
                    .min_by_key(|&&i| self.procs[i].first_us)
            })
            .copied()
    }

    /// Cuts every parent cycle (a process its own ancestor, from pid reuse or forged fields), in
    /// one pass: each chain is walked once, nodes on the current walk marked, so a chain of
    /// 100 k processes costs 100 k steps, not 100 k squared.
    fn cut_cycles(&mut self) {
        const NEW: u8 = 0;
        const ON_WALK: u8 = 1;
        const DONE: u8 = 2;
        let mut state = vec![NEW; self.procs.len()];
        let mut walk = Vec::new();
        for i in 0..self.procs.len() {
            if state[i] != NEW {
                continue;
            }
            let mut at = i;
            state[at] = ON_WALK;
            walk.push(at);
            while let Some(p) = self.procs[at].parent {
                match state[p] {
                    ON_WALK => {
                        self.procs[at].parent = None;
                        break;
                    }
                    DONE => break,
                    _ => {
                        state[p] = ON_WALK;
                        walk.push(p);
                        at = p;
                    }
                }
            }
            for j in walk.drain(..) {
                state[j] = DONE;
            }
        }
    }

    /// A process.
    pub fn process(&self, i: usize) -> &Process {
        &self.procs[i]
    }

    /// A process and its ancestors, the process first (cycles are cut when the forest is built).
    pub fn lineage(&self, i: usize) -> Vec<usize> {
        let mut out = vec![i];
        while let Some(p) = self.procs[*out.last().expect("not empty")].parent {
            out.push(p);
        }
        out
    }

    /// Processes that had `pid`, oldest first.
    pub fn with_pid(&self, pid: i64) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.procs.len())
            .filter(|&i| self.procs[i].pid == pid)
            .collect();
        v.sort_by_key(|&i| self.procs[i].first_us);
        v
    }

    /// The process of `pid` alive at `at` (or the latest one), and how many had that pid.
    pub fn pick(&self, pid: i64, at: Option<DateTime<Utc>>) -> Result<(usize, usize)> {
        let all = self.with_pid(pid);
        let chosen = match at.map(|t| t.timestamp_micros()) {
            Some(t) => all
                .iter()
                .copied()
                .filter(|&i| self.procs[i].first_us <= t)
                .max_by_key(|&i| self.procs[i].first_us)
                .or(all.first().copied()),
            None => all.last().copied(),
        };
        chosen
            .map(|c| (c, all.len()))
            .ok_or_else(|| Error::Usage(format!("no process with pid {pid} on this host")))
    }

    /// Every process's children, sorted by first sighting then pid: one pass over the forest
    /// instead of a scan per process (a chain of 100 k processes was quadratic).
    fn child_index(&self) -> Vec<Vec<usize>> {
        let mut kids = vec![Vec::new(); self.procs.len()];
        for (c, p) in self.procs.iter().enumerate() {
            if let Some(parent) = p.parent {
                kids[parent].push(c);
            }
        }
        for v in &mut kids {
            v.sort_by_key(|&c| (self.procs[c].first_us, self.procs[c].pid));
        }
        kids
    }

    /// Indentation for `depth`: three spaces a level up to [`MAX_INDENT`] levels, then the
    /// depth as a number, so a deep chain costs a bounded width per line.
    fn indent(depth: usize) -> String {
        if depth <= MAX_INDENT {
            "   ".repeat(depth)
        } else {
            format!("{}(depth {depth}) ", "   ".repeat(MAX_INDENT))
        }
    }

    fn line(&self, i: usize) -> String {
        let p = &self.procs[i];
        let seen = if p.events == 0 {
            format!(
                "seen as a parent {}",
                &p.first_seen[11..23.min(p.first_seen.len())]
            )
        } else {
            format!(
                "{} .. {}, {} event{}, first seq {}",
                &p.first_seen[11..23.min(p.first_seen.len())],
                &p.last_seen[11..23.min(p.last_seen.len())],
                p.events,
                if p.events == 1 { "" } else { "s" },
                p.first_seq.unwrap_or_default()
            )
        };
        format!(
            "{}[{}] {}  ({seen})",
            escape::terminal(&p.name),
            p.pid,
            escape::terminal(&p.cmdline)
        )
    }

    /// The indented tree: ancestors from the oldest down, the process marked, its descendants.
    pub fn render(&self, target: usize) -> String {
        let mut chain = self.lineage(target);
        chain.reverse();
        let mut out = String::new();
        for (depth, &i) in chain.iter().enumerate() {
            let mark = if i == target { "=> " } else { "" };
            out += &format!("{}{mark}{}\n", Self::indent(depth), self.line(i));
        }
        // Descendants depth first, with an explicit stack: no recursion, whatever the depth.
        let kids = self.child_index();
        let mut stack: Vec<(usize, usize)> = kids[target]
            .iter()
            .rev()
            .map(|&c| (c, chain.len()))
            .collect();
        while let Some((i, depth)) = stack.pop() {
            out += &format!("{}{}\n", Self::indent(depth), self.line(i));
            stack.extend(kids[i].iter().rev().map(|&c| (c, depth + 1)));
        }
        out
    }

    /// The same as JSON: ancestors (oldest first), the process, and nested descendants.
    pub fn to_json(&self, target: usize) -> serde_json::Value {
        let ancestors: Vec<serde_json::Value> = self.lineage(target)[1..]
            .iter()
            .rev()
            .map(|&p| serde_json::to_value(&self.procs[p]).expect("serializes"))
            .collect();
        let kids = self.child_index();
        serde_json::json!({
            "ancestors": ancestors,
            "process": self.subtree(target, &kids),
        })
    }

    /// The nested JSON of `root` and its descendants, built with an explicit stack (post
    /// order); below [`MAX_JSON_DEPTH`] levels a process lists the rest of its line flat, in
    /// `deeper_descendants` (each with `depth` and `parent_pid`), so no reader or writer of the
    /// JSON has to recurse 100 k levels.
    fn subtree(&self, root: usize, kids: &[Vec<usize>]) -> serde_json::Value {
        enum Step {
            Enter(usize, usize),
            Leave(usize),
        }
        let value = |i: usize| serde_json::to_value(&self.procs[i]).expect("serializes");
        let mut stack = vec![Step::Enter(root, 0)];
        let mut built: Vec<serde_json::Value> = Vec::new();
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter(i, depth) if depth >= MAX_JSON_DEPTH => {
                    let mut v = value(i);
                    v["children"] = serde_json::Value::Array(Vec::new());
                    let mut flat = Vec::new();
                    let mut pending: Vec<(usize, usize)> =
                        kids[i].iter().rev().map(|&c| (c, depth + 1)).collect();
                    while let Some((c, d)) = pending.pop() {
                        let mut cv = value(c);
                        cv["depth"] = d.into();
                        cv["parent_pid"] = self.procs[self.procs[c].parent.unwrap_or(c)].pid.into();
                        flat.push(cv);
                        pending.extend(kids[c].iter().rev().map(|&g| (g, d + 1)));
                    }
                    v["deeper_descendants"] = flat.into();
                    built.push(v);
                }
                Step::Enter(i, depth) => {
                    stack.push(Step::Leave(i));
                    stack.extend(kids[i].iter().rev().map(|&c| Step::Enter(c, depth + 1)));
                }
                Step::Leave(i) => {
                    let children = built.split_off(built.len() - kids[i].len());
                    let mut v = value(i);
                    v["children"] = children.into();
                    built.push(v);
                }
            }
        }
        built.pop().expect("the root was built")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line of 100 k processes (a fork bomb's shape, or forged ppids) renders, nests and
    /// serializes without recursion and in linear time.
    #[test]
    fn a_hundred_thousand_levels() {
        let n = 100_000i64;
        let obs: Vec<Obs> = (0..n).map(|i| o(i + 2, i + 1, "sh", "sh", i)).collect();
        let f = Forest::build(obs);
        let (leaf, _) = f.pick(n + 1, None).unwrap();
        let text = f.render(leaf);
        assert_eq!(text.lines().count() as i64, n + 1);
        assert!(text.lines().all(|l| l.len() < 400));
        let (top, _) = f.pick(2, None).unwrap();
        let json = f.to_json(top);
        let text = serde_json::to_string(&json).unwrap();
        assert!(text.contains("deeper_descendants"));
        let mut node = &json["process"];
        let mut depth = 0;
        while let Some(c) = node["children"].as_array().and_then(|c| c.first()) {
            node = c;
            depth += 1;
        }
        assert_eq!(depth, MAX_JSON_DEPTH);
        let flat = node["deeper_descendants"].as_array().unwrap();
        assert_eq!(flat.len() as i64, n - 1 - MAX_JSON_DEPTH as i64);
    }

    fn o(pid: i64, ppid: i64, name: &str, pname: &str, t_s: i64) -> Obs {
        Obs {
            pid,
            ppid: Some(ppid),
            name: name.into(),
            cmdline: name.into(),
            pname: pname.into(),
            pcmdline: pname.into(),
            t: t_s * 1_000_000,
            seq: t_s,
        }
    }

    #[test]
    fn pid_reuse_and_unseen_parents() {
        let f = Forest::build(vec![
            o(100, 1, "logrotate", "systemd", 0),
            o(50, 1, "php-fpm", "systemd", 10),
            o(100, 50, "bash", "php-fpm", 3600),
            o(101, 100, "cat", "bash", 3700),
            o(200, 150, "id", "sh", 3800), // parent 150 never acts on its own
        ]);
        let reused = f.with_pid(100);
        assert_eq!(reused.len(), 2, "pid 100 is two processes");
        let (bash, n) = f.pick(100, None).unwrap();
        assert_eq!((f.procs[bash].name.as_str(), n), ("bash", 2));
        let (old, _) = f
            .pick(100, Some(DateTime::from_timestamp(5, 0).unwrap()))
            .unwrap();
        assert_eq!(f.procs[old].name, "logrotate");
        let tree = f.render(bash);
        assert!(
            tree.contains("php-fpm[50]")
                && tree.contains("=> bash[100]")
                && tree.contains("cat[101]"),
            "{tree}"
        );
        assert!(!tree.contains("logrotate"), "{tree}");
        let (id, _) = f.pick(200, None).unwrap();
        assert!(f.render(id).contains("sh[150]"));
    }

    #[test]
    fn reparenting_keeps_the_process() {
        // The parent dies; the orphan is re-parented to init and keeps running.
        let f = Forest::build(vec![
            o(200, 1, "launcher", "systemd", 0),
            o(300, 200, "worker", "launcher", 5),
            o(300, 1, "worker", "systemd", 50),
            o(301, 300, "child", "worker", 60),
        ]);
        assert_eq!(f.with_pid(300).len(), 1, "one process, not two");
        let (child, _) = f.pick(301, None).unwrap();
        let tree = f.render(child);
        assert!(
            tree.contains("launcher[200]") && tree.contains("worker[300]"),
            "{tree}"
        );
    }

    #[test]
    fn self_parent_cycles_are_cut() {
        let f = Forest::build(vec![o(7, 7, "id", "sh", 1), o(8, 7, "x", "id", 2)]);
        let (x, _) = f.pick(8, None).unwrap();
        let tree = f.render(x);
        assert!(tree.contains("id[7]") && tree.contains("=> x[8]"), "{tree}");
    }
}
