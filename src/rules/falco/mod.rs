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

#[derive(Debug, Clone)]
struct Exception {
    name: String,
    fields: Value,
    comps: Value,
    values: Vec<Value>,
}

#[derive(Debug, Clone)]
struct RuleDef {
    name: String,
    file: usize,
    desc: String,
    condition: String,
    output: String,
    priority: String,
    tags: Vec<String>,
    enabled: bool,
    source: String,
    exceptions: Vec<Exception>,
}

#[derive(Debug, Default)]
struct Defs {
    lists: BTreeMap<String, Vec<String>>,
    macros: BTreeMap<String, String>,
    rules: Vec<RuleDef>,
    problems: Vec<Unsupported>,
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The scalars of a YAML list (nothing for anything else).
fn list(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| s.iter().filter_map(scalar).collect())
        .unwrap_or_default()
}

/// The scalars of a YAML list, or the one scalar given instead of a list.
fn one_or_list(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(_) => list(v),
        v => scalar(v).into_iter().collect(),
    }
}

fn text(v: &Value) -> String {
    scalar(v).unwrap_or_default().trim().to_string()
}

/// `append` (old style) or the `override` mode of one key: `append`, `replace` or absent.
fn mode(item: &Value, key: &str) -> Option<String> {
    if item["append"].as_bool() == Some(true) {
        return Some("append".into());
    }
    item["override"][key].as_str().map(str::to_string)
}

impl Defs {
    fn problem(&mut self, file: &str, title: &str, why: String) {
        self.problems.push(Unsupported {
            file: file.into(),
            title: title.into(),
            reasons: vec![why],
        });
    }

    fn load(&mut self, file: usize, path: &str, doc: &Value) {
        let Some(items) = doc.as_sequence() else {
            if !doc.is_null() {
                self.problem(path, "(file)", "not a list of Falco items".into());
            }
            return;
        };
        for item in items {
            if let Some(name) = item["list"].as_str() {
                let values = list(&item["items"]);
                match (mode(item, "items").as_deref(), self.lists.get_mut(name)) {
                    (Some("append"), Some(l)) => l.extend(values),
                    (Some("append"), None) => {
                        self.problem(path, name, "appends to a list never defined".into())
                    }
                    _ => {
                        self.lists.insert(name.into(), values);
                    }
                }
            } else if let Some(name) = item["macro"].as_str() {
                let cond = text(&item["condition"]);
                match (
                    mode(item, "condition").as_deref(),
                    self.macros.get_mut(name),
                ) {
                    (Some("append"), Some(c)) => {
                        c.push(' ');
                        c.push_str(&cond);
                    }
                    (Some("append"), None) => {
                        self.problem(path, name, "appends to a macro never defined".into())
                    }
                    _ => {
                        self.macros.insert(name.into(), cond);
                    }
                }
            } else if let Some(name) = item["rule"].as_str() {
                self.rule(file, path, name, item);
            } else if item.get("required_engine_version").is_none()
                && item.get("required_plugin_versions").is_none()
            {
                self.problem(
                    path,
                    "(item)",
                    "an item that is no list, macro or rule".into(),
                );
            }
        }
    }

