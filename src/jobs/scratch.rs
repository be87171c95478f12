//! A window of a stream read for one command (`hunt`, `timeline`, `tree` and `sql` with
//! `--stream`): exported through the parallel path into a private temporary folder that is
//! removed when the command ends, on an error or an interruption too, or into `--keep DIR`,
//! which stays. It is an export like any other (manifest, gaps, parse counts), so the answers
//! account for the window the same way; only its lifetime differs.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::jobs::export::{self, ExportRequest, ExportSummary};
use crate::nats::connect::ConnectSpec;

/// The dataset a window was read into; a temporary one is removed on drop.
#[derive(Debug)]
pub struct Scratch {
    /// The dataset folder.
    pub path: PathBuf,
    /// The export's outcome (gaps included).
    pub summary: ExportSummary,
    /// The folder removed on drop (`None` with `--keep`).
    temp: Option<TempDir>,
}

impl Scratch {
    /// True when the dataset goes away with this value.
    pub fn is_temporary(&self) -> bool {
        self.temp.is_some()
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

/// A folder of this process's own under the system's temporary directory, removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let base = std::env::temp_dir();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for attempt in 0..16u32 {
            let path = base.join(format!(
                "jsreplay-window-{}-{nanos:x}-{attempt}",
                std::process::id()
            ));
            // create_dir, not create_dir_all: a folder someone else made first is not ours.
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Err(Error::Input(format!(
            "cannot create a temporary folder under {}",
            base.display()
        )))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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
            let t = TempDir::new()?;
            req.out_dir = t.0.join("window");
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
