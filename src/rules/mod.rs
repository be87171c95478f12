//! Rules, as text in and hunts out: what a hunt is whoever wrote it ([`rule`]: the type, its
//! file writer, the rule-file YAML reader with its size bound), the saved pack's hunt files
//! with their parameters, loading and selection ([`pack`]), Sigma and Falco rules compiled to
//! hunts ([`sigma`], [`falco`]), and the pack's ATT&CK coverage ([`coverage`]).
//!
//! Plain data and text: nothing here runs SQL or reads a dataset, so the rule compilers and
//! their fuzz target build without DataFusion. It imports no engine crate (DataFusion, Arrow,
//! Parquet, Ballista, object_store, async-nats) and nothing of `nats`, `lake`, `jobs`, `sql`
//! or `hunt` (`tests/it/layout.rs` checks).

pub mod coverage;
pub mod falco;
pub mod pack;
pub mod rule;
pub mod sigma;
