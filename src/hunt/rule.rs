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