    fn rule(&mut self, file: usize, path: &str, name: &str, item: &Value) {
        let exceptions = |v: &Value| -> Vec<Exception> {
            v.as_sequence()
                .map(|s| {
                    s.iter()
                        .map(|e| Exception {
                            name: text(&e["name"]),
                            fields: e["fields"].clone(),
                            comps: e["comps"].clone(),
                            values: e["values"].as_sequence().cloned().unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let is_change = item["append"].as_bool() == Some(true) || item.get("override").is_some();
        let existing = self.rules.iter().position(|r| r.name == name);
        match existing {
            Some(i) if is_change => {
                let r = &mut self.rules[i];
                let append = |key: &str| mode(item, key).as_deref() == Some("append");
                if item.get("condition").is_some() {
                    let c = text(&item["condition"]);
                    if append("condition") {
                        r.condition = format!("{} {c}", r.condition);
                    } else {
                        r.condition = c;
                    }
                }
                if item.get("exceptions").is_some() {
                    let new = exceptions(&item["exceptions"]);
                    if append("exceptions") {
                        for e in new {
                            match r.exceptions.iter_mut().find(|x| x.name == e.name) {
                                Some(x) => x.values.extend(e.values),
                                None => r.exceptions.push(e),
                            }
                        }
                    } else {
                        r.exceptions = new;
                    }
                }
                if item.get("tags").is_some() {
                    let new = list(&item["tags"]);
                    if append("tags") {
                        r.tags.extend(new);
                    } else {
                        r.tags = new;
                    }
                }
                for (key, slot) in [
                    ("output", &mut r.output),
                    ("priority", &mut r.priority),
                    ("desc", &mut r.desc),
                ] {
                    if item.get(key).is_some() {
                        *slot = text(&item[key]);
                    }
                }
                if let Some(e) = item["enabled"].as_bool() {
                    r.enabled = e;
                }
            }
            None if is_change => {
                self.problem(path, name, "changes a rule never defined".into());
            }
            Some(i) if item.get("condition").is_none() => {
                // `- rule: X` with `enabled: false` only: switches an existing rule.
                if let Some(e) = item["enabled"].as_bool() {
                    self.rules[i].enabled = e;
                }
            }
            _ => {
                let def = RuleDef {
                    name: name.into(),
                    file,
                    desc: text(&item["desc"]),
                    condition: text(&item["condition"]),
                    output: text(&item["output"]),
                    priority: text(&item["priority"]),
                    tags: list(&item["tags"]),
                    enabled: item["enabled"].as_bool().unwrap_or(true),
                    source: item["source"].as_str().unwrap_or("syscall").into(),
                    exceptions: exceptions(&item["exceptions"]),
                };
                match existing {
                    Some(i) => {
                        self.rules[i] = RuleDef {
                            file: self.rules[i].file,
                            ..def
                        }
                    }
                    None => self.rules.push(def),
                }
            }
        }
    }
}

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

// ---- conditions ----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Comma,
    Quoted(String),
    Word(String),
    Op(String),
}

fn tokenize(s: &str) -> std::result::Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '"' | '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err("a quoted string is not closed".into()),
                        Some('\\') if b.get(i + 1).is_some() => {
                            v.push(b[i + 1]);
                            i += 2;
                        }
                        Some(&q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            v.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Quoted(v));
            }
            '=' | '!' | '<' | '>' => {
                let two: String = b[i..(i + 2).min(b.len())].iter().collect();
                let op = if ["==", "!=", "<=", ">="].contains(&two.as_str()) {
                    two
                } else if c == '!' {
                    return Err("a lone `!`".into());
                } else {
                    c.to_string()
                };
                i += op.len();
                out.push(Tok::Op(if op == "==" { "=".into() } else { op }));
            }
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_whitespace() && !"(),\"'=!<>".contains(b[i]) {
                    i += 1;
                }
                out.push(Tok::Word(b[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

const WORD_OPS: [&str; 14] = [
    "contains",
    "icontains",
    "bcontains",
    "startswith",
    "bstartswith",
    "endswith",
    "glob",
    "iglob",
    "pmatch",
    "in",
    "intersects",
    "exists",
    "regex",
    "bicontains",
];

#[derive(Debug, Clone)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: String,
        op: String,
        values: Vec<String>,
        list: bool,
    },
}

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    defs: &'a Defs,
    depth: usize,
    /// Tokens and list items the rule's condition may still expand to, shared by the macros
    /// it names: depth alone does not bound the size (a macro naming the next twice doubles
    /// at every level).
    budget: std::rc::Rc<std::cell::Cell<usize>>,
}

/// Tokens and list items (macros and lists expanded) one condition may grow to. The largest
/// upstream rule's condition expands to a few thousand.
const MAX_EXPANDED: usize = 100_000;

type Parsed<T> = std::result::Result<T, String>;

impl<'a> Parser<'a> {
    fn new(text: &str, defs: &'a Defs, depth: usize) -> Parsed<Self> {
        let budget = std::rc::Rc::new(std::cell::Cell::new(MAX_EXPANDED));
        Self::with_budget(text, defs, depth, budget)
    }

    fn with_budget(
        text: &str,
        defs: &'a Defs,
        depth: usize,
        budget: std::rc::Rc<std::cell::Cell<usize>>,
    ) -> Parsed<Self> {
        let parser = Self {
            toks: tokenize(text)?,
            at: 0,
            defs,
            depth,
            budget,
        };
        parser.spend(parser.toks.len())?;
        Ok(parser)
    }

    /// Takes `n` from the budget, or fails once it is spent.
    fn spend(&self, n: usize) -> Parsed<()> {
        match self.budget.get().checked_sub(n) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(format!(
                "the condition expands to more than {MAX_EXPANDED} tokens and list items \
                 (macros or lists that name each other many times over)"
            )),
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn whole(mut self) -> Parsed<Expr> {
        let e = self.or()?;
        match self.peek() {
            None => Ok(e),
            Some(t) => Err(format!("unexpected {t:?} after a complete condition")),
        }
    }

    /// `item (word item)*`, as one `make` node when there is more than one.
    fn chain(
        &mut self,
        word: &str,
        item: fn(&mut Self) -> Parsed<Expr>,
        make: fn(Vec<Expr>) -> Expr,
    ) -> Parsed<Expr> {
        let mut parts = vec![item(self)?];
        while self.is_word(word) {
            self.next();
            parts.push(item(self)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one")
        } else {
            make(parts)
        })
    }

    fn or(&mut self) -> Parsed<Expr> {
        self.chain("or", Self::and, Expr::Or)
    }

    fn and(&mut self) -> Parsed<Expr> {
        self.chain("and", Self::not, Expr::And)
    }

    fn not(&mut self) -> Parsed<Expr> {
        if self.is_word("not") {
            self.next();
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Parsed<Expr> {
        match self.next() {
            Some(Tok::Open) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::Close) => Ok(e),
                    _ => Err("a parenthesis is not closed".into()),
                }
            }
            Some(Tok::Word(w)) => {
                let op = match self.peek() {
                    Some(Tok::Op(o)) => Some(o.clone()),
                    Some(Tok::Word(o)) if WORD_OPS.contains(&o.as_str()) => Some(o.clone()),
                    Some(Tok::Open) => {
                        return Err(format!("{w}(...): field transformers are not supported"))
                    }
                    _ => None,
                };
                match op {
                    Some(op) => {
                        self.next();
                        self.comparison(w, op)
                    }
                    None => self.macro_use(&w),
                }
            }
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("the condition ends early".into()),
        }
    }

    fn macro_use(&mut self, name: &str) -> Parsed<Expr> {
        let Some(cond) = self.defs.macros.get(name) else {
            return Err(format!(
                "{name:?} is neither a macro nor a field with an operator"
            ));
        };
        if self.depth >= MAX_NESTING {
            return Err(format!(
                "macro {name:?} nests more than {MAX_NESTING} deep (a cycle?)"
            ));
        }
        Parser::with_budget(cond, self.defs, self.depth + 1, self.budget.clone())?
            .whole()
            .map_err(|e| format!("in macro {name}: {e}"))
    }

    fn value(&mut self) -> Parsed<String> {
        match self.next() {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => {
                if self.peek() == Some(&Tok::Open) {
                    return Err(format!(
                        "{w}(...) as a value (field comparison or transformer) is not supported"
                    ));
                }
                Ok(w)
            }
            // `evt.dir = <`
            Some(Tok::Op(o)) if o == "<" || o == ">" => Ok(o),
            other => Err(format!("expected a value, found {other:?}")),
        }
    }

    fn expand(&self, item: &str, out: &mut Vec<String>, depth: usize) -> Parsed<()> {
        self.spend(1)?;
        match self.defs.lists.get(item) {
            Some(items) if depth < MAX_NESTING => {
                for i in items {
                    self.expand(i, out, depth + 1)?;
                }
                Ok(())
            }
            Some(_) => Err(format!("list {item:?} nests too deep (a cycle?)")),
            None => {
                // Items are condition tokens: `'"10.0.0.0/8"'` in YAML is the quoted string.
                let unquoted = ['"', '\'']
                    .iter()
                    .find_map(|q| item.strip_prefix(*q).and_then(|i| i.strip_suffix(*q)));
                out.push(unquoted.unwrap_or(item).to_string());
                Ok(())
            }
        }
    }

    fn comparison(&mut self, field: String, op: String) -> Parsed<Expr> {
        let mut values = Vec::new();
        let mut list = false;
        match op.as_str() {
            "exists" => {}
            "in" | "intersects" | "pmatch" => {
                list = true;
                if self.next() != Some(Tok::Open) {
                    return Err(format!("{field} {op} needs a parenthesised list"));
                }
                loop {
                    match self.next() {
                        Some(Tok::Close) => break,
                        Some(Tok::Comma) => {}
                        Some(Tok::Word(w)) => self.expand(&w, &mut values, 0)?,
                        Some(Tok::Quoted(q)) => values.push(q),
                        other => return Err(format!("unexpected {other:?} in a list")),
                    }
                }
            }
            _ => {
                let v = self.value()?;
                // A list name as a scalar value is a Falco error too; compare with its text.
                values.push(v);
            }
        }
        Ok(Expr::Cmp {
            field,
            op,
            values,
            list,
        })
    }
}

// ---- SQL ----

/// What a Falco field is over the events.
enum Field {
    Text(String),
    Int(String),
    Bool(String),
    /// An address column for `fd.*net` (CIDR tests).
    Net(Vec<String>),
    /// Either side: `fd.ip`, `fd.port` (true when either matches).
    Either(Vec<String>, bool),
    /// Every ancestor's name (`proc.aname` without an index).
    AnyAncestor,
    EvtType,
    EvtDir,
    Unknown(String),
}

const SOCKET_EVENTS: &str =
    "('connect', 'accept', 'accept4', 'bind', 'listen', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg')";

fn fd_kind(labels: [&str; 4]) -> String {
    format!(
        "CASE WHEN fd_sip IS NOT NULL THEN CASE WHEN strpos(fd_sip, ':') > 0 THEN '{}' ELSE '{}' END \
         WHEN fd_name LIKE '/%' AND evt_type IN {SOCKET_EVENTS} THEN '{}' \
         WHEN fd_name LIKE '/%' THEN '{}' END",
        labels[1], labels[0], labels[2], labels[3]
    )
}

fn ancestor_index(field: &str, base: &str) -> Option<std::result::Result<usize, String>> {
    let rest = field
        .strip_prefix(base)?
        .strip_prefix('[')?
        .strip_suffix(']')?;
    Some(
        rest.parse::<usize>()
            .map_err(|_| format!("{field}: the index must be a number")),
    )
}

struct Gen<'a> {
    opts: &'a Options,
    why: Vec<String>,
    /// Deepest ancestor level the SQL reads (0 or 1: no ancestry join).
    depth: usize,
    assumed: BTreeSet<String>,
}

impl Gen<'_> {
    fn field(&mut self, name: &str) -> Field {
        if let Some(v) = self.opts.assume.get(name) {
            self.assumed.insert(format!("{name}={v}"));
            return Field::Text(quote(v));
        }
        let text = |s: &str| Field::Text(s.to_string());
        let int = |s: &str| Field::Int(s.to_string());
        let rawres = "coalesce(evt_arg_int(evt_args, 'res'), evt_arg_int(evt_args, 'fd'))";
        let remote_is_client = "evt_type IN ('accept', 'accept4')";
        let side = |client: &str, server: &str, remote: bool| {
            let (a, b) = if remote {
                (client, server)
            } else {
                (server, client)
            };
            format!("CASE WHEN {remote_is_client} THEN {a} ELSE {b} END")
        };
        match name {
            "evt.type" => Field::EvtType,
            "evt.dir" => Field::EvtDir,
            "evt.num" => int("evt_num"),
            "evt.args" => text("evt_args"),
            "evt.rawres" => int(rawres),
            "evt.res" => Field::Text(format!(
                "CASE WHEN {rawres} >= 0 THEN 'SUCCESS' ELSE \
                 nullif(regexp_replace(coalesce(evt_arg(evt_args, 'res'), evt_arg(evt_args, 'fd')), '^[^(]*[(]([A-Z0-9_]+)[)].*$', '$1'), '') END"
            )),
            "evt.is_open_read" | "evt.is_open_write" => {
                let flags = if name.ends_with("read") {
                    "O_RDONLY|O_RDWR"
                } else {
                    "O_WRONLY|O_RDWR"
                };
                Field::Bool(format!(
                    "(evt_type IN ('open', 'openat', 'openat2') AND regexp_like(coalesce(evt_arg(evt_args, 'flags'), ''), '{flags}'))"
                ))
            }
            "fd.name" | "fd.nameraw" => text("fd_name"),
            "fd.num" => int("evt_arg_int(evt_args, 'fd')"),
            "fd.typechar" => Field::Text(fd_kind(["4", "6", "u", "f"])),
            "fd.type" => Field::Text(fd_kind(["ipv4", "ipv6", "unix", "file"])),
            "fd.directory" => text(
                "CASE WHEN fd_name LIKE '/%' AND fd_sip IS NULL THEN \
                 coalesce(nullif(regexp_replace(fd_name, '/[^/]*$', ''), ''), '/') END",
            ),
            "fd.filename" => {
                text("CASE WHEN fd_name LIKE '/%' AND fd_sip IS NULL THEN regexp_replace(fd_name, '^.*/', '') END")
            }
            "fd.sip" => text("fd_sip"),
            "fd.cip" => text("fd_cip"),
            "fd.sport" => int("fd_sport"),
            "fd.cport" => int("fd_cport"),
            "fd.rip" => Field::Text(side("fd_cip", "fd_sip", true)),
            "fd.lip" => Field::Text(side("fd_cip", "fd_sip", false)),
            "fd.rport" => Field::Int(side("fd_cport", "fd_sport", true)),
            "fd.lport" => Field::Int(side("fd_cport", "fd_sport", false)),
            "fd.ip" => Field::Either(vec!["fd_sip".into(), "fd_cip".into()], false),
            "fd.port" => Field::Either(vec!["fd_sport".into(), "fd_cport".into()], true),
            "fd.net" => Field::Net(vec!["fd_sip".into(), "fd_cip".into()]),
            "fd.snet" => Field::Net(vec!["fd_sip".into()]),
            "fd.cnet" => Field::Net(vec!["fd_cip".into()]),
            "fd.rnet" => Field::Net(vec![side("fd_cip", "fd_sip", true)]),
            "fd.lnet" => Field::Net(vec![side("fd_cip", "fd_sip", false)]),
            "proc.name" => text("proc_name"),
            "proc.pname" => text("proc_pname"),
            "proc.cmdline" => text("proc_cmdline"),
            "proc.pcmdline" => text("proc_pcmdline"),
            "proc.pid" => int("proc_pid"),
            "proc.ppid" => int("proc_ppid"),
            "proc.exe" => text("split_part(proc_cmdline, ' ', 1)"),
            "proc.pexe" => text("split_part(proc_pcmdline, ' ', 1)"),
            "proc.args" => text(
                "CASE WHEN strpos(proc_cmdline, ' ') > 0 \
                 THEN substr(proc_cmdline, strpos(proc_cmdline, ' ') + 1) ELSE '' END",
            ),
            "proc.aname" => {
                self.depth = MAX_ANCESTORS;
                Field::AnyAncestor
            }
            _ => {
                for (base, names) in [("proc.aname", true), ("proc.apid", false)] {
                    if let Some(i) = ancestor_index(name, base) {
                        return match i {
                            Err(e) => Field::Unknown(e),
                            Ok(i) if i > MAX_ANCESTORS => Field::Unknown(format!(
                                "{name}: ancestry is rebuilt {MAX_ANCESTORS} levels deep"
                            )),
                            Ok(i) => {
                                self.depth = self.depth.max(i);
                                let col = ancestor_column(i, names);
                                if names {
                                    Field::Text(col)
                                } else {
                                    Field::Int(col)
                                }
                            }
                        };
                    }
                }
                if let Some(arg) = name
                    .strip_prefix("evt.arg.")
                    .or_else(|| name.strip_prefix("evt.arg[").and_then(|r| r.strip_suffix(']')))
                {
                    if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                        return Field::Text(format!("evt_arg(evt_args, {})", quote(arg)));
                    }
                    return Field::Unknown(format!("{name}: arguments are taken by name"));
                }
                Field::Unknown(unknown_reason(name))
            }
        }
    }

