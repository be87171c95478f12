//! Where the commands' data goes: stdout, written whole (a closed pipe is not a failure, a full
//! disk is), as pretty JSON or text.

use super::*;

/// Writes `value` as pretty JSON on stdout; a closed pipe or a full disk is an error, not a
/// panic (JSON keeps event text raw: a program reads it).
pub(super) fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Input(format!("cannot write the result as JSON: {e}")))?;
    text.push(b'\n');
    print_bytes(&text)
}

/// Writes text on stdout; a closed pipe or a full disk is an error (a closed pipe exits 0).
pub(super) fn print_text(text: &str) -> Result<()> {
    print_bytes(text.as_bytes())
}

pub(super) fn print_bytes(bytes: &[u8]) -> Result<()> {
    std::io::stdout()
        .lock()
        .write_all(bytes)
        .map_err(|e| Error::io("stdout", e))
}
