//! jsreplay: replay windows of a NATS JetStream stream of EDR/XDR events into Parquet and hunt
//! through them with SQL.
//!
//! This file is the crate's map. Data flows one way through the wings (see
//! `shared/design/ARCHITECTURE.md`; the four of its plan, with its hunting wing now three),
//! and imports follow it (`tests/it/layout.rs` checks):
//! - [`nats`] reads a stream: connection, window, plan (a frozen range and a read path), the read
//!   cursor and both read paths, publishing. It knows nothing of Arrow or Parquet.
//! - [`lake`] turns messages into rows and files: decoding, Arrow batches, Parquet parts, the
//!   manifest, the destination store and its lease. It never talks to NATS.
//! - [`jobs`] are what a user runs that moves data (export, archive, compact, the sample
//!   generator): the only wing that uses both `nats` and `lake`.
//! - [`rules`] turns rule text into hunts (the pack's files, Sigma, Falco, ATT&CK coverage):
//!   plain text and data, no engine, nothing of the other wings.
//! - [`sql`] is the engine: the DataFusion session (local or on a Ballista cluster), jsreplay's
//!   functions, opening datasets as tables and writing results; it reads through `lake`.
//! - [`hunt`] runs hunts and presents what they find (summaries, stories, reports, timelines,
//!   process trees, the SQL shell), on `sql`'s session with `rules`' hunts; never NATS.
//!
//! At the top sit [`cmd`] (each command's flags and handler, one file per family), [`error`] (typed
//! errors and exit codes), [`escape`] (evidence made safe for terminals, Markdown, HTML and CSV)
//! [`fields`] (the one field catalogue the decoder and the rule compilers share) and
//! [`message`], the one plain type handed from `nats` to `lake`.

pub mod cmd;
pub mod error;
pub mod escape;
pub mod fields;
pub mod hunt;
pub mod jobs;
pub mod lake;
pub mod message;
pub mod nats;
pub mod rules;
pub mod sql;

pub use cmd::run;
