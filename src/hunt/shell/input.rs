//! What the shell reads besides SQL: the dot-commands (one enum that `.help`, Tab completion
//! and the dispatch are made from), the output format names it shares with the command line,
//! and the line editor's helper (completion of tables, columns, functions, keywords and hunt
//! names; a statement is complete at its `;`).

use super::*;

/// The shell's dot-commands. `.help`, Tab completion and the dispatch in `Shell::dot` all come
/// from this one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dot {
    Tables,
    Schema,
    Hunts,
    Hunt,
    Format,
    MaxRows,
    Timer,
    Output,
    Read,
    Help,
    Quit,
}

impl Dot {
    pub(super) const ALL: [Dot; 11] = [
        Dot::Tables,
        Dot::Schema,
        Dot::Hunts,
        Dot::Hunt,
        Dot::Format,
        Dot::MaxRows,
        Dot::Timer,
        Dot::Output,
        Dot::Read,
        Dot::Help,
        Dot::Quit,
    ];

    /// The names it answers to (the first is the one shown).
    pub(super) fn names(self) -> &'static [&'static str] {
        match self {
            Dot::Tables => &["tables"],
            Dot::Schema => &["schema"],
            Dot::Hunts => &["hunts"],
            Dot::Hunt => &["hunt"],
            Dot::Format => &["format"],
            Dot::MaxRows => &["maxrows"],
            Dot::Timer => &["timer"],
            Dot::Output => &["output"],
            Dot::Read => &["read"],
            Dot::Help => &["help", "h"],
            Dot::Quit => &["quit", "exit", "q"],
        }
    }

    pub(super) fn parse(name: &str) -> Option<Dot> {
        Dot::ALL.into_iter().find(|d| d.names().contains(&name))
    }

    /// How it is written, with its arguments.
    pub(super) fn usage(self) -> String {
        let args = match self {
            Dot::Schema => " [TABLE ...]",
            Dot::Hunt => " NAME [param=value ...]",
            Dot::MaxRows => " N",
            Dot::Timer => " on|off",
            Dot::Output => " [FILE]",
            Dot::Read => " FILE",
            Dot::Format => return format!(".format {}", format_names()),
            _ => "",
        };
        format!(".{}{args}", self.names()[0])
    }

    pub(super) fn help(self) -> &'static str {
        match self {
            Dot::Tables => "tables of this session and where they come from",
            Dot::Schema => "columns and types",
            Dot::Hunts => "the saved hunts",
            Dot::Hunt => "run a hunt (parameters as in `jsreplay hunt --param`)",
            Dot::Format => "how results are written",
            Dot::MaxRows => "rows a table shows (the rest is counted)",
            Dot::Timer => "time each statement",
            Dot::Output => "results to FILE from now on (no FILE: back to the screen)",
            Dot::Read => "run the statements and commands of a file",
            Dot::Help => "this text",
            Dot::Quit => "leave (also .exit, Ctrl-D)",
        }
    }
}

/// What `.help` prints.
pub(super) fn help_text() -> String {
    let mut out = String::from(
        "Statements end with `;` and may span lines. Ctrl-C cancels a running query (or drops the \
         line\nbeing typed); Ctrl-D or .quit leaves. Tab completes tables, columns, functions and \
         hunt names.\n\n",
    );
    for d in Dot::ALL {
        let usage = d.usage();
        let pad = 29usize.saturating_sub(usage.len()).max(2);
        out += &format!("{usage}{:pad$}{}\n", "", d.help());
    }
    out += "\nSQL functions of jsreplay: payload_text(payload), evt_arg(evt_args, name),\n\
            evt_arg_int(evt_args, name), socket_part(fd_name, part), is_private_ip(ip), \
            cidr_match(ip, cidr).\n";
    out
}

/// The dot-commands Tab completes: every name but the one-letter ones.
pub(super) fn dot_commands() -> Vec<String> {
    Dot::ALL
        .iter()
        .flat_map(|d| d.names())
        .filter(|n| n.len() > 1)
        .map(|n| format!(".{n}"))
        .collect()
}

