//! jsreplay: replay windows of a NATS JetStream stream of EDR/XDR events into Parquet and hunt
//! through them with SQL.
//!
//! This file is the crate's map. Data flows one way through four wings (see
//! `shared/design/ARCHITECTURE.md`), and imports follow it (`tests/it/layout.rs` checks):
//! - [`nats`] reads a stream: connection, window, plan (a frozen range and a read path), the read
//!   cursor and both read paths, publishing. It knows nothing of Arrow or Parquet.
//! - [`lake`] turns messages into rows and files: decoding, Arrow batches, Parquet parts, the
//!   manifest, the destination store and its lease. It never talks to NATS.
//! - [`jobs`] are what a user runs that moves data (export, archive, compact, the sample
//!   generator): the only wing that uses both `nats` and `lake`.
//! - [`hunt`] runs SQL over datasets (query, UDFs, the hunt pack and its ATT&CK coverage, Sigma
//!   and Falco rules compiled to hunts, reports, timelines, trees), reading through `lake`, never
//!   NATS.
//!
//! At the top sit [`cli`] (flags), [`commands`] (one handler per command), [`error`] (typed
//! errors and exit codes), [`escape`] (evidence made safe for terminals, Markdown, HTML and CSV)
//! and [`message`], the one plain type handed from `nats` to `lake`.

pub mod cli;
pub mod commands;
pub mod error;
pub mod escape;
pub mod hunt;
pub mod jobs;
pub mod lake;
pub mod message;
pub mod nats;

pub use commands::run;