    fn cmp(&mut self, field: &str, op: &str, values: &[String], list: bool) -> String {
        let f = self.field(field);
        let bad = |why: &mut Vec<String>, msg: String| {
            why.push(msg);
            "FALSE".to_string()
        };
        let sql = match f {
            Field::Unknown(reason) => return bad(&mut self.why, reason),
            Field::EvtType => {
                let exec_any = self.opts.process_events == ProcessEvents::Any;
                let (exec, other): (Vec<&String>, Vec<&String>) = values
                    .iter()
                    .partition(|v| exec_any && EXEC_TYPES.contains(&v.as_str()));
                match op {
                    "=" | "in" | "intersects" if !exec.is_empty() => {
                        let mut parts = vec!["proc_name IS NOT NULL".to_string()];
                        if !other.is_empty() {
                            let other: Vec<String> = other.into_iter().cloned().collect();
                            parts.push(self.text_cmp("evt_type", "in", &other, true));
                        }
                        format!("({})", parts.join(" OR "))
                    }
                    _ => self.text_cmp("evt_type", op, values, list),
                }
            }
            Field::EvtDir => match op {
                "=" | "!=" if values.len() == 1 => format!(
                    "(evt_dir IS NULL OR evt_dir {} {})",
                    if op == "=" { "=" } else { "<>" },
                    quote(&values[0])
                ),
                _ => bad(
                    &mut self.why,
                    format!("evt.dir {op}: only = and != are supported"),
                ),
            },
            Field::Text(expr) => self.text_cmp(&expr, op, values, list),
            Field::Int(expr) => self.int_cmp(&expr, op, values),
            Field::Bool(expr) => match (op, values.first().map(|v| v.to_ascii_lowercase())) {
                ("=" | "!=", Some(v)) if v == "true" || v == "false" => {
                    let want = (v == "true") == (op == "=");
                    if want {
                        expr
                    } else {
                        format!("NOT {expr}")
                    }
                }
                _ => bad(
                    &mut self.why,
                    format!("{field} {op}: expected = true or = false"),
                ),
            },
            Field::Net(cols) => {
                let any = |nets: &[String]| -> String {
                    let parts: Vec<String> = cols
                        .iter()
                        .flat_map(|c| {
                            nets.iter()
                                .map(move |n| format!("cidr_match({c}, {})", quote(n)))
                        })
                        .collect();
                    if parts.is_empty() {
                        "FALSE".into()
                    } else {
                        format!("({})", parts.join(" OR "))
                    }
                };
                match op {
                    "=" | "in" | "intersects" => any(values),
                    "!=" => format!("NOT coalesce({}, FALSE)", any(values)),
                    _ => bad(
                        &mut self.why,
                        format!("{field} {op}: networks compare with =, != or in"),
                    ),
                }
            }
            Field::Either(cols, numeric) => {
                let one = |g: &mut Self, c: &str, op: &str| {
                    if numeric {
                        g.int_cmp(c, op, values)
                    } else {
                        g.text_cmp(c, op, values, list)
                    }
                };
                match op {
                    "=" | "in" | "intersects" | "exists" => {
                        let parts: Vec<String> = cols
                            .iter()
                            .map(|c| format!("coalesce({}, FALSE)", one(self, c, op)))
                            .collect();
                        format!("({})", parts.join(" OR "))
                    }
                    "!=" => {
                        let parts: Vec<String> = cols
                            .iter()
                            .map(|c| format!("coalesce({}, FALSE)", one(self, c, "=")))
                            .collect();
                        format!("NOT ({})", parts.join(" OR "))
                    }
                    _ => bad(
                        &mut self.why,
                        format!("{field} {op}: not supported on either side"),
                    ),
                }
            }
            Field::AnyAncestor => {
                let levels: Vec<String> = (1..=MAX_ANCESTORS)
                    .map(|i| ancestor_column(i, true))
                    .collect();
                match op {
                    "!=" => {
                        let parts: Vec<String> = levels
                            .iter()
                            .map(|c| {
                                format!("coalesce({}, FALSE)", self.text_cmp(c, "=", values, list))
                            })
                            .collect();
                        format!("NOT ({})", parts.join(" OR "))
                    }
                    _ => {
                        let parts: Vec<String> = levels
                            .iter()
                            .map(|c| {
                                format!("coalesce({}, FALSE)", self.text_cmp(c, op, values, list))
                            })
                            .collect();
                        format!("({})", parts.join(" OR "))
                    }
                }
            }
        };
        format!("coalesce({sql}, FALSE)")
    }

