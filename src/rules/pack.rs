//! Saved hunts: SQL files with a readable header, loaded from the embedded pack or a folder and
//! selected by name, folder or tag (running them is `hunt::run`'s).
//!
//! A hunt file starts with `-- key: value` lines (`title`, `description`, `attack`, `severity`,
//! `tags`, and one `param: name = default` per parameter; an indented `--   ...` line continues
//! the previous value), then the SQL. `{{name}}` in the SQL is replaced by the parameter's value:
//! the default is SQL text as written in the header; a value given with `--param name=value` is
//! a number if it parses as one and a quoted SQL string otherwise. A hunt's name is its path
//! under the pack without `.sql` (`execution/reverse_shell`); a selection matches a name, a
//! folder or a tag. Each result row is a hit; the hit's sequences are its `seq` column and any
//! `*_seq` column, its host the `collector_id` column, its time the `event_time` column.
//! Hunts of severity `info` are context (rare programs, collector silences): listed, never hits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
pub use crate::rules::rule::{hunt_file, Hunt, ProcessEvents, Severity, Unsupported};

include!(concat!(env!("OUT_DIR"), "/hunt_pack.rs"));

/// Parses a hunt file; `name` is its path under the pack without `.sql` (the reader is
/// [`crate::rules::rule::parse_hunt_file`], next to the writer).
pub fn parse(name: &str, text: &str) -> Result<Hunt> {
    crate::rules::rule::parse_hunt_file(name, text).map_err(Error::Usage)
}

/// The hunts of a folder (recursively), or the pack built into the binary when `dir` is `None`.
pub fn load(dir: Option<&Path>) -> Result<Vec<Hunt>> {
    let mut hunts = Vec::new();
    match dir {
        None => {
            for (name, text) in PACK {
                hunts.push(parse(name, text)?);
            }
        }
        Some(dir) => {
            let files = files_under(dir, &["sql"])?;
            if files.is_empty() {
                return Err(Error::Usage(format!(
                    "no .sql hunt files under {}",
                    dir.display()
                )));
            }
            for f in files {
                let name = f
                    .strip_prefix(dir)
                    .unwrap_or(&f)
                    .with_extension("")
                    .to_string_lossy()
                    .to_string();
                let text = std::fs::read_to_string(&f).map_err(|e| Error::io(&f, e))?;
                hunts.push(parse(&name, &text)?);
            }
        }
    }
    hunts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(hunts)
}

/// Rule files named on the command line, read in the order given (a folder: its files with one
/// of `exts`, recursively, sorted), as (path, text) pairs; `what` names them in the error when
/// there are none.
pub fn rule_files(paths: &[PathBuf], exts: &[&str], what: &str) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
        if meta.is_dir() {
            files.extend(files_under(p, exts)?);
        } else {
            files.push(p.clone());
        }
    }
    if files.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Usage(format!(
            "no {what} ({}) at {}",
            exts.iter()
                .map(|e| format!(".{e}"))
                .collect::<Vec<_>>()
                .join(", "),
            names.join(", ")
        )));
    }
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
            Ok((f.display().to_string(), text))
        })
        .collect()
}

/// The files under `dir` (recursively) whose extension is one of `exts`, sorted by path.
pub(crate) fn files_under(dir: &Path, exts: &[&str]) -> Result<Vec<std::path::PathBuf>> {
    fn walk(dir: &Path, exts: &[&str], out: &mut Vec<std::path::PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let path = entry.map_err(|e| Error::io(dir, e))?.path();
            if path.is_dir() {
                walk(&path, exts, out)?;
            } else if path
                .extension()
                .is_some_and(|e| exts.iter().any(|x| e == *x))
            {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, exts, &mut out)?;
    out.sort();
    Ok(out)
}

/// Keeps the hunts matching any selector (a name, a folder, or a tag); all when none is given.
/// A selector that matches nothing is an error, so a typo never runs an empty selection.
pub fn select(hunts: Vec<Hunt>, selectors: &[String]) -> Result<Vec<Hunt>> {
    if selectors.is_empty() {
        return Ok(hunts);
    }
    let matches = |h: &Hunt, s: &str| {
        let s = s.trim_end_matches('/');
        h.name == s || h.name.starts_with(&format!("{s}/")) || h.tags.iter().any(|t| t == s)
    };
    for s in selectors {
        if !hunts.iter().any(|h| matches(h, s)) {
            return Err(Error::Usage(format!(
                "no hunt is named, filed under or tagged {s:?} (see `jsreplay hunt --list`)"
            )));
        }
    }
    Ok(hunts
        .into_iter()
        .filter(|h| selectors.iter().any(|s| matches(h, s)))
        .collect())
}

/// Parses `name=value` pairs given with `--param`.
pub fn parse_params(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| Error::Usage(format!("--param {p:?}: expected name=value")))
        })
        .collect()
}

