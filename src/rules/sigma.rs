//! Sigma rules for Linux compiled into hunts: SQL over `events` with the sysdig field mapping.
//!
//! Supported: `logsource` product `linux` with category `process_creation`, `file_event` or
//! `network_connection`; selections as maps (fields ANDed) or lists of maps (ORed), value lists
//! (ORed, or ANDed with `|all`); modifiers `contains`, `startswith`, `endswith`, `all`, `re`,
//! `cidr`, `gt`, `gte`, `lt`, `lte`; `*`/`?` wildcards; `null`; conditions with `and`, `or`,
//! `not`, parentheses, `1 of X*`, `all of X*`, `1 of them`, `all of them`. String matches are
//! case-insensitive, as Sigma specifies (`re` is not). Anything else (another product or
//! category, an unmapped field, another modifier, keyword lists, aggregations) makes the rule
//! unsupported with the reasons listed: a rule is never compiled with a part left out.
//!
//! `network_connection` also maps `Initiated` (true: the process's `connect`; false: an
//! `accept`) and `DestinationHostname` (the host of the first URL in the command line: the
//! template carries no DNS names, so this is the name the process was given, when it was).
//!
//! The SysArmor shape has no execve events, so by default ([`ProcessEvents::Any`]) a
//! `process_creation` rule matches any event of a process whose fields match (the process
//! existed with that image and command line): exec-only would find nothing in that shape. With
//! [`ProcessEvents::Exec`] it matches `execve`/`execveat` events only (producers that keep them,
//! where one hit per start is wanted); `Image`
//! is the executable path when the payload has one, else `/` + the process name, so `endswith`
//! matches on the program name work on every shape.

use std::collections::BTreeMap;

use serde_yaml::Value;

use crate::rules::rule::{sql_string as quote, Hunt, ProcessEvents, Severity, Unsupported};

/// Every rule of these files (path, YAML text): the compiled hunts and the rules left out with
/// their reasons. A hunt is named after its file's stem.
pub fn compile_texts(
    files: &[(String, String)],
    events: ProcessEvents,
) -> (Vec<Hunt>, Vec<Unsupported>) {
    let (mut hunts, mut skipped) = (Vec::new(), Vec::new());
    for (path, text) in files {
        let stem = std::path::Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        match compile(&stem, text, events) {
            Ok(h) => hunts.push(h),
            Err(u) => skipped.push(Unsupported {
                file: path.clone(),
                ..u
            }),
        }
    }
    (hunts, skipped)
}

/// Sigma fields a log source category reads beside the process fields every category has.
fn category_fields(category: &str) -> &'static [&'static str] {
    match category {
        "file_event" => &["TargetFilename"],
        "network_connection" => &["DestinationIp", "DestinationPort", "SourceIp", "SourcePort"],
        _ => &[],
    }
}

/// Sigma's process fields that are plain columns (the rest are derived below).
const PROCESS_FIELDS: [&str; 5] = [
    "CommandLine",
    "ParentCommandLine",
    "User",
    "ProcessId",
    "ParentProcessId",
];

/// What a field maps to in one log source: a column of the field catalogue, or an expression
/// derived from them.
fn field(category: &str, name: &str) -> Option<(&'static str, bool)> {
    // (SQL expression, numeric)
    if !matches!(
        category,
        "process_creation" | "file_event" | "network_connection"
    ) {
        return None;
    }
    if PROCESS_FIELDS.contains(&name) || category_fields(category).contains(&name) {
        return crate::fields::sigma(name).map(|f| (f.column, f.kind == crate::fields::Kind::Int));
    }
    match (category, name) {
        (_, "Image") => Some(("coalesce(proc_exepath, concat('/', proc_name))", false)),
        (_, "ParentImage") => Some(("concat('/', proc_pname)", false)),
        // The name the process was asked to reach: the host of the first URL in its command
        // line (`curl https://x.ngrok.io/...`); the template carries no DNS names.
        ("network_connection", "DestinationHostname") => Some((
            "CASE WHEN regexp_like(proc_cmdline, '[A-Za-z][A-Za-z0-9+.-]*://') THEN \
             regexp_replace(proc_cmdline, '^.*?[A-Za-z][A-Za-z0-9+.-]*://([^/@ ]*@)?([^/:? ]+).*$', '$2') END",
            false,
        )),
        _ => None,
    }
}

