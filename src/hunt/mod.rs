//! Hunting: the saved pack run over a dataset with its hits summarised ([`run`]), hits linked
//! into attack stories across hosts ([`story`]), HTML and Markdown reports ([`report`]),
//! timelines ([`timeline`]), process trees ([`tree`]) and the interactive SQL shell
//! ([`shell`]). Hunts come from `rules`, statements run on `sql`'s session.
//!
//! It reads datasets through `sql` and `lake` and never touches NATS or the jobs that wrote
//! them: nothing here imports `nats` or `jobs` (`tests/it/layout.rs` checks).

pub mod memo;
pub mod report;
pub mod run;
pub mod shared;
pub mod shell;
pub mod story;
pub mod timeline;
pub mod tree;