/// A user-given value as SQL: a number as is, anything else as a quoted string.
fn sql_literal(v: &str) -> String {
    if v.parse::<f64>().is_ok() {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "''"))
    }
}

impl Hunt {
    /// The SQL with every `{{param}}` replaced (`overrides` win over the header's defaults).
    pub fn render(&self, overrides: &BTreeMap<String, String>) -> Result<String> {
        let mut sql = self.sql.clone();
        for (name, default) in &self.params {
            let value = overrides
                .get(name)
                .map_or_else(|| default.clone(), |v| sql_literal(v));
            sql = sql.replace(&format!("{{{{{name}}}}}"), &value);
        }
        if let Some(at) = sql.find("{{") {
            let rest = &sql[at..];
            let end = rest.find("}}").map_or(rest.len(), |e| e + 2);
            return Err(Error::Usage(format!(
                "hunt {}: {} is not a declared parameter",
                self.name,
                &rest[..end]
            )));
        }
        Ok(sql)
    }
}

/// Checks that every `--param` names a parameter of at least one selected hunt.
pub fn check_params(hunts: &[Hunt], overrides: &BTreeMap<String, String>) -> Result<()> {
    for name in overrides.keys() {
        if !hunts
            .iter()
            .any(|h| h.params.iter().any(|(p, _)| p == name))
        {
            return Err(Error::Usage(format!(
                "--param {name}: no selected hunt has this parameter"
            )));
        }
    }
    Ok(())
}

/// `--list`: one line per hunt, then its parameters.
pub fn list_text(hunts: &[Hunt]) -> String {
    let width = hunts.iter().map(|h| h.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for h in hunts {
        out += &format!(
            "{:<width$}  {:<8}  {:<22}  {}\n",
            h.name,
            h.severity.as_str().to_string(),
            h.attack.join(","),
            h.title
        );
        for (p, default) in &h.params {
            out += &format!("{:<width$}    param {p} = {default}\n", "");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "-- title: Test hunt\n-- description: first line\n--   second line\n\
        -- attack: T1, T2\n-- severity: high\n-- tags: a, b\n-- param: n = 3\n-- param: s = 'x'\n\
        SELECT {{n}} AS n, {{s}} AS s;\n";

    #[test]
    fn header_and_params() {
        let h = parse("dir/test", FILE).unwrap();
        assert_eq!(h.title, "Test hunt");
        assert_eq!(h.description, "first line second line");
        assert_eq!(h.attack, vec!["T1", "T2"]);
        assert_eq!(h.severity, Severity::High);
        assert_eq!(h.tags, vec!["a", "b"]);
        let none = BTreeMap::new();
        assert_eq!(h.render(&none).unwrap().trim(), "SELECT 3 AS n, 'x' AS s;");
        let given = parse_params(&["n=7".into(), "s=it's".into()]).unwrap();
        assert_eq!(
            h.render(&given).unwrap().trim(),
            "SELECT 7 AS n, 'it''s' AS s;"
        );
        assert!(check_params(
            std::slice::from_ref(&h),
            &parse_params(&["zz=1".into()]).unwrap()
        )
        .is_err());
        assert!(parse("x", "-- severity: dire\nSELECT 1").is_err());
        assert!(parse("x", "-- title: only a header\n").is_err());
        let undeclared = parse("x", "SELECT {{nope}}").unwrap();
        assert!(undeclared.render(&none).is_err());
    }

    #[test]
    fn selection() {
        let pack = load(None).unwrap();
        assert!(pack.len() >= 10);
        let by_folder = select(pack.clone(), &["persistence".into()]).unwrap();
        assert!(by_folder.iter().any(|h| h.name.starts_with("persistence/")));
        assert!(by_folder
            .iter()
            .all(|h| h.name.starts_with("persistence/") || h.tags.contains(&"persistence".into())));
        let by_tag = select(pack.clone(), &["ssh".into()]).unwrap();
        assert!(by_tag.iter().all(|h| h.tags.contains(&"ssh".to_string())));
        assert!(select(pack, &["no-such-hunt".into()]).is_err());
    }
}