    fn text_cmp(&mut self, x: &str, op: &str, values: &[String], list: bool) -> String {
        let one = values
            .first()
            .map(|v| quote(v))
            .unwrap_or_else(|| "''".into());
        match op {
            "exists" => format!("{x} IS NOT NULL"),
            "=" if !list => format!("{x} = {one}"),
            "!=" if !list => format!("{x} <> {one}"),
            "<" | "<=" | ">" | ">=" => format!("{x} {op} {one}"),
            "in" | "intersects" => {
                if values.is_empty() {
                    "FALSE".into()
                } else {
                    let items: Vec<String> = values.iter().map(|v| quote(v)).collect();
                    format!("{x} IN ({})", items.join(", "))
                }
            }
            "contains" => format!("strpos({x}, {one}) > 0"),
            "icontains" => format!("strpos(lower({x}), lower({one})) > 0"),
            "startswith" => format!("starts_with({x}, {one})"),
            "endswith" => format!("ends_with({x}, {one})"),
            "regex" => format!("regexp_like({x}, {one})"),
            "glob" | "iglob" => {
                let flags = if op == "iglob" { "(?is)" } else { "(?s)" };
                let re = values.first().map(|v| glob_regex(v)).unwrap_or_default();
                format!("regexp_like({x}, {})", quote(&format!("{flags}^{re}$")))
            }
            "pmatch" => {
                let parts: Vec<String> = values
                    .iter()
                    .map(|p| {
                        let p = p.trim_end_matches('/');
                        if p.is_empty() {
                            format!("starts_with({x}, '/')")
                        } else {
                            format!(
                                "({x} = {} OR starts_with({x}, {}))",
                                quote(p),
                                quote(&format!("{p}/"))
                            )
                        }
                    })
                    .collect();
                if parts.is_empty() {
                    "FALSE".into()
                } else {
                    format!("({})", parts.join(" OR "))
                }
            }
            other => {
                self.why
                    .push(format!("operator {other:?} is not supported here"));
                "FALSE".into()
            }
        }
    }

