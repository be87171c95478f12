//! `jsreplay sql`: an interactive SQL shell over one or more datasets, each a table (`events`
//! for the first). On a terminal it edits lines with history and tab completion (tables,
//! columns, functions, hunt names, dot-commands), takes statements over several lines up to a
//! `;`, cancels a running query on Ctrl-C and keeps going, and pages results longer than the
//! screen. Fed from a pipe or a file it runs the statements in order and stops at the first that
//! fails, with that failure's exit code. Dot-commands (`.help`) list tables and columns, run saved
//! hunts with parameters, switch the output format, time statements, send results to a file and
//! read statements from one. Table output is escaped for the terminal and shows raw payloads as
//! text ([`crate::escape::bytes_text`]); CSV, JSON and NDJSON keep values as they are.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Editor, Helper};

use crate::error::{exit, Error, Result};
use crate::escape;
use crate::rules::pack::{self, Hunt};
use crate::sql::query::{self, Format};

/// How a shell session starts.
#[derive(Debug)]
pub struct Options {
    /// The tables, as (name, what to print as their source); already attached to `ctx`.
    pub tables: Vec<(String, String)>,
    /// The hunts `.hunts` lists and `.hunt` runs.
    pub hunts: Vec<Hunt>,
    pub format: Format,
    /// Where the history lives (`None`: no history kept).
    pub history: Option<PathBuf>,
    /// Page table output longer than the screen (on a terminal only).
    pub pager: bool,
    /// Rows a table shows before it says how many more there were.
    pub max_rows: usize,
}

/// `.read` files may read others, this deep.
const MAX_READ_DEPTH: usize = 8;

mod input;
use input::*;

/// Runs the shell over the session `ctx` until end of input or `.quit`; returns the exit code.
pub async fn run(ctx: SessionContext, options: Options) -> Result<u8> {
    let interactive = std::io::stdin().is_terminal();
    let mut shell = Shell {
        vocabulary: Arc::new(RwLock::new(Vocabulary::default())),
        ctx,
        tables: options.tables,
        hunts: options.hunts,
        format: options.format,
        timer: false,
        output: None,
        pager: options.pager && interactive && std::io::stdout().is_terminal(),
        max_rows: options.max_rows,
        interactive,
    };
    shell.refresh_vocabulary().await;
    if interactive {
        shell.interactive(options.history.as_deref()).await
    } else {
        let mut text = String::new();
        for line in std::io::stdin().lock().lines() {
            text.push_str(&line.map_err(|e| Error::io("stdin", e))?);
            text.push('\n');
        }
        shell.feed(&text, 0).await?;
        Ok(exit::OK)
    }
}

/// What the shell does after an input.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

struct Shell {
    ctx: SessionContext,
    tables: Vec<(String, String)>,
    hunts: Vec<Hunt>,
    format: Format,
    timer: bool,
    /// `.output FILE`: results go there instead of stdout.
    output: Option<(PathBuf, File)>,
    pager: bool,
    max_rows: usize,
    interactive: bool,
    vocabulary: Arc<RwLock<Vocabulary>>,
}

