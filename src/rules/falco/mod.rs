//! Falco rule files compiled into hunts: Falco's detection logic run over history.
//!
//! Files load in order as Falco loads them: `list`, `macro` and `rule` items, with `append:
//! true` and `override:` (append or replace of `items`, `condition`, `exceptions`, `output`,
//! `priority`, `desc`, `tags`, `enabled`). A rule's condition, its macros expanded and its
//! `exceptions` added as `and not (...)`, becomes one `WHERE` over `events`; its `output` becomes
//! the hit's `message` column; its priority the hunt's severity; its `T…` tags the ATT&CK ids.
//!
//! Fields the SysArmor template carries map to columns (`proc.name`, `proc.cmdline`, `fd.name`,
//! `evt.type`, …); others are derived: `proc.exe`/`proc.args` from the command line, `evt.arg.X`
//! and `fd.num`/`evt.rawres` from `evt.args`, `fd.typechar`/`fd.directory`/`fd.rip`… from the
//! file descriptor, and `proc.aname[N]`/`proc.apid[N]` (N <= 8, and `proc.aname` for any of
//! them) from the process ancestry rebuilt in SQL: each (host, pid, name) is one process whose
//! parent is the first `proc_ppid`/`proc_pname` it reported, joined upwards level by level.
//! A rule that needs any other field (user, container, Kubernetes, tty, executable path, …) is
//! reported as unsupported with the reason, never run with a part left out, unless the team
//! states the field's value for its fleet with an assumption (`container.id=host`), which the
//! hunt's description then repeats. Comparisons follow Falco: a missing value makes a
//! comparison false (so `not` of it true), strings compare case-sensitively.
//!
//! With [`ProcessEvents::Any`] (the default), `evt.type` tests for `execve`/`execveat` (the
//! `spawned_process` macro) match any event of a process, because the SysArmor collector drops
//! execve events; with `Exec` they mean what they say.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_yaml::Value;

use crate::rules::rule::{sql_string as quote, Hunt, ProcessEvents, Severity, Unsupported};

mod load;
mod parse;
mod sql;

use load::*;
use parse::*;
use sql::*;

/// How the rules are compiled.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub process_events: ProcessEvents,
    /// Values a team states for fields its events lack (`container.id` → `host`).
    pub assume: BTreeMap<String, String>,
}

/// Rules of one file and what became of them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileCount {
    pub file: String,
    pub rules: usize,
    pub compiled: usize,
    pub unsupported: usize,
    pub disabled: usize,
}

/// The outcome of compiling a set of rule files.
#[derive(Debug, Default)]
pub struct Compiled {
    pub hunts: Vec<Hunt>,
    /// Rules not compiled (their reasons), disabled rules, and items that failed to load.
    pub unsupported: Vec<Unsupported>,
    pub files: Vec<FileCount>,
}

/// Deepest ancestor `proc.aname[N]` reaches (and `proc.aname` searches).
const MAX_ANCESTORS: usize = 8;
/// Macros nest at most this deep (a macro naming itself is an error, not a stack overflow).
const MAX_NESTING: usize = 64;
const EXEC_TYPES: [&str; 2] = ["execve", "execveat"];