    fn int_cmp(&mut self, x: &str, op: &str, values: &[String]) -> String {
        if op == "exists" {
            return format!("{x} IS NOT NULL");
        }
        let mut nums = Vec::new();
        for v in values {
            match v.parse::<i64>() {
                Ok(n) => nums.push(n.to_string()),
                Err(_) => {
                    self.why.push(format!("{v:?} compared with a number"));
                    return "FALSE".into();
                }
            }
        }
        match op {
            "=" | "!=" | "<" | "<=" | ">" | ">=" if nums.len() == 1 => {
                let op = if op == "!=" { "<>" } else { op };
                format!("{x} {op} {}", nums[0])
            }
            "in" | "intersects" if nums.is_empty() => "FALSE".into(),
            "in" | "intersects" => format!("{x} IN ({})", nums.join(", ")),
            other => {
                self.why
                    .push(format!("operator {other:?} is not supported on a number"));
                "FALSE".into()
            }
        }
    }

    fn expr(&mut self, e: &Expr) -> String {
        match e {
            Expr::And(parts) => {
                let p: Vec<String> = parts.iter().map(|x| self.expr(x)).collect();
                format!("({})", p.join(" AND "))
            }
            Expr::Or(parts) => {
                let p: Vec<String> = parts.iter().map(|x| self.expr(x)).collect();
                format!("({})", p.join(" OR "))
            }
            Expr::Not(inner) => format!("(NOT {})", self.expr(inner)),
            Expr::Cmp {
                field,
                op,
                values,
                list,
            } => self.cmp(field, op, values, *list),
        }
    }
}

