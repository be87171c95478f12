//! SQL over datasets. This wing owns DataFusion: the engine's session, local or on a Ballista
//! cluster ([`engine`], with the cluster's scheduler and executor in [`cluster`]), opening a
//! dataset, an archive folder or an object-store URL as the `events` table ([`query`]), the
//! sysdig helper functions ([`udf`]), the saved hunt pack with its parameters ([`pack`]) and its
//! ATT&CK coverage ([`coverage`]), what a hunt is whoever wrote it ([`rule`]), Sigma and Falco
//! rules compiled to hunts ([`sigma`], [`falco`]), hits linked into attack stories across hosts
//! ([`story`]), HTML and Markdown reports ([`report`]), timelines ([`timeline`]), process trees
//! ([`tree`]) and the interactive SQL shell ([`shell`]).
//!
//! It reads datasets through `lake` (the schema, the manifest and checkpoint names, the store)
//! and never touches NATS or the jobs that wrote them: nothing here imports `nats` or `jobs`.

pub mod cluster;
pub mod confine;
pub mod coverage;
pub mod engine;
pub mod falco;
pub mod pack;
pub mod query;
pub mod report;
pub mod rule;
pub mod shell;
pub mod sigma;
pub mod story;
pub mod timeline;
pub mod tree;
pub mod udf;
