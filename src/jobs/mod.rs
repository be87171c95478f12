//! What a user runs that moves data: [`export`] (a window into a dataset folder), [`archive`]
//! (the whole stream, incrementally and exactly once, into a folder or object store), [`compact`]
//! (merging an archive's small parts), [`verify`] (a dataset or archive re-checked against its
//! manifests), the Delta table's own jobs ([`table`]: convert, vacuum), the progress bars they show
//! ([`progress`]), the read pipeline they share ([`read`]), a window read for one command and removed after it ([`scratch`]) and the
//! sample incident generator ([`sample`]).
//!
//! This is the only wing that uses both `nats` (to read) and `lake` (to write): it wires reader
//! slices to writers, checks that every sequence of a range ended as a row or a gap, and turns
//! interruptions into a clean stop. It never imports `hunt`.

pub mod archive;
pub mod compact;
pub mod export;
pub mod progress;
pub mod read;
pub mod sample;
pub mod scratch;
pub mod table;
pub mod verify;
