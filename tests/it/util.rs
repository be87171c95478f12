//! The tests' prelude: every helper of `tests/support/` in one `use crate::util::*`. The helpers
//! live by job there: the binary and its outcome (`run`), nats-servers (`servers`), object
//! stores (`stores`), independent readers (`readers`), the latency proxy (`proxy`) and the
//! pseudo-terminal (`pty`).

pub use crate::readers::*;
pub use crate::run::*;
pub use crate::servers::*;
pub use crate::stores::*;
