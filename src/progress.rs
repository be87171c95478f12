//! Progress on stderr: an indicatif bar over the frozen sequence range, with rate and ETA.
//!
//! The total is known once the range is frozen, so the bar advances by sequence (gaps and
//! filtered-out messages count as done). It is hidden when stderr is not a terminal or with
//! `--quiet`, so scheduled jobs and pipes get only the one summary line.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::replay::Progress;

/// A progress bar over `[first, last]`, or a hidden one.
pub fn sequence_bar(first: u64, last: u64, quiet: bool) -> (ProgressBar, Progress) {
    let total = if last >= first { last - first + 1 } else { 0 };
    let bar = if quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(8));
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40.cyan/blue} {human_pos}/{human_len} seq \
                 ({per_sec}, ETA {eta})",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        b.enable_steady_tick(Duration::from_millis(250));
        b
    };
    let handle = bar.clone();
    let progress: Progress = Arc::new(move |seq: u64| {
        if seq >= first {
            handle.set_position((seq - first + 1).min(total));
        }
    });
    (bar, progress)
}
