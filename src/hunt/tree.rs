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
use crate::hunt::query;

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

    fn cut_cycles(&mut self) {
        for i in 0..self.procs.len() {
            let mut seen = vec![i];
            let mut at = i;
            while let Some(p) = self.procs[at].parent {
                if seen.contains(&p) {
                    self.procs[at].parent = None;
                    break;
                }
                seen.push(p);
                at = p;
            }
        }
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

    fn children(&self, i: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.procs.len())
            .filter(|&c| self.procs[c].parent == Some(i))
            .collect();
        v.sort_by_key(|&c| (self.procs[c].first_us, self.procs[c].pid));
        v
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
        format!("{}[{}] {}  ({seen})", p.name, p.pid, p.cmdline)
    }

    /// The indented tree: ancestors from the oldest down, the process marked, its descendants.
    pub fn render(&self, target: usize) -> String {
        let mut chain = vec![target];
        while let Some(p) = self.procs[*chain.last().expect("non-empty")].parent {
            chain.push(p);
        }
        chain.reverse();
        let mut out = String::new();
        for (depth, &i) in chain.iter().enumerate() {
            let mark = if i == target { "=> " } else { "" };
            out += &format!("{}{mark}{}\n", "   ".repeat(depth), self.line(i));
        }
        self.render_children(target, chain.len(), &mut out);
        out
    }

    fn render_children(&self, i: usize, depth: usize, out: &mut String) {
        for c in self.children(i) {
            *out += &format!("{}{}\n", "   ".repeat(depth), self.line(c));
            self.render_children(c, depth + 1, out);
        }
    }

    /// The same as JSON: ancestors (oldest first), the process, and nested descendants.
    pub fn to_json(&self, target: usize) -> serde_json::Value {
        let mut ancestors = Vec::new();
        let mut at = target;
        while let Some(p) = self.procs[at].parent {
            ancestors.push(serde_json::to_value(&self.procs[p]).expect("serializes"));
            at = p;
        }
        ancestors.reverse();
        serde_json::json!({
            "ancestors": ancestors,
            "process": self.subtree(target),
        })
    }

    fn subtree(&self, i: usize) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.procs[i]).expect("serializes");
        v["children"] = self
            .children(i)
            .into_iter()
            .map(|c| self.subtree(c))
            .collect::<Vec<_>>()
            .into();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