/// The events a log source category covers.
fn category_filter(category: &str, events: ProcessEvents) -> Option<&'static str> {
    Some(match category {
        "process_creation" if events == ProcessEvents::Exec => {
            "proc_name IS NOT NULL AND evt_type IN ('execve', 'execveat')"
        }
        "process_creation" => "proc_name IS NOT NULL",
        "file_event" => {
            "fd_name IS NOT NULL AND (evt_type IN ('write', 'creat', 'rename', 'renameat', 'renameat2') \
             OR (evt_type IN ('open', 'openat', 'openat2') AND regexp_like(evt_args, 'O_WRONLY|O_RDWR|O_CREAT')))"
        }
        "network_connection" => "evt_type IN ('connect', 'accept') AND fd_sip IS NOT NULL",
        _ => return None,
    })
}

/// A Sigma string with `*`/`?` wildcards (and `\` escapes) as a LIKE pattern.
fn like_pattern(v: &str, prefix: bool, suffix: bool) -> String {
    let mut out = String::new();
    if prefix {
        out.push('%');
    }
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => {
                let next = chars.next().expect("peeked");
                if next == '\\' {
                    out.push_str("\\\\");
                } else {
                    out.push(next);
                }
            }
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    if suffix {
        out.push('%');
    }
    out
}

/// Compiles one field condition (`Field|mods: value(s)`).
fn field_condition(category: &str, key: &str, value: &Value, why: &mut Vec<String>) -> String {
    let mut parts = key.split('|');
    let name = parts.next().unwrap_or_default();
    let mods: Vec<&str> = parts.collect();
    if category == "network_connection" && name == "Initiated" && mods.is_empty() {
        // Initiated: true is the process's own connect; false an accepted connection.
        return match value {
            Value::Bool(b) => initiated(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => initiated(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => initiated(false),
            other => {
                why.push(format!("Initiated: expected true or false, not {other:?}"));
                "FALSE".into()
            }
        };
    }
    let Some((expr, numeric)) = field(category, name) else {
        why.push(format!("field {name:?} has no mapping for {category}"));
        return "FALSE".into();
    };
    let mut all = false;
    let mut kind = "eq";
    for m in &mods {
        match *m {
            "all" => all = true,
            "contains" | "startswith" | "endswith" | "re" | "cidr" | "gt" | "gte" | "lt"
            | "lte" => kind = m,
            other => why.push(format!("modifier {other:?} of {name} is not supported")),
        }
    }
    let values: Vec<&Value> = match value {
        Value::Sequence(v) => v.iter().collect(),
        v => vec![v],
    };
    let mut terms = Vec::new();
    for v in values {
        let text = match v {
            Value::Null => {
                terms.push(format!("{expr} IS NULL"));
                continue;
            }
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                why.push(format!("value {other:?} of {name} is not a scalar"));
                continue;
            }
        };
        let term = match kind {
            "re" => format!("regexp_like({expr}, {})", quote(&text)),
            "cidr" => format!("cidr_match({expr}, {})", quote(&text)),
            "gt" | "gte" | "lt" | "lte" => {
                let op = match kind {
                    "gt" => ">",
                    "gte" => ">=",
                    "lt" => "<",
                    _ => "<=",
                };
                match text.parse::<f64>() {
                    Ok(_) => format!("{expr} {op} {text}"),
                    Err(_) => {
                        why.push(format!("{name}|{kind} needs a number, not {text:?}"));
                        "FALSE".into()
                    }
                }
            }
            "eq" if numeric => match text.parse::<i64>() {
                Ok(n) => format!("{expr} = {n}"),
                Err(_) => format!(
                    "CAST({expr} AS VARCHAR) ILIKE {}",
                    quote(&like_pattern(&text, false, false))
                ),
            },
            _ => {
                let (pre, suf) = match kind {
                    "contains" => (true, true),
                    "startswith" => (false, true),
                    "endswith" => (true, false),
                    _ => (false, false),
                };
                let target = if numeric {
                    format!("CAST({expr} AS VARCHAR)")
                } else {
                    expr.to_string()
                };
                format!("{target} ILIKE {}", quote(&like_pattern(&text, pre, suf)))
            }
        };
        terms.push(term);
    }
    if terms.is_empty() {
        return "FALSE".into();
    }
    let joiner = if all { " AND " } else { " OR " };
    format!("({})", terms.join(joiner))
}

fn initiated(yes: bool) -> String {
    if yes {
        "(evt_type = 'connect')".into()
    } else {
        "(evt_type IN ('accept', 'accept4'))".into()
    }
}

/// Compiles one named selection.
fn selection(category: &str, name: &str, value: &Value, why: &mut Vec<String>) -> String {
    match value {
        Value::Mapping(m) => {
            let mut parts = Vec::new();
            for (k, v) in m {
                match k.as_str() {
                    Some(k) => parts.push(field_condition(category, k, v, why)),
                    None => why.push(format!("selection {name} has a non-text key")),
                }
            }
            if parts.is_empty() {
                "TRUE".into()
            } else {
                format!("({})", parts.join(" AND "))
            }
        }
        Value::Sequence(items) if items.iter().all(|i| matches!(i, Value::Mapping(_))) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| selection(category, name, i, why))
                .collect();
            format!("({})", parts.join(" OR "))
        }
        Value::Sequence(_) | Value::String(_) => {
            why.push(format!(
                "selection {name} is a keyword search (no field): not supported"
            ));
            "FALSE".into()
        }
        other => {
            why.push(format!(
                "selection {name} has an unexpected form: {other:?}"
            ));
            "FALSE".into()
        }
    }
}