impl Shell {
    async fn interactive(&mut self, history: Option<&Path>) -> Result<u8> {
        let config = rustyline::Config::builder()
            .auto_add_history(false)
            .max_history_size(10_000)
            .map_err(|e| Error::Input(format!("line editor: {e}")))?
            .build();
        let mut editor: Editor<ShellHelper, DefaultHistory> = Editor::with_config(config)
            .map_err(|e| Error::Input(format!("cannot start the line editor: {e}")))?;
        editor.set_helper(Some(ShellHelper {
            vocabulary: self.vocabulary.clone(),
        }));
        if let Some(h) = history {
            if let Some(dir) = h.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            // A missing history file is a first session, not an error.
            let _ = editor.load_history(h);
        }
        eprintln!(
            "jsreplay sql: {}. End statements with `;`; .help for commands, Ctrl-D to leave.",
            self.tables
                .iter()
                .map(|(n, src)| format!("{n} = {}", escape::terminal(src)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        loop {
            let entry = match editor.readline("sql> ") {
                Ok(entry) => entry,
                Err(ReadlineError::Interrupted) => continue, // Ctrl-C drops the line
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(Error::Input(format!("reading the terminal: {e}"))),
            };
            if entry.trim().is_empty() {
                continue;
            }
            let _ = editor.add_history_entry(entry.as_str());
            if let Some(h) = history {
                if let Err(e) = editor.append_history(h) {
                    eprintln!(
                        "warning: cannot save the history to {}: {e}",
                        escape::terminal(&h.display().to_string())
                    );
                }
            }
            match self.entry(&entry, 0).await {
                Ok(Flow::Quit) => break,
                Ok(Flow::Continue) => {}
                Err(e) if e.is_broken_pipe() => {}
                Err(e) => eprintln!("error: {}", escape::terminal_block(&e.to_string())),
            }
        }
        Ok(exit::OK)
    }

    /// Runs a text line by line as if typed: a dot-command on a line of its own (when no
    /// statement is open), statements up to each `;`. A statement left open at the end runs too.
    async fn feed(&mut self, text: &str, depth: usize) -> Result<Flow> {
        let mut statement = String::new();
        for line in text.lines() {
            if only_comments(&statement) && line.trim_start().starts_with('.') {
                statement.clear();
                if self.entry(line, depth).await? == Flow::Quit {
                    return Ok(Flow::Quit);
                }
                continue;
            }
            statement.push_str(line);
            statement.push('\n');
            if statement_complete(&statement) {
                self.sql(&statement).await?;
                statement.clear();
            }
        }
        if !only_comments(&statement) {
            self.sql(&statement).await?;
        }
        Ok(Flow::Continue)
    }

    /// One input: a dot-command or SQL.
    async fn entry(&mut self, entry: &str, depth: usize) -> Result<Flow> {
        let trimmed = entry.trim();
        if let Some(command) = trimmed.strip_prefix('.') {
            return Box::pin(self.dot(command, depth)).await;
        }
        self.sql(entry).await?;
        Ok(Flow::Continue)
    }

    /// Runs each statement of `sql` in turn, with its output.
    async fn sql(&mut self, sql: &str) -> Result<()> {
        for stmt in query::statements(sql)? {
            self.run_one(|ctx| async move { query::start(&ctx, stmt, &SQLOptions::new()).await })
                .await?;
        }
        self.refresh_vocabulary().await; // CREATE VIEW and friends add names to complete
        Ok(())
    }

    /// Starts a query with `start` and writes its rows; Ctrl-C cancels it (interactive: the
    /// shell goes on; otherwise the run stops with exit code 130).
    async fn run_one<F, Fut>(&mut self, start: F) -> Result<()>
    where
        F: FnOnce(SessionContext) -> Fut,
        Fut: std::future::Future<Output = Result<SendableRecordBatchStream>>,
    {
        let started = Instant::now();
        let ctx = self.ctx.clone();
        let work = async {
            let stream = start(ctx).await?;
            self.show(stream).await
        };
        let outcome = tokio::select! {
            r = work => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        };
        match outcome {
            Some(Ok(rows)) => {
                let timing = if self.timer {
                    format!(" ({:.3} s)", started.elapsed().as_secs_f64())
                } else {
                    String::new()
                };
                if self.interactive || self.timer {
                    eprintln!("{rows} row{}{timing}", if rows == 1 { "" } else { "s" });
                }
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None if self.interactive => {
                eprintln!("query cancelled");
                Ok(())
            }
            None => Err(Error::Interrupted("SIGINT")),
        }
    }

    /// Writes a result in the current format to the current output; returns its row count.
    async fn show(&mut self, stream: SendableRecordBatchStream) -> Result<u64> {
        if self.format != Format::Table {
            let out: Box<dyn Write> = match &self.output {
                Some((path, file)) => Box::new(file.try_clone().map_err(|e| Error::io(path, e))?),
                None => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            let terminal = self.output.is_none() && std::io::stdout().is_terminal();
            return query::write_to(stream, self.format, out, terminal).await;
        }
        let columns = stream.schema().fields().len();
        let (batches, rows) = first_rows(stream, self.max_rows).await?;
        let mut text = if columns == 0 {
            String::new() // CREATE VIEW, SET and the like
        } else {
            query::terminal_table(&batches)? + "\n"
        };
        if rows > self.max_rows as u64 {
            text.push_str(&format!(
                "({} of {rows} rows shown: .maxrows N to show more, .output FILE for all)\n",
                self.max_rows
            ));
        }
        match &mut self.output {
            Some((path, file)) => file
                .write_all(text.as_bytes())
                .map_err(|e| Error::io(path.clone(), e))?,
            None => page(&text, self.pager)?,
        }
        Ok(rows)
    }

    async fn dot(&mut self, command: &str, depth: usize) -> Result<Flow> {
        let mut words = command.split_whitespace();
        let name = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        let usage = |text: &str| Err(Error::Usage(text.to_string()));
        match (Dot::parse(name), args.as_slice()) {
            (Some(Dot::Quit), []) => return Ok(Flow::Quit),
            (Some(Dot::Help), []) => self.print(&help_text())?,
            (Some(Dot::Tables), []) => {
                let mut text = String::new();
                for name in self.table_names() {
                    let source = self
                        .tables
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map_or("(created in this session)", |(_, s)| s.as_str());
                    text.push_str(&format!("{name}\t{}\n", escape::terminal(source)));
                }
                self.print(&text)?;
            }
            (Some(Dot::Schema), names) => {
                let names: Vec<String> = if names.is_empty() {
                    self.table_names()
                } else {
                    names.iter().map(|s| s.to_string()).collect()
                };
                let mut text = String::new();
                for name in names {
                    let table =
                        self.ctx.table(name.as_str()).await.map_err(|_| {
                            Error::Usage(format!("no table {:?} (see .tables)", name))
                        })?;
                    text.push_str(&format!("{name}\n"));
                    for f in table.schema().fields() {
                        text.push_str(&format!(
                            "  {:<24} {}{}\n",
                            f.name(),
                            f.data_type(),
                            if f.is_nullable() { "" } else { " NOT NULL" }
                        ));
                    }
                }
                self.print(&escape::terminal_block(&text))?;
            }
            (Some(Dot::Hunts), []) => self.print(&pack::list_text(&self.hunts))?,
            (Some(Dot::Hunt), [hunt, params @ ..]) => {
                let hunt = self
                    .hunts
                    .iter()
                    .find(|h| h.name == *hunt)
                    .ok_or_else(|| Error::Usage(format!("no hunt named {hunt:?} (see .hunts)")))?
                    .clone();
                let params: Vec<String> = params.iter().map(|s| s.to_string()).collect();
                let overrides: BTreeMap<String, String> = pack::parse_params(&params)?;
                pack::check_params(std::slice::from_ref(&hunt), &overrides)?;
                let sql = hunt.render(&overrides)?;
                self.run_one(|ctx| async move { query::stream_last(&ctx, &sql).await })
                    .await?;
            }
            (Some(Dot::Hunt), []) => return usage(&format!("{} (see .hunts)", Dot::Hunt.usage())),
            (Some(Dot::Format), [f]) => {
                // The command line's own format names (`--format`), one enum for both.
                self.format = match <Format as clap::ValueEnum>::from_str(f, true) {
                    Ok(format) => format,
                    Err(_) => return usage(&Dot::Format.usage()),
                }
            }
            (Some(Dot::Timer), ["on"]) => self.timer = true,
            (Some(Dot::Timer), ["off"]) => self.timer = false,
            (Some(Dot::MaxRows), [n]) => {
                self.max_rows = n
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Error::Usage(".maxrows N (N > 0)".into()))?
            }
            (Some(Dot::Output), []) => self.output = None,
            (Some(Dot::Output), [path]) => {
                let path = PathBuf::from(path);
                let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
                self.output = Some((path, file));
            }
            (Some(Dot::Read), [path]) => {
                if depth >= MAX_READ_DEPTH {
                    return usage(".read: files read each other too deep");
                }
                let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                return Box::pin(self.feed(&text, depth + 1)).await;
            }
            _ => {
                return Err(Error::Usage(format!(
                    "unknown or malformed command .{} (see .help)",
                    escape::terminal(command.trim())
                )))
            }
        }
        Ok(Flow::Continue)
    }

    /// Text for the user: to the current output.
    fn print(&mut self, text: &str) -> Result<()> {
        match &mut self.output {
            Some((path, file)) => file
                .write_all(text.as_bytes())
                .map_err(|e| Error::io(path.clone(), e)),
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())
                    .and_then(|()| out.flush())
                    .map_err(|e| Error::io("stdout", e))
            }
        }
    }

    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .ctx
            .catalog("datafusion")
            .and_then(|c| c.schema("public"))
            .map(|s| s.table_names())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// What tab completion offers, read again after each statement.
    async fn refresh_vocabulary(&self) {
        let state = self.ctx.state();
        let mut functions: Vec<String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .cloned()
            .collect();
        functions.sort();
        functions.dedup();
        let tables = self.table_names();
        let mut columns = Vec::new();
        if let Some(schema) = self
            .ctx
            .catalog("datafusion")
            .and_then(|c| c.schema("public"))
        {
            for t in &tables {
                if let Ok(Some(provider)) = schema.table(t).await {
                    columns.extend(provider.schema().fields().iter().map(|f| f.name().clone()));
                }
            }
        }
        columns.sort();
        columns.dedup();
        let mut v = self.vocabulary.write().unwrap_or_else(|e| e.into_inner());
        *v = Vocabulary {
            tables,
            columns,
            functions,
            hunts: self.hunts.iter().map(|h| h.name.clone()).collect(),
        };
    }
}

/// The first `max` rows of a result, and how many rows it had in all (the rest is read and
/// counted, not kept).
async fn first_rows(
    mut stream: SendableRecordBatchStream,
    max: usize,
) -> Result<(Vec<RecordBatch>, u64)> {
    // A result with no rows still shows its columns.
    let mut kept = vec![RecordBatch::new_empty(stream.schema())];
    let mut held = 0usize;
    let mut rows = 0u64;
    while let Some(batch) = query::next_batch(&mut stream).await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        if held < max {
            let take = batch.num_rows().min(max - held);
            held += take;
            kept.push(batch.slice(0, take));
        }
    }
    Ok((kept, rows))
}

/// Writes text on stdout, through a pager when it is longer than the screen.
fn page(text: &str, pager: bool) -> Result<()> {
    let command = std::env::var("JSREPLAY_PAGER")
        .or_else(|_| std::env::var("PAGER"))
        .unwrap_or_else(|_| "less -FSX".to_string());
    let tall = terminal_rows().is_some_and(|rows| text.lines().count() + 2 > rows);
    if pager && tall && !command.trim().is_empty() {
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(std::process::Stdio::piped())
            .spawn();
        if let Ok(mut child) = child {
            if let Some(mut stdin) = child.stdin.take() {
                // The reader quitting early (q in less) closes the pipe: not an error.
                let _ = stdin.write_all(text.as_bytes());
            }
            let _ = child.wait();
            return Ok(());
        }
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("stdout", e))
}

/// The terminal's height in rows, when stdout is one.
fn terminal_rows() -> Option<usize> {
    // SAFETY: TIOCGWINSZ fills a winsize struct for a terminal file descriptor; the struct is
    // zeroed first and only read when the call succeeds.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        (libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) == 0 && size.ws_row > 0)
            .then_some(size.ws_row as usize)
    }
}

