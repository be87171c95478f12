//! The SQL engine. This wing owns DataFusion's session: built the same way locally, on a
//! Ballista scheduler and on its executors ([`engine`]), with jsreplay's functions ([`udf`]);
//! opening a dataset, an archive folder, a Delta table or an object-store URL as a table and
//! writing results in every output format ([`query`]); the cluster's scheduler and executor
//! ([`cluster`]) and what they may read and run ([`confine`]).
//!
//! It reads datasets through `lake` and never imports `nats`, `jobs` or `hunt`
//! (`tests/it/layout.rs` checks).

pub mod cluster;
pub mod confine;
pub mod engine;
pub mod query;
pub mod udf;