/// A tiny recursive-descent parser for Sigma conditions over compiled selections.
struct Cond<'a> {
    tokens: Vec<String>,
    at: usize,
    sels: &'a BTreeMap<String, String>,
    why: &'a mut Vec<String>,
}

impl Cond<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }
    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }
    /// `item (word item)*`, joined with `op` in parentheses when there is more than one.
    fn chain(&mut self, word: &str, op: &str, item: fn(&mut Self) -> String) -> String {
        let mut parts = vec![item(self)];
        while self.peek() == Some(word) {
            self.next();
            parts.push(item(self));
        }
        if parts.len() == 1 {
            parts.pop().expect("one")
        } else {
            format!("({})", parts.join(op))
        }
    }
    fn or(&mut self) -> String {
        self.chain("or", " OR ", Self::and)
    }
    fn and(&mut self) -> String {
        self.chain("and", " AND ", Self::not)
    }
    fn not(&mut self) -> String {
        if self.peek() == Some("not") {
            self.next();
            return format!("(NOT coalesce({}, FALSE))", self.not());
        }
        self.atom()
    }
    fn matching(&mut self, pattern: &str) -> Vec<String> {
        let found: Vec<String> = self
            .sels
            .iter()
            .filter(|(name, _)| {
                pattern == "them"
                    || match pattern.strip_suffix('*') {
                        Some(prefix) => name.starts_with(prefix),
                        None => *name == pattern,
                    }
            })
            .map(|(_, sql)| sql.clone())
            .collect();
        if found.is_empty() {
            self.why.push(format!(
                "condition names {pattern:?}, which matches no selection"
            ));
        }
        found
    }
    fn atom(&mut self) -> String {
        match self.next().as_deref() {
            Some("(") => {
                let inner = self.or();
                if self.next().as_deref() != Some(")") {
                    self.why
                        .push("condition has an unclosed parenthesis".into());
                }
                inner
            }
            Some(q @ ("1" | "all" | "any")) if self.peek() == Some("of") => {
                let q = q.to_string();
                self.next();
                let pattern = self.next().unwrap_or_default();
                let parts = self.matching(&pattern);
                if parts.is_empty() {
                    return "FALSE".into();
                }
                let joiner = if q == "all" { " AND " } else { " OR " };
                format!("({})", parts.join(joiner))
            }
            Some(name) if self.sels.contains_key(name) => self.sels[name].clone(),
            Some(other) => {
                self.why
                    .push(format!("condition term {other:?} is not supported"));
                "FALSE".into()
            }
            None => {
                self.why.push("condition ends early".into());
                "FALSE".into()
            }
        }
    }
}

