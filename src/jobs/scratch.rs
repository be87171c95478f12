//! A window of a stream read for one command (`hunt`, `timeline`, `tree` and `sql` with
//! `--stream`): exported through the parallel path into a private temporary folder that is
//! removed when the command ends, on an error or an interruption too, or into `--keep DIR`,
//! which stays. It is an export like any other (manifest, gaps, parse counts), so the answers
//! account for the window the same way; only its lifetime differs.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::jobs::export::{self, ExportRequest, ExportSummary};
use crate::jobs::read::Signals;
use crate::lake::staging::WorkDir;
use crate::nats::connect::ConnectSpec;

/// What SIGINT does once a window is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sigint {
    /// It ends the command, as SIGTERM does.
    Ends,
    /// Somebody else takes it: the interactive shell cancels the running query with it.
    CancelsAQuery,
}

/// The dataset a window was read into; a temporary one is removed on drop.
#[derive(Debug)]
pub struct Scratch {
    /// The dataset folder.
    pub path: PathBuf,
    /// The export's outcome (gaps included).
    pub summary: ExportSummary,
    /// The folder removed on drop (`None` with `--keep`).
    temp: Option<WorkDir>,
}

impl Scratch {
    /// True when the dataset goes away with this value.
    pub fn is_temporary(&self) -> bool {
        self.temp.is_some()
    }

    /// From now on, ends the process on SIGTERM, and on SIGINT as `sigint` says (the interactive
    /// shell keeps SIGINT: it cancels the running query), removing the temporary dataset
    /// first. The export's handlers stay installed once it is done (a process cannot give a
    /// signal back its default action through tokio), so without this the signals would be
    /// swallowed for the rest of the command.
    pub fn end_on_signals(&self, sigint: Sigint) -> Result<()> {
        let mut signals = Signals::new()?;
        let temp = self.temp.as_ref().map(|t| t.path().to_path_buf());
        tokio::spawn(async move {
            let signal = loop {
                let s = signals.recv().await;
                if s == "SIGTERM" || sigint == Sigint::Ends {
                    break s;
                }
            };
            if let Some(dir) = &temp {
                let _ = std::fs::remove_dir_all(dir);
            }
            // As the binary reports an interruption, with its code.
            let e = Error::Interrupted(signal);
            eprintln!("jsreplay: error: {e}");
            std::process::exit(i32::from(e.exit_code()));
        });
        Ok(())
    }

    /// What was read, for outputs that name their dataset: `stream S, seq A..=B (N rows)`, and
    /// where it is kept when `--keep` kept it.
    pub fn label(&self) -> String {
        let s = &self.summary;
        let range = s.range.map_or("an empty window".to_string(), |r| {
            format!("seq {}..={}", r.first, r.last)
        });
        let kept = if self.is_temporary() {
            String::new()
        } else {
            format!(", kept in {}", self.path.display())
        };
        format!("stream {}, {range} ({} rows){kept}", s.stream, s.rows)
    }
}

/// Reads `req.window` of `req.stream` into a dataset: `keep` when given (it stays), otherwise a
/// temporary folder (`req.out_dir` is ignored and set here).
pub async fn read_window(
    client: &async_nats::Client,
    spec: &ConnectSpec,
    mut req: ExportRequest,
    keep: Option<&Path>,
) -> Result<Scratch> {
    let temp = match keep {
        Some(dir) => {
            req.out_dir = dir.to_path_buf();
            None
        }
        None => {
            // Private, made exclusively, and swept by the next run if this one is killed.
            let t = WorkDir::create(&std::env::temp_dir(), "window")?;
            req.out_dir = t.path().join("window");
            Some(t)
        }
    };
    // An error or an interruption drops `temp` here, and the folder with it.
    let summary = export::export(client, spec, &req).await?;
    Ok(Scratch {
        path: req.out_dir,
        summary,
        temp,
    })
}