/// Compiles rule files given as (name, YAML text), loaded in order.
pub fn compile_texts(files: &[(String, String)], opts: &Options) -> Compiled {
    let mut defs = Defs::default();
    for (i, (name, text)) in files.iter().enumerate() {
        match crate::rules::rule::parse_yaml(text) {
            Ok(doc) => defs.load(i, name, &doc),
            Err(e) => defs.problem(name, "(file)", format!("not YAML: {e}")),
        }
    }
    let mut out = Compiled {
        unsupported: std::mem::take(&mut defs.problems),
        files: files
            .iter()
            .map(|(f, _)| FileCount {
                file: f.clone(),
                ..FileCount::default()
            })
            .collect(),
        ..Compiled::default()
    };
    let mut names = BTreeSet::new();
    for rule in &defs.rules {
        let count = &mut out.files[rule.file];
        count.rules += 1;
        let file = files[rule.file].0.clone();
        if !rule.enabled {
            count.disabled += 1;
            out.unsupported.push(Unsupported {
                file,
                title: rule.name.clone(),
                reasons: vec!["disabled in its file (enabled: false)".into()],
            });
            continue;
        }
        match compile_rule(&defs, rule, opts) {
            Ok(mut hunt) => {
                let mut name = hunt.name.clone();
                let mut n = 2;
                while !names.insert(name.clone()) {
                    name = format!("{}_{n}", hunt.name);
                    n += 1;
                }
                hunt.name = name;
                count.compiled += 1;
                out.hunts.push(hunt);
            }
            Err(reasons) => {
                count.unsupported += 1;
                out.unsupported.push(Unsupported {
                    file,
                    title: rule.name.clone(),
                    reasons,
                });
            }
        }
    }
    out
}

fn severity(priority: &str) -> Severity {
    match priority.to_ascii_lowercase().as_str() {
        "emergency" | "alert" | "critical" => Severity::Critical,
        "error" => Severity::High,
        "warning" => Severity::Medium,
        _ => Severity::Low,
    }
}

fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// The `and not (...)` of a rule's exceptions.
fn exceptions(defs: &Defs, rule: &RuleDef) -> std::result::Result<String, String> {
    let mut clauses = Vec::new();
    for e in &rule.exceptions {
        let fields = one_or_list(&e.fields);
        let single = !matches!(e.fields, Value::Sequence(_));
        let comps: Vec<String> = match &e.comps {
            Value::Sequence(_) => list(&e.comps),
            Value::Null => vec![(if single { "in" } else { "=" }).to_string(); fields.len()],
            v => vec![scalar(v).unwrap_or_default()],
        };
        if fields.is_empty() || comps.len() != fields.len() {
            return Err(format!(
                "exception {:?}: {} fields and {} comparisons",
                e.name,
                fields.len(),
                comps.len()
            ));
        }
        let render = |field: &str, comp: &str, v: &Value| -> String {
            let items = one_or_list(v);
            let cond = if matches!(comp, "in" | "intersects" | "pmatch") {
                // A list's name stays bare, so that it expands as in a condition.
                let list: Vec<String> = items
                    .iter()
                    .map(|i| {
                        if defs.lists.contains_key(i) {
                            i.clone()
                        } else {
                            cond_value(i)
                        }
                    })
                    .collect();
                format!("{field} {comp} ({})", list.join(", "))
            } else {
                format!(
                    "{field} {comp} {}",
                    cond_value(items.first().map_or("", |s| s))
                )
            };
            format!("({cond})")
        };
        if single {
            // `fields: proc.name, comps: in, values: [a, b]`: one comparison against the list.
            if !e.values.is_empty() {
                let all = Value::Sequence(e.values.clone());
                clauses.push(render(&fields[0], &comps[0], &all));
            }
            continue;
        }
        for tuple in &e.values {
            let Some(items) = tuple.as_sequence() else {
                return Err(format!("exception {:?}: a value is not a list", e.name));
            };
            if items.len() != fields.len() {
                return Err(format!(
                    "exception {:?}: a value has {} items for {} fields",
                    e.name,
                    items.len(),
                    fields.len()
                ));
            }
            let parts: Vec<String> = fields
                .iter()
                .zip(&comps)
                .zip(items)
                .map(|((f, c), v)| render(f, c, v))
                .collect();
            clauses.push(format!("({})", parts.join(" and ")));
        }
    }
    Ok(if clauses.is_empty() {
        String::new()
    } else {
        format!(" and not ({})", clauses.join(" or "))
    })
}