pub(super) const KEYWORDS: [&str; 46] = [
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT",
    "RIGHT",
    "FULL",
    "INNER",
    "OUTER",
    "ON",
    "USING",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "UNION",
    "ALL",
    "WITH",
    "OVER",
    "PARTITION",
    "DESC",
    "ASC",
    "CREATE",
    "VIEW",
    "EXPLAIN",
    "INTERVAL",
    "CAST",
    "COUNT",
];

/// Names tab completion offers.
#[derive(Debug, Default)]
pub(super) struct Vocabulary {
    pub(super) tables: Vec<String>,
    pub(super) columns: Vec<String>,
    pub(super) functions: Vec<String>,
    pub(super) hunts: Vec<String>,
}

impl Vocabulary {
    /// Candidates for the word `word` in `line` (the text before the cursor).
    pub(super) fn candidates(&self, line: &str, word: &str) -> Vec<String> {
        let lower = word.to_ascii_lowercase();
        let starts = |c: &&str| c.to_ascii_lowercase().starts_with(&lower);
        let trimmed = line.trim_start();
        let list: Vec<String> = if let Some(rest) = trimmed.strip_prefix('.') {
            let owned = |v: &[String]| v.to_vec();
            match rest.split_whitespace().next() {
                Some(cmd) if rest.contains(char::is_whitespace) => match Dot::parse(cmd) {
                    Some(Dot::Hunt) => owned(&self.hunts),
                    Some(Dot::Schema) => owned(&self.tables),
                    Some(Dot::Format) => format_names().split('|').map(String::from).collect(),
                    Some(Dot::Timer) => vec!["on".into(), "off".into()],
                    _ => Vec::new(),
                },
                _ => dot_commands(),
            }
        } else {
            let keyword_case = |k: &'static str| -> Cow<'static, str> {
                if word.starts_with(|c: char| c.is_ascii_lowercase()) {
                    Cow::Owned(k.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(k)
                }
            };
            let mut out: Vec<String> = self
                .tables
                .iter()
                .chain(&self.columns)
                .chain(&self.functions)
                .map(String::as_str)
                .filter(starts)
                .map(str::to_string)
                .collect();
            out.extend(
                KEYWORDS
                    .iter()
                    .filter(|k| starts(k))
                    .map(|k| keyword_case(k).into_owned()),
            );
            out.sort();
            out.dedup();
            return out;
        };
        let mut out: Vec<String> = list.into_iter().filter(|c| starts(&c.as_str())).collect();
        out.sort();
        out
    }
}

pub(super) struct ShellHelper {
    pub(super) vocabulary: Arc<RwLock<Vocabulary>>,
}

impl Completer for ShellHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '.' || c == '/';
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !is_word(*c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        // A qualified name (`e.proc_na`) completes its last part; a dot-command keeps its dot.
        let start = match before[start..].rfind('.') {
            Some(dot) if !before.trim_start().starts_with('.') => start + dot + 1,
            _ => start,
        };
        let word = &before[start..];
        let v = self.vocabulary.read().unwrap_or_else(|e| e.into_inner());
        Ok((start, v.candidates(before, word)))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        Ok(
            if input.trim_start().starts_with('.')
                || only_comments(input)
                || statement_complete(input)
            {
                ValidationResult::Valid(None)
            } else {
                ValidationResult::Incomplete
            },
        )
    }
}

impl Helper for ShellHelper {}

/// The output formats, as `--format` and `.format` spell them: `table|csv|json|ndjson`.
pub(super) fn format_names() -> String {
    <Format as clap::ValueEnum>::value_variants()
        .iter()
        .filter_map(clap::ValueEnum::to_possible_value)
        .map(|v| v.get_name().to_string())
        .collect::<Vec<_>>()
        .join("|")
}