fn ancestor_column(level: usize, names: bool) -> String {
    match (level, names) {
        (0, true) => "proc_name".into(),
        (0, false) => "proc_pid".into(),
        (1, true) => "proc_pname".into(),
        (1, false) => "proc_ppid".into(),
        (n, true) => format!("a{n}_name"),
        (n, false) => format!("a{n}_pid"),
    }
}

fn unknown_reason(name: &str) -> String {
    let family = name.split('.').next().unwrap_or_default();
    let what = match family {
        "container" => "no container fields",
        "k8s" | "ka" => "no Kubernetes fields",
        "user" | "group" => "no user or group fields",
        "thread" => "no thread or capability fields",
        _ => "no such field",
    };
    format!("{name}: the SysArmor template has {what}")
}

/// A Falco glob (`*`, `?`, `[...]`) as a regular expression body.
fn glob_regex(g: &str) -> String {
    let mut out = String::new();
    let mut in_class = false;
    for c in g.chars() {
        match c {
            '[' if !in_class => {
                in_class = true;
                out.push('[');
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '*' if !in_class => out.push_str(".*"),
            '?' if !in_class => out.push('.'),
            c if !in_class && "\\.+()|{}^$".contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    if in_class {
        // An unclosed class matches the bracket literally.
        out = out.replacen('[', "\\[", 1);
    }
    out
}

/// The ancestry CTEs for rules reading `proc.aname[N]` with N >= 2.
fn ancestry_sql(depth: usize) -> String {
    let mut cols = String::new();
    let mut joins = String::new();
    for n in 2..=depth {
        let (prev_pid, prev_name) = if n == 2 {
            ("e.proc_ppid".to_string(), "e.proc_pname".to_string())
        } else {
            (format!("p{}.ppid", n - 1), format!("p{}.pname", n - 1))
        };
        cols += &format!(", p{n}.pname AS a{n}_name, p{n}.ppid AS a{n}_pid");
        joins += &format!(
            "\n  LEFT JOIN procs p{n} ON p{n}.host = e.collector_id AND p{n}.pid = {prev_pid} AND p{n}.name = {prev_name}"
        );
    }
    format!(
        "WITH procs AS (\n  SELECT collector_id AS host, proc_pid AS pid, proc_name AS name,\n         \
         first_value(proc_ppid ORDER BY event_time, seq) AS ppid,\n         \
         first_value(proc_pname ORDER BY event_time, seq) AS pname\n  \
         FROM events WHERE proc_pid IS NOT NULL AND proc_name IS NOT NULL\n  \
         GROUP BY collector_id, proc_pid, proc_name),\n\
         events_anc AS (\n  SELECT e.*{cols}\n  FROM events e{joins})\n"
    )
}

/// The output text as SQL: literal parts and `%field` values (`<NA>` when unknown or missing).
fn output_sql(g: &mut Gen, output: &str) -> String {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let chars: Vec<char> = output.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '%' {
            let paren = chars.get(i + 1) == Some(&'(');
            let start = i + 1 + usize::from(paren);
            let mut j = start;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || "._[]".contains(chars[j]))
            {
                j += 1;
            }
            let name: String = chars[start..j].iter().collect();
            let name = name.trim_end_matches('.').to_string();
            if name.contains('.') {
                if !lit.is_empty() {
                    parts.push(quote(&std::mem::take(&mut lit)));
                }
                // Output fields never make a rule unsupported: unknown ones print `<NA>`.
                let saved = (g.why.len(), g.depth);
                let expr = match g.field(&name) {
                    Field::Text(e) | Field::Int(e) | Field::Bool(e) => {
                        format!("coalesce(CAST({e} AS VARCHAR), '<NA>')")
                    }
                    Field::EvtType => "coalesce(evt_type, '<NA>')".into(),
                    Field::EvtDir => "coalesce(evt_dir, '<NA>')".into(),
                    _ => {
                        g.depth = saved.1;
                        "'<NA>'".into()
                    }
                };
                g.why.truncate(saved.0);
                parts.push(expr);
                i = start + name.len();
                if paren && chars.get(i) == Some(&')') {
                    i += 1;
                }
                continue;
            }
        }
        let c = if chars[i].is_control() { ' ' } else { chars[i] };
        lit.push(c);
        i += 1;
    }
    if !lit.is_empty() {
        parts.push(quote(&lit));
    }
    match parts.len() {
        0 => "''".into(),
        1 => parts.pop().expect("one"),
        _ => format!("concat({})", parts.join(", ")),
    }
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
  output: Shell %proc.name under %proc.pname (cmd=%proc.cmdline user=%user.name gp=%proc.aname[2])
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
  condition: spawned_process and container.id != host
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
        assert_eq!(c.hunts.len(), 1, "{:?}", c.unsupported);
        let h = &c.hunts[0];
        assert_eq!(h.name, "falco/shell_under_web_server");
        assert_eq!(h.severity, Severity::Medium);
        assert_eq!(h.attack, vec!["T1059.004"]);
        // The appended list item reached the rule through the nested list.
        assert!(h.sql.contains("'dash'"), "{}", h.sql);
        assert!(h.sql.contains("'zsh'"), "{}", h.sql);
        // Both exceptions, the original and the appended one.
        assert!(h.sql.contains("sh -c /usr/local/bin/health"), "{}", h.sql);
        assert!(h.sql.contains("sh -c echo ok"), "{}", h.sql);
        // Ancestry for aname[2] in the output; the unknown user field prints <NA>.
        assert!(h.sql.contains("events_anc"), "{}", h.sql);
        assert!(h.sql.contains("'<NA>'"), "{}", h.sql);
        let counts = &c.files[0];
        assert_eq!(
            (
                counts.rules,
                counts.compiled,
                counts.unsupported,
                counts.disabled
            ),
            (3, 1, 1, 1)
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
        opts.assume.insert("container.id".into(), "host".into());
        let c = compile_one(RULES, &opts);
        assert_eq!(c.hunts.len(), 2);
        assert!(c
            .hunts
            .iter()
            .any(|h| h.description.contains("assumed: container.id=host")));
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
