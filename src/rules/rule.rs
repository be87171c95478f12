//! What a hunt is, whoever wrote it: the pack's SQL files, Sigma rules and Falco rules all
//! become a [`Hunt`] (or an [`Unsupported`] with its reasons), and a compiled rule can be kept as
//! a hunt file ([`hunt_file`]). Plain data and text, no engine: the rule compilers and their fuzz
//! targets build on this alone.

use serde::Serialize;

/// How bad a hit of the hunt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The name as hunt files, reports and JSON spell it (`high`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "info" | "informational" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// One saved hunt.
#[derive(Debug, Clone, Serialize)]
pub struct Hunt {
    pub name: String,
    pub title: String,
    pub description: String,
    /// ATT&CK technique ids.
    pub attack: Vec<String>,
    pub severity: Severity,
    pub tags: Vec<String>,
    /// Parameters and their default SQL text, in header order.
    pub params: Vec<(String, String)>,
    #[serde(skip)]
    pub sql: String,
}

/// A rule that could not be compiled, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Unsupported {
    pub file: String,
    pub title: String,
    pub reasons: Vec<String>,
}

/// Which events stand for a process start in process-creation rules (Sigma's
/// `process_creation`, Falco's `spawned_process`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProcessEvents {
    /// Any event of the process: the SysArmor collector drops execve, so a process is known by
    /// what it touched (one hit per matching event, not one per start).
    #[default]
    Any,
    /// Only `execve`/`execveat` events (producers that keep them, e.g. `sysdig -j` or Falco).
    Exec,
}

/// A compiled rule as a hunt file (header + SQL), to keep with the team's hunts.
pub fn hunt_file(h: &Hunt) -> String {
    // A rule's text goes into `--` header lines: a line break in it would end the comment and
    // put the rest of the title into the hunt's SQL.
    let one_line = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    format!(
        "-- title: {}\n-- description: {}\n-- attack: {}\n-- severity: {}\n-- tags: {}\n{}\n",
        one_line(&h.title),
        one_line(&h.description),
        one_line(&h.attack.join(", ")),
        h.severity.as_str(),
        one_line(&h.tags.join(", ")),
        h.sql
    )
}

