//! Loading Falco rule files as Falco does: `list`, `macro` and `rule` items in order, with
//! `append:` and `override:` merged into what came before, and the exceptions each rule
//! carries; items that cannot load become reasons, not errors.

use super::*;

#[derive(Debug, Clone)]
pub(super) struct Exception {
    pub(super) name: String,
    pub(super) fields: Value,
    pub(super) comps: Value,
    pub(super) values: Vec<Value>,
}

#[derive(Debug, Clone)]
pub(super) struct RuleDef {
    pub(super) name: String,
    pub(super) file: usize,
    pub(super) desc: String,
    pub(super) condition: String,
    pub(super) output: String,
    pub(super) priority: String,
    pub(super) tags: Vec<String>,
    pub(super) enabled: bool,
    pub(super) source: String,
    pub(super) exceptions: Vec<Exception>,
}

#[derive(Debug, Default)]
pub(super) struct Defs {
    pub(super) lists: BTreeMap<String, Vec<String>>,
    pub(super) macros: BTreeMap<String, String>,
    pub(super) rules: Vec<RuleDef>,
    pub(super) problems: Vec<Unsupported>,
}

pub(super) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The scalars of a YAML list (nothing for anything else).
pub(super) fn list(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| s.iter().filter_map(scalar).collect())
        .unwrap_or_default()
}

/// The scalars of a YAML list, or the one scalar given instead of a list.
pub(super) fn one_or_list(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(_) => list(v),
        v => scalar(v).into_iter().collect(),
    }
}

pub(super) fn text(v: &Value) -> String {
    scalar(v).unwrap_or_default().trim().to_string()
}

/// `append` (old style) or the `override` mode of one key: `append`, `replace` or absent.
pub(super) fn mode(item: &Value, key: &str) -> Option<String> {
    if item["append"].as_bool() == Some(true) {
        return Some("append".into());
    }
    item["override"][key].as_str().map(str::to_string)
}

impl Defs {
    pub(super) fn problem(&mut self, file: &str, title: &str, why: String) {
        self.problems.push(Unsupported {
            file: file.into(),
            title: title.into(),
            reasons: vec![why],
        });
    }

    pub(super) fn load(&mut self, file: usize, path: &str, doc: &Value) {
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

    pub(super) fn rule(&mut self, file: usize, path: &str, name: &str, item: &Value) {
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