fn tokens(condition: &str) -> Vec<String> {
    condition
        .replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
        .map(|t| match t.to_ascii_lowercase().as_str() {
            w @ ("and" | "or" | "not" | "of" | "all" | "them") => w.to_string(),
            _ => t.to_string(),
        })
        .collect()
}

/// Compiles one rule's YAML text into a hunt named `sigma/<stem>`.
pub fn compile(
    stem: &str,
    text: &str,
    events: ProcessEvents,
) -> std::result::Result<Hunt, Unsupported> {
    let mut why = Vec::new();
    let doc: Value = match crate::rules::rule::parse_yaml(text) {
        Ok(v) => v,
        Err(e) => {
            return Err(Unsupported {
                file: String::new(),
                title: stem.into(),
                reasons: vec![format!("not YAML: {e}")],
            })
        }
    };
    let s = |v: &Value| v.as_str().map(str::to_string);
    let title = s(&doc["title"]).unwrap_or_else(|| stem.to_string());
    let product = s(&doc["logsource"]["product"]).unwrap_or_default();
    let category = s(&doc["logsource"]["category"]).unwrap_or_default();
    if product != "linux" {
        why.push(format!(
            "logsource product {product:?}: only linux is mapped"
        ));
    }
    let filter = category_filter(&category, events);
    if filter.is_none() {
        why.push(format!(
            "logsource category {category:?}: only process_creation, file_event, network_connection are mapped"
        ));
    }
    let detection = doc["detection"].as_mapping().cloned().unwrap_or_default();
    let mut sels = BTreeMap::new();
    let mut condition = None;
    for (k, v) in &detection {
        match k.as_str() {
            Some("condition") => condition = v.as_str().map(str::to_string),
            Some("timeframe") => why.push("timeframe (aggregation) is not supported".into()),
            Some(name) => {
                let sql = selection(&category, name, v, &mut why);
                sels.insert(name.to_string(), sql);
            }
            None => why.push("detection has a non-text key".into()),
        }
    }
    let condition = match condition {
        Some(c) if c.contains('|') => {
            why.push(format!(
                "condition {c:?} uses an aggregation: not supported"
            ));
            String::new()
        }
        Some(c) => c,
        None => {
            why.push("detection has no single condition string".into());
            String::new()
        }
    };
    let mut parser = Cond {
        tokens: tokens(&condition),
        at: 0,
        sels: &sels,
        why: &mut why,
    };
    let where_sql = parser.or();
    if parser.at < parser.tokens.len() {
        why.push(format!("condition {condition:?} has trailing terms"));
    }
    if !why.is_empty() {
        return Err(Unsupported {
            file: String::new(),
            title,
            reasons: why,
        });
    }
    let severity = match s(&doc["level"]).as_deref() {
        Some("critical") => Severity::Critical,
        Some("high") => Severity::High,
        Some("medium") => Severity::Medium,
        Some("low") => Severity::Low,
        _ => Severity::Info,
    };
    let tags: Vec<String> = doc["tags"]
        .as_sequence()
        .map(|t| {
            t.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let attack = tags
        .iter()
        .filter_map(|t| {
            t.strip_prefix("attack.t")
                .map(|id| format!("T{}", id.to_uppercase()))
        })
        .collect();
    let sql = format!(
        "SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline, \
         proc_pname, proc_pcmdline, fd_name, fd_sip, fd_sport\nFROM events\nWHERE ({})\n  AND {where_sql}\nORDER BY event_time, seq",
        filter.expect("checked above")
    );
    Ok(Hunt {
        name: format!("sigma/{stem}"),
        title,
        description: s(&doc["description"])
            .unwrap_or_default()
            .trim()
            .replace('\n', " "),
        attack,
        severity,
        tags: vec!["sigma".into(), category],
        params: Vec::new(),
        sql,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Sigma rule whose selection values are YAML aliases naming aliases: refused as not
    /// YAML jsreplay reads, at once, instead of expanded to ten million values.
    #[test]
    fn alias_bombs_are_refused() {
        let leaves = vec!["x"; 1000].join(", ");
        let refs = |n: usize| vec![format!("*v{n}"); 100].join(", ");
        let rule = format!(
            "title: t\nlogsource: {{product: linux, category: process_creation}}\n\
             v0: &v0 [{leaves}]\nv1: &v1 [{}]\nv2: &v2 [{}]\n\
             detection:\n  sel:\n    CommandLine|contains: *v2\n  condition: sel\n",
            refs(0),
            refs(1)
        );
        let started = std::time::Instant::now();
        let e = compile("bomb", &rule, ProcessEvents::Any).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(
            e.reasons.iter().any(|r| r.contains("more than")),
            "{:?}",
            e.reasons
        );
    }

    #[test]
    fn rule_text_cannot_reach_the_sql() {
        let rule = RULE.replace(
            "title: Find spawning a shell",
            "title: \"x\\nSELECT 'pwned' AS n\\r\\n--\"",
        );
        let h = compile("find_shell", &rule, ProcessEvents::Any).unwrap();
        let file = crate::rules::rule::hunt_file(&h);
        assert!(
            !file.lines().any(|l| l.starts_with("SELECT 'pwned'")),
            "{file}"
        );
        let again = crate::rules::pack::parse("x", &file).unwrap();
        assert_eq!(again.sql.trim(), h.sql.trim());
    }

    const RULE: &str = r#"
title: Find spawning a shell
id: 00000000-0000-0000-0000-000000000001
level: high
tags: [attack.privilege_escalation, attack.t1548.003]
logsource: {product: linux, category: process_creation}
detection:
  selection:
    Image|endswith: '/find'
    CommandLine|contains|all: ['-exec', '/bin/sh']
  filter:
    User: backup
  condition: selection and not filter
"#;

    #[test]
    fn compiles_a_rule() {
        let h = compile("find_shell", RULE, ProcessEvents::Any).unwrap();
        assert_eq!(h.name, "sigma/find_shell");
        assert_eq!(h.severity, Severity::High);
        assert_eq!(h.attack, vec!["T1548.003"]);
        assert!(h.sql.contains("ILIKE '%/find'"), "{}", h.sql);
        assert!(
            h.sql
                .contains("proc_cmdline ILIKE '%-exec%' AND proc_cmdline ILIKE '%/bin/sh%'"),
            "{}",
            h.sql
        );
        assert!(h.sql.contains("NOT coalesce("), "{}", h.sql);
        // The file form parses back into the same hunt.
        let again = crate::rules::pack::parse("x", &crate::rules::rule::hunt_file(&h)).unwrap();
        assert_eq!(again.sql.trim(), h.sql.trim());
    }

    #[test]
    fn reports_what_it_cannot_do() {
        let bad = RULE
            .replace("Image|endswith", "Image|base64offset|contains")
            .replace("User: backup", "CurrentDirectory: /tmp")
            .replace("selection and not filter", "selection | count() > 5");
        let u = compile("x", &bad, ProcessEvents::Any).unwrap_err();
        let all = u.reasons.join("; ");
        assert!(all.contains("base64offset"), "{all}");
        assert!(all.contains("CurrentDirectory"), "{all}");
        assert!(all.contains("aggregation"), "{all}");
        let windows = RULE.replace("product: linux", "product: windows");
        assert!(compile("x", &windows, ProcessEvents::Any)
            .unwrap_err()
            .reasons[0]
            .contains("windows"));
    }

    #[test]
    fn patterns_and_conditions() {
        assert_eq!(like_pattern("a*b?c%d_e", false, false), "a%b_c\\%d\\_e");
        assert_eq!(like_pattern("x\\*y", true, true), "%x*y%");
        assert_eq!(
            tokens("1 of sel_* AND NOT (f1 or f2)"),
            vec!["1", "of", "sel_*", "and", "not", "(", "f1", "or", "f2", ")"]
        );
    }
}