/// A value written back into condition text: quoted so that it stays one token.
fn cond_value(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn compile_rule(
    defs: &Defs,
    rule: &RuleDef,
    opts: &Options,
) -> std::result::Result<Hunt, Vec<String>> {
    if rule.source != "syscall" {
        return Err(vec![format!(
            "source {:?}: only syscall rules run over these events",
            rule.source
        )]);
    }
    if rule.condition.is_empty() {
        return Err(vec!["the rule has no condition".into()]);
    }
    let cond = format!(
        "({}){}",
        rule.condition,
        exceptions(defs, rule).map_err(|e| vec![e])?
    );
    let expr = Parser::new(&cond, defs, 0)
        .and_then(Parser::whole)
        .map_err(|e| vec![e])?;
    let mut g = Gen {
        opts,
        why: Vec::new(),
        depth: 0,
        assumed: BTreeSet::new(),
    };
    let where_sql = g.expr(&expr);
    if !g.why.is_empty() {
        let mut seen = BTreeSet::new();
        g.why.retain(|w| seen.insert(w.clone()));
        return Err(g.why);
    }
    // Output fields may read deeper ancestors than the condition; `depth` only grows.
    let message = output_sql(&mut g, &rule.output);
    let (with, from) = if g.depth >= 2 {
        (ancestry_sql(g.depth), "events_anc")
    } else {
        (String::new(), "events")
    };
    let sql = format!(
        "{with}SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline, \
         proc_pname, fd_name,\n       {message} AS message\nFROM {from}\nWHERE {where_sql}\nORDER BY event_time, seq"
    );
    let attack = rule
        .tags
        .iter()
        .filter(|t| {
            let t = t.as_bytes();
            t.len() >= 5 && t[0] == b'T' && t[1..5].iter().all(u8::is_ascii_digit)
        })
        .cloned()
        .collect();
    let mut description = rule.desc.split_whitespace().collect::<Vec<_>>().join(" ");
    if !g.assumed.is_empty() {
        description += &format!(
            " [assumed: {}]",
            g.assumed.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let mut tags = vec!["falco".to_string()];
    tags.extend(rule.tags.iter().cloned());
    Ok(Hunt {
        name: format!("falco/{}", slug(&rule.name)),
        title: rule.name.clone(),
        description,
        attack,
        severity: severity(&rule.priority),
        tags,
        params: Vec::new(),
        sql,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"
- required_engine_version: 0.31.0
- list: shell_binaries
  items: [bash, sh]
- list: more_shells
  items: [shell_binaries, zsh]
- macro: spawned_process
  condition: (evt.type in (execve, execveat))
- macro: shell_procs
  condition: proc.name in (more_shells)
- rule: Shell under web server
  desc: a shell whose parent is a web server
  condition: spawned_process and shell_procs and proc.pname in (nginx, php-fpm8.1)
  output: Shell %proc.name under %proc.pname (cmd=%proc.cmdline user=%user.name tty=%proc.tty gp=%proc.aname[2])
  priority: WARNING
  tags: [host, mitre_execution, T1059.004]
  exceptions:
    - name: health
      fields: [proc.cmdline, proc.pname]
      comps: [startswith, =]
      values:
        - [sh -c /usr/local/bin/health, nginx]
- rule: Shell under web server
  exceptions:
    - name: health
      values:
        - [sh -c echo ok, nginx]
  override:
    exceptions: append
- list: shell_binaries
  items: [dash]
  override:
    items: append
- rule: Needs a container
  desc: x
  condition: spawned_process and container.image.repository = nginx
  output: x
  priority: ERROR
- rule: Root in a container
  desc: x
  condition: spawned_process and user.name = root and user.uid = 0 and container.id != host and proc.exepath = /bin/sh
  output: x
  priority: ERROR
- rule: Off
  desc: x
  condition: proc.name = x
  output: x
  priority: NOTICE
  enabled: false
"#;

    fn compile_one(text: &str, opts: &Options) -> Compiled {
        compile_texts(&[("r.yaml".into(), text.into())], opts)
    }

    #[test]
    fn lists_macros_exceptions_overrides() {
        let c = compile_one(RULES, &Options::default());
        assert_eq!(c.hunts.len(), 2, "{:?}", c.unsupported);
        // User, container id and executable path are columns of the field catalogue.
        let root = c
            .hunts
            .iter()
            .find(|h| h.title == "Root in a container")
            .unwrap();
        for column in [
            "user_name = 'root'",
            "user_uid = 0",
            "container_id",
            "proc_exepath = '/bin/sh'",
        ] {
            assert!(root.sql.contains(column), "{column}: {}", root.sql);
        }
        let h = c
            .hunts
            .iter()
            .find(|h| h.title == "Shell under web server")
            .unwrap();
        assert_eq!(h.name, "falco/shell_under_web_server");
        assert_eq!(h.severity, Severity::Medium);
        assert_eq!(h.attack, vec!["T1059.004"]);
        // The appended list item reached the rule through the nested list.
        assert!(h.sql.contains("'dash'"), "{}", h.sql);
        assert!(h.sql.contains("'zsh'"), "{}", h.sql);
        // Both exceptions, the original and the appended one.
        assert!(h.sql.contains("sh -c /usr/local/bin/health"), "{}", h.sql);
        assert!(h.sql.contains("sh -c echo ok"), "{}", h.sql);
        // Ancestry for aname[2] in the output; a field the events lack (`proc.tty`) prints <NA>,
        // the catalogue's `user.name` is its column.
        assert!(h.sql.contains("events_anc"), "{}", h.sql);
        assert!(h.sql.contains("'<NA>'"), "{}", h.sql);
        assert!(h.sql.contains("user_name"), "{}", h.sql);
        let counts = &c.files[0];
        assert_eq!(
            (
                counts.rules,
                counts.compiled,
                counts.unsupported,
                counts.disabled
            ),
            (4, 2, 1, 1)
        );
        let why = &c
            .unsupported
            .iter()
            .find(|u| u.title == "Needs a container")
            .unwrap()
            .reasons;
        assert!(why[0].contains("container"), "{why:?}");
        // With the team's assumption, the container rule compiles and says so.
        let mut opts = Options::default();
        opts.assume
            .insert("container.image.repository".into(), "".into());
        let c = compile_one(RULES, &opts);
        assert_eq!(c.hunts.len(), 3);
        assert!(c.hunts.iter().any(|h| h
            .description
            .contains("assumed: container.image.repository=")));
    }

    #[test]
    fn operators() {
        let defs = Defs::default();
        let opts = Options::default();
        let sql = |cond: &str| {
            let e = Parser::new(cond, &defs, 0).and_then(Parser::whole).unwrap();
            let mut g = Gen {
                opts: &opts,
                why: vec![],
                depth: 0,
                assumed: BTreeSet::new(),
            };
            let s = g.expr(&e);
            assert!(g.why.is_empty(), "{cond}: {:?}", g.why);
            s
        };
        assert!(sql("fd.name pmatch (/etc, /root/)").contains("starts_with(fd_name, '/etc/')"));
        assert!(sql("fd.name glob '/tmp/*.s?'").contains("'(?s)^/tmp/.*\\.s.$'"));
        assert!(sql("proc.cmdline icontains 'A b'").contains("lower('A b')"));
        assert!(sql("fd.sport >= 1024 and not fd.snet in (\"10.0.0.0/8\")")
            .contains("cidr_match(fd_sip, '10.0.0.0/8')"));
        assert!(sql("evt.dir = <").contains("evt_dir = '<'"));
        assert!(sql("proc.aname in (sshd)").contains("a8_name"));
        assert!(sql("evt.arg.flags contains O_TRUNC").contains("evt_arg(evt_args, 'flags')"));
        assert!(sql("proc.name exists").contains("proc_name IS NOT NULL"));
        assert!(sql("evt.type = execve").contains("proc_name IS NOT NULL"));
        let exec = Options {
            process_events: ProcessEvents::Exec,
            ..Options::default()
        };
        let e = Parser::new("evt.type = execve", &defs, 0)
            .and_then(Parser::whole)
            .unwrap();
        let mut g = Gen {
            opts: &exec,
            why: vec![],
            depth: 0,
            assumed: BTreeSet::new(),
        };
        assert!(g.expr(&e).contains("evt_type = 'execve'"));
    }

    #[test]
    fn hostile_rule_text_stays_data() {
        let rules = "- rule: \"x'; DROP TABLE events; --\"\n  desc: d\n  condition: proc.name = \"a'b\" and fd.name glob \"*'*\"\n  output: \"o' %proc.name\"\n  priority: ERROR\n";
        let c = compile_one(rules, &Options::default());
        let h = &c.hunts[0];
        assert!(h.sql.contains("proc_name = 'a''b'"), "{}", h.sql);
        assert!(!h.sql.contains("DROP"), "{}", h.sql);
        for bad in [
            "- macro: m\n  condition: m\n- rule: r\n  desc: d\n  condition: m\n  output: o\n  priority: ERROR\n",
            "- list: l\n  items: [l]\n- rule: r\n  desc: d\n  condition: proc.name in (l)\n  output: o\n  priority: ERROR\n",
            "- rule: r\n  desc: d\n  condition: (proc.name = a\n  output: o\n  priority: ERROR\n",
            "- rule: r\n  desc: d\n  condition: proc.name = tolower(x)\n  output: o\n  priority: ERROR\n",
            "- rule: r\n  desc: d\n  condition: proc.pid = abc\n  output: o\n  priority: ERROR\n",
            "- rule: r\n  condition: proc.name = \"unclosed\n  output: o\n  priority: ERROR\n",
            "not: [yaml",
        ] {
            let c = compile_one(bad, &Options::default());
            assert!(c.hunts.is_empty(), "{bad}");
            assert!(!c.unsupported.is_empty(), "{bad}");
        }
    }

    /// Macros (and lists) that name the next one twice, 40 levels deep: 2^40 tokens expanded
    /// without a size cap. Refused at once, as unsupported, in bounded time.
    #[test]
    fn doubling_macros_and_lists_are_refused_quickly() {
        let mut macros = String::from("- macro: m0\n  condition: proc.name = x\n");
        let mut lists = String::from("- list: l0\n  items: [a, b]\n");
        for i in 1..=40 {
            macros += &format!("- macro: m{i}\n  condition: (m{p} or m{p})\n", p = i - 1);
            lists += &format!("- list: l{i}\n  items: [l{p}, l{p}]\n", p = i - 1);
        }
        for (text, cond) in [(macros, "m40"), (lists, "proc.name in (l40)")] {
            let rules = format!(
                "{text}- rule: r\n  desc: d\n  condition: {cond}\n  output: o\n  priority: ERROR\n"
            );
            let started = std::time::Instant::now();
            let c = compile_one(&rules, &Options::default());
            assert!(started.elapsed() < std::time::Duration::from_secs(2));
            assert!(c.hunts.is_empty(), "{cond}");
            let why = format!("{:?}", c.unsupported);
            assert!(why.contains("expands to more than"), "{why}");
        }
    }

    /// YAML aliases that name aliases (a "billion laughs" file): refused before it grows.
    #[test]
    fn yaml_alias_bombs_are_refused() {
        // 1,000 leaves, then two levels of 100 aliases each: 10 million nodes from 1,300
        // events (few enough jumps for serde_yaml's own repetition limit).
        let leaves = vec!["x"; 1000].join(", ");
        let mut text = format!("a0: &a0 [{leaves}]\n");
        for i in 1..=2 {
            let refs = vec![format!("*a{}", i - 1); 100].join(", ");
            text += &format!("a{i}: &a{i} [{refs}]\n");
        }
        let started = std::time::Instant::now();
        let e = crate::rules::rule::parse_yaml(&text).unwrap_err();
        assert!(e.contains("more than"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let c = compile_one(&text, &Options::default());
        assert!(c.hunts.is_empty());
        // Small aliases still work.
        let v = crate::rules::rule::parse_yaml("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(v["b"], v["a"]);
    }
}
