//! Rows and files. This wing owns what a message becomes once it has been read: the payload
//! decoder that finds typed sysdig fields and keeps the raw bytes ([`decode`]), the Arrow schema
//! and batch builder ([`batch`]), the Parquet writer with its staged, Hive-partitioned parts
//! ([`sink`]), the manifest that accounts for every sequence and the archive's metadata names
//! ([`manifest`]), the destination, a folder or an object store ([`store`]), and the lease that
//! keeps one writer per destination ([`lease`]), private working folders ([`staging`]), and the
//! archive as a Delta Lake table ([`delta`]).
//!
//! It takes [`crate::message::RawMessage`] values and never talks to NATS: nothing here imports
//! `nats`, `jobs` or `hunt`, so the same code serves exports, archives and whatever reads them.

pub mod batch;
pub mod decode;
pub mod delta;
pub mod lease;
pub mod manifest;
pub mod sink;
pub mod staging;
pub mod store;