/// True when `sql` ends with a `;` outside quotes and comments (what ends an entry).
pub fn statement_complete(sql: &str) -> bool {
    let mut last = None;
    scan(sql, |c| last = Some(c));
    last == Some(';')
}

/// True when `sql` holds nothing but whitespace and comments.
fn only_comments(sql: &str) -> bool {
    let mut any = false;
    scan(sql, |_| any = true);
    !any
}

/// Calls `code` with each character of `sql` that is neither whitespace, nor inside a comment,
/// nor inside a quoted string or identifier (a quote itself counts, its contents do not); an
/// unterminated string or block comment swallows the rest.
fn scan(sql: &str, mut code: impl FnMut(char)) {
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                code(c);
                // '' and "" inside are the quote itself: two ends that reopen at once
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut star = false;
                for d in chars.by_ref() {
                    if star && d == '/' {
                        break;
                    }
                    star = d == '*';
                }
            }
            c if c.is_whitespace() => {}
            c => code(c),
        }
    }
}

/// Where the history is kept by default: `$XDG_STATE_HOME/jsreplay/sql_history`, else
/// `~/.local/state/jsreplay/sql_history`.
pub fn default_history() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("jsreplay").join("sql_history"))
}

/// Table names for the datasets of `jsreplay sql`: `names` in order (from `--as`), then
/// `events` for the first unnamed and `events_2`, `events_3`… for the others.
pub fn table_names(datasets: usize, names: &[String]) -> Result<Vec<String>> {
    if names.len() > datasets {
        return Err(Error::Usage(format!(
            "{} --as names for {datasets} dataset(s)",
            names.len()
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(datasets);
    for i in 0..datasets {
        let name = match names.get(i) {
            Some(n) => n.clone(),
            None if i == 0 => query::TABLE.to_string(),
            None => format!("{}_{}", query::TABLE, i + 1),
        };
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(Error::Usage(format!(
                "--as {name:?}: a table name is letters, digits and _ (not starting with a digit)"
            )));
        }
        if out.contains(&name) {
            return Err(Error::Usage(format!("two datasets named {name:?}")));
        }
        out.push(name);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_names_the_formats_the_command_line_has() {
        assert!(
            help_text().contains(&format!(".format {} ", format_names())),
            "{}",
            help_text()
        );
    }

    #[test]
    fn statements_end_at_a_semicolon_outside_quotes_and_comments() {
        assert!(statement_complete("select 1;"));
        assert!(statement_complete("select 1;  -- done\n"));
        assert!(statement_complete("select ';'\n, 2 /* ; */ ;"));
        assert!(!statement_complete("select 1"));
        assert!(!statement_complete("select ';"));
        assert!(!statement_complete("select 1 -- ;"));
        assert!(!statement_complete("select 1 /* ; */"));
        assert!(!statement_complete("select \"a;\" "));
        assert!(statement_complete("select 'it''s';"));
        assert!(only_comments("  -- nothing\n /* here */ "));
        assert!(!only_comments("-- x\nselect"));
    }

    #[test]
    fn names_of_the_tables() {
        assert_eq!(table_names(1, &[]).unwrap(), ["events"]);
        assert_eq!(
            table_names(3, &["now".into()]).unwrap(),
            ["now", "events_2", "events_3"]
        );
        assert!(table_names(1, &["a".into(), "b".into()]).is_err());
        assert!(table_names(2, &["x".into(), "x".into()]).is_err());
        assert!(table_names(1, &["1x".into()]).is_err());
        assert!(table_names(1, &["a;drop".into()]).is_err());
    }

    #[test]
    fn completion_candidates() {
        let v = Vocabulary {
            tables: vec!["events".into(), "prior".into()],
            columns: vec!["evt_type".into(), "proc_name".into()],
            functions: vec!["evt_arg".into(), "payload_text".into()],
            hunts: vec!["execution/reverse_shell".into(), "exfil/dns".into()],
        };
        assert_eq!(
            v.candidates("select ev", "ev"),
            ["events", "evt_arg", "evt_type"].map(String::from)
        );
        assert_eq!(v.candidates("sel", "sel"), ["select"]);
        assert_eq!(v.candidates("SEL", "SEL"), ["SELECT"]);
        assert_eq!(v.candidates(".hu", ".hu"), [".hunt", ".hunts"]);
        assert_eq!(
            v.candidates(".hunt ex", "ex"),
            ["execution/reverse_shell", "exfil/dns"]
        );
        assert_eq!(v.candidates(".schema p", "p"), ["prior"]);
    }
}
