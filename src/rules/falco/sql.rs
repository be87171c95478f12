//! Falco fields and expressions as SQL over the `events` table: the field map (columns,
//! fields derived from `evt.args`, the command line and the file descriptor, the process
//! ancestry rebuilt level by level), Falco's comparison semantics, and the rule's output as the
//! hit's message.

use super::*;

/// What a Falco field is over the events.
pub(super) enum Field {
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

pub(super) const SOCKET_EVENTS: &str =
    "('connect', 'accept', 'accept4', 'bind', 'listen', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg')";

pub(super) fn fd_kind(labels: [&str; 4]) -> String {
    format!(
        "CASE WHEN fd_sip IS NOT NULL THEN CASE WHEN strpos(fd_sip, ':') > 0 THEN '{}' ELSE '{}' END \
         WHEN fd_name LIKE '/%' AND evt_type IN {SOCKET_EVENTS} THEN '{}' \
         WHEN fd_name LIKE '/%' THEN '{}' END",
        labels[1], labels[0], labels[2], labels[3]
    )
}

pub(super) fn ancestor_index(
    field: &str,
    base: &str,
) -> Option<std::result::Result<usize, String>> {
    let rest = field
        .strip_prefix(base)?
        .strip_prefix('[')?
        .strip_suffix(']')?;
    Some(
        rest.parse::<usize>()
            .map_err(|_| format!("{field}: the index must be a number")),
    )
}

pub(super) struct Gen<'a> {
    pub(super) opts: &'a Options,
    pub(super) why: Vec<String>,
    /// Deepest ancestor level the SQL reads (0 or 1: no ancestry join).
    pub(super) depth: usize,
    pub(super) assumed: BTreeSet<String>,
}

impl Gen<'_> {
    pub(super) fn field(&mut self, name: &str) -> Field {
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
        if let Some(f) = crate::fields::falco(name) {
            return match f.kind {
                crate::fields::Kind::Text => text(f.column),
                crate::fields::Kind::Int => int(f.column),
            };
        }
        match name {
            "evt.type" => Field::EvtType,
            "evt.dir" => Field::EvtDir,
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

    pub(super) fn cmp(&mut self, field: &str, op: &str, values: &[String], list: bool) -> String {
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

    pub(super) fn text_cmp(&mut self, x: &str, op: &str, values: &[String], list: bool) -> String {
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

    pub(super) fn int_cmp(&mut self, x: &str, op: &str, values: &[String]) -> String {
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

    pub(super) fn expr(&mut self, e: &Expr) -> String {
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

pub(super) fn ancestor_column(level: usize, names: bool) -> String {
    match (level, names) {
        (0, true) => "proc_name".into(),
        (0, false) => "proc_pid".into(),
        (1, true) => "proc_pname".into(),
        (1, false) => "proc_ppid".into(),
        (n, true) => format!("a{n}_name"),
        (n, false) => format!("a{n}_pid"),
    }
}

pub(super) fn unknown_reason(name: &str) -> String {
    let family = name.split('.').next().unwrap_or_default();
    let what = match family {
        "container" => "no container fields but container.id",
        "k8s" | "ka" => "no Kubernetes fields",
        "user" => "no user fields but user.name and user.uid",
        "group" => "no group fields",
        "thread" => "no thread or capability fields",
        _ => "no such field",
    };
    format!("{name}: the SysArmor template has {what}")
}

/// A Falco glob (`*`, `?`, `[...]`) as a regular expression body.
pub(super) fn glob_regex(g: &str) -> String {
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
pub(super) fn ancestry_sql(depth: usize) -> String {
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
pub(super) fn output_sql(g: &mut Gen, output: &str) -> String {
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
