//! The library's error type and the documented exit codes each kind of failure maps to.
//!
//! Library functions return [`Error`]; the binary adds context and turns it into an exit code with
//! [`Error::exit_code`]. The codes are part of the tool's interface (README "Exit codes"): scheduled
//! jobs branch on them, so a kind of failure keeps its code across releases.

use std::path::PathBuf;

/// Exit codes, as documented in README.md.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A failure not covered below (I/O, an unexpected server answer).
    pub const FAILURE: u8 = 1;
    /// Bad flags or arguments (clap uses 2 as well).
    pub const USAGE: u8 = 2;
    /// The server could not be reached, refused the credentials, or TLS failed.
    pub const CONNECT: u8 = 3;
    /// The stream does not exist, or JetStream is not enabled for the account.
    pub const STREAM: u8 = 4;
    /// A SQL statement did not parse or plan, or failed while running.
    pub const QUERY: u8 = 5;
    /// The export finished, but `--fail-on-gaps` was given and part of the range was missing;
    /// or an archive run finished and messages were lost before they could be archived.
    pub const GAPS: u8 = 6;
    /// Another archive or compaction run holds the destination's lease.
    pub const BUSY: u8 = 7;
    /// `verify` found a file or a count that does not match its manifest (or `vacuum` refused a
    /// table whose snapshot names files that are not there).
    pub const MISMATCH: u8 = 8;
    /// Interrupted by SIGINT (128 + 2).
    pub const INTERRUPTED: u8 = 130;
    /// Terminated by SIGTERM (128 + 15).
    pub const TERMINATED: u8 = 143;

    /// Every code with what it means: `--help` prints this table, and a test holds README's
    /// table and [`super::Error::exit_code`] to it.
    pub const TABLE: &[(u8, &str)] = &[
        (OK, "success"),
        (
            FAILURE,
            "failure (I/O, unexpected server answer, accounting mismatch)",
        ),
        (USAGE, "bad flags or arguments"),
        (
            CONNECT,
            "cannot connect: server down, wrong credentials, TLS failure",
        ),
        (STREAM, "stream not found, or JetStream not enabled"),
        (
            QUERY,
            "SQL error (does not parse, unknown table or column, fails while running)",
        ),
        (
            GAPS,
            "export finished but the range had gaps and --fail-on-gaps was given; archive \
             finished but messages were lost before they could be archived (see the gaps)",
        ),
        (
            BUSY,
            "archive/compact/convert: another run holds the lease, or (Delta) committed first",
        ),
        (
            MISMATCH,
            "verify: a file or a count does not match its manifest; vacuum: the snapshot names \
             files that are not there; a Delta snapshot lists files outside the table",
        ),
        (
            INTERRUPTED,
            "interrupted (SIGINT): nothing is left on the server or on disk",
        ),
        (
            TERMINATED,
            "terminated (SIGTERM): nothing is left on the server or on disk",
        ),
    ];

    /// The table as `--help` ends.
    pub fn help() -> String {
        let mut out = String::from("Exit codes:");
        for (code, meaning) in TABLE {
            out += &format!("\n  {code:<4} {meaning}");
        }
        out
    }
}

/// Everything the library reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("cannot connect to {server}: {reason}")]
    Connect { server: String, reason: String },
    #[error("stream {0:?} not found")]
    StreamNotFound(String),
    #[error("JetStream is not available on this server/account: {0}")]
    JetStreamUnavailable(String),
    #[error("JetStream request failed: {0}")]
    JetStream(String),
    #[error("reading the stream failed: {0}")]
    Replay(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing Parquet failed: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("Arrow error: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("{0}")]
    Query(String),
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Store(String),
    #[error("{0}")]
    Busy(String),
    /// What is there does not match its own accounts (exit 8, as `verify`'s findings).
    #[error("{0}")]
    Mismatch(String),
    #[error("interrupted by {0}")]
    Interrupted(&'static str),
}

impl Error {
    /// The documented exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Connect { .. } => exit::CONNECT,
            Error::StreamNotFound(_) | Error::JetStreamUnavailable(_) => exit::STREAM,
            Error::Query(_) => exit::QUERY,
            Error::Busy(_) => exit::BUSY,
            Error::Mismatch(_) => exit::MISMATCH,
            Error::Interrupted("SIGTERM") => exit::TERMINATED,
            Error::Interrupted(_) => exit::INTERRUPTED,
            _ => exit::FAILURE,
        }
    }

    /// True when the error is a closed pipe on output (`jsreplay query … | head`): not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        let io = match self {
            Error::Io { source, .. } => Some(source),
            Error::Arrow(datafusion::arrow::error::ArrowError::IoError(_, e)) => Some(e),
            _ => None,
        };
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// An I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_documented_code() {
        let errors = [
            Error::Usage(String::new()),
            Error::Connect {
                server: String::new(),
                reason: String::new(),
            },
            Error::StreamNotFound(String::new()),
            Error::JetStreamUnavailable(String::new()),
            Error::JetStream(String::new()),
            Error::Replay(String::new()),
            Error::io("x", std::io::Error::other("x")),
            Error::Query(String::new()),
            Error::Input(String::new()),
            Error::Store(String::new()),
            Error::Busy(String::new()),
            Error::Mismatch(String::new()),
            Error::Interrupted("SIGINT"),
            Error::Interrupted("SIGTERM"),
        ];
        for e in errors {
            let code = e.exit_code();
            assert!(
                exit::TABLE.iter().any(|(c, _)| *c == code),
                "{e:?} exits {code}, which the table does not list"
            );
        }
        let codes: Vec<u8> = exit::TABLE.iter().map(|(c, _)| *c).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted, "codes listed once, in order");
    }
}