/// Reads a hunt file (what [`hunt_file`] writes, or one a person wrote); `name` is its path
/// under the pack without `.sql`. Errors say what is wrong, for the caller to report.
pub fn parse_hunt_file(name: &str, text: &str) -> std::result::Result<Hunt, String> {
    let bad = |why: String| format!("hunt {name}: {why}");
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut body = Vec::new();
    let mut in_header = true;
    for line in text.lines() {
        if in_header {
            if let Some(rest) = line.strip_prefix("--") {
                if let Some(more) = rest.strip_prefix("  ") {
                    // `--   continued` lines extend the previous value.
                    if let Some(last) = fields.last_mut() {
                        last.1.push(' ');
                        last.1.push_str(more.trim());
                        continue;
                    }
                }
                if let Some((k, v)) = rest.trim().split_once(':') {
                    fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    continue;
                }
                continue; // a plain comment
            }
            if line.trim().is_empty() && body.is_empty() {
                continue;
            }
            in_header = false;
        }
        body.push(line);
    }
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let list = |k: &str| -> Vec<String> {
        get(k)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let severity = match get("severity") {
        Some(s) => Severity::parse(&s).ok_or_else(|| bad(format!("unknown severity {s:?}")))?,
        None => Severity::Medium,
    };
    let mut params = Vec::new();
    for (_, p) in fields.iter().filter(|(k, _)| k == "param") {
        let (n, default) = p
            .split_once('=')
            .ok_or_else(|| bad(format!("parameter {p:?} has no `= default`")))?;
        params.push((n.trim().to_string(), default.trim().to_string()));
    }
    let sql = body.join("\n");
    if sql.trim().is_empty() {
        return Err(bad("no SQL after the header".into()));
    }
    Ok(Hunt {
        name: name.to_string(),
        title: get("title").unwrap_or_else(|| name.to_string()),
        description: get("description").unwrap_or_default(),
        attack: list("attack"),
        severity,
        tags: list("tags"),
        params,
        sql,
    })
}

/// Rule text as a SQL string literal: quotes doubled, NUL made a space, and `{{` written as
/// `'{' || '{'`, so that no rule's text ever reads as a hunt parameter when the hunt runs.
pub(crate) fn sql_string(s: &str) -> String {
    let mut body: String = s
        .chars()
        .map(|c| if c == '\0' { ' ' } else { c })
        .collect::<String>()
        .replace('\'', "''");
    while body.contains("{{") {
        body = body.replace("{{", "{' || '{");
    }
    format!("'{body}'")
}

#[cfg(test)]
mod tests {
    #[test]
    fn rule_text_as_a_literal() {
        assert_eq!(super::sql_string("it's"), "'it''s'");
        assert_eq!(super::sql_string("a{{b\0"), "'a{' || '{b '");
        assert!(!super::sql_string("{{{{").contains("{{"));
    }
}

/// Nodes a rule file's YAML may hold once its aliases are expanded. The largest vendored
/// upstream Falco file has about 30,000; a file of aliases that name aliases ("billion laughs")
/// would otherwise expand exponentially before any rule is looked at.
pub const MAX_YAML_NODES: usize = 250_000;

/// Parses a rule file's YAML with its aliases expanded, failing once the document grows past
/// [`MAX_YAML_NODES`] nodes (counted as they are built, so nothing larger is ever made).
pub fn parse_yaml(text: &str) -> std::result::Result<serde_yaml::Value, String> {
    use serde::de::DeserializeSeed;
    let budget = std::cell::Cell::new(MAX_YAML_NODES);
    let mut docs = serde_yaml::Deserializer::from_str(text);
    let Some(doc) = docs.next() else {
        return Ok(serde_yaml::Value::Null);
    };
    let value = Counted(&budget)
        .deserialize(doc)
        .map_err(|e| e.to_string())?;
    if docs.next().is_some() {
        return Err("more than one YAML document in the file".into());
    }
    Ok(value)
}

/// A `serde_yaml::Value` built node by node against a budget.
#[derive(Clone, Copy)]
struct Counted<'a>(&'a std::cell::Cell<usize>);

impl Counted<'_> {
    fn take<E: serde::de::Error>(self) -> std::result::Result<(), E> {
        match self.0.get().checked_sub(1) {
            Some(left) => {
                self.0.set(left);
                Ok(())
            }
            None => Err(E::custom(format!(
                "the YAML expands to more than {MAX_YAML_NODES} nodes (aliases that name \
                 aliases?)"
            ))),
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Counted<'_> {
    type Value = serde_yaml::Value;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Counted<'_> {
    type Value = serde_yaml::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<Self::Value, E> {
        self.take()?;
        Ok(v.into())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
        self.take()?;
        Ok(v.into())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
        self.take()?;
        Ok(v.into())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
        self.take()?;
        Ok(v.into())
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        self.take()?;
        Ok(v.into())
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
        self.take()?;
        Ok(v.into())
    }

    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
        self.take()?;
        Ok(serde_yaml::Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        self.take()?;
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(serde_yaml::Value::Sequence(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        self.take()?;
        let mut out = serde_yaml::Mapping::new();
        while let Some(k) = map.next_key_seed(self)? {
            let v = map.next_value_seed(self)?;
            out.insert(k, v);
        }
        Ok(serde_yaml::Value::Mapping(out))
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(
        self,
        data: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        // A tagged value (`!tag x`): kept as serde_yaml keeps it.
        use serde::de::VariantAccess;
        self.take()?;
        let (tag, variant): (String, _) = data.variant()?;
        let value = variant.newtype_variant_seed(self)?;
        Ok(serde_yaml::Value::Tagged(Box::new(
            serde_yaml::value::TaggedValue {
                tag: serde_yaml::value::Tag::new(tag),
                value,
            },
        )))
    }
}
